"""Summaries over clips: percentile-bootstrap confidence intervals (optionally stratified)
and percentiles.

Every function is NaN-safe: NaN values (a metric undefined for a clip, such as the SNR of a
silent reference) are dropped before anything is computed, so the numbers describe the
clips where the metric is defined. Callers that need to know how many were dropped count
them themselves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["bootstrap_ci", "bootstrap_percentile", "percentile_summary"]

# Resample in blocks of at most this many drawn values, to bound memory for many clips.
_BLOCK_VALUES = 1 << 22


def _without_nan(values: Any) -> np.ndarray:
    """``values`` as a flat float64 array with the NaNs removed (infinities are kept)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[~np.isnan(arr)]


def bootstrap_ci(
    values: Any,
    *,
    seed: int,
    n_boot: int = 1000,
    level: float = 0.95,
    statistic: Callable[..., Any] = np.mean,
    strata: Any = None,
    finite_only: bool = False,
) -> tuple[float, float, float]:
    """Point estimate and percentile-bootstrap confidence interval over clips.

    Resamples the clips with replacement ``n_boot`` times, applies ``statistic`` to each
    resample and returns the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those
    values (linear interpolation) as the interval. With ``strata`` (one label per value)
    the resampling is with replacement within each stratum, keeping the strata sizes, as
    the values were drawn.

    NaN values are ignored (dropped before resampling; with ``finite_only`` infinities
    too). With no values left the result is ``(nan, nan, nan)``; with a single value ``v``
    it is ``(v, v, v)``.

    Args:
        values: per-clip values, any array-like (flattened).
        seed: seed of the NumPy generator that draws the resamples; equal seeds give equal
            intervals.
        n_boot: number of bootstrap resamples (at least 1).
        level: confidence level, in (0, 1).
        statistic: a NumPy-style reduction called as ``statistic(array, axis=-1)``
            (``np.mean``, ``np.median``, ...); the point estimate is ``statistic(values)``.
        strata: optional labels, one per value (flattened like ``values``).
        finite_only: drop infinite values as well as NaNs.

    Returns:
        ``(estimate, low, high)`` as Python floats.

    Raises:
        ValueError: for ``n_boot < 1`` or ``level`` outside (0, 1).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    arr = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(arr) if finite_only else ~np.isnan(arr)
    arr = arr[keep]
    n = arr.size
    if n == 0:
        return (float("nan"),) * 3
    estimate = float(statistic(arr))
    if n == 1:
        return estimate, estimate, estimate
    rng = np.random.default_rng(seed)
    if strata is None:
        block = max(1, _BLOCK_VALUES // n)
        boot = np.concatenate(
            [
                np.asarray(
                    statistic(
                        arr[rng.integers(0, n, size=(min(block, n_boot - start), n))], axis=-1
                    )
                )
                for start in range(0, n_boot, block)
            ]
        )
    else:
        labels = np.asarray(strata).ravel()[keep]
        cols = []
        for label in np.unique(labels):
            idx = np.flatnonzero(labels == label)
            cols.append(idx[rng.integers(0, idx.size, size=(n_boot, idx.size))])
        boot = np.asarray(statistic(arr[np.concatenate(cols, axis=1)], axis=-1))
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [tail, 1.0 - tail])
    return estimate, float(low), float(high)


def bootstrap_percentile(
    values: Any, q: float, *, seed: int = 0, **options: Any
) -> tuple[float, float, float]:
    """Percentile ``q`` (0–100) of the finite ``values`` with its percentile-bootstrap
    interval ``(est, lo, hi)``: :func:`bootstrap_ci` with ``np.percentile(·, q)`` as the
    statistic and non-finite values dropped; ``options`` are its ``strata`` (resampling
    within each stratum), ``n_boot`` (1000) and ``level`` (0.95)."""
    statistic = functools.partial(np.percentile, q=q)
    return bootstrap_ci(values, seed=seed, statistic=statistic, finite_only=True, **options)


def percentile_summary(values: Any) -> dict[str, float]:
    """Median and 5th / 95th percentiles (linear interpolation) of per-clip values.

    NaN values are ignored; with none left every entry is NaN.

    Returns:
        ``{"median": ..., "p5": ..., "p95": ...}`` as Python floats.
    """
    arr = _without_nan(values)
    if arr.size == 0:
        return {"median": float("nan"), "p5": float("nan"), "p95": float("nan")}
    p5, median, p95 = np.percentile(arr, [5.0, 50.0, 95.0])
    return {"median": float(median), "p5": float(p5), "p95": float(p95)}
