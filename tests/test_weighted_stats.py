"""Weighted quantiles and the importance-sampled estimator against brute-force references."""

from __future__ import annotations

import numpy as np
import pytest

from grainbench.analysis.energy_sample import energy_design, inclusion
from grainbench.analysis.pixels import sample_pixels
from grainbench.metrics.weighted import (
    effective_size,
    energy_weighted,
    weighted_cdf,
    weighted_quantiles,
)
from grainbench.pixel_energy import PixelEnergy


def _brute_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight (values sorted) reaches q of the total."""
    pairs = sorted(zip(values.tolist(), weights.tolist(), strict=True))
    total = sum(w for _, w in pairs)
    running = 0.0
    for v, w in pairs:
        running += w
        if running >= q * total:
            return v
    raise AssertionError("unreachable")


def test_weighted_quantiles_against_brute_force_and_numpy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 40))
        values = rng.normal(size=n).round(1)  # ties
        weights = rng.integers(0, 5, size=n).astype(float)
        weights[0] += 1.0
        qs = [0.05, 0.5, 0.95]
        got = weighted_quantiles(values, weights, qs)
        brute = [_brute_quantile(values, weights, q) for q in qs]
        np.testing.assert_array_equal(got, brute)
        repeated = np.repeat(values, weights.astype(int))
        np.testing.assert_array_equal(got, np.quantile(repeated, qs, method="inverted_cdf"))
        float_w = rng.random(n)
        assert weighted_quantiles(values, float_w, [0.5])[0] == _brute_quantile(
            values, float_w, 0.5
        )
    batch = rng.random((3, 10))
    values = rng.normal(size=10)
    rows = weighted_quantiles(values, batch, [0.25, 0.5])
    for r in range(3):
        np.testing.assert_array_equal(rows[r], weighted_quantiles(values, batch[r], [0.25, 0.5]))
    assert np.isnan(weighted_quantiles(values, np.zeros(10), [0.5])).all()


def test_weighted_cdf_against_brute_force() -> None:
    rng = np.random.default_rng(1)
    values, weights = rng.normal(size=50), rng.random(50)
    for x in (-1.0, 0.0, 0.3, 5.0):
        expected = sum(w for v, w in zip(values, weights, strict=True) if v <= x) / weights.sum()
        assert weighted_cdf(values, weights, [x])[0] == pytest.approx(expected, rel=1e-12)
    assert effective_size(np.ones(7)) == pytest.approx(7.0)
    assert effective_size(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 64×64 map: energy in the lowest ~20 rows only (a band-limited note), values that
    grow along rows and columns (so the weighted median is far from the uniform one)."""
    rng = np.random.default_rng(seed)
    row, col = np.divmod(np.arange(64 * 64), 64)
    energy = np.exp(-row / 3.0) * (1.0 + rng.random(row.size))
    energy[row > 20] = 0.0
    values = np.log1p(col) + 0.3 * row + rng.normal(0.0, 0.5, row.size)
    return energy, values


def test_importance_sampled_estimate_agrees_with_all_pixels() -> None:
    e, values = _synthetic()
    shape = (1, 64, 64)
    truth_median = weighted_quantiles(values, e, [0.5])[0]
    truth_local = weighted_cdf(values, e, [2.0])[0]
    assert truth_median < 0.5 * np.median(values)  # the weighting matters here
    energy = PixelEnergy(e, "test", 4, np.stack([e] * 4), np.ones(4))  # no clip spread
    everywhere = sample_pixels(shape, "all", 0)[1]
    covered, errors = 0, []
    for seed in range(12):
        uniform, strata, _ = sample_pixels(shape, 256, seed)
        design = energy_design(uniform, strata, everywhere, e, 256, seed)
        median, local = energy_weighted(
            values[design.pixels],
            design.pixels[:, None],
            energy,
            quantiles=[0.5],
            below=[2.0],
            proposal=design.proposal,
            blocks=design.blocks,
            seed=seed,
            n_boot=200,
        )
        covered += median.low <= truth_median <= median.high
        covered += local.low <= truth_local <= local.high
        errors.append(median.value - truth_median)
    assert covered >= 20  # of 24 intervals (nominal 95 %)
    assert abs(np.mean(errors)) < 0.05 and np.std(errors) < 0.2
    # every pixel enumerated: the estimate is the all-pixels value itself
    (exact,) = energy_weighted(values, np.arange(values.size)[:, None], energy, quantiles=[0.5])
    assert exact.value == truth_median and exact.low == exact.high == truth_median


def test_pair_weights_are_the_mean_of_both_pixels() -> None:
    e = np.array([0.0, 4.0, 2.0, 0.0])
    energy = PixelEnergy(e, "test", 1, e[None], np.ones(1))
    values = np.array([1.0, 2.0, 3.0])
    pairs = np.array([[0, 3], [0, 1], [2, 3]])  # weights 0, 2, 1
    (med,) = energy_weighted(values, pairs, energy, quantiles=[0.5], n_boot=0)
    assert med.value == 2.0 and med.low is None
    (share,) = energy_weighted(values, pairs, energy, below=[2.5], n_boot=0)
    assert share.value == pytest.approx(2.0 / 3.0)


def test_energy_design_draws_and_proposal() -> None:
    shape = (1, 16, 16)
    everywhere = sample_pixels(shape, "all", 0)[1]
    uniform, strata, _ = sample_pixels(shape, 64, 0)
    incl = inclusion(everywhere, strata)
    assert incl.sum() == pytest.approx(64.0) and np.allclose(incl, 0.25)
    target = np.zeros(256)
    target[[3, 100]] = [1.0, 3.0]
    design = energy_design(uniform, strata, everywhere, target, 40, 0)
    drawn = design.pixels[64:]
    assert design.n_energy == 40 and set(drawn) <= {3, 100}
    expected = incl + 40 * target / target.sum()
    np.testing.assert_allclose(design.proposal, expected[design.pixels])
    assert set(design.blocks[64:]) == {int(strata.max()) + 1}
    silent = energy_design(uniform, strata, everywhere, np.zeros(256), 40, 0)
    assert silent.n_energy == 0 and len(silent.pixels) == 64
    every = energy_design(np.arange(256), everywhere, None, target, 40, 0)
    assert every.proposal is None and every.blocks is None and len(every.pixels) == 256
