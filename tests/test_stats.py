"""Tests for grainbench.metrics.stats."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats as sps

from grainbench.metrics.stats import bootstrap_ci, percentile_summary


def test_coverage_of_true_mean() -> None:
    """A 95% interval covers the true mean in about 95% of seeded simulations."""
    rng = np.random.default_rng(2024)
    covered = 0
    for sim in range(200):
        sample = rng.normal(loc=3.0, scale=2.0, size=60)
        _, low, high = bootstrap_ci(sample, seed=sim, n_boot=500)
        covered += low <= 3.0 <= high
    assert 0.90 * 200 <= covered <= 0.99 * 200


def test_deterministic_for_a_seed() -> None:
    values = np.random.default_rng(0).exponential(size=40)
    assert bootstrap_ci(values, seed=5) == bootstrap_ci(values, seed=5)
    assert bootstrap_ci(values, seed=5) != bootstrap_ci(values, seed=6)


@pytest.mark.parametrize("statistic", [np.mean, np.median])
def test_close_to_scipy_percentile_bootstrap(statistic: Callable[..., float]) -> None:
    values = np.random.default_rng(1).normal(size=200)
    est, low, high = bootstrap_ci(values, seed=3, n_boot=5000, statistic=statistic)
    ref = sps.bootstrap(
        (values,),
        statistic,
        n_resamples=5000,
        confidence_level=0.95,
        method="percentile",
        rng=np.random.default_rng(11),
    ).confidence_interval
    assert est == pytest.approx(float(statistic(values)))
    # different resamples: close, not identical (interval width is about 0.28 here)
    assert low == pytest.approx(ref.low, abs=0.02)
    assert high == pytest.approx(ref.high, abs=0.02)
    assert low < est < high


def test_nan_safe_and_edge_cases() -> None:
    values = np.array([1.0, np.nan, 2.0, 3.0, np.nan, 4.0])
    assert bootstrap_ci(values, seed=0) == bootstrap_ci([1.0, 2.0, 3.0, 4.0], seed=0)
    assert bootstrap_ci([np.nan, 2.5], seed=0) == (2.5, 2.5, 2.5)
    assert bootstrap_ci([7.0], seed=0) == (7.0, 7.0, 7.0)
    assert all(np.isnan(v) for v in bootstrap_ci([np.nan, np.nan], seed=0))
    assert all(np.isnan(v) for v in bootstrap_ci([], seed=0))
    assert bootstrap_ci([2.0] * 10, seed=0) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], seed=0, level=1.0)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], seed=0, n_boot=0)


def test_level_widens_interval() -> None:
    values = np.random.default_rng(4).normal(size=50)
    _, low90, high90 = bootstrap_ci(values, seed=1, level=0.90)
    _, low99, high99 = bootstrap_ci(values, seed=1, level=0.99)
    assert low99 < low90 < high90 < high99


def test_many_clips_resampled_in_blocks() -> None:
    values = np.random.default_rng(5).normal(size=20_000)
    est, low, high = bootstrap_ci(values, seed=0, n_boot=300)
    half_width = 1.96 * values.std() / np.sqrt(values.size)
    assert high - low == pytest.approx(2 * half_width, rel=0.2)
    assert low < est < high


def test_percentile_summary() -> None:
    values = np.arange(101, dtype=float)
    assert percentile_summary(values) == {"median": 50.0, "p5": 5.0, "p95": 95.0}
    with_nan = np.append(values, [np.nan, np.nan])
    assert percentile_summary(with_nan) == percentile_summary(values)
    ref = np.random.default_rng(2).gamma(2.0, size=333)
    summary = percentile_summary(ref)
    assert summary["median"] == pytest.approx(np.median(ref))
    assert summary["p5"] == pytest.approx(sps.scoreatpercentile(ref, 5))
    assert summary["p95"] == pytest.approx(sps.scoreatpercentile(ref, 95))
    assert all(np.isnan(v) for v in percentile_summary([np.nan]).values())
