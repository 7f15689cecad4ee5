"""DDSP's building blocks against closed forms: loudness, oscillators, noise filter, loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from grainbench.baselines.generators.ddsp.features import frame_hop, hold_unvoiced, mfcc
from grainbench.baselines.generators.ddsp.loss import multiscale_spectral_loss
from grainbench.baselines.generators.ddsp.loudness import a_weighted_loudness, a_weighting_db
from grainbench.baselines.generators.ddsp.synth import (
    Reverb,
    filtered_noise,
    frames_to_samples,
    harmonic_amplitudes,
    harmonic_synth,
    harmonic_waves,
    noise_filter_ir,
)
from grainbench.stages.melscale import triangular_filterbank

SR, HOP = 16000, 64


def _sine(freq: float, amp: float, n: int = 16384) -> torch.Tensor:
    t = np.arange(n) / SR
    return torch.tensor(amp * np.sin(2 * np.pi * freq * t), dtype=torch.float32)[None]


def test_a_weighting_matches_the_iec_61672_table() -> None:
    # IEC 61672-1 table 3 (nominal frequencies; values rounded to 0.1 dB)
    table = {63: -26.2, 100: -19.1, 125: -16.1, 250: -8.6, 500: -3.2, 1000: 0.0, 2000: 1.2}
    table |= {4000: 1.0, 8000: -1.1}
    got = a_weighting_db(np.array(list(table), dtype=float))
    assert np.allclose(got, list(table.values()), atol=0.11)


def test_loudness_of_sines_is_the_closed_form() -> None:
    # a sine of amplitude a has mean power a²/2; A-weighting is 0 dB at 1 kHz
    ld = a_weighted_loudness(_sine(1000.0, 0.5), SR, HOP)[0, 40:200]
    assert torch.allclose(ld, torch.full_like(ld, 10 * math.log10(0.125)), atol=0.01)
    # at 100 Hz it is 19.1 dB quieter (a long window: no leakage into steeper bins)
    low = a_weighted_loudness(_sine(100.0, 0.5), SR, HOP, n_fft=4096)[0, 40:200]
    expected = 10 * math.log10(0.125) + float(a_weighting_db(np.array([100.0]))[0])
    assert abs(float(low.mean()) - expected) < 0.05
    assert abs(float(low.mean()) - 10 * math.log10(0.125) + 19.1) < 0.1
    # silence reads the floor, and the frame count is n // hop
    quiet = a_weighted_loudness(torch.zeros(2, 4096), SR, HOP)
    assert quiet.shape == (2, 64) and bool((quiet == -120.0).all())


def test_frame_hop_is_a_power_of_two_near_the_frame_rate() -> None:
    assert frame_hop(16000, 250.0) == 64
    assert frame_hop(44100, 250.0) == 128


def test_unvoiced_frames_take_the_nearest_confident_pitch() -> None:
    f0 = np.array([[100.0, 200.0, 300.0, 400.0, 500.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    conf = np.array([[0.1, 0.9, 0.2, 0.3, 0.9], [0.0, 0.0, 0.0, 0.0, 0.0]])
    held = hold_unvoiced(f0, conf, 0.5)
    assert held[0].tolist() == [200.0, 200.0, 200.0, 500.0, 500.0]
    assert held[1].tolist() == f0[1].tolist()  # nothing confident: unchanged


def test_mfcc_matches_a_numpy_scipy_computation() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2048)).astype(np.float32) * 0.1
    got = mfcc(torch.from_numpy(x), SR, HOP, n_fft=256, n_mels=20, n_mfcc=8).numpy()
    padded = np.pad(x.astype(np.float64), ((0, 0), (128, 128)))
    frames = np.stack([padded[:, t * HOP : t * HOP + 256] for t in range(2048 // HOP)], 1)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256)
    power = np.abs(np.fft.rfft(frames * win, axis=-1)) ** 2 / (win**2).sum()
    mel = power @ triangular_filterbank(129, 20, SR).T
    want = scipy.fft.dct(10 * np.log10(np.maximum(mel, 1e-10)), type=2, norm="ortho")[..., :8]
    assert got.shape == (2, 32, 8)
    assert np.allclose(got, want, atol=2e-3)


def test_frames_to_samples_interpolates_linearly_and_holds_the_end() -> None:
    x = torch.tensor([[0.0, 4.0, 8.0]])
    assert frames_to_samples(x, 4).tolist() == [[0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8]]


def test_one_harmonic_is_the_closed_form_sinusoid() -> None:
    t_frames, k = 64, 8
    f0 = torch.full((1, t_frames), 440.0)
    dist = torch.zeros(1, k, t_frames)
    dist[:, 0] = 1.0
    amps = harmonic_amplitudes(f0, torch.full((1, t_frames), 0.5), dist, SR)
    out = harmonic_synth(f0, amps, SR, HOP)
    n = np.arange(t_frames * HOP)
    want = 0.5 * np.sin(2 * np.pi * 440.0 * n / SR)
    assert np.allclose(out[0].numpy(), want, atol=2e-5)
    # the third harmonic alone at amplitude 0.25
    dist = torch.zeros(1, k, t_frames)
    dist[:, 2] = 1.0
    amps = harmonic_amplitudes(f0, torch.full((1, t_frames), 0.25), dist, SR)
    out = harmonic_synth(f0, amps, SR, HOP)
    assert np.allclose(out[0].numpy(), 0.25 * np.sin(2 * np.pi * 1320.0 * n / SR), atol=2e-5)


def test_harmonics_above_nyquist_are_removed() -> None:
    # f0 = 1100 Hz at 16 kHz: harmonics 1-7 (≤ 7.7 kHz) sound, 8-20 would alias
    # (harmonic 8 would fold to 7.2 kHz, 9 to 6.1 kHz, …)
    t_frames, k = 64, 20
    f0 = torch.full((1, t_frames), 1100.0)
    amps = harmonic_amplitudes(f0, torch.ones(1, t_frames), torch.ones(1, k, t_frames), SR)
    assert torch.allclose(amps[0, :7], torch.full((7, t_frames), 1 / 7))
    assert bool((amps[0, 7:] == 0).all())
    n = np.arange(t_frames * HOP)
    want = sum(np.sin(2 * np.pi * 1100.0 * h * n / SR) for h in range(1, 8)) / 7
    out = harmonic_synth(f0, torch.ones(1, k, t_frames), SR, HOP)  # raw amplitudes too
    spectrum = np.abs(np.fft.rfft(out[0].numpy() * np.hanning(len(n))))
    freqs = np.fft.rfftfreq(len(n), 1 / SR)
    aliases = [abs(SR - 1100.0 * h) for h in range(8, 15)]
    near = np.isin(np.round(freqs), np.round(aliases))
    assert spectrum[near].max() < 1e-3 * spectrum.max()
    amps_only = harmonic_synth(f0, amps, SR, HOP)
    assert np.allclose(amps_only[0].numpy(), want, atol=2e-5)
    # the oscillators themselves are zero from the 8th harmonic up
    waves = harmonic_waves(f0, k, SR, HOP)
    assert bool((waves[0, 7:] == 0).all()) and float(waves[0, 6].abs().max()) > 0.99


def test_noise_filter_response_is_the_requested_magnitudes() -> None:
    bands = 65
    j = np.arange(bands)
    mags = 1.0 + 0.5 * np.cos(2 * np.pi * j / (bands - 1))
    ir = noise_filter_ir(torch.tensor(mags, dtype=torch.float32)).double().numpy()
    size = len(ir)
    assert size == 128
    response = np.abs(np.fft.rfft(ir, 8 * size))[::8]  # at the band frequencies
    assert np.allclose(response, mags, rtol=5e-3)
    centre = size // 2  # linear phase: symmetric about the centre
    assert np.allclose(ir[centre + 1 :], ir[centre - 1 : 0 : -1], atol=1e-7)


def test_filtered_noise_applies_each_frames_filter_without_delay() -> None:
    t_frames, bands = 8, 17
    rng = np.random.default_rng(1)
    mags = torch.tensor(rng.uniform(0.2, 1.0, (1, bands, t_frames)), dtype=torch.float32)
    impulse = torch.zeros(1, t_frames * HOP)
    impulse[0, 3 * HOP + 5] = 1.0  # in frame 3
    out = filtered_noise(mags, impulse, HOP)[0].numpy()
    ir = noise_filter_ir(mags[0, :, 3]).numpy()
    half = len(ir) // 2
    pos = 3 * HOP + 5
    assert np.allclose(out[pos - half : pos + half], ir, atol=1e-6)
    assert np.abs(out[: pos - half]).max() < 1e-6 and np.abs(out[pos + half :]).max() < 1e-6


def test_reverb_adds_the_dry_signal_to_its_convolution() -> None:
    rev = Reverb(16, init_gain=0.1, seed=3)
    x = torch.zeros(1, 64)
    x[0, 10] = 1.0
    y = rev(x)[0].detach().numpy()
    h = rev.ir.detach().numpy()
    assert y[10] == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(y[11:27], h, atol=1e-6) and np.abs(y[:10]).max() < 1e-6


def _numpy_stft_magnitude(x: np.ndarray, size: int) -> np.ndarray:
    hop = size // 4
    padded = np.pad(x, (size // 2, size // 2))
    n_frames = 1 + len(x) // hop
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)
    frames = np.stack([padded[t * hop : t * hop + size] for t in range(n_frames)])
    return np.abs(np.fft.rfft(frames * win, axis=-1))


def test_multiscale_loss_matches_a_direct_numpy_computation() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 4096)) * 0.3
    b = a + rng.standard_normal((2, 4096)) * 0.1
    sizes = (2048, 1024, 512, 256, 128, 64)
    want = 0.0
    for size in sizes:
        sa = np.stack([_numpy_stft_magnitude(x, size) for x in a])
        sb = np.stack([_numpy_stft_magnitude(x, size) for x in b])
        want += np.abs(sa - sb).mean() + 0.5 * np.abs(np.log(sa + 1e-7) - np.log(sb + 1e-7)).mean()
    got = multiscale_spectral_loss(
        torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), sizes, 0.5
    )
    assert float(got) == pytest.approx(want, rel=1e-6)
    same = multiscale_spectral_loss(torch.tensor(a), torch.tensor(a))
    assert float(same) == 0.0
