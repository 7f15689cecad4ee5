"""Mel power spectrograms of clips: the front end of the spectral embeddings and of NDB.

Clips are mixed to mono (:func:`mono`), analysed with a periodic-Hann STFT of about 46 ms
(:func:`analysis_fft_size`, :func:`power_spectrogram`, power relative to full scale) and
summed into triangular HTK-mel bands (:func:`mel_filterbank`, :mod:`grainbench.mel`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from grainbench.errors import UserError
from grainbench.mel import hz_to_mel, mel_to_hz


def mono(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Clips ``(N, ch, n)`` or ``(N, n)`` → float32 mono ``(N, n)`` on the CPU."""
    x = (
        audio.detach().cpu()
        if isinstance(audio, torch.Tensor)
        else torch.from_numpy(np.asarray(audio))
    )
    x = x.float()
    if x.ndim == 3:
        x = x.mean(dim=1)
    if x.ndim != 2 or x.shape[0] == 0:
        raise UserError(f"an embedding needs audio (N, ch, n) with N ≥ 1, got {tuple(x.shape)}")
    return x


def mel_filterbank(
    n_fft: int, sample_rate: int, n_mels: int, fmin: float, fmax: float
) -> torch.Tensor:
    """Triangular HTK-mel filters ``(n_mels, n_fft // 2 + 1)`` with unit peak.

    Filter ``m`` rises from mel edge ``m`` to ``m + 1`` and falls to ``m + 2``, on
    ``n_mels + 2`` edges equally spaced in mel from ``fmin`` to ``fmax``.
    """
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise UserError(f"mel range {fmin}–{fmax} Hz does not fit a {sample_rate} Hz signal")
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None)).float()


def analysis_fft_size(sample_rate: int) -> int:
    """The power of two nearest to 46 ms at ``sample_rate`` (2048 at 44.1 kHz)."""
    return 1 << max(6, round(math.log2(0.046 * sample_rate)))


def power_spectrogram(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT|² of mono audio ``(N, n)`` with a periodic Hann window → ``(N, bins, frames)``.

    Scaled by 4/(Σ window)² so that a full-scale sine's peak bin is 1: levels are relative
    to full scale, and the 1e-10 floor of the log features sits at −100 dB, well above the
    float32 rounding noise of a lossless round trip (about −140 dB).
    """
    window = torch.hann_window(n_fft, periodic=True, dtype=audio.dtype)
    spec = torch.stft(audio, n_fft, hop, window=window, center=True, return_complex=True)
    return spec.abs() ** 2 * (4.0 / float(window.sum()) ** 2)


def mel_power(audio: np.ndarray | torch.Tensor, sample_rate: int, n_mels: int = 64) -> torch.Tensor:
    """Mel power spectrogram of clips (mono mix) → float64 ``(N, n_mels, frames)``.

    FFT of about 46 ms (:func:`analysis_fft_size`), hop a quarter of it, the power scaled as
    in :func:`power_spectrogram`, HTK mel bands from 20 Hz to half the sample rate.
    """
    x = mono(audio).double()
    n_fft = analysis_fft_size(sample_rate)
    power = power_spectrogram(x, n_fft, n_fft // 4)
    bank = mel_filterbank(n_fft, sample_rate, n_mels, 20.0, sample_rate / 2).double()
    return torch.einsum("mf,nft->nmt", bank, power)
