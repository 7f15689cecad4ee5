"""Which pixels are measured: a stratified seeded sample, and maps of per-pixel values."""

from __future__ import annotations

import numpy as np

from grainbench.errors import UserError

STRATA_PER_AXIS = 8
"""Pixel samples are stratified over an 8×8 grid of image regions per channel."""


def sample_pixels(
    shape: tuple[int, int, int], n_pixels: int | str, seed: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Flat pixel indices, their stratum labels, and whether that is all pixels.

    ``"all"`` (or a count ≥ the pixel count) gives every pixel. Otherwise a seeded sample
    without replacement, stratified over a grid of up to 8×8 regions per image channel,
    each region getting a share proportional to its size (largest remainders).
    """
    c, h, w = shape
    total = c * h * w
    rows = np.array_split(np.arange(h), min(STRATA_PER_AXIS, h))
    cols = np.array_split(np.arange(w), min(STRATA_PER_AXIS, w))
    regions = []
    for ch in range(c):
        for r in rows:
            for q in cols:
                regions.append((ch * h * w + r[:, None] * w + q[None, :]).ravel())
    if n_pixels == "all" or (not isinstance(n_pixels, str) and int(n_pixels) >= total):
        labels = np.empty(total, dtype=np.int64)
        for i, reg in enumerate(regions):
            labels[reg] = i
        return np.arange(total), labels, True
    if isinstance(n_pixels, str) or int(n_pixels) < 1:
        raise UserError(
            f"perturbation n_pixels must be a positive count or 'all', got {n_pixels!r}"
        )
    n = int(n_pixels)
    sizes = np.array([reg.size for reg in regions], dtype=np.float64)
    quota = n * sizes / sizes.sum()
    take = np.floor(quota).astype(np.int64)
    for i in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    picked, labels = [], []
    for i, (reg, k) in enumerate(zip(regions, take, strict=True)):
        if k:
            picked.append(rng.choice(reg, size=k, replace=False))
            labels.append(np.full(k, i))
    pixels = np.concatenate(picked)
    order = np.argsort(pixels)
    return pixels[order], np.concatenate(labels)[order], False


def to_map(values: np.ndarray, pixels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Scatter per-pixel ``values (P,)`` into a ``(C, H, W)`` map, NaN elsewhere."""
    out = np.full(int(np.prod(shape)), np.nan)
    out[pixels] = values
    return out.reshape(shape)


def region_map(values: np.ndarray, labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """A ``(C, H, W)`` map where each stratum shows the median of its sampled ``values``."""
    strata = sample_pixels(shape, "all", 0)[1]
    out = np.full(strata.size, np.nan)
    for label in np.unique(labels):
        v = values[labels == label]
        v = v[np.isfinite(v)]
        if v.size:
            out[strata == label] = np.median(v)
    return out.reshape(shape)
