"""Whole-clip transforms: audio ``(B, Ch, N)`` → coefficient planes ``(B, Ch, P, K)``.

Each is orthonormal (Parseval holds: a coefficient change of size δ gives a sound error of
energy δ²) except the polar FFT, whose magnitude/phase coordinates are not linear.

On the CPU the DCT and the whole-clip FFT are scipy.fft's (pocketfft with its plan cache:
for one clip of 65,536 samples about 3× faster than ``torch.fft``, whose every call sets
up its transform anew), with ``torch.get_num_threads()`` workers; elsewhere they are
torch's. Either way the linear maps are differentiated as such (see
:mod:`grainbench.stages.maps`).
"""

from __future__ import annotations

import math
from typing import Any

import scipy.fft
import torch

from grainbench.stages.base import Stage
from grainbench.stages.maps import (
    differentiating,
    empty,
    library_threads,
    linear_map,
    numpy_map,
    scaled_copy,
    tracing,
)

SQRT2 = math.sqrt(2.0)


def on_library(t: torch.Tensor) -> bool:
    """Whether ``t``'s transforms go to scipy.fft: a CPU tensor of single or double precision,
    except while ``torch.jit.trace`` records (a traced graph holds torch operations only)."""
    return t.device.type == "cpu" and t.dtype in _LIBRARY_DTYPES and not tracing()


_LIBRARY_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


class _MagnitudePhase(torch.autograd.Function):
    """``(hypot(re, im), atan2(im, re))`` with the derivatives of a complex number's ``abs``
    and ``angle``, which are 0 at 0 (``hypot``'s and ``atan2``'s own are NaN there)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        return torch.hypot(re, im), torch.atan2(im, re)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.save_for_backward(*inputs, output[0])
        ctx.save_for_forward(*inputs, output[0])

    @staticmethod
    def _directions(ctx: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """cos and sin of the phase and 1/magnitude, all 0 where the magnitude is."""
        re, im, mag = ctx.saved_tensors
        inv = torch.where(mag > 0, 1.0 / mag, torch.zeros_like(mag))
        return re * inv, im * inv, inv

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_mag: torch.Tensor, grad_phase: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cos, sin, inv = _MagnitudePhase._directions(ctx)
        turn = grad_phase * inv
        return grad_mag * cos - turn * sin, grad_mag * sin + turn * cos

    @staticmethod
    def jvp(ctx: Any, re_t: torch.Tensor, im_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cos, sin, inv = _MagnitudePhase._directions(ctx)
        return cos * re_t + sin * im_t, (cos * im_t - sin * re_t) * inv


def magnitude_phase(re: torch.Tensor, im: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(|re + i·im|, arg(re + i·im))``, the phase in radians, (−π, π].

    By ``hypot`` and ``atan2`` (vectorised: on the CPU 3–4× faster than ``abs`` and
    ``angle`` of a complex tensor, and equal to them within 1 ulp), differentiated as the
    complex ones are (0 at 0: silence is common in audio).
    """
    if tracing() or not (differentiating(re) or differentiating(im)):
        return torch.hypot(re, im), torch.atan2(im, re)
    return _MagnitudePhase.apply(re, im)


def _dct_twists(
    n: int, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quarter-sample phase twists of the real-FFT DCT route for an even length ``n`` (cached).

    ``twist`` (bins 0…n/2) turns the real FFT of the Makhoul-reordered signal into DCT-II
    coefficients, with the orthonormal scale folded in; ``untwist`` is its DCT-III
    counterpart (see :func:`idct2_ortho`).
    """
    key = (n, dtype, str(device))
    if key not in _DCT_TWISTS:
        k = torch.arange(n // 2 + 1, dtype=torch.float64)
        phase = math.pi * k / (2 * n)
        gain = torch.full_like(k, math.sqrt(2.0 / n))
        gain[0] = math.sqrt(1.0 / n)
        ungain = torch.full_like(k, math.sqrt(n / 2.0))
        ungain[0] = math.sqrt(float(n))
        cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        _DCT_TWISTS[key] = (
            torch.polar(gain, -phase).to(device=device, dtype=cdtype),
            torch.polar(ungain, -phase).to(device=device, dtype=cdtype),
        )
    return _DCT_TWISTS[key]


_DCT_TWISTS: dict[tuple[int, torch.dtype, str], tuple[torch.Tensor, torch.Tensor]] = {}


def _real_fft_route(t: torch.Tensor) -> bool:
    """Whether the half-size real-FFT route applies (even length ≥ 4, real float input)."""
    n = t.shape[-1]
    return n % 2 == 0 and n >= 4 and t.dtype in (torch.float32, torch.float64)


_SCIPY_DCT = numpy_map(lambda a: scipy.fft.dct(a, norm="ortho", workers=library_threads()))
_SCIPY_IDCT = numpy_map(lambda a: scipy.fft.idct(a, norm="ortho", workers=library_threads()))


def dct2_ortho(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last axis (scipy.fft.dct(x, type=2, norm="ortho")).

    scipy.fft on the CPU (its transpose, for the derivatives, is :func:`idct2_ortho`);
    elsewhere :func:`dct2_ortho_torch`.
    """
    if on_library(x):
        return linear_map(x, _SCIPY_DCT, _SCIPY_IDCT)
    return dct2_ortho_torch(x)


def idct2_ortho(y: torch.Tensor) -> torch.Tensor:
    """Inverse (and transpose) of :func:`dct2_ortho`: the orthonormal DCT-III."""
    if on_library(y):
        return linear_map(y, _SCIPY_IDCT, _SCIPY_DCT)
    return idct2_ortho_torch(y)


def dct2_ortho_torch(x: torch.Tensor) -> torch.Tensor:
    """:func:`dct2_ortho` by torch.fft, on any device and dtype.

    Makhoul's method: reorder to even samples then reversed odd samples, one FFT, and a
    quarter-sample phase twist. For even lengths the FFT is a real one (half the work of
    a complex one): coefficient k ≤ n/2 is the real part of twisted bin k, and coefficient
    n − k minus its imaginary part.
    """
    if not _real_fft_route(x):
        return _dct2_ortho_complex(x)
    half = x.shape[-1] // 2
    twist, _ = _dct_twists(x.shape[-1], x.dtype, x.device)
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spec = torch.fft.rfft(v, dim=-1) * twist
    return torch.cat([spec.real, -spec.imag[..., 1:half].flip(-1)], dim=-1)


def idct2_ortho_torch(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2_ortho_torch` (the orthonormal DCT-III), by the same FFT route.

    For even lengths: ``U_k = (y_k + i·y_{n−k})·conj(twist_k)`` (``y_n := 0``) is the
    conjugate of the reordered signal's half spectrum, so its inverse real FFT is that
    signal reversed in time (``u[j] = v[−j mod n]``), which the final reordering absorbs.
    """
    if not _real_fft_route(y):
        return _idct2_ortho_complex(y)
    n = y.shape[-1]
    half = n // 2
    _, untwist = _dct_twists(n, y.dtype, y.device)
    zero = torch.zeros_like(y[..., :1])
    imag = torch.cat([zero, y[..., half:].flip(-1)], dim=-1)
    u = torch.fft.irfft(torch.complex(y[..., : half + 1], imag) * untwist, n=n, dim=-1)
    # x[2m] = v[m] = u[−m mod n], x[2m+1] = v[n−1−m] = u[m+1]
    even = torch.cat([u[..., :1], u[..., half + 1 :].flip(-1)], dim=-1)
    return torch.stack([even, u[..., 1 : half + 1]], dim=-1).flatten(-2)


def _dct2_ortho_complex(x: torch.Tensor) -> torch.Tensor:
    """:func:`dct2_ortho_torch` for any length, by one complex FFT of the reordered signal."""
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spec = torch.fft.fft(v, dim=-1)
    k = torch.arange(n, device=x.device, dtype=x.dtype)
    twist = torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))
    y = (spec * twist).real * math.sqrt(2.0 / n)
    y[..., 0] = y[..., 0] / math.sqrt(2.0)
    return y


def _idct2_ortho_complex(y: torch.Tensor) -> torch.Tensor:
    """:func:`idct2_ortho_torch` for any length, by one complex inverse FFT."""
    n = y.shape[-1]
    k = torch.arange(n, device=y.device, dtype=y.dtype)
    z = y * math.sqrt(n / 2.0)
    z = torch.cat([z[..., :1] * math.sqrt(2.0), z[..., 1:]], dim=-1)
    # Rebuild the complex spectrum V_k = (z_k − i·z_{N−k})·e^{iπk/2N}, with z_N := 0.
    z_rev = torch.cat([torch.zeros_like(z[..., :1]), z[..., 1:].flip(-1)], dim=-1)
    twist = torch.polar(torch.ones_like(k), math.pi * k / (2 * n))
    spec = torch.complex(z, -z_rev) * twist
    v = torch.fft.ifft(spec, dim=-1).real
    x = torch.empty_like(v)
    half = (n + 1) // 2
    x[..., ::2] = v[..., :half]
    x[..., 1::2] = v[..., half:].flip(-1)
    return x


class Waveform(Stage):
    """The identity transform: the samples themselves as one plane."""

    family = "identity"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 1, N)``."""
        return x.unsqueeze(2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, 1, N)`` → ``(B, Ch, N)``."""
        return y.squeeze(2)


class DCT(Stage):
    """Orthonormal DCT-II of the whole clip (Ki's transform)."""

    family = "dct"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 1, N)`` DCT coefficients, lowest frequency first."""
        return dct2_ortho(x).unsqueeze(2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Coefficients → audio by the orthonormal DCT-III."""
        return idct2_ortho(y.squeeze(2))

    def cosine_atoms(
        self, coeffs: torch.Tensor, shape: tuple[int, ...]
    ) -> tuple[torch.Tensor, ...]:
        """Coefficient q of channel c: ``α_q·cos(πq(n + ½)/N)``, ``α = √(1/N)`` for q = 0
        and ``√(2/N)`` otherwise: ``u = q``, ``φ = πq/(2N)``."""
        n = int(shape[-1])
        channel, q = coeffs // n, (coeffs % n).double()
        alpha = torch.full_like(q, math.sqrt(2.0 / n))
        alpha[q == 0] = math.sqrt(1.0 / n)
        return alpha, q, math.pi * q / (2 * n), channel


def _rfft_ortho(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal real FFT along the last axis (scipy.fft on the CPU, else torch.fft)."""
    if on_library(x):
        a = x.numpy(force=True)
        return torch.from_numpy(scipy.fft.rfft(a, norm="ortho", workers=library_threads()))
    return torch.fft.rfft(x, norm="ortho")


def _irfft_ortho(spec: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`_rfft_ortho` for ``n`` real samples."""
    if on_library(spec):
        a = spec.numpy(force=True)
        return torch.from_numpy(scipy.fft.irfft(a, n, norm="ortho", workers=library_threads()))
    return torch.fft.irfft(spec, n=n, norm="ortho")


def _fft_planes(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal real FFT packed in N reals: ``(…, N)`` → ``(…, 2, N/2)`` (real, imaginary).

    Bins 1..N/2−1 are scaled by √2 so that the real and imaginary parts, taken together,
    form an orthonormal basis; DC and Nyquist are both real, so they share bin 0 as
    ``DC + i·Nyquist``. (A :func:`~grainbench.stages.maps.linear_map`: no autograd here.)
    """
    half = x.shape[-1] // 2
    spec = torch.view_as_real(_rfft_ortho(x))
    planes = spec.new_empty(*x.shape[:-1], 2, half)
    scaled_copy(planes, spec[..., :half, :].transpose(-1, -2), SQRT2)
    planes[..., 0, 0] = spec[..., 0, 0]
    planes[..., 1, 0] = spec[..., half, 0]
    return planes


def _fft_unplanes(planes: torch.Tensor) -> torch.Tensor:
    """Inverse and transpose of :func:`_fft_planes`: ``(…, 2, N/2)`` → ``(…, N)``."""
    half = planes.shape[-1]
    spec = planes.new_empty(*planes.shape[:-2], half + 1, 2)
    # plane by plane: one transposing copy of both would run NumPy's inner loop over pairs
    for part in (0, 1):
        scaled_copy(spec[..., :half, part], planes[..., part, :], 1.0 / SQRT2)
    spec[..., 0, 0] = planes[..., 0, 0]
    spec[..., half, 0] = planes[..., 1, 0]
    spec[..., 0, 1] = 0.0
    spec[..., half, 1] = 0.0
    return _irfft_ortho(torch.view_as_complex(spec), 2 * half)


class RealImagFFT(Stage):
    """Whole-clip FFT as two planes: real parts, then imaginary parts (orthonormal packing)."""

    plane_names = ("real", "imag")
    family = "fft"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 2, N/2)``: plane 0 real, plane 1 imaginary."""
        return linear_map(x, _fft_planes, _fft_unplanes)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes → audio."""
        return linear_map(y, _fft_unplanes, _fft_planes)

    def cosine_atoms(
        self, coeffs: torch.Tensor, shape: tuple[int, ...]
    ) -> tuple[torch.Tensor, ...]:
        """The real part of bin k: ``√(2/N)·cos(2πkn/N)``, the imaginary part
        ``√(2/N)·cos(2πkn/N + π/2)``; bin 0 holds DC (real, ``√(1/N)``) and Nyquist
        (imaginary, ``√(1/N)·cos(πn)``)."""
        half = int(shape[-1])
        n = 2 * half
        channel, rest = coeffs // n, coeffs % n
        imag, b = rest // half, (rest % half).double()
        alpha = torch.full_like(b, math.sqrt(2.0 / n))
        alpha[b == 0] = math.sqrt(1.0 / n)
        u = 2.0 * b
        u[(b == 0) & (imag == 1)] = float(n)  # Nyquist
        phase = torch.where((imag == 1) & (b > 0), math.pi / 2, 0.0).double()
        return alpha, u, phase, channel


class PolarFFT(Stage):
    """Whole-clip FFT as magnitude and phase planes (the seed's "ArgAngle" image).

    Plane 0 is the magnitude of the orthonormal packed spectrum, plane 1 its phase divided
    by π (in (−1, 1]). Bin 0 carries ``DC + i·Nyquist``. Not linear: a phase pixel rotates
    a whole sinusoid.
    """

    linear = False
    plane_names = ("magnitude", "phase")
    phase_planes = ("phase",)
    family = "fft"
    exact_errors = "grainbench.analysis.polar_errors:PolarFFTErrors"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 2, N/2)``: plane 0 magnitude, plane 1 phase/π."""
        planes = linear_map(x, _fft_planes, _fft_unplanes)
        re, im = planes[..., 0, :], planes[..., 1, :]
        if tracing() or differentiating(planes):
            mag, phase = magnitude_phase(re, im)
            return torch.stack([mag, phase / math.pi], dim=-2)
        # the same values written straight into the two planes (no stacking copy)
        out = empty(planes.shape, planes)
        torch.hypot(re, im, out=out[..., 0, :])
        torch.atan2(im, re, out=out[..., 1, :]).div_(math.pi)
        return out

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes → audio."""
        mag = y[..., 0, :]
        if tracing() or differentiating(y):
            phase = y[..., 1, :] * math.pi
            planes = torch.stack([mag * torch.cos(phase), mag * torch.sin(phase)], dim=-2)
        else:  # the same values, computed in the planes' own buffer
            planes = empty(y.shape, y)
            re, im = planes[..., 0, :], planes[..., 1, :]
            torch.mul(y[..., 1, :], math.pi, out=im)
            torch.cos(im, out=re).mul_(mag)
            torch.sin(im, out=im).mul_(mag)
        return linear_map(planes, _fft_unplanes, _fft_planes)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "PolarFFT", "phase_unit": "π rad"}
