"""Energy-weighted statistics of per-pixel (or per-pixel-pair) values, with their intervals.

An *item* (a pixel, or a pair of neighbouring pixels) has a value ``v_i`` and a weight
``w_i``: the mean of the dataset's pixel energies ``E_p``
(:class:`grainbench.pixel_energy.PixelEnergy`) over the item's pixels, so a pair (p, q)
weighs ``(E_p + E_q)/2``. The weighted distribution puts mass ``w_i/Σw`` on ``v_i``:

- the weighted quantile q is the smallest ``v`` whose cumulative weight reaches ``q·Σw``
  (the inverted-CDF definition: with integer weights, ``numpy.quantile`` of the values
  repeated ``w_i`` times, ``method="inverted_cdf"``); the weighted median is q = ½;
- the weighted CDF at x is ``Σ_{v_i ≤ x} w_i / Σw`` (e.g. the share of the weight that is
  "local").

When items were *sampled*, each carries the expected number of times a design draws it,
``λ_i`` (its *proposal*); the items are weighted ``w_i/λ_i``, the self-normalised
importance-sampling estimator of the same statistics over all items (exact for the CDF's
ratio as the sample grows; with several designs pooled, ``λ`` is the sum of the designs'
expected counts — the deterministic-mixture weight). Items whose value is not finite are
left out (with their weight).

Intervals: a percentile bootstrap that resamples the training clips (by groups, so ``E``
changes) and, when items were sampled, the items within their sampling blocks (strata of
a stratified sample; one block for an i.i.d. draw).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grainbench.pixel_energy import PixelEnergy

REPLICATE_CELLS = 1 << 22
"""Bootstrap replicates are computed in chunks of about this many (replicate, item) cells."""


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Inverted-CDF weighted quantiles ``qs`` (fractions in [0, 1]) of ``values (n,)``.

    ``weights`` is ``(n,)`` or a batch ``(R, n)`` (non-negative); returns ``(len(qs),)`` or
    ``(R, len(qs))``; NaN where the total weight is 0. ``values`` must be finite.
    """
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    out = np.full((*w.shape[:-1], len(qs)), math.nan)
    if v.size == 0:
        return out
    order = np.argsort(v, kind="stable")
    sv, cum = v[order], np.cumsum(w[..., order], axis=-1)
    total = cum[..., -1:]
    for j, q in enumerate(qs):
        out[..., j] = sv[np.argmax(cum >= q * total, axis=-1)]
    out[total[..., 0] <= 0] = math.nan
    return out


def weighted_cdf(values: np.ndarray, weights: np.ndarray, points: Sequence[float]) -> np.ndarray:
    """``Σ_{v_i ≤ x} w_i / Σ w_i`` at each of ``points``; ``weights (n,)`` or ``(R, n)``."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum(-1)[..., None]
    below = np.stack([(w * (v <= x)).sum(-1) for x in points] or [total[..., 0]], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, below / total, math.nan)
    return share[..., : len(points)]


@dataclass(frozen=True)
class Estimate:
    """A statistic with its percentile-bootstrap interval (``low``/``high`` None: none)."""

    value: float
    low: float | None
    high: float | None


def _resample_counts(rng: np.random.Generator, blocks: np.ndarray, n_rep: int) -> np.ndarray:
    """How often each item appears in ``n_rep`` resamples within ``blocks``: ``(n_rep, n)``."""
    counts = np.zeros((n_rep, blocks.size))
    rows = np.arange(n_rep)[:, None]
    for label in np.unique(blocks):
        idx = np.flatnonzero(blocks == label)
        draws = idx[rng.integers(0, idx.size, size=(n_rep, idx.size))]
        np.add.at(counts, (np.broadcast_to(rows, draws.shape), draws), 1.0)
    return counts


def energy_weighted(
    values: np.ndarray,
    pixels: np.ndarray,
    energy: PixelEnergy,
    *,
    quantiles: Sequence[float] = (),
    below: Sequence[float] = (),
    proposal: np.ndarray | None = None,
    blocks: np.ndarray | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    level: float = 0.95,
) -> list[Estimate]:
    """Energy-weighted quantiles and CDF values of ``values`` with bootstrap intervals.

    ``values (n,)`` per item; ``pixels (n, k)`` the flat pixel indices whose mean energy is
    the item's weight; ``proposal (n,)`` each item's expected draw count when items were
    sampled (None: every item is enumerated once); ``blocks (n,)`` the sampling block of
    each item for the bootstrap (None: items are not resampled, only the clips). Returns
    one :class:`Estimate` per quantile (fractions), then one per ``below`` point (the
    weighted CDF there). ``n_boot = 0`` gives no intervals.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    pix = np.asarray(pixels, dtype=np.int64).reshape(v.size, -1)
    lam = np.ones(v.size) if proposal is None else np.asarray(proposal, dtype=np.float64)
    keep = np.isfinite(v)
    v, pix, lam = v[keep], pix[keep], lam[keep]
    blk = None if blocks is None else np.asarray(blocks)[keep]
    used, inverse = np.unique(pix, return_inverse=True)
    inverse = inverse.reshape(pix.shape)

    def stats(e_used: np.ndarray, multiplicity: np.ndarray | float = 1.0) -> np.ndarray:
        w = e_used[..., inverse].mean(-1) / lam * multiplicity
        return np.concatenate(
            [weighted_quantiles(v, w, quantiles), weighted_cdf(v, w, below)], axis=-1
        )

    point = stats(energy.mean[used])
    if n_boot <= 0 or v.size == 0:
        return [Estimate(float(x), None, None) for x in point]
    rng = np.random.default_rng(seed)
    chunk = max(1, REPLICATE_CELLS // max(v.size, used.size))
    reps = []
    for start in range(0, n_boot, chunk):
        n_rep = min(chunk, n_boot - start)
        e_rep = energy.replicates(rng, n_rep, used)
        mult = 1.0 if blk is None else _resample_counts(rng, blk, n_rep)
        reps.append(stats(e_rep, mult))
    table = np.concatenate(reps)
    alpha = (1.0 - level) / 2.0
    out = []
    for j, x in enumerate(point):
        col = table[:, j][np.isfinite(table[:, j])]
        if not math.isfinite(x) or col.size == 0:
            out.append(Estimate(float(x), None, None))
            continue
        lo, hi = np.quantile(col, [alpha, 1.0 - alpha])
        out.append(Estimate(float(x), float(lo), float(hi)))
    return out


def effective_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(Σw)²/Σw²`` of importance weights (0 when all are 0)."""
    w = np.asarray(weights, dtype=np.float64)
    s2 = float((w * w).sum())
    return float(w.sum() ** 2 / s2) if s2 > 0 else 0.0
