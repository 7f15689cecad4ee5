"""A generator's own reconstruction of real clips (the seed's T2.4): x → its encoder → its decoder.

Some generators can rebuild a given clip from what they extract from it: DDSP encodes a
clip's f0, loudness and z and decodes them through its synthesiser. Such a generator offers
the optional *reconstruction* protocol ``reconstruct_audio(audio (B, ch, n), sample_rate)
-> (B, ch', n)`` (ch' is ch or 1; a mono reconstruction is compared with the clips' channel
mean). Every held-out test clip is rebuilt and scored with the round-trip task's spectral
metrics (:func:`grainbench.tasks.roundtrip.spectral_metrics`, the same functions and band
limits): ``mrstft`` (the headline), ``lsd[band=signal]``, ``lsd[band=full]`` and
``spectral_convergence``, each the mean over clips with a percentile-bootstrap interval.

The round trip's waveform metrics (SNR, SI-SDR, max |error|) are omitted on purpose: a
parametric generator draws its own oscillator phases and noise, so a reconstruction that
sounds identical to the clip has an SNR near 0 dB; they would measure phase, which the
model does not represent. The representation plays no part (no image, no codec): the rows
are the generator's round trip, to be read beside the representation's round-trip rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grainbench.artifacts import save_wav
from grainbench.errors import UserError
from grainbench.metrics.stats import bootstrap_ci
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.params import MAX_BOOT, Int
from grainbench.tasks.roundtrip import ROWS, band_summary, spectral_metrics

OMITTED = {
    "snr": "a parametric generator draws new phases: a perfect-sounding reconstruction has an "
    "SNR near 0 dB, so SNR measures phase, which the model does not represent",
    "si_sdr": "as snr (a waveform comparison)",
    "max_abs_error": "as snr (a waveform comparison)",
}

NEEDS = "the reconstruction task needs a generator that rebuilds a given clip (built in: ddsp)"


class ReconstructionTask(TaskDefaults):
    """Rebuild every test clip with the generator's encoder and decoder; spectral metrics."""

    name = "reconstruction"
    in_default_run = False
    uses_generator = True
    needs_generator = True
    #: the board's sort key and columns (see grainbench.leaderboard)
    headline = "mrstft"
    key_metrics = ["mrstft", "lsd[band=signal]", "lsd[band=full]", "spectral_convergence"]

    def default_params(self) -> dict[str, Any]:
        """Batch size, bootstrap resamples, and how many clips to keep as WAV."""
        return {"batch_size": 16, "n_boot": 1000, "n_examples": 2}

    param_schema = {"batch_size": Int(1), "n_boot": Int(1, MAX_BOOT), "n_examples": Int(0)}

    @staticmethod
    def check_generator(generator: Any, spec: str | None) -> None:
        """Refuse, before anything is built, a generator without ``reconstruct_audio``."""
        if generator is None or not generator.has_reconstruct:
            raise UserError(f"generator {spec} has no reconstruct_audio(): {NEEDS}")

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Reconstruct the test clips in batches; the spectral metrics with intervals."""
        self.check_generator(ctx.generator, ctx.generator_spec)
        ds, sr, bs = ctx.dataset, int(ctx.rep.sample_rate), int(params["batch_size"])
        test, limits = torch.from_numpy(ds.test), ds.test_band_limits
        result = TaskResult(
            data={"lsd_band": band_summary(limits, sr), "omitted": OMITTED, "n_clips": len(test)}
        )
        per_clip: dict[str, list[np.ndarray]] = {}
        n_examples = min(int(params["n_examples"]), len(test))
        for start in ctx.progress(range(0, len(test), bs), desc="reconstruction"):
            x = test[start : start + bs]
            x_hat = ctx.generator.reconstruct_audio(x, sr).float().cpu()  # (B, ch or 1, n)
            if x_hat.shape[1] != x.shape[1]:
                x = x.mean(dim=1, keepdim=True)
            band = None if limits is None else limits[start : start + bs]
            for key, values in spectral_metrics(x, x_hat, sr, band).items():
                per_clip.setdefault(key, []).append(values)
            for i in range(start, min(start + len(x), n_examples)):
                self._examples(ctx, result, i, x[i - start], x_hat[i - start], sr)
        for key, chunks in per_clip.items():
            values = np.concatenate(chunks)
            mean, lo, hi = bootstrap_ci(values, seed=ctx.seed, n_boot=int(params["n_boot"]))
            name, cond = ROWS[key]
            result.metrics.append(MetricValue(name, mean, lo, hi, dict(cond)))
        return result

    @staticmethod
    def _examples(
        ctx: RunContext,
        result: TaskResult,
        i: int,
        x: torch.Tensor,
        x_hat: torch.Tensor,
        sample_rate: int,
    ) -> None:
        """Clip ``i`` and its reconstruction as WAVs."""
        for name, clip in (("original", x), ("reconstruction", x_hat)):
            path = save_wav(ctx.out_dir / f"clip{i}_{name}.wav", clip.numpy(), sample_rate)
            result.artifacts.append(Artifact(ctx.relpath(path), "wav", f"clip {i}: {name}"))
