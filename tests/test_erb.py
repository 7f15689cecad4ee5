"""The ERB scale and the roex(p) auditory filters against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from grainbench.metrics.erb import (
    erb_bandwidth,
    erb_filter_centres_hz,
    erb_rate_to_hz,
    hz_to_erb_rate,
    roex_weight,
)


def test_glasberg_moore_values_by_hand() -> None:
    assert erb_bandwidth(1000.0) == pytest.approx(24.7 * 5.37)
    assert erb_bandwidth(0.0) == pytest.approx(24.7)
    assert hz_to_erb_rate(1000.0) == pytest.approx(21.4 * math.log10(5.37))
    assert hz_to_erb_rate(0.0) == 0.0


def test_erb_rate_roundtrip_for_float_numpy_and_torch() -> None:
    freqs = [20.0, 440.0, 8000.0, 22050.0]
    for f in freqs:
        assert erb_rate_to_hz(hz_to_erb_rate(f)) == pytest.approx(f, rel=1e-12)
    arr = np.array(freqs)
    np.testing.assert_allclose(erb_rate_to_hz(hz_to_erb_rate(arr)), arr, rtol=1e-12)
    ten = torch.tensor(freqs, dtype=torch.float64)
    torch.testing.assert_close(erb_rate_to_hz(hz_to_erb_rate(ten)), ten, rtol=1e-12, atol=0)


def test_erb_rate_grows_by_one_per_bandwidth() -> None:
    # dE/df = 1/ERB(f): the two formulas describe the same scale (to their 0.3% rounding)
    for f in (100.0, 1000.0, 5000.0):
        h = 1e-3
        slope = (hz_to_erb_rate(f + h) - hz_to_erb_rate(f - h)) / (2 * h)
        assert slope == pytest.approx(1.0 / erb_bandwidth(f), rel=5e-3)


def test_roex_filter_shape_and_bandwidth_against_the_closed_form() -> None:
    fc = np.array([100.0, 1000.0, 5000.0])
    p = 4.0 * fc / (24.7 * (4.37 * fc / 1000.0 + 1.0))
    for f, pp in zip(fc, p, strict=True):
        for g in (0.0, 0.01, 0.1, 0.4):
            expected = (1.0 + pp * g) * math.exp(-pp * g)
            assert roex_weight(np.array(f * (1 + g)), np.array(f)) == pytest.approx(expected)
            assert roex_weight(np.array(f * (1 - g)), np.array(f)) == pytest.approx(expected)
        # its equivalent rectangular bandwidth is the ERB (numerical integral over 0 Hz…∞)
        area = quad(lambda x, c=f: float(roex_weight(np.array(x), np.array(c))), 0, f, limit=200)[0]
        area += quad(lambda x, c=f: float(roex_weight(np.array(x), np.array(c))), f, np.inf)[0]
        assert area == pytest.approx(erb_bandwidth(f) * (1 - math.exp(-pp) * (2 + pp) / 4), 1e-6)
    # a quarter ERB away: (1 + 1)·e^{-1}
    f = 1000.0
    assert roex_weight(np.array(f + erb_bandwidth(f) / 4), np.array(f)) == pytest.approx(
        2 * math.exp(-1), rel=1e-12
    )


def test_filter_centres_are_evenly_spaced_in_erb_rate() -> None:
    centres = erb_filter_centres_hz(8000.0, 3)
    rates = hz_to_erb_rate(centres)
    np.testing.assert_allclose(rates, np.arange(1, len(centres) + 1) / 3, rtol=1e-12)
    assert len(centres) == math.floor(3 * 21.4 * math.log10(1 + 0.00437 * 8000))
    assert centres[-1] <= 8000.0


@pytest.mark.parametrize(("per_erb", "tol"), [(2, 0.03), (3, 0.015), (4, 0.01)])
def test_filter_bank_summed_over_filters_is_flat(per_erb: int, tol: float) -> None:
    # Σ_i W_i(f)·(1/per_erb) approximates ∫W dE = 1 between 200 Hz and 7 kHz: within 3 % at
    # 2 filters per ERB, 1.5 % at 3 (the masking model's), 1 % at 4
    centres = erb_filter_centres_hz(22050.0, per_erb)
    f = np.linspace(200.0, 7000.0, 2001)
    total = roex_weight(f[:, None], centres[None, :]).sum(1) / per_erb
    np.testing.assert_allclose(total, 1.0, atol=tol)
