"""Single-coefficient perturbation sensitivity (SPEC 4.2).

For base clips and a set of pixels p, the error ``e_p = decode(image + δ·1_p) − decode(image)``
is measured: ESR, proportionality (slope over δ·{1/4, 1/2, 1, 2, 4}), time spread,
frequency spread (ERB) and audibility (worst-frame NMR, :mod:`grainbench.metrics.masking`).

How ``e_p`` is computed — exactly, by the cheapest route the representation allows, or by
decoding with forward mode for small δs — is :mod:`grainbench.analysis`'s job
(:class:`~grainbench.analysis.pixel_errors.PixelErrors`,
:func:`~grainbench.analysis.measure.measure`); docs/performance.md has the methods, their
tolerance and what they cost.

Summaries: per pixel, the median over base clips; over pixels, the median, 5th and 95th
percentiles, twice. ``weight=none``: uniform over the stratified sample, with a stratified
percentile-bootstrap interval when pixels were sampled (none when every pixel was
measured). ``weight=energy`` (the headline): weighted by each pixel's mean energy in the
training data (:mod:`grainbench.pixel_energy`), over the sample plus ``n_energy_pixels``
pixels drawn in proportion to that energy and importance-weighted
(:mod:`grainbench.analysis.energy_sample`, :mod:`grainbench.metrics.weighted`), with a
bootstrap over training clips and draws. A pixel whose error is exactly zero is *inert*:
NaN in the maps, counted in the task's data, left out of the summaries.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from grainbench.analysis.energy_sample import EnergyDesign, energy_design
from grainbench.analysis.maps import METRICS, MULTIPLIERS
from grainbench.analysis.measure import measure
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.pixels import region_map, sample_pixels, to_map
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.errors import UserError
from grainbench.metrics.grain import nan_percentiles
from grainbench.metrics.stats import bootstrap_percentile
from grainbench.metrics.weighted import energy_weighted
from grainbench.pixel_energy import PixelEnergy, training_pixel_energy
from grainbench.tasks import listen, plots
from grainbench.tasks.base import (
    Artifact,
    MetricValue,
    RunContext,
    TaskDefaults,
    TaskResult,
    save_array,
)
from grainbench.tasks.image_axes import image_axes
from grainbench.tasks.params import MAX_BOOT, Int, ListOf, Ratio, parse_delta


class PerturbationTask(TaskDefaults):
    """Per-pixel sensitivity maps and their summaries (SPEC 4.2)."""

    name = "perturbation"
    in_default_run = True
    #: the board's sort key and columns (see grainbench.leaderboard): how audible and how
    #: spread in time and frequency a GAN-sized one-pixel error is where the sound is
    headline = "audibility[delta=2/255,stat=median,weight=energy]"
    key_metrics = [
        "audibility[delta=2/255,stat=median,weight=energy]",
        "esr[delta=2/255,stat=median,weight=energy]",
        "time_spread[delta=2/255,stat=median,weight=energy]",
        "freq_spread[delta=2/255,stat=median,weight=energy]",
        "proportionality_dev[delta=2/255,stat=median,weight=energy]",
        "audibility[delta=2/255,stat=median,weight=none]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Base clips, pixels (count or ``"all"``) and energy-drawn pixels, δs, bootstrap
        resamples, the batch of training clips encoded at once for the pixel energies."""
        return {
            "n_clips": 8,
            "n_pixels": 1024,
            "n_energy_pixels": 1024,
            "deltas": ["2/255", "0.05"],
            "n_boot": 1000,
            "batch_size": 32,
        }

    param_schema = {
        "n_clips": Int(1),
        "n_pixels": Int(1, words=("all",)),
        "n_energy_pixels": Int(0),
        "deltas": ListOf(Ratio()),
        "n_boot": Int(1, MAX_BOOT),
        "batch_size": Int(1),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Measure every sampled pixel on every base clip; write maps, heatmaps and summaries.

        Summaries come twice: uniform over the stratified sample (``weight=none``) and
        weighted by the pixels' energy in the training data (``weight=energy``, over the
        sample plus ``n_energy_pixels`` pixels drawn in proportion to their energy,
        importance-weighted; :mod:`grainbench.analysis.energy_sample`).
        """
        rep = ctx.rep
        deltas = [parse_delta(x) for x in params["deltas"]]
        n_clips = int(params["n_clips"])
        if n_clips < 1:
            raise UserError("perturbation n_clips must be at least 1")
        n_extra = int(params["n_energy_pixels"])
        if n_extra < 0:
            raise UserError("perturbation n_energy_pixels must be 0 or more")
        test = torch.from_numpy(ctx.dataset.test[:n_clips]).to(ctx.device)
        with torch.no_grad():
            images = rep.encode(test)
            decoded = rep.decode(images)
        shape = tuple(rep.image_shape)
        pixels, labels, complete = sample_pixels(shape, params["n_pixels"], ctx.seed)
        energy = training_pixel_energy(ctx.training_images(), int(params["batch_size"]))
        everywhere = None if complete else sample_pixels(shape, "all", 0)[1]
        design = energy_design(pixels, labels, everywhere, energy.mean, n_extra, ctx.seed)
        measured = np.unique(np.concatenate([pixels, design.pixels]))
        errors = PixelErrors(rep, ctx.device)
        analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples, ctx.device)
        maps = measure(
            errors,
            analyser,
            images,
            decoded,
            measured,
            [v for _, v in deltas],
            ctx.progress,
            ctx.seed,
        )
        uniform_at = np.searchsorted(measured, pixels)
        design_at = np.searchsorted(measured, design.pixels)
        n_boot = int(params["n_boot"])
        result = TaskResult()
        result.data = {
            "method": errors.mode,
            "n_clips": int(len(test)),
            "n_pixels": int(len(pixels)),
            "n_measured": int(len(measured)),
            "all_pixels": complete,
            "multipliers": list(MULTIPLIERS),
            "masking": analyser.model.describe(),
            "energy_weight": {
                "rule": energy.rule,
                "n_clips": energy.n_clips,
                "clip_groups": int(len(energy.sizes)),
                "n_energy_pixels": design.n_energy,
            },
            "summary": {},
            "first_order": {
                lab: fo for (lab, _), fo in zip(deltas, maps.first_order, strict=True) if fo
            },
        }
        a = maps.audibility[0, :, 0]  # the first δ's sound on clip 0, median and worst pixel
        axes = image_axes(errors, analyser, images[:1], decoded[:1], deltas[0][1])
        listen.one_pixel_sounds(ctx, result, images[0], decoded[0], measured, a, deltas[0])
        for di, (label, _) in enumerate(deltas):
            tag = label.replace("/", "over")
            with warnings.catch_warnings():  # inert pixels are NaN on every clip
                warnings.simplefilter("ignore", RuntimeWarning)
                per_pixel = {
                    name: np.nanmedian(getattr(maps, name)[:, :, di], axis=0) for name, _ in METRICS
                }
            result.data["summary"][label] = {}
            result.data["summary"][label]["inert_pixels"] = int(
                np.isnan(per_pixel["esr"][uniform_at]).sum()
            )
            panels = []
            for name, unit in METRICS:
                values = per_pixel[name]
                full = to_map(values, measured, shape)
                caption = f"{name} per pixel (C, H, W), δ = {label}, NaN = not measured"
                save_array(ctx, result, f"{name}_delta{tag}.npy", full, caption)
                shown = full if complete else region_map(values[uniform_at], labels, shape)
                panels.append((name.replace("_", " "), unit, shown))
                self._summaries(
                    result,
                    name,
                    label,
                    (values[uniform_at], labels, complete),
                    (values[design_at], design, energy),
                    ctx.seed,
                    n_boot,
                )
            picture = ctx.out_dir / f"maps_delta{tag}.png"
            how = (
                "every pixel" if complete else f"median of {len(pixels)} sampled pixels per region"
            )
            plots.heatmaps(
                picture,
                panels,
                f"{rep.name}: one-pixel change δ = {label} ({how}, median over {len(test)} clips)",
                axes=axes,
            )
            result.artifacts.append(
                Artifact(ctx.relpath(picture), "png", f"per-pixel heatmaps, δ = {label}")
            )
        return result

    @staticmethod
    def _summaries(
        result: TaskResult,
        name: str,
        label: str,
        uniform: tuple[np.ndarray, np.ndarray, bool],
        weighted: tuple[np.ndarray, EnergyDesign, PixelEnergy],
        seed: int,
        n_boot: int,
    ) -> None:
        """Median, p5 and p95 of one metric's per-pixel values, uniform and energy-weighted.

        ``uniform``: the stratified sample's values, their strata, and whether that is every
        pixel (then no interval); ``weighted``: the values at the design's draws, the
        design and the pixel energies (:func:`grainbench.metrics.weighted.energy_weighted`).
        ``proportionality`` adds the median of ``|slope − 1|`` (``proportionality_dev``).
        """
        values, strata, complete = uniform
        drawn, design, energy = weighted
        stats = {"median": 50.0, "p5": 5.0, "p95": 95.0}
        groups = [(name, stats, values, drawn)]
        if name == "proportionality":
            dev = (
                "proportionality_dev",
                {"median": 50.0},
                np.abs(values - 1.0),
                np.abs(drawn - 1.0),
            )
            groups.append(dev)
        summary: dict[str, Any] = {"energy": {}}
        for metric, wanted, v_uniform, v_drawn in groups:
            estimates = energy_weighted(
                v_drawn,
                design.pixels[:, None],
                energy,
                quantiles=[q / 100.0 for q in wanted.values()],
                proposal=design.proposal,
                blocks=design.blocks,
                seed=seed,
                n_boot=n_boot,
            )
            for (stat, q), est in zip(wanted.items(), estimates, strict=True):
                if complete:
                    value, lo, hi = float(nan_percentiles(v_uniform, [q])[0]), None, None
                else:
                    value, lo, hi = bootstrap_percentile(
                        v_uniform, q, strata=strata, seed=seed, n_boot=n_boot
                    )
                key = stat if metric == name else "median_dev"
                summary[key], summary["energy"][key] = value, est.value
                for weight, (v, low, high) in (
                    ("none", (value, lo, hi)),
                    ("energy", (est.value, est.low, est.high)),
                ):
                    if math.isfinite(v):
                        cond = {"delta": label, "stat": stat, "weight": weight}
                        result.metrics.append(MetricValue(metric, v, low, high, cond))
        result.data["summary"][label][name] = summary
