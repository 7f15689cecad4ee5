"""Mel frequency scale, mel filterbanks, and a fixed resampling of frequency rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grainbench.mel import hz_to_mel, mel_to_hz
from grainbench.stages.base import Stage


def triangular_filterbank(
    n_bins: int, n_bands: int, sample_rate: int, top_hz: float | None = None
) -> np.ndarray:
    """Mel-spaced triangles over ``n_bins`` linear bins: ``(n_bands, n_bins)``.

    Bins are equally spaced from 0 Hz to ``top_hz`` (default Nyquist), band centres equally
    spaced in mel over the same span. Each triangle reaches to its neighbours' centres,
    but never narrower than one bin on either side, so that no band is empty where bands
    are denser than bins (there it interpolates between the two nearest bins). Rows sum
    to 1: a band value is a weighted mean of bin values.
    """
    top = sample_rate / 2.0 if top_hz is None else float(top_hz)
    centres = mel_to_hz(np.linspace(0.0, hz_to_mel(top), n_bands)) / top * (n_bins - 1)
    gaps = np.diff(centres)
    lower = np.maximum(np.concatenate([[gaps[0]], gaps]), 1.0)
    upper = np.maximum(np.concatenate([gaps, [gaps[-1]]]), 1.0)
    bins = np.arange(n_bins, dtype=np.float64)
    d = bins[None, :] - centres[:, None]
    rise = 1.0 + d / lower[:, None]
    fall = 1.0 - d / upper[:, None]
    tri = np.clip(np.where(d < 0, rise, fall), 0.0, None)
    return tri / tri.sum(axis=1, keepdims=True)


class FreqWarp(Stage):
    """Resample the frequency rows of ``(B, Ch, P, F, T)`` with a fixed matrix ``(G, F)``.

    Forward multiplies by the matrix, inverse by its pseudo-inverse (singular values below
    ``rcond`` times the largest are dropped). Lossy unless the matrix has full column
    rank; ``lossless`` is set from the numerical rank.
    """

    def __init__(self, matrix: np.ndarray, name: str = "mel", rcond: float = 1e-3) -> None:
        super().__init__()
        self.name = name
        pinv = np.linalg.pinv(matrix, rcond=rcond)
        s = np.linalg.svd(matrix, compute_uv=False)
        self.rank = int((s > rcond * s[0]).sum())
        self.lossless = self.rank == matrix.shape[1]
        self.register_buffer("matrix", torch.tensor(matrix, dtype=torch.float32), persistent=False)
        self.register_buffer("pinv", torch.tensor(pinv, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows F → G."""
        return torch.einsum("gf,...ft->...gt", self.matrix, x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Rows G → F by the pseudo-inverse."""
        return torch.einsum("fg,...gt->...ft", self.pinv, y)

    def carry_parts(self, masks: torch.Tensor) -> torch.Tensor:
        """Row g of a plane depends on the rows f of that plane where ``matrix[g, f] ≠ 0``."""
        weights = (self.matrix != 0).to(torch.float32)
        return torch.einsum("gf,...ft->...gt", weights, masks.to(torch.float32)) > 0

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        g, f = self.matrix.shape
        return {"stage": "FreqWarp", "scale": self.name, "rows": g, "bins": f, "rank": self.rank}
