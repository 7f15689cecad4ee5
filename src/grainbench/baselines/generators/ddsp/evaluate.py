"""Reconstruction numbers of a trained DDSP model on held-out clips.

Each clip is encoded (its f0, loudness and z) and decoded; against the original:

- ``mrstft`` and ``lsd`` (dB): the round-trip task's definitions
  (:mod:`grainbench.metrics.audio`: auraloss's multi-resolution STFT distance, the full-band
  log-spectral distance), mean over clips with a bootstrap 95 % interval. SNR and SI-SDR
  are not reported: the oscillators' phases are not the clip's, so a perfect-sounding
  reconstruction has an SNR near 0 dB; the waveform is not what DDSP models.
- ``loudness_error_db``: mean |loudness(x̂) − loudness(x)| over the frames of x louder than
  −60 dB (A-weighted, :mod:`.loudness`), per clip, then the mean over clips.
- ``pitch_error_cents``: per clip, the median |1200·log2(f0(x̂)/f0(x))| over the same frames
  where CREPE is confident (≥ 0.5) on both, then the median over clips.
- ``fd_crepe`` (a listening proxy): the Fréchet distance between CREPE-tiny embeddings of
  the reconstructions and of the originals, beside ``fd_crepe_floor``, the same distance
  between two disjoint real sets of that size (the originals and as many training
  clips): FD is biased upward at small n, so only the difference to the floor means much.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grainbench.baselines.generators.ddsp.features import Features, crepe_f0
from grainbench.baselines.generators.ddsp.loudness import a_weighted_loudness
from grainbench.baselines.generators.ddsp.model import DDSP
from grainbench.baselines.generators.training import step_generator
from grainbench.metrics import audio as am
from grainbench.metrics.distances import frechet_distance
from grainbench.metrics.embeddings import CrepeEmbedding
from grainbench.metrics.stats import bootstrap_ci

AUDIBLE_DB = -60.0
"""Frames quieter than this (A-weighted dB) do not count in the tracking errors."""


def reconstruct(model: DDSP, features: Features, seed: int = 0, batch: int = 16) -> torch.Tensor:
    """Clips rebuilt from their features: ``(B, n_samples)`` (noise drawn from ``seed``)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(features), batch):
            out.append(model.eval()(features[i : i + batch], step_generator(seed, i // batch, 3)))
    return torch.cat(out)


def evaluate(
    model: DDSP,
    audio: torch.Tensor,
    features: Features,
    floor_audio: torch.Tensor | None = None,
    seed: int = 0,
) -> tuple[dict[str, Any], torch.Tensor]:
    """The module doc's numbers for mono clips ``(B, n)`` and their features, and the
    reconstructions ``(B, n)``. ``floor_audio``: as many other real clips, for the FD floor."""
    sr, hop = model.sample_rate, model.hop
    x = audio.float()
    x_hat = reconstruct(model, features, seed)
    out: dict[str, Any] = {"n_clips": int(x.shape[0])}
    for name, values in (
        ("mrstft", am.mrstft_distance(x[:, None], x_hat[:, None])),
        ("lsd", am.log_spectral_distance(x[:, None], x_hat[:, None], sr)),
    ):
        mean, lo, hi = bootstrap_ci(values.numpy(), seed=seed)
        out[name] = {"mean": mean, "low": lo, "high": hi}
    loud, loud_hat = features.loudness_db, a_weighted_loudness(x_hat, sr, hop)
    audible = loud > AUDIBLE_DB
    err = ((loud_hat - loud).abs() * audible).sum(1) / audible.sum(1).clamp_min(1)
    out["loudness_error_db"] = float(err.mean())
    f0_hat, conf_hat = crepe_f0(x_hat, sr, hop, voicing=0.0)
    f0, conf = crepe_f0(x, sr, hop, voicing=0.0)
    cents = (1200.0 * torch.log2(f0_hat / f0)).abs()
    keep = audible & (conf >= 0.5) & (conf_hat >= 0.5)
    per_clip = [float(c[k].median()) for c, k in zip(cents, keep, strict=True) if k.any()]
    out["pitch_error_cents"] = float(np.median(per_clip)) if per_clip else None
    emb = CrepeEmbedding("tiny")
    real = emb.embed(x[:, None], sr)
    out["fd_crepe"] = float(frechet_distance(real, emb.embed(x_hat[:, None], sr)))
    if floor_audio is not None:
        out["fd_crepe_floor"] = float(frechet_distance(real, emb.embed(floor_audio[:, None], sr)))
    return out, x_hat
