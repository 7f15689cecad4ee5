"""The ERB scale and rounded-exponential auditory filters of Glasberg & Moore (1990).

- bandwidth: ``ERB(f) = 24.7·(4.37·f/1000 + 1)`` Hz;
- ERB-rate (number of ERBs below ``f``): ``E(f) = 21.4·log10(1 + 0.00437·f)``.

The two are consistent: ``dE/df = 1/ERB(f)``.

- roex(p) filter centred at ``fc``: power weight ``W(g) = (1 + p·g)·e^(−p·g)`` at the
  normalised deviation ``g = |f − fc|/fc``, with ``p = 4·fc/ERB(fc)`` (Patterson 1976;
  Glasberg & Moore 1990, eq. 3, with the same ``p`` on both sides). Its peak is 1 and its
  equivalent rectangular bandwidth ``∫W df = 4·fc/p`` is exactly ``ERB(fc)`` (over the whole
  line; the part below 0 Hz, ``e^(−p)·(2 + p)/4`` of it, is below 1e-4 above 91 Hz). A tone ``Δ`` ERB away is
  weighted by about ``(1 + 4Δ)·e^(−4Δ)``: −1.3 dB at a quarter ERB, −10.4 dB at one ERB.

The masking model (:mod:`grainbench.metrics.masking`) places these filters at a fixed step in
ERB-rate (:func:`erb_filter_centres_hz`), so its band energies vary smoothly with frequency.
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


def roex_weight(freq_hz: np.ndarray, centre_hz: np.ndarray) -> np.ndarray:
    """Power weight of the roex(p) filter centred at ``centre_hz`` at ``freq_hz`` (broadcast).

    ``(1 + p·g)·e^(−p·g)`` with ``g = |f − fc|/fc`` and ``p = 4·fc/ERB(fc)``; ``fc > 0``.
    """
    fc = np.asarray(centre_hz, dtype=np.float64)
    pg = 4.0 * np.abs(np.asarray(freq_hz, dtype=np.float64) - fc) / erb_bandwidth(fc)
    return (1.0 + pg) * np.exp(-pg)


def erb_filter_centres_hz(top_hz: float, per_erb: int) -> np.ndarray:
    """Filter centres (Hz) at every ``1/per_erb`` ERB of ERB-rate, from ``1/per_erb`` up to
    ``top_hz`` (the last at most ``1/per_erb`` ERB below it)."""
    count = int(math.floor(hz_to_erb_rate(float(top_hz)) * per_erb + 1e-9))
    rates = np.arange(1, count + 1, dtype=np.float64) / per_erb
    return np.asarray(erb_rate_to_hz(rates), dtype=np.float64)


# Hard 1-ERB bands [b, b+1) of ERB-rate: the grain colour's bands (metrics/colour.py).


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
