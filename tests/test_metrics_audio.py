"""Tests for grainbench.metrics.audio against independent NumPy / SciPy references."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.signal
import torch
from numpy.lib.stride_tricks import sliding_window_view

from grainbench.metrics.audio import (
    DB_CAP,
    MRSTFT_CONFIG,
    log_spectral_distance,
    max_abs_error,
    mrstft_distance,
    si_sdr,
    snr,
    spectral_convergence,
)

SR = 16_000
N = 16_384
SIX_DB = 20 * math.log10(2)  # 6.0206 dB: the ratio of x to 0.5 x


# ----------------------------------------------------------------------------- references


def ref_snr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    return 10 * np.log10((x**2).sum(1) / ((x - y) ** 2).sum(1))


def ref_si_sdr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = []
    for ref, est in zip(x.reshape(len(x), -1), y.reshape(len(y), -1), strict=True):
        target = (est @ ref) / (ref @ ref) * ref
        out.append(10 * np.log10((target @ target) / ((target - est) @ (target - est))))
    return np.array(out)


def ref_spectrogram(clip: np.ndarray, n_fft: int = 2048, hop: int = 512) -> np.ndarray:
    """|STFT| (ch, F, T) by scipy: periodic Hann, frames centred, zero-padded edges."""
    _, _, z = scipy.signal.stft(
        clip, window="hann", nperseg=n_fft, noverlap=n_fft - hop, boundary="zeros", padded=False
    )
    return np.abs(z)


def ref_lsd(x: np.ndarray, y: np.ndarray, n_bins: int | None = None) -> np.ndarray:
    out = []
    for ref, est in zip(x, y, strict=True):
        p = ref_spectrogram(ref)[:, :n_bins] ** 2
        q = ref_spectrogram(est)[:, :n_bins] ** 2
        eps = 1e-10 * p.max()
        d = 10 * np.log10(p + eps) - 10 * np.log10(q + eps)
        out.append(np.sqrt((d**2).mean(axis=1)).mean())
    return np.array(out)


def ref_sc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = []
    for ref, est in zip(x, y, strict=True):
        s, t = ref_spectrogram(ref), ref_spectrogram(est)
        out.append(20 * np.log10(np.linalg.norm(s) / np.linalg.norm(s - t)))
    return np.array(out)


def ref_mrstft(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """auraloss's MultiResolutionSTFTLoss(input=y, target=x) re-derived per clip in NumPy.

    Per resolution: reflect-pad by fft // 2, periodic Hann of win_length zero-padded to the
    centre of fft_size, magnitudes sqrt(max(|Z|², 1e-8)); spectral convergence
    ‖M_x − M_y‖_F / ‖M_x‖_F plus mean |ln M_x − ln M_y|; mean over resolutions.
    """

    def mags(sig: np.ndarray, fft: int, hop: int, win: int) -> np.ndarray:
        window = np.zeros(fft)
        left = (fft - win) // 2
        window[left : left + win] = scipy.signal.get_window("hann", win, fftbins=True)
        padded = np.pad(sig, [(0, 0), (fft // 2, fft // 2)], mode="reflect")
        frames = sliding_window_view(padded, fft, axis=-1)[:, ::hop]
        z = np.fft.rfft(frames * window, axis=-1)
        return np.sqrt(np.maximum(np.abs(z) ** 2, 1e-8))

    out = []
    for ref, est in zip(x, y, strict=True):
        total = 0.0
        for fft, hop, win in zip(
            MRSTFT_CONFIG["fft_sizes"],
            MRSTFT_CONFIG["hop_sizes"],
            MRSTFT_CONFIG["win_lengths"],
            strict=True,
        ):
            mx, my = mags(ref, fft, hop, win), mags(est, fft, hop, win)
            sc = np.linalg.norm(mx - my) / np.linalg.norm(mx)
            total += sc + np.abs(np.log(mx) - np.log(my)).mean()
        out.append(total / len(MRSTFT_CONFIG["fft_sizes"]))
    return np.array(out)


# ----------------------------------------------------------------------------- data


def _signals(batch: int = 3, channels: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Reference clips (noise plus a tone) and estimates with assorted errors, float64."""
    rng = np.random.default_rng(99)
    t = np.arange(N) / SR
    x = 0.1 * rng.standard_normal((3, channels, N)) + 0.3 * np.sin(2 * np.pi * 440 * t)
    b, a = scipy.signal.butter(2, 0.3)
    y = x.copy()
    y[0] += 0.01 * rng.standard_normal((channels, N))  # white noise
    y[1] = 0.9 * scipy.signal.lfilter(b, a, x[1], axis=-1)  # low-pass and gain
    y[2] += 0.05 * np.sign(np.sin(2 * np.pi * 3 * t))  # square-wave clicks
    return x[:batch], y[:batch]


def _t(a: np.ndarray, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.from_numpy(a).to(dtype)


# ----------------------------------------------------------------------------- agreement


@pytest.mark.parametrize(
    ("fn", "ref"),
    [
        (snr, ref_snr),
        (si_sdr, ref_si_sdr),
        (lambda x, y: log_spectral_distance(x, y, SR), ref_lsd),
        (spectral_convergence, ref_sc),
    ],
    ids=["snr", "si_sdr", "lsd", "spectral_convergence"],
)
def test_agrees_with_reference(
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ref: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> None:
    # sample-domain metrics are float64 throughout; spectrograms are taken in float32
    tol = 1e-9 if ref in (ref_snr, ref_si_sdr) else 1e-5
    x, y = _signals()
    got = fn(_t(x), _t(y))
    assert got.dtype == torch.float64 and got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), ref(x, y), rtol=tol, atol=tol)
    x32, y32 = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    got32 = fn(_t(x, torch.float32), _t(y, torch.float32))
    np.testing.assert_allclose(got32.numpy(), ref(x32, y32), rtol=tol, atol=tol)


def test_mrstft_agrees_with_numpy_reimplementation() -> None:
    x, y = _signals()
    got = mrstft_distance(_t(x, torch.float32), _t(y, torch.float32))
    assert got.dtype == torch.float64 and got.shape == (3,)
    x32, y32 = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(got.numpy(), ref_mrstft(x32, y32), rtol=1e-4)


def test_max_abs_error() -> None:
    x, y = _signals()
    got = max_abs_error(_t(x), _t(y))
    np.testing.assert_array_equal(got.numpy(), np.abs(x - y).max(axis=(1, 2)))
    hand = max_abs_error(torch.tensor([[[0.0, 0.5], [1.0, -1.0]]]), torch.zeros(1, 2, 2))
    assert hand.tolist() == [1.0]


def test_snr_and_si_sdr_match_torchmetrics_away_from_its_epsilon() -> None:
    from torchmetrics.functional.audio import (
        scale_invariant_signal_distortion_ratio,
        signal_noise_ratio,
    )

    x, y = _signals()
    xt, yt = _t(x), _t(y)
    tm_snr = signal_noise_ratio(yt.flatten(1), xt.flatten(1), zero_mean=False)
    tm_sisdr = scale_invariant_signal_distortion_ratio(yt.flatten(1), xt.flatten(1))
    torch.testing.assert_close(snr(xt, yt), tm_snr, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(si_sdr(xt, yt), tm_sisdr, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- hand cases


def test_half_amplitude_is_six_db() -> None:
    x, _ = _signals()
    xt = _t(x)
    half = 0.5 * xt
    torch.testing.assert_close(snr(xt, half), torch.full((3,), SIX_DB, dtype=torch.float64))
    torch.testing.assert_close(
        spectral_convergence(xt, half), torch.full((3,), SIX_DB, dtype=torch.float64)
    )
    # every bin is 6.02 dB down (noisy spectra sit far above the 1e-10 floor)
    lsd = log_spectral_distance(xt, half, SR)
    torch.testing.assert_close(
        lsd, torch.full((3,), SIX_DB, dtype=torch.float64), rtol=0, atol=1e-4
    )
    # spectral convergence 0.5 and |ln 2| per resolution (up to the few bins that auraloss's
    # 1e-8 power floor lifts)
    mr = mrstft_distance(xt, half)
    expected = torch.full((3,), 0.5 + math.log(2), dtype=torch.float64)
    torch.testing.assert_close(mr, expected, rtol=1e-5, atol=0)
    assert torch.all(si_sdr(xt, half) == DB_CAP)  # SI-SDR ignores the gain


def test_si_sdr_scale_invariance_and_orthogonal_noise() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1, 4000))
    noise = rng.standard_normal((2, 1, 4000))
    # make the noise orthogonal to x, with 1/100 of its energy: SNR = SI-SDR = 20 dB exactly
    for i in range(2):
        n, r = noise[i, 0], x[i, 0]
        n -= (n @ r) / (r @ r) * r
        noise[i, 0] = n * np.sqrt((r @ r) / (100 * (n @ n)))
    xt, yt = _t(x), _t(x + noise)
    torch.testing.assert_close(si_sdr(xt, yt), torch.full((2,), 20.0, dtype=torch.float64))
    torch.testing.assert_close(snr(xt, yt), torch.full((2,), 20.0, dtype=torch.float64))
    for scale in (3.0, 0.1, -2.0):
        torch.testing.assert_close(si_sdr(xt, scale * yt), si_sdr(xt, yt))


def test_perfect_reconstruction_is_capped_not_infinite() -> None:
    x, _ = _signals()
    xt = _t(x, torch.float32)
    for fn in (snr, si_sdr, spectral_convergence):
        assert fn(xt, xt.clone()).tolist() == [DB_CAP] * 3
    assert log_spectral_distance(xt, xt, SR).tolist() == [0.0] * 3
    assert mrstft_distance(xt, xt).tolist() == [0.0] * 3
    assert max_abs_error(xt, xt).tolist() == [0.0] * 3
    # just below the cap the value is exact: noise energy 1e-19 of the signal is 190 dB
    rng = np.random.default_rng(0)
    sig = rng.standard_normal((1, 1, 1000))
    noise = rng.standard_normal((1, 1, 1000))
    noise *= np.sqrt((sig**2).sum() * 1e-19 / (noise**2).sum())
    got = snr(_t(sig), _t(sig) + _t(noise))
    assert got.item() == pytest.approx(190.0, abs=1e-3)


def test_silent_reference_and_zero_estimate() -> None:
    x, _ = _signals()
    xt = _t(x)
    silent = torch.zeros_like(xt)
    for fn in (snr, si_sdr, spectral_convergence):
        assert torch.isnan(fn(silent, xt)).all()
    assert torch.isnan(log_spectral_distance(silent, xt, SR)).all()
    assert torch.isfinite(mrstft_distance(silent, xt)).all()  # auraloss's 1e-8 power floor
    torch.testing.assert_close(snr(xt, silent), torch.zeros(3, dtype=torch.float64))
    assert si_sdr(xt, silent).tolist() == [-DB_CAP] * 3


def test_channels_are_pooled() -> None:
    x, y = _signals(batch=2, channels=2)
    xt, yt = _t(x), _t(y)
    flat_x, flat_y = xt.reshape(2, 1, -1), yt.reshape(2, 1, -1)
    torch.testing.assert_close(snr(xt, yt), snr(flat_x, flat_y))
    torch.testing.assert_close(si_sdr(xt, yt), si_sdr(flat_x, flat_y))
    # a clip whose channels are identical scores like one channel in the spectral metrics
    mono_x, mono_y = xt[:, :1], yt[:, :1]
    twin_x, twin_y = mono_x.repeat(1, 2, 1), mono_y.repeat(1, 2, 1)
    for fn in (spectral_convergence, mrstft_distance, lambda a, b: log_spectral_distance(a, b, SR)):
        torch.testing.assert_close(fn(twin_x, twin_y), fn(mono_x, mono_y))


def test_per_clip_values_do_not_depend_on_the_batch() -> None:
    x, y = _signals()
    xt, yt = _t(x), _t(y)
    for fn in (mrstft_distance, spectral_convergence, snr):
        whole = fn(xt, yt)
        one = torch.cat([fn(xt[i : i + 1], yt[i : i + 1]) for i in range(3)])
        torch.testing.assert_close(whole, one, rtol=1e-12, atol=0)


def test_lsd_max_hz_ignores_bins_above_the_limit() -> None:
    x, _ = _signals(batch=1, channels=1)
    rng = np.random.default_rng(5)
    sos = scipy.signal.butter(8, 6000, btype="highpass", fs=SR, output="sos")
    y = x + 0.05 * scipy.signal.sosfilt(sos, rng.standard_normal(x.shape), axis=-1)
    full = log_spectral_distance(_t(x), _t(y), SR)
    low = log_spectral_distance(_t(x), _t(y), SR, max_hz=3000.0)
    n_bins = int(3000 * 2048 / SR) + 1
    np.testing.assert_allclose(low.numpy(), ref_lsd(x, y, n_bins), rtol=2e-4)
    assert low.item() < 0.05 * full.item()


def test_lsd_per_clip_limits_agree_with_the_reference_clip_by_clip() -> None:
    x, y = _signals(batch=3, channels=2)
    limits = np.array([3000.0, np.nan, 6500.0])  # NaN: up to Nyquist
    got = log_spectral_distance(_t(x), _t(y), SR, max_hz=limits)
    for i, limit in enumerate(limits):
        n_bins = None if np.isnan(limit) else int(limit * 2048 / SR) + 1
        np.testing.assert_allclose(
            got[i].item(), ref_lsd(x[i : i + 1], y[i : i + 1], n_bins), rtol=2e-4
        )
    as_tensor = log_spectral_distance(_t(x), _t(y), SR, max_hz=torch.from_numpy(limits))
    torch.testing.assert_close(as_tensor, got, rtol=0, atol=0)
    one = log_spectral_distance(_t(x), _t(y), SR, max_hz=3000.0)
    each = log_spectral_distance(_t(x), _t(y), SR, max_hz=[3000.0] * 3)
    torch.testing.assert_close(one, each, rtol=0, atol=0)
    with pytest.raises(ValueError):
        log_spectral_distance(_t(x), _t(y), SR, max_hz=[3000.0, 2000.0])
    with pytest.raises(ValueError):
        log_spectral_distance(_t(x), _t(y), SR, max_hz=[3000.0, 0.0, np.nan])


def test_lsd_in_band_ignores_an_error_above_the_band_limit() -> None:
    # A clip with content only below 2 kHz; the estimate adds a quiet 5 kHz tone (−30 dB),
    # faded in and out (a Hann envelope) so that it has no broadband onset click.
    t = np.arange(N) / SR
    clean = sum(a * np.sin(2 * np.pi * f * t) for a, f in ((0.3, 300), (0.2, 700), (0.1, 1500)))
    x = clean[None, None]
    y = x + 0.01 * np.sin(2 * np.pi * 5000 * t) * scipy.signal.get_window("hann", N)
    in_band = log_spectral_distance(_t(x), _t(y), SR, max_hz=2000.0).item()
    full = log_spectral_distance(_t(x), _t(y), SR).item()
    assert in_band < 1e-3  # the error's leakage below 2 kHz is under the 100 dB floor
    assert full > 1.0  # a few bins near 5 kHz: ~70 dB above the clip's −100 dB floor
    np.testing.assert_allclose(full, ref_lsd(x, y), rtol=2e-4)


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError):
        snr(torch.zeros(2, 1, 10), torch.zeros(2, 1, 11))
    with pytest.raises(ValueError):
        si_sdr(torch.zeros(2, 10), torch.zeros(2, 10))
    with pytest.raises(ValueError):
        mrstft_distance(torch.ones(1, 1, 1000), torch.ones(1, 1, 1000))
    with pytest.raises(ValueError):
        log_spectral_distance(torch.ones(1, 1, 1000), torch.ones(1, 1, 1000), 0)


def test_mrstft_equals_auraloss_called_clip_by_clip() -> None:
    """The batched implementation against the library itself, one clip at a time."""
    import auraloss

    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.standard_normal((3, 2, 4096)).astype(np.float32)) * 0.3
    y = x + 0.05 * torch.from_numpy(rng.standard_normal((3, 2, 4096)).astype(np.float32))
    loss = auraloss.freq.MultiResolutionSTFTLoss()
    expected = [float(loss(y[i : i + 1], x[i : i + 1])) for i in range(3)]
    np.testing.assert_allclose(mrstft_distance(x, y).numpy(), expected, rtol=1e-5)
