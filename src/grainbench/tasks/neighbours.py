"""Image neighbours and where their atoms sit: the pairs the locality task compares
(:mod:`grainbench.tasks.locality`), their weights, and the per-band table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from grainbench.metrics.erb import erb_rate_to_hz
from grainbench.metrics.weighted import weighted_cdf, weighted_quantiles

DIRECTIONS = {"right": (0, 0, 1), "down": (0, 1, 0), "channel": (1, 0, 0)}
"""Offsets (channel, row, column) of each neighbour direction."""


def has_neighbour(pixels: np.ndarray, shape: tuple[int, int, int], direction: str) -> np.ndarray:
    """Whether each flat pixel index has a neighbour in ``direction`` (bool, ``pixels``' shape)."""
    c, h, w = shape
    dc, dh, dw = DIRECTIONS[direction]
    ch, rem = np.divmod(pixels, h * w)
    row, col = np.divmod(rem, w)
    return (ch + dc < c) & (row + dh < h) & (col + dw < w)


def neighbours(
    pixels: np.ndarray, shape: tuple[int, int, int], direction: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(anchors, their neighbours)``: flat indices of the pixels that have one in ``direction``."""
    _, h, w = shape
    dc, dh, dw = DIRECTIONS[direction]
    anchors = pixels[has_neighbour(pixels, shape, direction)]
    return anchors, anchors + dc * h * w + dh * w + dw


def pair_energy(energy: np.ndarray, shape: tuple[int, int, int], direction: str) -> np.ndarray:
    """Per pixel p, the weight ``(E_p + E_q)/2`` of its pair with its neighbour q in
    ``direction`` (0 where it has none); ``energy`` is ``E`` flat ``(C·H·W,)``."""
    out = np.zeros(energy.size)
    a, b = neighbours(np.arange(energy.size), shape, direction)
    out[a] = 0.5 * (energy[a] + energy[b])
    return out


def image_correlations(images: torch.Tensor, direction: str) -> np.ndarray:
    """Per image, the Pearson correlation of each pixel with its neighbour in ``direction``.

    ``images (B, C, H, W)``; NaN for an image where either side has no variance.
    """
    dc, dh, dw = DIRECTIONS[direction]
    _, c, h, w = images.shape
    a = images[:, : c - dc, : h - dh, : w - dw].reshape(images.shape[0], -1).double()
    b = images[:, dc:, dh:, dw:].reshape(images.shape[0], -1).double()
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    den = (a.pow(2).sum(-1) * b.pow(2).sum(-1)).sqrt()
    r = (a * b).sum(-1) / den
    return torch.where(den > 0, r, torch.full_like(r, math.nan)).cpu().numpy()


def picture_pixels(shape: tuple[int, int, int]) -> np.ndarray:
    """A few pixels spread over channel 0 (rows at 1/8, 1/2, 7/8; columns at 1/4, 3/4)."""
    _, h, w = shape
    rows = sorted({min(h - 1, int(h * f)) for f in (0.125, 0.5, 0.875)})
    cols = sorted({min(w - 1, int(w * f)) for f in (0.25, 0.75)})
    return np.array([r * w + q for r in rows for q in cols], dtype=np.int64)


@dataclass(frozen=True)
class AtomPlaces:
    """Time (s) and ERB-rate centroids of the atoms of ``pixels`` (sorted flat indices; NaN:
    no atom), and the distance scales ``tau`` (s) and ``phi`` (ERB)."""

    pixels: np.ndarray
    time: np.ndarray
    erb: np.ndarray
    tau: float
    phi: float

    def erb_of(self, p: np.ndarray) -> np.ndarray:
        """ERB-rate centroids of the atoms of pixels ``p`` (each among ``pixels``)."""
        return self.erb[np.searchsorted(self.pixels, p)]

    def apart(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(d, Δt, Δf)`` from each atom of ``a`` to that of ``b``:
        ``d = sqrt((Δt/tau)² + (Δf/phi)²)``."""
        ia, ib = np.searchsorted(self.pixels, a), np.searchsorted(self.pixels, b)
        dt, df = self.time[ib] - self.time[ia], self.erb[ib] - self.erb[ia]
        return np.sqrt((dt / self.tau) ** 2 + (df / self.phi) ** 2), dt, df


def band_rows(
    direction: str,
    edges: np.ndarray,
    weighted: tuple[np.ndarray, np.ndarray, np.ndarray],
    uniform: tuple[np.ndarray, np.ndarray],
) -> list[dict[str, Any]]:
    """Locality per ERB-rate band of the anchors' centroids, for one direction.

    ``weighted`` is ``(anchor ERB-rate, distance, importance weight)`` per weighted pair,
    ``uniform`` ``(anchor ERB-rate, distance)`` per pair of the uniform sample; bands are
    ``[edges[i], edges[i+1])``. Each row: the band's centre (ERB-rate and Hz), its share of
    the direction's weight, and per weighting the pair count, median distance and share of
    pairs with d ≤ 1. Bands without any pair are left out.
    """
    f_w, d_w, w_w = weighted
    f_u, d_u = uniform
    total = float(w_w.sum())
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_w = (f_w >= lo) & (f_w < hi)
        in_u = (f_u >= lo) & (f_u < hi)
        if not (in_w.any() or in_u.any()):
            continue
        centre = 0.5 * (lo + hi)
        w = w_w[in_w]
        row = {
            "direction": direction,
            "band_lo_erb": float(lo),
            "band_hi_erb": float(hi),
            "centre_erb": float(centre),
            "centre_hz": float(erb_rate_to_hz(centre)),
            "weight_share": float(w.sum() / total) if total > 0 else math.nan,
            "n_pairs_energy": int(in_w.sum()),
            "distance_energy": float(weighted_quantiles(d_w[in_w], w, [0.5])[0]),
            "local_fraction_energy": float(weighted_cdf(d_w[in_w], w, [1.0])[0]),
            "n_pairs_none": int(in_u.sum()),
            "distance_none": float(np.median(d_u[in_u])) if in_u.any() else math.nan,
            "local_fraction_none": float(np.mean(d_u[in_u] <= 1.0)) if in_u.any() else math.nan,
        }
        rows.append(row)
    return rows
