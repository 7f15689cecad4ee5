"""The grain colour: power per 1-ERB band and the pooled residual-to-signal ratio."""

from __future__ import annotations

import math

import numpy as np
import torch

from grainbench.metrics.colour import colour_curve, erb_band_powers
from grainbench.metrics.erb import erb_band_count, hz_to_erb_rate


def test_a_bin_centred_sine_lands_in_its_band_with_its_power() -> None:
    """A sine of amplitude A on rfft bin k has |X_k|² = (A·n/2)² and nothing elsewhere."""
    sr, n, amp = 16000, 4096, 0.3
    k = 410  # 1601.6 Hz
    t = np.arange(n)
    x = torch.from_numpy(amp * np.sin(2 * np.pi * k * t / n))[None, None]
    bands = erb_band_powers(x, sr)[0].numpy()
    assert bands.shape == (erb_band_count(sr),)
    band = int(math.floor(hz_to_erb_rate(k * sr / n)))
    assert math.isclose(bands[band], (amp * n / 2) ** 2, rel_tol=1e-9)
    assert bands.sum() - bands[band] < 1e-12 * bands[band]
    # channels add in power
    two = erb_band_powers(torch.cat([x, 2 * x], dim=1), sr)[0].numpy()
    np.testing.assert_allclose(two, 5 * bands, rtol=1e-9)


def test_colour_curve_is_pooled_over_clips() -> None:
    sr = 16000
    nb = erb_band_count(sr)
    signal = np.zeros((2, nb))
    residual = np.zeros((2, nb))
    signal[:, 3] = [2.0, 2.0]
    residual[:, 3] = [1.0, 3.0]  # pooled: 4 / 4 → 0 dB (a per-clip mean of dB would not be)
    signal[:, 5] = [1.0, 1.0]
    residual[:, 5] = [0.01, 0.01]  # −20 dB in both clips
    out = colour_curve(residual, signal, sr, seed=0, n_boot=200)
    assert out["ratio_db"][3] == 0.0
    assert math.isclose(out["ratio_db"][5], -20.0, abs_tol=1e-12)
    assert math.isclose(out["low"][5], -20.0, abs_tol=1e-12)
    assert math.isclose(out["high"][5], -20.0, abs_tol=1e-12)
    lo, hi = out["low"][3], out["high"][3]
    assert lo < 0.0 < hi
    assert math.isclose(lo, 10 * math.log10(2 / 4), abs_tol=1e-9)  # both clips the first
    assert out["ratio_db"][0] is None and out["low"][0] is None  # no signal: undefined
    assert math.isclose(sum(out["signal_share"]), 1.0)
    assert math.isclose(out["signal_share"][3], 4 / 6)  # 2 + 2 of 2 + 2 + 1 + 1
    assert len(out["band_hz"]) == nb
