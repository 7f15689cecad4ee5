"""Round-trip fidelity (SPEC 4.1): x → encode → codec → decode → x̂, for every test clip.

Log-spectral distance is reported twice per codec: ``lsd[band=signal]`` (the headline) counts
only the bins up to each clip's content limit as the dataset states it
(``AudioDataset.test_band_limits``; the whole band for a dataset that states none), so
bins where the clip holds nothing do not dominate it; ``lsd[band=full]`` (secondary) counts
every bin up to Nyquist. The task's data (``lsd_band``) says which limits were used.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.artifacts import save_image_picture, save_wav
from grainbench.codecs import CODECS, get_codec
from grainbench.metrics import audio as am
from grainbench.metrics.stats import bootstrap_ci
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.params import MAX_BOOT, Choice, Int, ListOf

#: per-clip metric → (catalogue name, condition beside the codec)
ROWS: dict[str, tuple[str, dict[str, str]]] = {
    "snr": ("snr", {}),
    "si_sdr": ("si_sdr", {}),
    "lsd_signal": ("lsd", {"band": "signal"}),
    "lsd_full": ("lsd", {"band": "full"}),
    "mrstft": ("mrstft", {}),
    "spectral_convergence": ("spectral_convergence", {}),
    "max_abs_error": ("max_abs_error", {}),
    "clipped_fraction": ("clipped_fraction", {}),
}


def spectral_metrics(
    x: torch.Tensor, x_hat: torch.Tensor, sample_rate: int, band_limits: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per-clip values of the round-trip metrics that compare magnitude spectra only (no
    phase): ``lsd_signal`` (dB, up to ``band_limits``: Hz per clip), ``lsd_full`` (dB),
    ``mrstft`` and ``spectral_convergence`` (dB), each ``(B,)`` for clips ``(B, ch, n)``."""
    x, x_hat = x.detach().cpu().float(), x_hat.detach().cpu().float()
    return {
        "lsd_signal": am.log_spectral_distance(x, x_hat, sample_rate, max_hz=band_limits).numpy(),
        "lsd_full": am.log_spectral_distance(x, x_hat, sample_rate).numpy(),
        "mrstft": am.mrstft_distance(x, x_hat).numpy(),
        "spectral_convergence": am.spectral_convergence(x, x_hat).numpy(),
    }


def _clip_metrics(
    x: torch.Tensor, x_hat: torch.Tensor, sample_rate: int, band_limits: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per-clip values of every round-trip audio metric (``band_limits``: Hz per clip)."""
    spectral = spectral_metrics(x, x_hat, sample_rate, band_limits)
    x, x_hat = x.detach().cpu().float(), x_hat.detach().cpu().float()
    return {
        "snr": am.snr(x, x_hat).numpy(),
        "si_sdr": am.si_sdr(x, x_hat).numpy(),
        **spectral,
        "max_abs_error": am.max_abs_error(x, x_hat).numpy(),
    }


def band_summary(limits: np.ndarray | None, sample_rate: int) -> dict[str, Any]:
    """What ``lsd[band=signal]`` and ``lsd[band=full]`` cover, for the task's data."""
    nyquist = sample_rate / 2.0
    full = {"up_to_hz": nyquist, "source": "every bin up to the Nyquist frequency"}
    if limits is None or bool(np.isnan(limits).all()):
        signal = {"up_to_hz": nyquist, "source": "the dataset states no band limit: Nyquist"}
        return {"signal": signal, "full": full}
    stated = limits[~np.isnan(limits)]
    signal = {
        "source": "each clip's content limit as the dataset states it (test_band_limits)",
        "min_hz": float(stated.min()),
        "median_hz": float(np.median(stated)),
        "max_hz": float(stated.max()),
        "clips_below_nyquist": int((stated < nyquist).sum()),
        "clips_without_limit": int(np.isnan(limits).sum()),
        "n_clips": len(limits),
    }
    return {"signal": signal, "full": full}


class RoundTripTask(TaskDefaults):
    """Encode, store through each codec, decode, and score every test clip."""

    name = "roundtrip"
    in_default_run = True
    #: the board's sort key and columns (see grainbench.leaderboard)
    headline = "snr[codec=png8]"
    key_metrics = [
        "snr[codec=png8]",
        "lsd[band=signal,codec=png8]",
        "mrstft[codec=png8]",
        "snr[codec=png16]",
        "snr[codec=float]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Codecs, batch size, bootstrap resamples, and how many clips to keep as WAV."""
        return {
            "codecs": ["float", "png16", "png8"],
            "batch_size": 8,
            "n_boot": 1000,
            "n_examples": 2,
        }

    param_schema = {
        "codecs": ListOf(Choice(*CODECS)),
        "batch_size": Int(1),
        "n_boot": Int(1, MAX_BOOT),
        "n_examples": Int(0),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Per-clip metrics for each codec, summarised as mean with a bootstrap interval."""
        rep, test = ctx.rep, torch.from_numpy(ctx.dataset.test)
        limits = ctx.dataset.test_band_limits
        result = TaskResult(data={"lsd_band": band_summary(limits, rep.sample_rate)})
        sr = rep.sample_rate
        n_examples = min(int(params["n_examples"]), len(test))
        bs = int(params["batch_size"])
        for i in range(n_examples):
            path = save_wav(ctx.out_dir / f"clip{i}_original.wav", test[i].numpy(), sr)
            result.artifacts.append(Artifact(ctx.relpath(path), "wav", f"clip {i}: original"))
        for codec_name in params["codecs"]:
            codec = get_codec(codec_name)
            per_clip: dict[str, list[np.ndarray]] = {}
            clipped: list[np.ndarray] = []
            with tempfile.TemporaryDirectory(prefix="grainbench-codec-") as tmp:
                batches = range(0, len(test), bs)
                for start in ctx.progress(batches, desc=f"roundtrip {codec_name}"):
                    x = test[start : start + bs].to(ctx.device)
                    image = rep.encode(x)
                    stored, n_clipped = codec.roundtrip(image, Path(tmp))
                    x_hat = rep.decode(stored)
                    band = None if limits is None else limits[start : start + bs]
                    for k, v in _clip_metrics(x, x_hat, sr, band).items():
                        per_clip.setdefault(k, []).append(v)
                    pixels = float(np.prod(image.shape[1:]))
                    clipped.append(np.asarray(n_clipped.cpu(), dtype=np.float64) / pixels)
                    if start == 0:
                        self._examples(ctx, result, codec_name, image, x_hat, n_examples)
            per_clip["clipped_fraction"] = clipped
            for key, chunks in per_clip.items():
                values = np.concatenate(chunks)
                mean, lo, hi = bootstrap_ci(values, seed=ctx.seed, n_boot=int(params["n_boot"]))
                name, cond = ROWS[key]
                result.metrics.append(
                    MetricValue(name, mean, lo, hi, {"codec": codec_name, **cond})
                )
        return result

    @staticmethod
    def _examples(
        ctx: RunContext,
        result: TaskResult,
        codec_name: str,
        image: torch.Tensor,
        x_hat: torch.Tensor,
        n_examples: int,
    ) -> None:
        """WAVs of the first decoded clips and a picture of the first image (once per codec)."""
        sr = ctx.rep.sample_rate
        for i in range(min(n_examples, len(x_hat))):
            if codec_name == "float":
                continue
            path = save_wav(ctx.out_dir / f"clip{i}_{codec_name}.wav", x_hat[i].cpu().numpy(), sr)
            result.artifacts.append(
                Artifact(ctx.relpath(path), "wav", f"clip {i}: {codec_name} round trip")
            )
        if codec_name == "float":
            path = save_image_picture(
                ctx.out_dir / "clip0_image.png",
                image[0].detach().cpu().numpy(),
                f"{ctx.rep.name}: encoded test clip 0",
            )
            result.artifacts.append(
                Artifact(ctx.relpath(path), "png", "encoded image of test clip 0")
            )
