"""The ERB scale and 1-ERB bands against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grainbench.metrics.erb import (
    erb_band_centres_hz,
    erb_band_count,
    erb_band_matrix,
    erb_bandwidth,
    erb_rate_to_hz,
    hz_to_erb_rate,
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


def test_bands_cover_the_spectrum_once() -> None:
    sr, n_fft = 16000, 512
    assert erb_band_count(sr) == math.ceil(21.4 * math.log10(1 + 0.00437 * 8000))
    mat = erb_band_matrix(n_fft, sr)
    assert mat.shape == (n_fft // 2 + 1, erb_band_count(sr))
    assert torch.equal(mat.sum(1), torch.ones(n_fft // 2 + 1))
    # bin 32 is 1000 Hz, in band floor(E(1000)) = 15
    assert int(mat[32].argmax()) == math.floor(21.4 * math.log10(5.37)) == 15
    band_of_bin = mat.argmax(1)
    assert bool((band_of_bin[1:] >= band_of_bin[:-1]).all())


def test_band_centres_are_half_erb_into_each_band() -> None:
    centres = erb_band_centres_hz(16000)
    top = hz_to_erb_rate(8000.0)
    rates = hz_to_erb_rate(centres)
    np.testing.assert_allclose(rates[:-1], np.arange(len(centres) - 1) + 0.5, rtol=1e-12)
    assert rates[-1] == pytest.approx((len(centres) - 1 + top) / 2)
