"""Stages computed outside autograd (scipy.fft, in-place passes, NumPy buffers): their values
against the torch routes and closed forms, their derivatives in both modes against finite
differences and each other."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import scipy.fft
import torch
from torch.autograd import gradcheck, gradgradcheck

from grainbench.baselines.generators.stylegan.export import DecodeModule
from grainbench.plugins import load_representation
from grainbench.stages import DCT, Compand, PolarFFT, RealImagFFT, maps, transforms
from grainbench.stages.magif import MagIF, integrated_phase, phase_steps
from grainbench.stages.stft import STFT
from grainbench.stages.transforms import dct2_ortho, magnitude_phase
from grainbench.tasks.throughput_representation import probe_clips

# forward- and reverse-mode gradcheck; the batched checks use torch's legacy vmap, which
# does not run custom Functions' vmap rules (torch.func.vmap does: tested below)
BOTH_MODES = dict(check_forward_ad=True, check_batched_grad=False, check_batched_forward_grad=False)


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize(
    "stage", [DCT(), RealImagFFT(), PolarFFT()], ids=lambda s: type(s).__name__
)
def test_whole_clip_transforms_differentiate_in_both_modes(stage) -> None:
    stage = stage.double()
    x = _randn(2, 1, 16).requires_grad_()
    y = stage(x).detach().requires_grad_()
    assert gradcheck(stage, (x,), **BOTH_MODES)
    assert gradcheck(stage.inverse, (y,), **BOTH_MODES)
    assert gradgradcheck(stage.inverse, (y,))


@pytest.mark.parametrize(
    "compand",
    [Compand("mulaw"), Compand("sqrt"), Compand("linear"), Compand("mulaw", planes=[1])],
    ids=lambda c: f"{c.kind}-{c.planes}",
)
def test_companding_differentiates_in_both_modes(compand: Compand) -> None:
    compand = compand.double()
    compand.scale.fill_(2.0)
    v = (2 * torch.rand(2, 1, 2, 8, dtype=torch.float64) - 1).requires_grad_()
    assert gradcheck(compand, (v,), **BOTH_MODES)
    assert gradcheck(compand.inverse, (v,), **BOTH_MODES)
    assert gradgradcheck(compand.inverse, (v,))


def test_mulaw_slope_at_zero_is_the_curves() -> None:
    """At 0 the μ-law's derivative is μ/(s·ln(1+μ)) (its inverse's s·ln(1+μ)/μ), not the
    0 that the chain through |x| and sign(x) gives (a silent pixel would have no effect)."""
    compand = Compand("mulaw")
    compand.scale.fill_(2.0)
    mu, s = 255.0, 2.0
    v, ones = torch.tensor([0.0, 0.25, -0.5]), torch.ones(3)
    h = 1e-3
    for fn, at_zero in (
        (compand, mu / (s * math.log1p(mu))),
        (compand.inverse, s * math.log1p(mu) / mu),
    ):
        jvp = torch.func.jvp(fn, (v,), (ones,))[1]
        leaf = v.clone().requires_grad_()
        (grad,) = torch.autograd.grad(fn(leaf).sum(), leaf)
        central = (fn(v + h) - fn(v - h)) / (2 * h)
        assert float(jvp[0]) == pytest.approx(at_zero, rel=1e-6)
        torch.testing.assert_close(grad, jvp)
        torch.testing.assert_close(jvp[1:], central[1:], rtol=1e-3, atol=0)


def test_magnitude_phase_differentiates_as_the_complex_abs_and_angle() -> None:
    re = torch.tensor([0.0, 1.0, -2.0, 0.0, -1.0])
    im = torch.tensor([0.0, 1.0, 0.5, -3.0, 0.0])
    tr, ti = torch.tensor([0.3, -1.0, 2.0, 1.0, 0.5]), torch.tensor([1.0, 0.5, -1.0, 2.0, 1.0])

    def complex_polar(r: torch.Tensor, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.complex(r, i)
        return z.abs(), z.angle()

    values, ours = magnitude_phase(re, im), complex_polar(re, im)
    for a, b in zip(values, ours, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=2.5e-7)
    for a, b in zip(
        torch.func.jvp(magnitude_phase, (re, im), (tr, ti))[1],
        torch.func.jvp(complex_polar, (re, im), (tr, ti))[1],
        strict=True,
    ):
        torch.testing.assert_close(a, b)
    grads = []
    for fn in (magnitude_phase, complex_polar):
        r, i = re.clone().requires_grad_(), im.clone().requires_grad_()
        mag, phase = fn(r, i)
        grads.append(torch.autograd.grad((mag * tr + phase * ti).sum(), (r, i)))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
    assert torch.isfinite(torch.stack(grads[0])).all()  # hypot's own derivative is NaN at 0
    r, i = _randn(6, seed=1).requires_grad_(), _randn(6, seed=2).requires_grad_()
    assert gradcheck(magnitude_phase, (r, i), **BOTH_MODES)
    assert gradgradcheck(magnitude_phase, (r, i))


def test_magif_differentiates_in_both_modes() -> None:
    stage = MagIF(8, 2).double()
    x = _randn(1, 32, seed=3)
    stage.fit(x)
    y = stage(x).detach().requires_grad_()
    assert gradcheck(stage, (x.requires_grad_(),), fast_mode=True, **BOTH_MODES)
    assert gradcheck(stage.inverse, (y,), fast_mode=True, **BOTH_MODES)


@pytest.mark.parametrize(
    "stage", [DCT(), RealImagFFT(), STFT(16, 4)], ids=lambda s: type(s).__name__
)
def test_linear_maps_vmap_over_tangents_and_cotangents(stage) -> None:
    x, tangents = _randn(2, 1, 32, seed=4), _randn(3, 2, 1, 32, seed=5)
    jv = torch.func.vmap(lambda t: torch.func.jvp(stage, (x,), (t,))[1])(tangents)
    torch.testing.assert_close(jv, stage(tangents.flatten(0, 1)).unflatten(0, (3, 2)))
    _, vjp_fn = torch.func.vjp(stage, x)
    cotangents = stage(tangents.flatten(0, 1)).unflatten(0, (3, 2))
    (back,) = torch.func.vmap(vjp_fn)(cotangents)
    # orthonormal (DCT, FFT) or a Parseval frame (STFT): the transpose is the inverse
    torch.testing.assert_close(back, tangents)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_and_torch_routes_agree(monkeypatch: pytest.MonkeyPatch, dtype) -> None:
    """On the CPU companding and the FFT packing run on NumPy and scipy.fft; their torch
    routes (other devices, tracing) give the same numbers."""
    x = torch.randn(3, 2, 2048, generator=torch.Generator().manual_seed(12), dtype=dtype)
    planes = 0.3 * torch.randn(3, 2, 2, 1024, generator=torch.Generator().manual_seed(13))
    planes = planes.to(dtype)
    compands = [Compand(k, scale=0.7) for k in ("mulaw", "sqrt", "power", "linear")]
    compands.append(Compand("mulaw", planes=[0], scale=0.7))
    fft = RealImagFFT()

    def outputs() -> list[torch.Tensor]:
        out = [f(planes) for c in compands for f in (c, c.inverse)]
        out += [fft(x), fft.inverse(planes), fft.inverse(fft(x))]
        return out

    numpy_route = outputs()
    monkeypatch.setattr(maps, "on_numpy", lambda t: False)
    torch_route = outputs()
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    for a, b in zip(numpy_route, torch_route, strict=True):
        assert a.dtype == b.dtype == dtype and a.shape == b.shape
        assert _relative(a, b) <= tol
    torch.testing.assert_close(numpy_route[-1], x, rtol=0, atol=1e-5)


def test_elementwise_passes_blocks_and_copysign_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of any size give the same bits; the sign trick is numpy.copysign for x ≥ +0."""
    v = torch.randn(5, 3, 700, generator=torch.Generator().manual_seed(14))
    v[0, 0, :4] = torch.tensor([0.0, -0.0, float("inf"), -float("inf")])
    compand = Compand("mulaw", scale=2.0)
    whole = compand(v)
    monkeypatch.setattr(maps, "_BLOCK_ELEMENTS", 1)  # one row a block
    assert torch.equal(compand(v), whole)
    assert torch.equal(compand(v[:, 1]), whole[:, 1])  # a strided view
    for dtype in (np.float32, np.float64):
        x = np.abs(v.numpy().astype(dtype)).ravel()
        y = np.concatenate([[np.nan, -np.nan], v.numpy().ravel()])[: x.size].astype(dtype)
        out = np.empty_like(x)
        maps._copysign_bits(x, y, out)
        np.testing.assert_array_equal(out.view(np.uint8), np.copysign(x, y).view(np.uint8))


def test_elementwise_passes_split_over_threads_with_the_same_bits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 2 torch threads a tensor of many blocks runs on 2 threads, to the same bits."""
    v = torch.randn(64, 1, 2, 512, generator=torch.Generator().manual_seed(15))
    compand = Compand("mulaw", scale=2.0, planes=[0])
    monkeypatch.setattr(maps, "_BLOCK_ELEMENTS", 512)  # one row a block: 64 blocks a plane
    seen: set[int] = set()
    log1p, expm1 = maps._NUMPY_LIB.log1p, maps._NUMPY_LIB.expm1

    def noting(fn):
        return lambda *args, **kw: (seen.add(threading.get_ident()), fn(*args, **kw))[1]

    monkeypatch.setattr(maps._NUMPY_LIB, "log1p", noting(log1p))
    monkeypatch.setattr(maps._NUMPY_LIB, "expm1", noting(expm1))
    threads = torch.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            seen.clear()
            y = compand(v)
            runs.append((y, compand.inverse(y), len(seen)))
    finally:
        torch.set_num_threads(threads)
    (y1, x1, threads1), (y2, x2, threads2) = runs
    assert (threads1, threads2) == (1, 2)
    assert torch.equal(y1, y2) and torch.equal(x1, x2)
    assert torch.equal(y1[:, :, 1], v[:, :, 1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_library_and_torch_fft_routes_agree(monkeypatch: pytest.MonkeyPatch, dtype) -> None:
    x = torch.randn(2, 1, 256, generator=torch.Generator().manual_seed(7), dtype=dtype)
    tol = {"rtol": 0, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 0, "atol": 1e-12}
    library = [RealImagFFT()(x), PolarFFT()(x)]
    library += [RealImagFFT().inverse(library[0]), PolarFFT().inverse(library[1])]
    monkeypatch.setattr(transforms, "on_library", lambda t: False)
    monkeypatch.setattr(transforms.scipy.fft, "irfft", None)  # the torch route needs no scipy
    routed = [RealImagFFT()(x), PolarFFT()(x)]
    routed += [RealImagFFT().inverse(library[0]), PolarFFT().inverse(library[1])]
    for a, b in zip(library, routed, strict=True):
        torch.testing.assert_close(a, b, **tol)


def test_library_transforms_do_not_depend_on_the_thread_count() -> None:
    x = torch.randn(16, 1, 4096, generator=torch.Generator().manual_seed(8))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = [dct2_ortho(x), RealImagFFT()(x)]
        torch.set_num_threads(2)
        two = [dct2_ortho(x), RealImagFFT()(x)]
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, two, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    np.testing.assert_array_equal(one[0].numpy(), scipy.fft.dct(x.numpy(), norm="ortho", workers=1))


def test_phase_steps_wrap_as_the_remainder_and_integrate_back() -> None:
    g = torch.Generator().manual_seed(9)
    phase = (2 * torch.rand(3, 8, 64, generator=g) - 1) * math.pi
    phase[0, 0, 1:5] = torch.tensor([math.pi / 2, -math.pi / 2, math.pi / 2, math.pi])  # ±π steps
    p = phase.double()
    step = torch.diff(p, dim=-1, prepend=torch.zeros_like(p[..., :1]))
    reference = ((torch.remainder(step + math.pi, 2 * math.pi) - math.pi) / math.pi).float()
    inst = phase_steps(phase)
    torch.testing.assert_close(inst, reference, rtol=0, atol=0)
    assert float(inst.abs().max()) <= 1.0  # [−1, 1) before the rounding to float32
    back = integrated_phase(inst)
    assert float(back.abs().max()) <= math.pi + 1e-6
    wrapped_error = torch.remainder(back - phase + math.pi, 2 * math.pi) - math.pi
    assert float(wrapped_error.abs().max()) < 1e-5


def test_large_buffers_come_from_numpy_and_give_the_same_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x = torch.randn(3, 1, 1024, generator=torch.Generator().manual_seed(10))
    stages = [STFT(64, 16), Compand("mulaw"), MagIF(64, 16)]
    small = [s(x if i != 1 else x.unsqueeze(2)) for i, s in enumerate(stages)]
    monkeypatch.setattr(maps, "_NUMPY_BYTES", 0)
    big = [s(x if i != 1 else x.unsqueeze(2)) for i, s in enumerate(stages)]
    for a, b in zip(small, big, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert maps.empty((2, 3), x.to(torch.bfloat16)).dtype == torch.bfloat16


@pytest.mark.parametrize(
    "name",
    [
        "dct-square",
        "dct-square-sqrt",
        "fft-square",
        "fft-polar-square",
        "stft-complex",
        "stft-magif",
    ],
)
def test_decode_traces_to_torch_operations(name: str) -> None:
    """``torch.jit.trace`` (the generator export) records decode as torch operations only:
    the traced module equals the Python one at other batch sizes."""
    rep = load_representation(name, sample_rate=8000, n_samples=4096).plugin
    rep.fit(probe_clips(2, 1, 4096, seed=1))
    with torch.no_grad():
        images = rep.encode(probe_clips(3, 1, 4096))
        traced = torch.jit.trace(DecodeModule(rep), images[:2], check_trace=False)
        for batch in (1, 3):
            torch.testing.assert_close(
                traced(images[:batch]), rep.decode(images[:batch]), rtol=1e-4, atol=1e-6
            )


def test_differentiating_says_when_derivatives_are_recorded() -> None:
    x = _randn(3)
    assert not maps.differentiating(x)
    leaf = x.clone().requires_grad_()
    assert maps.differentiating(leaf)
    with torch.no_grad():
        assert not maps.differentiating(leaf)
    with torch.autograd.forward_ad.dual_level():
        assert maps.differentiating(torch.autograd.forward_ad.make_dual(x, torch.ones_like(x)))
        assert not maps.differentiating(x)
    seen: list[bool] = []
    torch.func.jvp(lambda v: seen.append(maps.differentiating(v)) or v, (x,), (x,))
    torch.func.vmap(lambda v: seen.append(maps.differentiating(v)) or v)(x)
    assert seen == [True, True]


@pytest.mark.parametrize(
    "stage",
    [
        PolarFFT(),
        Compand("mulaw", planes=[0], scale=3.0),
        Compand("linear", planes=[1]),
        MagIF(16, 4),
    ],
    ids=lambda s: type(s).__name__ + str(getattr(s, "planes", "")),
)
def test_direct_routes_give_the_recorded_routes_values(stage) -> None:
    """Without derivatives the stages write into their outputs directly; the values are
    those of the differentiable route, bit for bit."""
    x = _randn(3, 1, 2, 64).float() if isinstance(stage, Compand) else _randn(3, 1, 64).float()
    with torch.no_grad():
        direct = stage(x)
        back = stage.inverse(direct)
    recorded = stage(x.clone().requires_grad_())
    recorded_back = stage.inverse(direct.clone().requires_grad_())
    assert recorded.requires_grad and recorded_back.requires_grad
    assert torch.equal(direct, recorded.detach())
    assert torch.equal(back, recorded_back.detach())
