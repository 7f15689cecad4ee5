"""The per-pixel metric maps of one-pixel errors and what every way of measuring them shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""δ multipliers of the proportionality fit."""

CHUNK_SAMPLES = 1 << 23
"""Audio samples (all signals of a batch together) processed at once: bounds memory."""

COSINE_CHUNK = 128
"""Atoms analysed at once in closed form (memory ≈ 1 MB per atom at 44.1 kHz)."""

METRICS = (
    ("esr", "dB"),
    ("proportionality", ""),
    ("time_spread", "s"),
    ("freq_spread", "ERB"),
    ("audibility", "dB"),
)


def log_ratio(x: torch.Tensor) -> torch.Tensor:
    """``10·log10(x)``: a power ratio in dB."""
    return 10.0 * torch.log10(x)


def slope(norms: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of ``log norms`` against ``log MULTIPLIERS`` (last axis)."""
    log_m = torch.log(torch.tensor(MULTIPLIERS, dtype=torch.float64, device=norms.device))
    log_m = log_m - log_m.mean()
    y = torch.log(norms)
    return ((y - y.mean(-1, keepdim=True)) * log_m).sum(-1) / (log_m * log_m).sum()


@dataclass
class PerturbationMaps:
    """Per-pixel values ``(B, P, D)`` (bases × pixels × δs) of every metric.

    ``first_order`` has one entry per δ: for a δ served by forward mode (decoded
    representations, δ ≤ :data:`grainbench.analysis.decoded.FIRST_ORDER_MAX_DELTA`), its check against
    brute force (:class:`grainbench.analysis.decoded.DecodedMeasure`); None where the δ was measured exactly.
    """

    esr: np.ndarray
    proportionality: np.ndarray
    time_spread: np.ndarray
    freq_spread: np.ndarray
    audibility: np.ndarray
    first_order: list[dict[str, Any] | None] = field(default_factory=list)
