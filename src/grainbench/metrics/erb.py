"""The ERB scale of Glasberg & Moore (1990) and 1-ERB-wide analysis bands.

- bandwidth: ``ERB(f) = 24.7·(4.37·f/1000 + 1)`` Hz;
- ERB-rate (number of ERBs below ``f``): ``E(f) = 21.4·log10(1 + 0.00437·f)``.

The two are consistent: ``dE/df = 1/ERB(f)``. Bands used by the masking model are the
intervals ``[b, b + 1)`` of ERB-rate, ``b = 0, 1, …``, the last one cut at Nyquist.
"""

from __future__ import annotations

import math

import numpy as np
import torch

ERB_RATE_SCALE = 21.4
ERB_RATE_SLOPE = 0.00437


def erb_bandwidth(freq_hz: torch.Tensor | np.ndarray | float) -> torch.Tensor | np.ndarray | float:
    """Equivalent rectangular bandwidth at ``freq_hz`` (Hz), ``24.7·(4.37·f/1000 + 1)``."""
    return 24.7 * (ERB_RATE_SLOPE * freq_hz + 1.0)


def hz_to_erb_rate(freq_hz: torch.Tensor | np.ndarray | float) -> torch.Tensor | np.ndarray | float:
    """ERB-rate (in ERB) of ``freq_hz``: ``21.4·log10(1 + 0.00437·f)``."""
    if isinstance(freq_hz, torch.Tensor):
        return ERB_RATE_SCALE * torch.log10(1.0 + ERB_RATE_SLOPE * freq_hz)
    if isinstance(freq_hz, np.ndarray):
        return ERB_RATE_SCALE * np.log10(1.0 + ERB_RATE_SLOPE * freq_hz)
    return ERB_RATE_SCALE * math.log10(1.0 + ERB_RATE_SLOPE * float(freq_hz))


def erb_rate_to_hz(erb: torch.Tensor | np.ndarray | float) -> torch.Tensor | np.ndarray | float:
    """Inverse of :func:`hz_to_erb_rate`: the frequency (Hz) at ERB-rate ``erb``."""
    if isinstance(erb, torch.Tensor):
        return (torch.pow(10.0, erb / ERB_RATE_SCALE) - 1.0) / ERB_RATE_SLOPE
    if isinstance(erb, np.ndarray):
        return (np.power(10.0, erb / ERB_RATE_SCALE) - 1.0) / ERB_RATE_SLOPE
    return (10.0 ** (float(erb) / ERB_RATE_SCALE) - 1.0) / ERB_RATE_SLOPE


def erb_band_count(sample_rate: int) -> int:
    """Number of 1-ERB bands ``[b, b+1)`` needed to cover 0 Hz to Nyquist."""
    return int(math.ceil(hz_to_erb_rate(sample_rate / 2.0)))


def erb_band_centres_hz(sample_rate: int) -> np.ndarray:
    """Centre frequency (Hz) of each 1-ERB band: the frequency at ERB-rate ``b + 1/2``.

    The last band is cut at Nyquist; its centre is the middle of its ERB-rate extent.
    """
    top = hz_to_erb_rate(sample_rate / 2.0)
    n = erb_band_count(sample_rate)
    lo = np.arange(n, dtype=np.float64)
    hi = np.minimum(lo + 1.0, top)
    return np.asarray(erb_rate_to_hz((lo + hi) / 2.0), dtype=np.float64)


def erb_band_matrix(n_fft: int, sample_rate: int) -> torch.Tensor:
    """0/1 matrix ``(n_fft//2 + 1, n_bands)`` assigning each rfft bin to its 1-ERB band.

    Bin ``k`` (centre frequency ``k·sr/n_fft``) belongs to band ``floor(E(f_k))``; summing a
    power spectrum over its bins (``power @ matrix``) gives band energies.
    """
    freqs = np.arange(n_fft // 2 + 1, dtype=np.float64) * sample_rate / n_fft
    band = np.floor(hz_to_erb_rate(freqs)).astype(np.int64)
    n_bands = erb_band_count(sample_rate)
    band = np.minimum(band, n_bands - 1)
    mat = np.zeros((freqs.size, n_bands), dtype=np.float32)
    mat[np.arange(freqs.size), band] = 1.0
    return torch.from_numpy(mat)
