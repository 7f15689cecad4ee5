"""Neighbour locality of the image layout (SPEC 4.3).

Each pixel's *atom* is its one-pixel error at δ = 2/255 on the mean training image
(:class:`grainbench.analysis.pixel_errors.PixelErrors`: exact, closed form for DCT atoms).
Its place in sound is its time centroid (s) and its ERB-rate centroid. The ERB-rate
centroid is that of its spectrogram (the masking model's,
:class:`grainbench.metrics.masking.MaskingModel`), as SPEC 4.3 says; the time centroid is
that of its energy ``e[n]²`` instead, because the spectrogram's frames (≈ 20 ms, hop 10 ms)
blur and bias the time of short atoms by milliseconds — the scale being measured (two
adjacent samples could come out up to ~3 ms apart). For long atoms the two agree. Image neighbours —
right, down, and the next image channel when C > 1 — are compared by
``d = sqrt((Δt / 10 ms)² + (Δf / 1 ERB)²)``: per direction the median d and the share of
pairs with d ≤ 1, each twice:

- ``weight=energy`` (the headline): pair (p, q) weighs ``(E_p + E_q)/2``, the mean over
  the training images of the sound energy the two pixels carry
  (:mod:`grainbench.pixel_energy`); the weighted median and weighted share
  (:mod:`grainbench.metrics.weighted`). The mean, not the product: smearing a sounding
  pixel into an empty neighbour puts energy where nothing masks it, the audible case.
  Anchors: the uniform sample plus ``n_energy_pixels`` anchors drawn in proportion to
  their pairs' energy, importance-weighted (:mod:`grainbench.analysis.energy_sample`); or
  every pixel. Interval: bootstrap over training clips (and anchors, when sampled);
- ``weight=none``: every pair of the uniform sample counts the same (mostly empty pixels
  for a band-limited dataset), as before.

Per frequency band (pairs grouped by their anchor's ERB-rate centroid) the same
statistics go to ``bands.json``/``bands.csv`` and a picture. Atom compactness is
``4π·σt·σf`` on the atoms themselves (:func:`grainbench.metrics.grain.atom_moments`), for
a seeded subset of atoms. From data: per training image, the Pearson correlation of every
pixel with its neighbour, averaged over images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.analysis.energy_sample import EnergyDesign, energy_design
from grainbench.analysis.maps import CHUNK_SAMPLES, COSINE_CHUNK
from grainbench.analysis.pixel_errors import PixelErrors, chunks
from grainbench.analysis.pixels import sample_pixels
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.errors import UserError
from grainbench.metrics.erb import hz_to_erb_rate
from grainbench.metrics.grain import atom_moments
from grainbench.metrics.phase import WrapShares
from grainbench.metrics.stats import bootstrap_ci, bootstrap_percentile
from grainbench.metrics.weighted import (
    effective_size,
    energy_weighted,
    weighted_quantiles,
)
from grainbench.pixel_energy import EnergyAccumulator, PixelEnergy
from grainbench.tasks.base import MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.locality_files import write_bands, write_pictures
from grainbench.tasks.neighbours import (
    DIRECTIONS,
    AtomPlaces,
    band_rows,
    has_neighbour,
    image_correlations,
    neighbours,
    pair_energy,
    picture_pixels,
)
from grainbench.tasks.params import MAX_BOOT, Int, Ratio, Real, parse_delta


class LocalityTask(TaskDefaults):
    """Where neighbouring pixels' atoms sit in time and frequency (SPEC 4.3)."""

    name = "locality"
    in_default_run = True
    #: the board's sort key and columns (see grainbench.leaderboard): the vertical
    #: neighbour is the one a row-major fold breaks, weighted by where the sound is
    headline = "neighbour_distance[direction=down,weight=energy]"
    key_metrics = [
        "neighbour_distance[direction=down,weight=energy]",
        "neighbour_distance[direction=right,weight=energy]",
        "local_fraction[direction=down,weight=energy]",
        "local_fraction[direction=right,weight=energy]",
        "neighbour_distance[direction=down,weight=none]",
        "neighbour_correlation[direction=down]",
        "neighbour_correlation[direction=right]",
        "gabor_ratio[stat=median]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Anchor pixels (count or ``"all"``) and energy-drawn anchors, δ, distance scales,
        band width, Gabor subset, bootstrap resamples, batches."""
        return {
            "n_pixels": 1024,
            "n_energy_pixels": 1024,
            "delta": "2/255",
            "time_scale_s": 0.010,
            "freq_scale_erb": 1.0,
            "band_width_erb": 2.0,
            "n_gabor": 256,
            "n_boot": 1000,
            "batch_size": 32,
        }

    param_schema = {
        "n_pixels": Int(1, words=("all",)),
        "n_energy_pixels": Int(0),
        "delta": Ratio(),
        "time_scale_s": Real(0, low_open=True),
        "freq_scale_erb": Real(0, low_open=True),
        "band_width_erb": Real(0, low_open=True),
        "n_gabor": Int(1),
        "n_boot": Int(1, MAX_BOOT),
        "batch_size": Int(1),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Atom centroids of anchors and neighbours, distances (energy-weighted and not), per
        band, Gabor ratios, correlations."""
        rep = ctx.rep
        shape = tuple(rep.image_shape)
        label, delta = parse_delta(params["delta"])
        tau, phi = float(params["time_scale_s"]), float(params["freq_scale_erb"])
        band_width = float(params["band_width_erb"])
        if not (tau > 0 and phi > 0 and band_width > 0):
            raise UserError(
                "locality time_scale_s, freq_scale_erb and band_width_erb must be positive"
            )
        n_extra = int(params["n_energy_pixels"])
        if n_extra < 0:
            raise UserError("locality n_energy_pixels must be 0 or more")
        n_boot = int(params["n_boot"])
        mean_image, correlations, energy, wraps = self._from_training(
            ctx, int(params["batch_size"])
        )
        with torch.no_grad():
            base_audio = rep.decode(mean_image)
        anchors, strata, complete = sample_pixels(shape, params["n_pixels"], ctx.seed)
        directions = [d for d in DIRECTIONS if d != "channel" or shape[0] > 1]
        pair_w = {d: pair_energy(energy.mean, shape, d) for d in directions}
        everywhere = None if complete else sample_pixels(shape, "all", 0)[1]
        design = energy_design(anchors, strata, everywhere, sum(pair_w.values()), n_extra, ctx.seed)
        extra = picture_pixels(shape)
        firsts = np.unique(np.concatenate([anchors, design.pixels, extra]))
        needed = np.unique(
            np.concatenate([firsts, *[neighbours(firsts, shape, d)[1] for d in directions]])
        )
        errors = PixelErrors(rep, ctx.device)
        analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples, ctx.device)
        t_c, f_c = self._centroids(ctx, errors, analyser, mean_image, base_audio, needed, delta)
        places = AtomPlaces(needed, t_c, f_c, tau, phi)
        result = TaskResult()
        result.data = {
            "method": errors.mode,
            "delta": label,
            "n_anchors": int(len(anchors)),
            "all_pixels": complete,
            "time_scale_s": tau,
            "freq_scale_erb": phi,
            "energy_weight": {
                "rule": energy.rule,
                "pair_weight": "(E_p + E_q) / 2",
                "n_clips": energy.n_clips,
                "clip_groups": int(len(energy.sizes)),
                "n_energy_anchors": design.n_energy,
            },
            "directions": {},
        }
        edges = np.arange(0.0, float(hz_to_erb_rate(rep.sample_rate / 2)) + band_width, band_width)
        bands: list[dict[str, Any]] = []
        for direction in directions:
            bands += self._direction(
                ctx,
                result,
                direction,
                places,
                (anchors, strata, complete),
                (design, pair_w[direction], energy),
                correlations[direction],
                edges,
                n_boot,
            )
        write_bands(ctx, result, bands, band_width)
        self._gabor(
            ctx,
            result,
            errors,
            mean_image,
            base_audio,
            anchors,
            delta,
            int(params["n_gabor"]),
            n_boot,
        )
        write_pictures(
            ctx,
            result,
            shape,
            needed,
            t_c,
            f_c,
            anchors,
            strata,
            complete,
            {d: neighbours(extra, shape, d) for d in directions},
            extra,
            (tau, phi),
        )
        # wrap edges of phase parts (grainbench.metrics.phase), per training clip
        for (part, direction), shares in wraps.items():
            share, lo, hi = bootstrap_ci(shares, seed=ctx.seed, n_boot=n_boot)
            cond = {"direction": direction, "part": part}
            result.metrics.append(MetricValue("wrap_fraction", share, lo, hi, cond))
        return result

    def _direction(
        self,
        ctx: RunContext,
        result: TaskResult,
        direction: str,
        places: AtomPlaces,
        uniform: tuple[np.ndarray, np.ndarray, bool],
        weighted: tuple[EnergyDesign, np.ndarray, PixelEnergy],
        correlations: np.ndarray,
        edges: np.ndarray,
        n_boot: int,
    ) -> list[dict[str, Any]]:
        """One direction's rows (uniform, energy-weighted, correlation) and data; returns its
        per-band rows. ``uniform``: the stratified anchors, their strata, whether that is
        every pixel; ``weighted``: the design, each pixel's pair weight in this direction,
        the pixel energies."""
        anchors, strata, complete = uniform
        design, pair_weight, energy = weighted
        shape = tuple(ctx.rep.image_shape)
        a, b = neighbours(anchors, shape, direction)
        d, dt, df = places.apart(a, b)
        pair_strata = strata[has_neighbour(anchors, shape, direction)]
        med, local = self._uniform(ctx, result, direction, d, pair_strata, complete, n_boot)
        ok = has_neighbour(design.pixels, shape, direction)
        aw, bw = neighbours(design.pixels, shape, direction)
        dw, dtw, dfw = places.apart(aw, bw)
        stats = self._weighted(ctx, result, direction, design, ok, aw, bw, dw, energy, n_boot)
        w = pair_weight[aw] / (1.0 if design.proposal is None else design.proposal[ok])
        live, seen = np.isfinite(dw), np.isfinite(d)
        r_mean, r_lo, r_hi = bootstrap_ci(correlations, seed=ctx.seed, n_boot=n_boot)
        if math.isfinite(r_mean):
            cond = {"direction": direction}
            result.metrics.append(MetricValue("neighbour_correlation", r_mean, r_lo, r_hi, cond))

        def weighted_median(x: np.ndarray) -> float:
            return float(weighted_quantiles(np.abs(x[live]), w[live], [0.5])[0])

        result.data["directions"][direction] = {
            "n_pairs": int(len(d)),
            "median_distance": med,
            "local_fraction": local,
            "median_abs_dt_s": float(np.nanmedian(np.abs(dt))),
            "median_abs_df_erb": float(np.nanmedian(np.abs(df))),
            "neighbour_correlation": r_mean,
            "energy": {
                **stats,
                "n_pairs": int(live.sum()),
                "effective_pairs": effective_size(w[live]),
                "median_abs_dt_s": weighted_median(dtw),
                "median_abs_df_erb": weighted_median(dfw),
            },
        }
        return band_rows(
            direction,
            edges,
            (places.erb_of(aw)[live], dw[live], w[live]),
            (places.erb_of(a)[seen], d[seen]),
        )

    @staticmethod
    def _uniform(
        ctx: RunContext,
        result: TaskResult,
        direction: str,
        d: np.ndarray,
        pair_strata: np.ndarray,
        complete: bool,
        n_boot: int,
    ) -> tuple[float, float]:
        """``weight=none`` rows: the median distance and local share of the uniform pairs."""
        cond = {"direction": direction, "weight": "none"}
        if complete:
            med = float(np.nanmedian(d))
            local = float(np.nanmean(d <= 1.0))
            result.metrics.append(MetricValue("neighbour_distance", med, None, None, cond))
            result.metrics.append(MetricValue("local_fraction", local, None, None, cond))
            return med, local
        med, lo, hi = bootstrap_percentile(
            d, 50.0, strata=pair_strata, seed=ctx.seed, n_boot=n_boot
        )
        result.metrics.append(MetricValue("neighbour_distance", med, lo, hi, cond))
        finite = np.isfinite(d)
        local, lo, hi = bootstrap_ci((d[finite] <= 1.0).astype(float), seed=ctx.seed, n_boot=n_boot)
        result.metrics.append(MetricValue("local_fraction", local, lo, hi, cond))
        return med, local

    @staticmethod
    def _weighted(
        ctx: RunContext,
        result: TaskResult,
        direction: str,
        design: EnergyDesign,
        ok: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
        d: np.ndarray,
        energy: PixelEnergy,
        n_boot: int,
    ) -> dict[str, float]:
        """``weight=energy`` rows: weighted median distance and local share of the design's
        pairs (``ok``: the draws that have a neighbour, ``a``→``b``), with intervals."""
        med, local = energy_weighted(
            d,
            np.stack([a, b], axis=1),
            energy,
            quantiles=[0.5],
            below=[1.0],
            proposal=None if design.proposal is None else design.proposal[ok],
            blocks=None if design.blocks is None else design.blocks[ok],
            seed=ctx.seed,
            n_boot=n_boot,
        )
        cond = {"direction": direction, "weight": "energy"}
        for name, est in (("neighbour_distance", med), ("local_fraction", local)):
            if math.isfinite(est.value):
                result.metrics.append(MetricValue(name, est.value, est.low, est.high, cond))
        return {"median_distance": med.value, "local_fraction": local.value}

    @staticmethod
    def _from_training(
        ctx: RunContext, batch_size: int
    ) -> tuple[torch.Tensor, dict[str, np.ndarray], PixelEnergy, dict[tuple[str, str], np.ndarray]]:
        """The mean training image, per-image neighbour correlations, the pixels' energies
        and the phase parts' wrap-edge shares, in one pass over the training clips."""
        train = ctx.dataset.train
        total = None
        corr: dict[str, list[np.ndarray]] = {d: [] for d in DIRECTIONS}
        c = ctx.rep.image_shape[0]
        energy = EnergyAccumulator(ctx.rep, len(train))
        wraps = WrapShares(ctx.rep)
        for _, encoded in ctx.training_images().batches(batch_size):
            with torch.no_grad():
                energy.add(encoded)
                wraps.add(encoded)
            images = encoded.double()
            total = images.sum(0) if total is None else total + images.sum(0)
            for direction in DIRECTIONS:
                if direction != "channel" or c > 1:
                    corr[direction].append(image_correlations(images, direction))
        mean = (total / len(train)).float()[None]
        corrs = {d: np.concatenate(v) if v else np.array([]) for d, v in corr.items()}
        return mean, corrs, energy.result(), wraps.result()

    @staticmethod
    def _centroids(
        ctx: RunContext,
        errors: PixelErrors,
        analyser: ErrorAnalyser,
        base: torch.Tensor,
        base_audio: torch.Tensor,
        pixels: np.ndarray,
        delta: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spectrogram time and ERB-rate centroids of the atoms of ``pixels`` (NaN: no atom)."""
        pix = torch.from_numpy(pixels)
        t_out, f_out = np.full(len(pixels), np.nan), np.full(len(pixels), np.nan)
        n_ch = int(base_audio.shape[1])
        closed = errors.cosines(pix[:1]) is not None and analyser.model.supports_cosines(
            analyser.n_samples
        )
        size = COSINE_CHUNK if closed else max(1, CHUNK_SAMPLES // (analyser.n_samples * n_ch))
        for sl in ctx.progress(list(chunks(len(pixels), size)), desc="locality atoms"):
            t, f = analyser.centroids_of_pixels(errors, pix[sl], base, base_audio, delta)
            t_out[sl], f_out[sl] = t.numpy(), f.numpy()
        return t_out, f_out

    @staticmethod
    def _gabor(
        ctx: RunContext,
        result: TaskResult,
        errors: PixelErrors,
        base: torch.Tensor,
        base_audio: torch.Tensor,
        anchors: np.ndarray,
        delta: float,
        n_gabor: int,
        n_boot: int,
    ) -> None:
        """σt, σf and the Gabor ratio of a seeded subset of the anchors' atoms."""
        rng = np.random.default_rng(ctx.seed)
        subset = np.sort(
            rng.choice(anchors, size=min(max(1, n_gabor), len(anchors)), replace=False)
        )
        rows = []
        n = ctx.rep.n_samples * ctx.rep.n_channels
        for sl in chunks(len(subset), max(1, CHUNK_SAMPLES // (4 * n))):
            idx = torch.from_numpy(subset[sl])
            if errors.factorised:
                signals = errors.atoms(idx)
            else:
                signals = errors.decoded_errors(base[0], base_audio[0], idx, torch.tensor([delta]))[
                    :, 0
                ]
            m = atom_moments(signals, ctx.rep.sample_rate)
            rows.append(
                torch.stack([m["sigma_t"], m["sigma_f"], m["gabor_ratio"]], -1).cpu().numpy()
            )
        table = np.concatenate(rows)
        ratio = table[:, 2]
        med, lo, hi = bootstrap_percentile(ratio, 50.0, seed=ctx.seed, n_boot=n_boot)
        if math.isfinite(med):
            result.metrics.append(MetricValue("gabor_ratio", med, lo, hi, {"stat": "median"}))
        result.data["atoms"] = {
            "n_gabor": int(len(subset)),
            "median_sigma_t_s": float(np.nanmedian(table[:, 0])),
            "median_sigma_f_hz": float(np.nanmedian(table[:, 1])),
            "median_gabor_ratio": med,
        }
