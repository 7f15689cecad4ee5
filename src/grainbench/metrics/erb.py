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
