"""Realized grain (SPEC 4.7): what a trained generator does to real sounds.

The generator (``ctx.generator``) is fitted on the encoded training clips (as the
generation task fits it, with the same images and labels, so a run holding both fits it
once: :mod:`grainbench.fitonce`) and must offer ``project(images, labels=None, seed=0)``:
its closest output to given images (gmm: PCA reconstruction; StyleGAN2/3: latent
optimisation in W then W+; oracle: the images plus its noise). For each held-out test clip
``x`` with image ``E = encode(x)`` and projection ``P = project(E)``:

- real round trip ``x̂ = decode(codec(E))``; projected ``y = decode(codec(P))``;
- the *realized grain* is the residual ``r = y − x̂``.

Per clip: ``projection_psnr`` (image PSNR of ``P`` against ``E``, peak 2, before the codec)
and, for row ``realized``: ESR ``10·log10(‖r‖²/‖x̂‖²)``, the multi-resolution STFT distance
of ``y`` to ``x̂``, audibility (worst-frame noise-to-mask ratio of ``r`` against ``x̂``,
:mod:`grainbench.metrics.masking`) and pitch deviation (|cents| between YIN f0s of ``y`` and
``x̂``, where both are confident).

**Prediction check.** Row ``noise``: white Gaussian noise added to ``E`` at exactly that
clip's projection PSNR (the transfer task's ``noise`` error, :func:`~grainbench.tasks.transfer_errors.add_noise`),
through the same codec and decode, scored the same way: what the transfer curve predicts for
an error of the projection's size. Row ``transfer-curve`` (only when the run folder holds a
finished transfer task with a grain fit): the transfer task's grain line
``grain_level + grain_slope·(PSNR − 40)`` read at each clip's projection PSNR.
``prediction_error[row=…]`` is realized minus predicted ESR per clip (dB; > 0: the generator's
error is worse for the sound than white noise of the same image size).

**Grain colour.** The residual-to-signal ratio per 1-ERB band (:mod:`grainbench.metrics.colour`),
pooled over clips with a bootstrap interval, for the realized residual and the noise
prediction: ``grain_colour.json`` and ``grain_colour.png``.

Intervals are percentile bootstraps over clips. ``data["per_clip"]`` keeps every clip's
values (the cross-representation rank correlation resamples them,
:mod:`grainbench.realized_rank`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.artifacts import save_wav
from grainbench.codecs import CODECS, get_codec
from grainbench.errors import UserError
from grainbench.metrics import audio as am
from grainbench.metrics.colour import colour_curve, erb_band_powers
from grainbench.metrics.f0 import cents, clip_f0
from grainbench.metrics.grain import esr_db
from grainbench.metrics.masking import noise_to_mask_ratio
from grainbench.metrics.stats import bootstrap_ci
from grainbench.results import write_json
from grainbench.tasks import plots
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.params import MAX_BOOT, Choice, Int
from grainbench.tasks.transfer_errors import add_noise, psnr_db

RESIDUAL_PEAK = 0.5
"""Peak of the level-normalised residual WAVs (−6 dBFS)."""


def _in_batches(fn: Any, x: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """``fn`` over ``x`` in batches on ``device``; results on the CPU."""
    with torch.no_grad():
        return torch.cat(
            [fn(x[i : i + batch].to(device)).detach().cpu() for i in range(0, len(x), batch)]
        )


def fit_generator(generator: Any, rep: Any, dataset: Any, batch: int, device: torch.device) -> None:
    """Fit ``generator`` (a checked :class:`~grainbench.generator.Generator`) on
    ``dataset``'s training clips encoded by ``rep`` (with MIDI labels
    when every clip has one), as the generation task does; once per run (``fit_once``)
    when the runner's :class:`~grainbench.fitonce.FitOnce` wraps it. A generator the run
    has already fitted (the generation task fits it on the training clips outside its
    reference pool) is used as it is, so both tasks judge one model."""
    if getattr(generator, "has_fit", False):
        return
    labels = np.asarray(dataset.train_labels, dtype=np.int64)
    labelled = bool(len(labels)) and bool((labels >= 0).all())
    images = _in_batches(rep.encode, torch.from_numpy(dataset.train), batch, device)
    fit = getattr(generator, "fit_once", None) or generator.fit
    fit(images, torch.from_numpy(labels) if labelled else None)


def score(
    residual: torch.Tensor, decoded: torch.Tensor, reference: torch.Tensor, sample_rate: int
) -> dict[str, np.ndarray]:
    """Per clip ``esr``, ``mrstft``, ``audibility`` and ``pitch_deviation`` of ``decoded``
    (residual ``decoded − reference``) against ``reference``, all ``(B, ch, n)``."""
    f0, conf = clip_f0(decoded.mean(1), sample_rate)
    f0_ref, conf_ref = clip_f0(reference.mean(1), sample_rate)
    dev = cents(f0, f0_ref).abs().cpu().numpy()
    return {
        "esr": esr_db(residual, reference).cpu().numpy(),
        "mrstft": am.mrstft_distance(reference, decoded).cpu().numpy(),
        "audibility": noise_to_mask_ratio(residual, reference, sample_rate)
        .amax(-1)
        .double()
        .cpu()
        .numpy(),
        "pitch_deviation": np.where((conf & conf_ref).cpu().numpy(), dev, np.nan),
    }


def transfer_grain_line(run_dir: Path) -> dict[str, Any] | None:
    """The grain line of a finished transfer task in ``run_dir`` (``tasks/transfer.json``):
    ``{"slope", "level_at_40db", "levels", "n_clips", "signature"}``, or None."""
    try:
        body = json.loads((Path(run_dir) / "tasks" / "transfer.json").read_text())
        grain = body["data"]["grain"]
        return {
            "slope": float(grain["slope"]),
            "level_at_40db": float(grain["level_at_40db"]),
            "levels": [float(v) for v in body["params"]["psnr"]],
            "n_clips": int(body["data"]["n_clips"]),
            "signature": str(body.get("signature", "")),
        }
    except (OSError, ValueError, KeyError, TypeError):
        return None


class RealizedTask(TaskDefaults):
    """Project held-out clips onto the generator; measure the residual and its prediction."""

    name = "realized"
    in_default_run = False
    uses_generator = True
    needs_generator = True
    #: the board's sort key and columns (see grainbench.leaderboard)
    headline = "esr[row=realized]"
    key_metrics = [
        "esr[row=realized]",
        "audibility[row=realized]",
        "projection_psnr",
        "esr[row=noise]",
        "prediction_error[row=noise]",
        "pitch_deviation[row=realized]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Clips (None: every test clip), codec, batch size, bootstrap resamples, WAVs."""
        return {"n_clips": None, "codec": "png8", "batch_size": 16, "n_boot": 1000, "n_wavs": 2}

    param_schema = {
        "n_clips": Int(1, none=True),
        "codec": Choice(*CODECS),
        "batch_size": Int(1),
        "n_boot": Int(1, MAX_BOOT),
        "n_wavs": Int(0),
    }

    @staticmethod
    def check_generator(generator: Any, spec: str | None) -> None:
        """Refuse, before anything is built, a generator without ``project``."""
        if generator is None or not generator.has_project:
            raise UserError(
                f"generator {spec} has no project(): the realized task needs the generator's "
                "closest output to real images (built in: gmm, oracle, stylegan2, stylegan3)"
            )

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Fit, project, store, decode, score; the prediction rows, colour and WAVs."""
        if ctx.generator is None:
            raise UserError("the realized task needs a generator: --gen gmm|oracle|stylegan2|…")
        self.check_generator(ctx.generator, ctx.generator_spec)
        rep, ds, bs, seed = ctx.rep, ctx.dataset, int(params["batch_size"]), ctx.seed
        n_boot = int(params["n_boot"])
        n = len(ds.test) if params["n_clips"] is None else min(int(params["n_clips"]), len(ds.test))
        if n < 1:
            raise UserError("the realized task needs at least one test clip")
        fit_generator(ctx.generator, rep, ds, bs, ctx.device)
        clips = torch.from_numpy(ds.test[:n])
        test_labels = np.asarray(ds.test_labels[:n], dtype=np.int64)
        labels = torch.from_numpy(test_labels) if (test_labels >= 0).all() else None
        images = _in_batches(rep.encode, clips, bs, ctx.device)
        projected = ctx.generator.project(images, labels, seed).detach().float().cpu()
        psnr = psnr_db(images, projected).numpy()
        noisy = torch.cat(
            [add_noise(images[i : i + 1], float(p), seed + i) for i, p in enumerate(psnr)]
        )

        codec = get_codec(str(params["codec"]))
        decoded, clipped = {}, {}
        for row, imgs in (("roundtrip", images), ("realized", projected), ("noise", noisy)):
            stored, count = codec.roundtrip(imgs)
            clipped[row] = float(count.double().sum()) / imgs.numel()
            decoded[row] = _in_batches(rep.decode, stored, bs, ctx.device)
        ref = decoded["roundtrip"]
        sr = int(rep.sample_rate)
        values = {
            row: score(decoded[row] - ref, decoded[row], ref, sr) for row in ("realized", "noise")
        }

        result = TaskResult()
        m = result.metrics
        self._summary(m, "projection_psnr", psnr, {}, seed, n_boot)
        for row, vals in values.items():
            for name, v in vals.items():
                self._summary(m, name, v, {"row": row}, seed, n_boot)
        self._summary(
            m,
            "prediction_error",
            values["realized"]["esr"] - values["noise"]["esr"],
            {"row": "noise"},
            seed,
            n_boot,
        )
        line = transfer_grain_line(ctx.run_dir)
        per_clip: dict[str, Any] = {
            "test_index": list(range(n)),
            "projection_psnr": psnr.tolist(),
            **{f"{k}_{row}": v.tolist() for row, vals in values.items() for k, v in vals.items()},
        }
        if line is not None:
            curve = line["level_at_40db"] + line["slope"] * (psnr - 40.0)
            self._summary(m, "esr", curve, {"row": "transfer-curve"}, seed, n_boot)
            self._summary(
                m,
                "prediction_error",
                values["realized"]["esr"] - curve,
                {"row": "transfer-curve"},
                seed,
                n_boot,
            )
            per_clip["esr_transfer-curve"] = curve.tolist()
            lo, hi = min(line["levels"]), max(line["levels"])
            line["clips_outside_levels"] = int(((psnr < lo) | (psnr > hi)).sum())
        for row in ("realized", "roundtrip"):
            m.append(MetricValue("clipped_fraction", clipped[row], condition={"row": row}))
        result.data = {
            "n_clips": n,
            "codec": codec.name,
            "labelled": labels is not None,
            "transfer_curve": line,
            "per_clip": per_clip,
        }
        self._colour(ctx, result, clips, decoded, ref, sr, n_boot)
        self._wavs(ctx, result, clips, decoded, ref, int(params["n_wavs"]))
        return result

    @staticmethod
    def _summary(
        metrics: list[MetricValue],
        name: str,
        values: np.ndarray,
        cond: dict[str, Any],
        seed: int,
        n_boot: int,
    ) -> None:
        """Mean over clips with a bootstrap interval (nothing when no clip has a value)."""
        mean, lo, hi = bootstrap_ci(values, seed=seed, n_boot=n_boot)
        if math.isfinite(mean):
            metrics.append(MetricValue(name, mean, lo, hi, dict(cond)))

    @staticmethod
    def _colour(
        ctx: RunContext,
        result: TaskResult,
        clips: torch.Tensor,
        decoded: dict[str, torch.Tensor],
        ref: torch.Tensor,
        sr: int,
        n_boot: int,
    ) -> None:
        """Grain-colour curves of the realized residual and of the noise prediction."""
        signal = erb_band_powers(ref, sr).numpy()
        curves = {
            row: colour_curve(
                erb_band_powers(decoded[row] - ref, sr).numpy(),
                signal,
                sr,
                seed=ctx.seed,
                n_boot=n_boot,
            )
            for row in ("realized", "noise")
        }
        path = ctx.out_dir / "grain_colour.json"
        write_json(path, curves)
        result.artifacts.append(
            Artifact(ctx.relpath(path), "json", "residual-to-signal ratio per 1-ERB band")
        )
        label = {"realized": "realized (generator projection)", "noise": "white noise, same PSNR"}
        path = plots.grain_colour(
            ctx.out_dir / "grain_colour.png",
            {label[k]: v for k, v in curves.items()},
            f"{ctx.rep.name}, {ctx.generator_spec}: grain colour ({len(clips)} clips)",
        )
        result.artifacts.append(
            Artifact(ctx.relpath(path), "png", "grain colour: residual-to-signal ratio per band")
        )
        result.data["colour"] = curves

    @staticmethod
    def _wavs(
        ctx: RunContext,
        result: TaskResult,
        clips: torch.Tensor,
        decoded: dict[str, torch.Tensor],
        ref: torch.Tensor,
        n: int,
    ) -> None:
        """Per clip: the real clip, its projection decoded, and the residual alone at a
        peak of :data:`RESIDUAL_PEAK` (the gain applied is in the caption)."""
        sr = int(ctx.rep.sample_rate)
        for i in range(min(n, len(clips))):
            residual = (decoded["realized"][i] - ref[i]).numpy()
            peak = float(np.abs(residual).max())
            gain_db = 20.0 * math.log10(RESIDUAL_PEAK / peak) if peak > 0 else 0.0
            scaled = residual * (RESIDUAL_PEAK / peak) if peak > 0 else residual
            for tag, audio, caption in (
                ("real", clips[i].numpy(), "the real test clip"),
                ("projected", decoded["realized"][i].numpy(), "its projection, decoded"),
                ("residual", scaled, f"the realized grain alone, gain {gain_db:+.1f} dB"),
            ):
                path = save_wav(ctx.out_dir / f"clip{i}_{tag}.wav", audio, sr)
                result.artifacts.append(Artifact(ctx.relpath(path), "wav", f"clip {i}: {caption}"))
