"""Grain metrics and the f0 estimator against closed forms and numpy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grainbench.metrics.erb import hz_to_erb_rate
from grainbench.metrics.f0 import cents, clip_f0
from grainbench.metrics.grain import (
    atom_moments,
    block_energies,
    cosine_block_energies,
    cosine_time_centroid,
    energy_time_centroid,
    erb_centroid,
    esr_db,
    freq_spread_erb,
    proportionality_slope,
    shortest_interval,
    time_spread,
)
from grainbench.metrics.masking import MaskingModel
from grainbench.metrics.stats import bootstrap_percentile

SR = 16000
N = 16384


def test_esr_against_numpy() -> None:
    g = torch.Generator().manual_seed(0)
    x, e = torch.randn(3, 2, 100, generator=g), 0.01 * torch.randn(3, 2, 100, generator=g)
    ref = 10 * np.log10(
        (e.double() ** 2).sum((1, 2)).numpy() / (x.double() ** 2).sum((1, 2)).numpy()
    )
    np.testing.assert_allclose(esr_db(e, x).numpy(), ref, rtol=1e-12)


def test_proportionality_slope_of_power_laws() -> None:
    deltas = [0.25, 0.5, 1.0, 2.0, 4.0]
    d = torch.tensor(deltas, dtype=torch.float64)
    norms = torch.stack([3.0 * d, 0.1 * d**2, 7.0 * d**0.5, torch.ones_like(d)])
    torch.testing.assert_close(
        proportionality_slope(deltas, norms),
        torch.tensor([1.0, 2.0, 0.5, 0.0], dtype=torch.float64),
    )
    assert math.isnan(float(proportionality_slope(deltas, torch.zeros(5))))


def _grid_shortest(weights: np.ndarray, edges: np.ndarray, fraction: float) -> float:
    """Brute force on a fine grid: densities sampled finely, every window tried."""
    fine = 2000
    xs, dens = [], []
    for k, w in enumerate(weights):
        x = np.linspace(edges[k], edges[k + 1], fine, endpoint=False)
        xs.append(x)
        dens.append(np.full(fine, w / fine))
    x, m = np.concatenate(xs), np.concatenate(dens)
    cum = np.concatenate([[0.0], np.cumsum(m)])
    step = np.concatenate([np.diff(x), [edges[-1] - x[-1]]])
    right = np.concatenate([x + step])
    best = math.inf
    for i in range(len(x)):
        j = np.searchsorted(cum, cum[i] + fraction * cum[-1] - 1e-12)
        if j <= len(x):
            best = min(best, right[j - 1] - x[i])
    return best


def test_shortest_interval_by_hand_and_by_brute_force() -> None:
    edges = torch.arange(6, dtype=torch.float64)
    cases = torch.tensor([[1.0, 1, 1, 1, 1], [1, 0, 0, 0, 9], [5, 0, 0, 0, 5], [0, 0, 1, 0, 0]])
    got = shortest_interval(cases, edges)
    torch.testing.assert_close(got, torch.tensor([4.5, 1.0, 4.8, 0.9], dtype=torch.float64))
    assert math.isnan(float(shortest_interval(torch.zeros(5), edges)))
    rng = np.random.default_rng(3)
    for _ in range(3):
        w = rng.random(7) ** 3
        e = np.concatenate([[0.0], np.cumsum(rng.random(7) + 0.1)])
        exact = float(shortest_interval(torch.from_numpy(w), torch.from_numpy(e)))
        assert exact == pytest.approx(_grid_shortest(w, e, 0.9), abs=2e-3)


def test_time_spread_of_a_click_a_constant_and_a_burst() -> None:
    x = torch.zeros(3, 1, N)
    x[0, 0, 5000] = 1.0
    x[1] = 0.1
    x[2, 0, 8000:8800] = 0.5  # 50 ms burst
    spread = time_spread(x, SR)
    assert float(spread[0]) == pytest.approx(0.9 * 16 / SR)  # 0.9 of one 1 ms block
    assert float(spread[1]) == pytest.approx(0.9 * N / SR)
    assert float(spread[2]) == pytest.approx(0.9 * 800 / SR)


def test_freq_spread_of_a_flat_spectrum_and_a_tone() -> None:
    n_fft = 512
    flat = torch.ones(n_fft // 2 + 1, dtype=torch.float64)
    flat[0] = flat[-1] = 0.5  # half-width edge bins: uniform density in Hz
    # the top 90% of the mass (230.4 of 256 bin units) ends at Nyquist: half bin 256, bins
    # 255…27, and 0.9 of bin 26 ([796.875, 828.125] Hz, mass uniform in ERB-rate within it)
    lo, hi = hz_to_erb_rate(796.875), hz_to_erb_rate(828.125)
    expected = hz_to_erb_rate(8000.0) - (hi - 0.9 * (hi - lo))
    assert float(freq_spread_erb(flat, n_fft, SR)) == pytest.approx(expected, rel=1e-9)
    # a 1 kHz tone on bin 32 of a 512-point Hann frame: powers 1/16, 1/4, 1/16 in bins
    # 31, 32, 33 (shares 1/6, 2/3, 1/6); 90% takes bins 32 and 33 (bin 33 is the narrower in
    # ERB: ERB-rate per Hz falls with frequency) and 0.4 of bin 31
    marginal = torch.zeros(n_fft // 2 + 1, dtype=torch.float64)
    marginal[31:34] = torch.tensor([1 / 16, 1 / 4, 1 / 16])
    e = hz_to_erb_rate(np.array([953.125, 984.375, 1046.875]))
    expected = (e[2] - e[1]) + 0.4 * (e[1] - e[0])
    assert float(freq_spread_erb(marginal, n_fft, SR)) == pytest.approx(expected, rel=1e-4)


def test_erb_centroid_of_a_click_and_a_tone() -> None:
    model = MaskingModel(SR)
    x = torch.zeros(2, N)
    x[0, 8000] = 1.0
    x[1] = torch.sin(2 * math.pi * 1000.0 * torch.arange(N) / SR)
    marginal = model.power_spectrogram(x).sum(-2)
    f = erb_centroid(marginal, model.bin_freqs())
    # a click has a flat spectrum: the mean ERB-rate of the bins, DC and Nyquist half-weighted
    bins = np.arange(model.n_fft // 2 + 1) * SR / model.n_fft
    wk = np.full(bins.size, 2.0)
    wk[[0, -1]] = 1.0
    assert float(f[0]) == pytest.approx(
        float((hz_to_erb_rate(bins) * wk).sum() / wk.sum()), rel=1e-5
    )
    assert float(f[1]) == pytest.approx(hz_to_erb_rate(1000.0), abs=0.05)


def test_gaussian_atom_reaches_the_gabor_limit() -> None:
    t = torch.arange(N, dtype=torch.float64) / SR
    sigma = 0.004
    atom = torch.exp(-((t - 0.5) ** 2) / (4 * sigma**2)) * torch.cos(2 * math.pi * 2000 * t)
    m = atom_moments(atom[None, None], SR)
    assert float(m["sigma_t"]) == pytest.approx(sigma, rel=1e-4)
    assert float(m["sigma_f"]) == pytest.approx(1 / (4 * math.pi * sigma), rel=1e-3)
    assert float(m["gabor_ratio"]) == pytest.approx(1.0, abs=2e-3)
    assert float(m["t_mean"]) == pytest.approx(0.5)
    assert float(m["f_mean"]) == pytest.approx(2000.0, rel=1e-4)
    burst = torch.where((t > 0.3) & (t < 0.35), torch.cos(2 * math.pi * 1000 * t), 0.0)
    click = torch.zeros(N, dtype=torch.float64)
    click[N // 2] = 1.0
    tone = torch.cos(2 * math.pi * 1000.5 * t)  # a clip-long tone, cut at both ends
    noise = torch.randn(4, N, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ratios = atom_moments(torch.stack([burst, click, tone, *noise])[:, None], SR)["gabor_ratio"]
    assert bool((ratios > 1.5).all())  # hard edges are far from the limit
    # a stereo atom: energies add over channels, so one silent channel changes nothing
    stereo = torch.stack([atom, torch.zeros_like(atom)])[None]
    torch.testing.assert_close(atom_moments(stereo, SR)["sigma_t"], m["sigma_t"])


def test_cosine_block_energies_against_synthesised_cosines() -> None:
    n, block = 10000, 44
    u = torch.tensor([0.0, 1.0, 3.0, 500.0, 9999.0, 1234.5])
    phase = torch.tensor([0.3, 0.0, 1.0, -2.0, 0.5, 0.2], dtype=torch.float64)
    alpha = torch.tensor([1.0, 0.5, 2.0, 1.0, 1.0, 0.1], dtype=torch.float64)
    nn = torch.arange(n, dtype=torch.float64)
    atoms = alpha[:, None] * torch.cos(math.pi * u.double()[:, None] * nn / n + phase[:, None])
    got = cosine_block_energies(alpha, u, phase, n, block)
    ref = block_energies(atoms, block).double()
    padded = torch.nn.functional.pad(atoms**2, (0, (-n) % block)).reshape(len(u), -1, block).sum(-1)
    torch.testing.assert_close(got, padded, rtol=1e-9, atol=1e-7)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


def test_time_centroids_of_clicks_and_cosines() -> None:
    x = torch.zeros(2, 1, N)
    x[0, 0, 4000] = 1.0
    x[1, 0, 100] = 1.0
    x[1, 0, 300] = 1.0  # two equal clicks: centroid half-way
    torch.testing.assert_close(
        energy_time_centroid(x, SR), torch.tensor([4000 / SR, 200 / SR], dtype=torch.float64)
    )
    n, sr = 1000, 100
    u = torch.tensor([0.0, 1.0, 3.5, 500.0, 999.0, 0.3])
    phase = torch.tensor([0.1, 0.0, 2.0, 0.3, 0.2, -1.0], dtype=torch.float64)
    atoms = torch.cos(math.pi * u.double()[:, None] * torch.arange(n) / n + phase[:, None])
    torch.testing.assert_close(
        cosine_time_centroid(u, phase, n, sr),
        energy_time_centroid(atoms[:, None], sr),
        rtol=1e-9,
        atol=1e-9,
    )


def test_bootstrap_percentile() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=2000)
    est, lo, hi = bootstrap_percentile(v, 50.0, seed=1)
    assert est == pytest.approx(float(np.percentile(v, 50)))
    assert lo < est < hi
    # asymptotic width of a median's 95% interval: 2·1.96·sqrt(π/2)/sqrt(n)
    assert hi - lo == pytest.approx(2 * 1.96 * math.sqrt(math.pi / 2) / math.sqrt(2000), rel=0.25)
    assert bootstrap_percentile(v, 50.0, seed=1) == (est, lo, hi)
    # resampling within strata keeps each stratum's share: constant strata → no spread
    values = np.array([0.0] * 50 + [1.0] * 50)
    strata = np.array([0] * 50 + [1] * 50)
    assert bootstrap_percentile(values, 50.0, strata=strata, seed=0) == (0.5, 0.5, 0.5)
    _, lo, hi = bootstrap_percentile(values, 50.0, seed=0)
    assert hi - lo > 0.4


def _tone(freq: float, n: int = N) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / SR
    return torch.sin(2 * math.pi * freq * t)


def test_f0_of_pure_and_harmonic_tones() -> None:
    t = torch.arange(N, dtype=torch.float64) / SR
    harmonic = sum(0.5 / k * torch.sin(2 * math.pi * 110.0 * k * t + k) for k in range(1, 9))
    no_fundamental = sum(torch.sin(2 * math.pi * 150.0 * k * t) for k in range(2, 6))
    audio = torch.stack([0.5 * _tone(220.0), harmonic, no_fundamental, 0.3 * _tone(1000.0)]).float()
    f0, confident = clip_f0(audio, SR)
    assert bool(confident.all())
    got = cents(f0, torch.tensor([220.0, 110.0, 150.0, 1000.0], dtype=torch.float64))
    assert float(got.abs().max()) < 2.0


def test_pitch_deviation_in_cents() -> None:
    assert float(cents(torch.tensor(440.0), torch.tensor(220.0))) == pytest.approx(1200.0)
    audio = torch.stack([_tone(220.0), _tone(220.0 * 2 ** (10 / 1200))]).float()
    f0, _ = clip_f0(audio, SR)
    assert float(cents(f0[1], f0[0])) == pytest.approx(10.0, abs=0.3)


def test_silence_and_noise_are_not_confident() -> None:
    noise = torch.randn(N, generator=torch.Generator().manual_seed(0))
    f0, confident = clip_f0(torch.stack([torch.zeros(N), noise]), SR)
    assert not bool(confident.any())
    assert math.isnan(float(f0[0]))
