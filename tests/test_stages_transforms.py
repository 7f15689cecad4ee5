"""Every transform stage against an independent reference (scipy, numpy, direct sums)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

from grainbench.mel import hz_to_mel, mel_to_hz
from grainbench.stages import DCT, PolarFFT, RealImagFFT, Waveform, framing
from grainbench.stages.cqt import CQT
from grainbench.stages.framing import (
    frame_circular,
    irfft_isometric,
    overlap_add_circular,
    rfft_isometric,
    tight_window,
    window,
)
from grainbench.stages.logmel import MFCC, LogMel
from grainbench.stages.magif import MagIF
from grainbench.stages.mdct import MDCT
from grainbench.stages.melscale import FreqWarp, triangular_filterbank
from grainbench.stages.parametric import HarmonicNoise, yin_f0
from grainbench.stages.stft import STFT, istft, stft
from grainbench.stages.transforms import (
    dct2_ortho,
    dct2_ortho_torch,
    idct2_ortho,
    idct2_ortho_torch,
)

F32 = dict(rtol=1e-4, atol=2e-5)  # float32 transforms of unit-variance data


def _noise(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _snr(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(10 * torch.log10((x.double() ** 2).sum() / ((x - y).double() ** 2).sum()))


# --- whole-clip transforms (the seeds') --------------------------------------------------------


def test_dct_matches_scipy_and_inverts() -> None:
    x = _noise(2, 1, 1024)
    y = DCT()(x)
    ref = scipy.fft.dct(x.numpy(), type=2, norm="ortho", axis=-1)
    np.testing.assert_allclose(y[:, :, 0].numpy(), ref, **F32)
    back = DCT().inverse(torch.from_numpy(ref).unsqueeze(2))
    np.testing.assert_allclose(back.numpy(), x.numpy(), **F32)


# scipy.fft on the CPU, and the torch route every other device takes (run here on the CPU)
ROUTES = {"library": (dct2_ortho, idct2_ortho), "torch": (dct2_ortho_torch, idct2_ortho_torch)}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("n", [4, 6, 16, 1000, 65536, 5, 7, 513])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dct_routes_match_scipy_for_every_length(route: str, n: int, dtype: torch.dtype) -> None:
    # the torch route: even lengths by a half-size real FFT, odd ones by a complex FFT
    dct, idct = ROUTES[route]
    g = torch.Generator().manual_seed(n)
    x = torch.randn(3, 2, n, generator=g, dtype=dtype)
    tol = {"rtol": 0, "atol": 2e-6} if dtype == torch.float32 else {"rtol": 0, "atol": 1e-12}
    ref = scipy.fft.dct(x.double().numpy(), type=2, norm="ortho", axis=-1)
    y = dct(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y.double().numpy(), ref, **tol)
    back = idct(torch.from_numpy(ref).to(dtype))
    np.testing.assert_allclose(back.double().numpy(), x.double().numpy(), **tol)
    # strided input (as the MDCT and MFCC stages pass it) gives the same numbers
    xt = x.transpose(0, 2).contiguous().transpose(0, 2)
    torch.testing.assert_close(dct(xt), y)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("n", [8, 9])
def test_dct_routes_are_differentiable(route: str, n: int) -> None:
    x = torch.randn(2, n, dtype=torch.float64, requires_grad=True)
    for fn in ROUTES[route]:
        assert torch.autograd.gradcheck(fn, (x,), check_forward_ad=True)


def test_fft_packing_matches_numpy_rfft() -> None:
    n = 512
    x = _noise(1, 1, n)
    ref = np.fft.rfft(x.numpy()[0, 0].astype(np.float64)) / math.sqrt(n)
    planes = RealImagFFT()(x)[0, 0].numpy()
    np.testing.assert_allclose(planes[0, 0], ref[0].real, **F32)  # DC
    np.testing.assert_allclose(planes[1, 0], ref[n // 2].real, **F32)  # Nyquist in bin 0's imag
    np.testing.assert_allclose(planes[0, 1:], math.sqrt(2) * ref[1 : n // 2].real, **F32)
    np.testing.assert_allclose(planes[1, 1:], math.sqrt(2) * ref[1 : n // 2].imag, **F32)
    polar = PolarFFT()(x)[0, 0].numpy()
    np.testing.assert_allclose(polar[0, 1:], math.sqrt(2) * np.abs(ref[1 : n // 2]), **F32)
    np.testing.assert_allclose(polar[1, 1:], np.angle(ref[1 : n // 2]) / math.pi, atol=1e-5)
    for stage in (RealImagFFT(), PolarFFT(), Waveform()):
        assert _snr(x, stage.inverse(stage(x))) > 120


# --- windows and framing -----------------------------------------------------------------------


def test_windows_meet_the_overlap_conditions() -> None:
    # periodic Hann at a quarter hop: Σ w² = 3/2 (hand-computed), so the tight window is w/√1.5
    hann = window("hann", 64)
    np.testing.assert_allclose(tight_window(hann, 16), hann / math.sqrt(1.5), rtol=1e-12)
    np.testing.assert_allclose(hann, scipy.signal.get_window("hann", 64, fftbins=True))
    # Princen-Bradley: w[n]² + w[n + M]² = 1 for the sine and KBD windows
    for name in ("sine", "kbd"):
        w = window(name, 64)
        np.testing.assert_allclose(w[:32] ** 2 + w[32:] ** 2, 1.0, atol=1e-12)
    kbd_ref = scipy.signal.windows.kaiser_bessel_derived(64, beta=4.0 * math.pi)
    np.testing.assert_allclose(window("kbd", 64), kbd_ref, atol=1e-12)
    with pytest.raises(ValueError):
        tight_window(hann, 32)  # Hann² at 50 % overlap is not constant


def test_circular_framing_and_overlap_add_are_adjoint() -> None:
    x, frames = _noise(3, 64, seed=1), _noise(3, 8, 32, seed=2)
    framed = frame_circular(x, 32, 8)
    assert framed.shape == (3, 8, 32)
    # frame t holds samples t·hop − size/2 + m (mod N)
    n = np.arange(32)
    np.testing.assert_array_equal(framed[0, 3].numpy(), x[0].numpy()[(3 * 8 - 16 + n) % 64])
    lhs = (framed * frames).sum()
    rhs = (x * overlap_add_circular(frames, 8)).sum()
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-5)


# --- STFT and magnitude / IF -------------------------------------------------------------------


# the fast framing / overlap-add / STFT paths against plain references (modular indexing,
# explicit loops, explicit bin weights): (N, size, hop) with size = 2·hop, 4·hop and N
FRAMINGS = [(64, 16, 8), (64, 32, 8), (96, 48, 12), (32, 32, 8), (48, 24, 12)]


def _frame_index(n: int, size: int, hop: int) -> torch.Tensor:
    t = torch.arange(n // hop)[:, None]
    m = torch.arange(size)[None, :]
    return (t * hop - size // 2 + m) % n


def _overlap_add_loops(frames: torch.Tensor, hop: int) -> torch.Tensor:
    t_count, size = frames.shape[-2:]
    n = t_count * hop
    out = torch.zeros(*frames.shape[:-2], n, dtype=frames.dtype)
    for t in range(t_count):
        for m in range(size):
            out[..., (t * hop - size // 2 + m) % n] += frames[..., t, m]
    return out


def _bin_weights(n_bins: int) -> torch.Tensor:
    d = torch.full((n_bins,), math.sqrt(2.0), dtype=torch.float64)
    d[0] = d[-1] = 1.0
    return d


def _stft_reference(x: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """Complex ``(…, L/2 + 1, T)`` from the definition, in float64."""
    size = win.shape[-1]
    frames = x.double()[..., _frame_index(x.shape[-1], size, hop)] * win.double()
    spec = torch.fft.rfft(frames, dim=-1, norm="ortho") * _bin_weights(size // 2 + 1)
    return spec.transpose(-1, -2)


def _istft_reference(spec: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """The adjoint of :func:`_stft_reference`, written out: weights, real DC and Nyquist,
    inverse FFT, window, overlap-add by loops."""
    size = win.shape[-1]
    rows = spec.transpose(-1, -2).to(torch.complex128) / _bin_weights(size // 2 + 1)
    rows[..., 0] = rows[..., 0].real.to(rows.dtype)
    rows[..., -1] = rows[..., -1].real.to(rows.dtype)
    frames = torch.fft.irfft(rows, n=size, dim=-1, norm="ortho") * win.double()
    return _overlap_add_loops(frames, hop)


def _random_spec(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.complex(
        torch.randn(*shape, generator=g, dtype=torch.float64),
        torch.randn(*shape, generator=g, dtype=torch.float64),
    )


def _win_name(size: int, hop: int) -> str:
    return "sine" if size == 2 * hop else "hann"  # Hann² is not constant at 50 % overlap


def _tight(size: int, hop: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor(tight_window(window(_win_name(size, hop), size), hop), dtype=dtype)


@pytest.mark.parametrize(("n", "size", "hop"), FRAMINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_framing_matches_modular_indexing(
    n: int, size: int, hop: int, dtype: torch.dtype
) -> None:
    x = _noise(3, 2, n, seed=n + size).to(dtype)
    framed = frame_circular(x, size, hop)
    assert framed.shape == (3, 2, n // hop, size) and framed.dtype == dtype
    torch.testing.assert_close(framed, x[..., _frame_index(n, size, hop)], rtol=0, atol=0)
    frames = _noise(3, 2, n // hop, size, seed=hop).to(dtype)
    ref = _overlap_add_loops(frames.double(), hop)
    tol = {"rtol": 0, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 0, "atol": 1e-12}
    torch.testing.assert_close(overlap_add_circular(frames, hop).double(), ref, **tol)
    # one leading dimension, and none
    torch.testing.assert_close(frame_circular(x[0, 0], size, hop), framed[0, 0], rtol=0, atol=0)
    torch.testing.assert_close(overlap_add_circular(frames[0, 0], hop).double(), ref[0, 0], **tol)


@pytest.mark.parametrize(("n", "size", "hop"), FRAMINGS)
def test_fast_framing_and_overlap_add_are_adjoint_float64(n: int, size: int, hop: int) -> None:
    x = _noise(3, 2, n, seed=1).double()
    frames = _noise(3, 2, n // hop, size, seed=2).double()
    lhs = (frame_circular(x, size, hop) * frames).sum()
    rhs = (x * overlap_add_circular(frames, hop)).sum()
    assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)


def test_framing_rejects_bad_shapes_and_returns_new_frames() -> None:
    x = _noise(2, 64)
    for size, hop in ((24, 8), (32, 6), (128, 32)):  # odd multiple, hop ∤ N, longer than N
        with pytest.raises(ValueError):
            frame_circular(x, size, hop)
        with pytest.raises(ValueError):
            stft(x, torch.ones(size), hop)
    framed = frame_circular(x, 32, 8)  # a new tensor: writing to it changes nothing else
    framed[0, 0, 0] = 100.0
    assert float(framed[0, 7, 8]) == float(x[0, 48]) != 100.0 and float(x.abs().max()) < 100.0


@pytest.mark.parametrize("n", [16, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_isometric_rfft_matches_explicit_weights(n: int, dtype: torch.dtype) -> None:
    x = _noise(3, 2, n, seed=n).to(dtype)
    spec = rfft_isometric(x)
    ref = torch.fft.rfft(x.double(), norm="ortho") * _bin_weights(n // 2 + 1)
    tol = {"rtol": 0, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 0, "atol": 1e-12}
    torch.testing.assert_close(spec.to(torch.complex128), ref, **tol)
    assert float((spec.abs() ** 2).sum()) == pytest.approx(float((x.double() ** 2).sum()))
    # the inverse is the adjoint: the DC and Nyquist imaginary parts are dropped
    s = _random_spec(3, 2, n // 2 + 1, seed=n).to(spec.dtype)
    back = irfft_isometric(s, n)
    rows = s.to(torch.complex128) / _bin_weights(n // 2 + 1)
    rows[..., 0], rows[..., -1] = (
        rows[..., 0].real.to(rows.dtype),
        rows[..., -1].real.to(rows.dtype),
    )
    torch.testing.assert_close(back.double(), torch.fft.irfft(rows, n=n, norm="ortho"), **tol)
    xd, sd = x.double(), s.to(torch.complex128)
    lhs = (torch.conj(rfft_isometric(xd)) * sd).real.sum()
    assert float(lhs) == pytest.approx(float((xd * irfft_isometric(sd, n)).sum()), rel=1e-10)
    torch.testing.assert_close(irfft_isometric(rfft_isometric(x), n), x, **tol)


@pytest.mark.parametrize(("n", "size", "hop"), FRAMINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_stft_matches_its_definition(n: int, size: int, hop: int, dtype: torch.dtype) -> None:
    win = _tight(size, hop, dtype)
    x = _noise(3, 2, n, seed=size + hop).to(dtype)
    tol = {"rtol": 0, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 0, "atol": 1e-12}
    spec = stft(x, win, hop)
    assert spec.shape == (3, 2, size // 2 + 1, n // hop)
    ref = _stft_reference(x, win, hop)
    torch.testing.assert_close(spec.to(torch.complex128), ref, **tol)
    s = _random_spec(3, 2, size // 2 + 1, n // hop, seed=n).to(spec.dtype)
    torch.testing.assert_close(istft(s, win, hop).double(), _istft_reference(s, win, hop), **tol)
    torch.testing.assert_close(istft(spec, win, hop), x, **tol)
    # the stage: row 0 = DC + i·Nyquist, rows k ≥ 1 = bin k, as (real, imaginary) planes
    stage = STFT(size, hop, _win_name(size, hop)).to(dtype)
    stage.win = win  # the float64 stage would otherwise hold the float32-rounded window
    planes = stage(x)
    assert planes.shape == (3, 2, 2, size // 2, n // hop) and planes.dtype == dtype
    packed = ref[..., :-1, :].clone()
    packed[..., 0, :] = torch.complex(ref[..., 0, :].real, ref[..., -1, :].real)
    torch.testing.assert_close(planes[:, :, 0].double(), packed.real, **tol)
    torch.testing.assert_close(planes[:, :, 1].double(), packed.imag, **tol)
    y = _noise(3, 2, 2, size // 2, n // hop, seed=7).to(dtype)
    unpacked = torch.zeros(3, 2, size // 2 + 1, n // hop, dtype=torch.complex128)
    unpacked[..., 1:-1, :] = torch.complex(y[:, :, 0, 1:], y[:, :, 1, 1:]).to(torch.complex128)
    unpacked[..., 0, :], unpacked[..., -1, :] = y[:, :, 0, 0].double(), y[:, :, 1, 0].double()
    ref_back = _istft_reference(unpacked, win, hop)
    torch.testing.assert_close(stage.inverse(y).double(), ref_back, **tol)
    torch.testing.assert_close(stage.inverse(planes), x, **tol)


@pytest.mark.parametrize(("n", "size", "hop"), FRAMINGS)
def test_fast_stft_is_parseval_and_adjoint_float64(n: int, size: int, hop: int) -> None:
    win = _tight(size, hop)
    x = _noise(3, 2, n, seed=3).double()
    spec = stft(x, win, hop)
    assert float((spec.abs() ** 2).sum()) == pytest.approx(float((x**2).sum()), rel=1e-12)
    # <stft(x), S> = <x, istft(S)> for any S (DC and Nyquist imaginary parts included)
    s = _random_spec(3, 2, size // 2 + 1, n // hop, seed=4)
    lhs = (torch.conj(spec) * s).real.sum()
    assert float(lhs) == pytest.approx(float((x * istft(s, win, hop)).sum()), rel=1e-12)
    stage = STFT(size, hop, _win_name(size, hop)).double()
    stage.win = win
    y = _noise(3, 2, 2, size // 2, n // hop, seed=5).double()
    lhs = (stage(x) * y).sum()
    assert float(lhs) == pytest.approx(float((x * stage.inverse(y)).sum()), rel=1e-12)


def test_stages_batch_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    n, size, hop = 256, 64, 16
    x = _noise(5, 3, n, seed=11)
    stage, mdct = STFT(size, hop), MDCT(hop)
    whole, back = stage(x), stage.inverse(stage(x))
    coeffs, mdct_back = mdct(x), mdct.inverse(mdct(x))
    assert coeffs.shape == (5, 3, 1, hop, n // hop)
    monkeypatch.setattr(framing, "_CHUNK_FRAME_SAMPLES", 2 * n // hop * size)  # 2 clips a pass
    assert framing.clips_per_pass(15, n // hop * size, x.device) == 2
    torch.testing.assert_close(stage(x), whole, rtol=0, atol=0)
    torch.testing.assert_close(stage.inverse(whole), back, rtol=0, atol=0)
    torch.testing.assert_close(mdct(x), coeffs, rtol=0, atol=0)
    torch.testing.assert_close(mdct.inverse(coeffs), mdct_back, rtol=0, atol=0)
    # any leading shape
    torch.testing.assert_close(stage(x[0, 0]), whole[0, 0], rtol=0, atol=0)
    torch.testing.assert_close(stage.inverse(whole[0, 0]), back[0, 0], rtol=0, atol=0)
    torch.testing.assert_close(mdct(x[0]), coeffs[0], rtol=0, atol=0)
    torch.testing.assert_close(mdct.inverse(coeffs[0]), mdct_back[0], rtol=0, atol=0)


def test_fast_paths_are_differentiable(monkeypatch: pytest.MonkeyPatch) -> None:
    n, size, hop = 32, 16, 4
    win = _tight(size, hop)
    x = torch.randn(2, n, dtype=torch.float64, requires_grad=True)
    frames = torch.randn(2, n // hop, size, dtype=torch.float64, requires_grad=True)
    s = _random_spec(2, size // 2 + 1, n // hop, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda v: frame_circular(v, size, hop), (x,))
    assert torch.autograd.gradcheck(lambda f: overlap_add_circular(f, hop), (frames,))
    assert torch.autograd.gradcheck(lambda v: stft(v, win, hop), (x,))
    assert torch.autograd.gradcheck(lambda c: istft(c, win, hop), (s,))
    assert torch.autograd.gradcheck(rfft_isometric, (x,))
    assert torch.autograd.gradcheck(lambda c: irfft_isometric(c, n), (s[..., 0],))
    monkeypatch.setattr(framing, "_CHUNK_FRAME_SAMPLES", 1)  # one clip a pass
    stage = STFT(size, hop).double()
    y = torch.randn(2, 2, size // 2, n // hop, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(stage, (x,))
    assert torch.autograd.gradcheck(stage.inverse, (y,))


def test_stft_matches_scipy_signal_stft() -> None:
    size, hop, n = 64, 16, 512
    x = _noise(1, 1, n, seed=3)
    xn = x.numpy()[0, 0].astype(np.float64)
    extended = np.concatenate([xn[-size // 2 :], xn, xn[: size // 2]])  # periodic extension
    w = window("hann", size)
    _, _, ref = scipy.signal.stft(
        extended, window=w, nperseg=size, noverlap=size - hop, boundary=None, padded=False
    )
    ref = ref[:, : n // hop] * w.sum() / math.sqrt(size) / math.sqrt(1.5)  # undo scipy scaling
    planes = STFT(size, hop)(x)[0, 0].numpy()
    np.testing.assert_allclose(planes[0, 0], ref[0].real, **F32)
    np.testing.assert_allclose(planes[1, 0], ref[-1].real, **F32)
    np.testing.assert_allclose(planes[0, 1:], math.sqrt(2) * ref[1:-1].real, **F32)
    np.testing.assert_allclose(planes[1, 1:], math.sqrt(2) * ref[1:-1].imag, **F32)


@pytest.mark.parametrize(("size", "hop", "win"), [(64, 16, "hann"), (64, 32, "sine")])
def test_stft_is_parseval_and_inverts_exactly(size: int, hop: int, win: str) -> None:
    x = _noise(2, 2, 1024, seed=4)
    stage = STFT(size, hop, win)
    y = stage(x)
    assert y.shape == (2, 2, 2, size // 2, 1024 // hop)
    assert float((y**2).sum() / (x**2).sum()) == pytest.approx(1.0, rel=1e-5)
    assert _snr(x, stage.inverse(y)) > 120


def test_magif_matches_unwrapped_phase_difference() -> None:
    x = _noise(1, 1, 1024, seed=5)
    stage = MagIF(64, 16)
    stage.fit(x)
    out = stage(x)[0, 0].numpy()
    planes = STFT(64, 16)(x)[0, 0].numpy().astype(np.float64)
    spec = planes[0] + 1j * planes[1]
    unwrapped = np.unwrap(np.angle(spec), axis=-1)
    inst = np.diff(unwrapped, axis=-1, prepend=0.0) / np.pi
    inst[:, 0] = np.angle(spec[:, 0]) / np.pi
    np.testing.assert_allclose(out[1], inst, atol=1e-5)
    peak = np.abs(spec).max()
    a = peak * 1e-4  # 80 dB below the peak
    logmag = 2 * np.log1p(np.abs(spec) / a) / np.log1p(peak / a) - 1
    np.testing.assert_allclose(out[0], logmag, atol=1e-5)
    assert out.min() >= -1 and out.max() <= 1 + 1e-6
    assert _snr(x, stage.inverse(stage(x))) > 100


# --- MDCT --------------------------------------------------------------------------------------


def _mdct_matrix(n: int, m: int, w: np.ndarray) -> np.ndarray:
    """The circular MDCT's N×N analysis matrix, straight from its definition."""
    rows = np.zeros((m, n // m, n))
    k = np.arange(m)[:, None]
    j = np.arange(2 * m)[None, :]
    basis = w * math.sqrt(2 / m) * np.cos(np.pi / m * (j + 0.5 + m / 2) * (k + 0.5))
    for t in range(n // m):
        cols = (t * m - m + np.arange(2 * m)) % n
        rows[:, t, cols] += basis
    return rows.reshape(n, n)


@pytest.mark.parametrize("win", ["sine", "kbd"])
def test_mdct_matches_direct_matrix_and_is_orthogonal(win: str) -> None:
    n, m = 128, 16
    x = _noise(2, 1, n, seed=6)
    stage = MDCT(m, win)
    y = stage(x)
    assert y.shape == (2, 1, 1, m, n // m)  # critically sampled: N coefficients
    mat = _mdct_matrix(n, m, window(win, 2 * m))
    np.testing.assert_allclose(mat @ mat.T, np.eye(n), atol=1e-12)
    ref = (mat @ x.numpy()[:, 0].astype(np.float64).T).T.reshape(2, m, n // m)
    np.testing.assert_allclose(y[:, 0, 0].numpy(), ref, **F32)
    assert _snr(x, stage.inverse(y)) > 120


# --- constant-Q --------------------------------------------------------------------------------


def test_cqt_matches_inner_products_with_its_atoms() -> None:
    n, sr, bands, slots = 1024, 8000, 16, 128
    stage = CQT(n, sr, bands, slots, fmin=100.0)
    g = stage.frequency_windows()
    np.testing.assert_allclose((g**2).sum(axis=0), 1.0, atol=1e-12)  # partition of unity
    assert ((g > 0).sum(axis=1) <= slots).all()  # painless: every band fits in T bins
    x = _noise(1, 1, n, seed=7)
    coeffs = stage(x)[0, 0].numpy().astype(np.float64)
    coeffs = coeffs[0] + 1j * coeffs[1]
    # atom (k, m): c[k, m] = Σ_n x[n]·conj(atom[n]) with
    # atom[n] = 1/√(NT) Σ_j d_j g_k(j) e^{2πi j n / N} e^{−2πi (j − j_k) m / T}
    j = np.arange(n // 2 + 1)
    d = np.where((j == 0) | (j == n // 2), 1.0, math.sqrt(2.0))
    centre = np.rint(stage.centres_hz * n / sr)
    tn = np.arange(n)
    xn = x.numpy()[0, 0].astype(np.float64)
    for k in (0, 1, 7, bands - 1):
        for m in (0, 5, slots - 1):
            atom = (d * g[k])[None, :] * np.exp(
                2j * np.pi * (np.outer(tn, j) / n - (j - centre[k]) * m / slots)
            )
            atom = atom.sum(axis=1) / math.sqrt(n * slots)
            ref = (xn * np.conj(atom)).sum()
            assert abs(coeffs[k, m] - ref) < 2e-5 * (1 + abs(ref))


def test_cqt_is_parseval_and_constant_q_at_low_frequencies() -> None:
    n, sr = 16384, 16000
    stage = CQT(n, sr, 128, 256)
    x = _noise(2, 1, n, seed=8)
    y = stage(x)
    assert y.shape == (2, 1, 2, 128, 256)
    assert float((y**2).sum() / (x**2).sum()) == pytest.approx(1.0, rel=1e-5)
    assert _snr(x, stage.inverse(y)) > 120
    c = stage.centres_hz
    ratios = c[2:20] / c[1:19]
    np.testing.assert_allclose(ratios, 2 ** (1 / stage.bins_per_octave), rtol=0.02)


# --- log-mel and MFCC --------------------------------------------------------------------------


def test_mel_scale_and_filterbank() -> None:
    assert float(hz_to_mel(1000.0)) == pytest.approx(2595 * math.log10(1 + 1000 / 700))
    assert float(mel_to_hz(hz_to_mel(3456.0))) == pytest.approx(3456.0)
    bank = triangular_filterbank(257, 128, 16000)
    np.testing.assert_allclose(bank.sum(axis=1), 1.0)
    assert ((bank > 0).sum(axis=1) >= 1).all() and (bank.sum(axis=0) > 0).all()
    # where bands are denser than bins, a band interpolates linearly between its two bins
    centre = float(mel_to_hz(hz_to_mel(8000.0) / 127)) / 8000.0 * 256  # band 1, in bins
    assert centre < 1.0
    expected = np.zeros(257)
    expected[0], expected[1] = 1.0 - centre, centre
    np.testing.assert_allclose(bank[1], expected, atol=1e-12)


def test_logmel_matches_direct_computation() -> None:
    sr, size, hop, n = 8000, 128, 32, 2048
    x = _noise(1, 1, n, seed=9) * 0.1
    stage = LogMel(size, hop, 32, sr)
    stage.fit(x)
    out = stage(x)[0, 0, 0].numpy()
    xn = x.numpy()[0, 0].astype(np.float64)
    extended = np.concatenate([xn[-size // 2 :], xn, xn[: size // 2]])
    w = window("hann", size)
    _, _, spec = scipy.signal.stft(
        extended, window=w, nperseg=size, noverlap=size - hop, boundary=None, padded=False
    )
    spec = spec[:, : n // hop] * w.sum() / math.sqrt(size * 1.5)
    spec[1:-1] *= math.sqrt(2)
    db = 10 * np.log10(triangular_filterbank(size // 2 + 1, 32, sr) @ np.abs(spec) ** 2)
    ref = np.maximum((db - db.max()) / 80 * 2 + 1, -1)
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_logmel_magnitude_and_griffin_lim_recover_the_spectrum() -> None:
    sr, n = 8000, 4096
    t = torch.arange(n) / sr
    x = (0.5 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * 1250 * t))[
        None, None
    ]
    stage = LogMel(256, 64, 64, sr)
    stage.fit(x)
    back = stage.inverse(stage(x))
    win = torch.tensor(tight_window(window("hann", 256), 64), dtype=torch.float32)
    ref, est = stft(x, win, 64).abs(), stft(back, win, 64).abs()
    convergence = 20 * math.log10(float(ref.norm() / (ref - est).norm()))
    assert convergence > 10  # a lossy floor: magnitude within about 30 %


def test_mfcc_is_the_orthonormal_dct_of_the_rows() -> None:
    y = torch.rand(2, 1, 1, 16, 8) * 2 - 1
    stage = MFCC(16)
    stage.fit(y)
    ref = scipy.fft.dct(y.numpy(), type=2, norm="ortho", axis=-2)
    scale = np.abs(ref[..., 1:, :]).max()
    ref[..., 0, :] /= 4.0  # √16
    ref[..., 1:, :] /= scale
    np.testing.assert_allclose(stage(y).numpy(), ref, **F32)
    assert float(stage(y).abs().max()) <= 1 + 1e-6
    assert _snr(y, stage.inverse(stage(y))) > 120


def test_freqwarp_is_exact_when_full_rank_and_lossy_otherwise() -> None:
    x = _noise(1, 1, 2, 8, 5, seed=10)
    full = FreqWarp(np.eye(8)[::-1] * 2.0)
    assert full.lossless
    assert _snr(x, full.inverse(full(x))) > 120
    averaging = FreqWarp(np.kron(np.eye(4), np.full((2, 2), 0.5)))
    assert not averaging.lossless and averaging.rank == 4


# --- harmonic-plus-noise -----------------------------------------------------------------------


def test_yin_finds_the_fundamental_of_a_harmonic_tone() -> None:
    sr, n, f0 = 16000, 8192, 196.0
    t = torch.arange(n) / sr
    x = sum(torch.sin(2 * math.pi * k * f0 * t + k) / k for k in range(1, 8))
    est = yin_f0(x[None], sr, 128)[0, 4:-4]
    assert float((est / f0 - 1).abs().max()) < 0.003  # 5 cents


def test_harmonic_amplitudes_of_known_partials() -> None:
    sr, n, f0 = 16000, 8192, 220.0
    t = torch.arange(n) / sr
    x = 0.5 * torch.cos(2 * math.pi * f0 * t) + 0.125 * torch.cos(2 * math.pi * 3 * f0 * t + 1)
    stage = HarmonicNoise(sr, 128, n_harmonics=4, n_noise=8)
    amps = stage._harmonic_amplitudes(x[None], torch.full((1, n // 128), f0))[0, :, 8:-8]
    # linear interpolation on a grid of 1/8 bin loses at most ~0.3 % in Hann's main lobe
    np.testing.assert_allclose(amps[0].numpy(), 0.5, rtol=5e-3)
    np.testing.assert_allclose(amps[2].numpy(), 0.125, rtol=5e-3)
    assert float(amps[1].max()) < 1e-3 and float(amps[3].max()) < 1e-3
