"""Whole-clip transforms: audio ``(B, Ch, N)`` → coefficient planes ``(B, Ch, P, K)``.

Each is orthonormal (Parseval holds: a coefficient change of size δ gives a sound error of
energy δ²) except the polar FFT, whose magnitude/phase coordinates are not linear.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from grainbench.stages.base import Stage


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


def dct2_ortho(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last axis (scipy.fft.dct(x, type=2, norm="ortho")).

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


def idct2_ortho(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2_ortho` (the orthonormal DCT-III), by the same FFT route.

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
    """:func:`dct2_ortho` for any length, through one complex FFT of the reordered signal."""
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spec = torch.fft.fft(v, dim=-1)
    k = torch.arange(n, device=x.device, dtype=x.dtype)
    twist = torch.polar(torch.ones_like(k), -math.pi * k / (2 * n))
    y = (spec * twist).real * math.sqrt(2.0 / n)
    y[..., 0] = y[..., 0] / math.sqrt(2.0)
    return y


def _idct2_ortho_complex(y: torch.Tensor) -> torch.Tensor:
    """:func:`idct2_ortho` for any length, through one complex inverse FFT."""
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 1, N)``."""
        return x.unsqueeze(2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, 1, N)`` → ``(B, Ch, N)``."""
        return y.squeeze(2)


class DCT(Stage):
    """Orthonormal DCT-II of the whole clip (Ki's transform)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 1, N)`` DCT coefficients, lowest frequency first."""
        return dct2_ortho(x).unsqueeze(2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Coefficients → audio by the orthonormal DCT-III."""
        return idct2_ortho(y.squeeze(2))


def _packed_fft(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal real FFT packed in N reals: complex ``(…, N/2)`` with Nyquist in bin 0's imag.

    Bins 1..N/2−1 are scaled by √2 so that the real and imaginary parts, taken together,
    form an orthonormal basis; DC and Nyquist are both real, so they share bin 0 as
    ``DC + i·Nyquist``.
    """
    n = x.shape[-1]
    spec = torch.fft.rfft(x, dim=-1, norm="ortho")
    packed = spec[..., : n // 2] * math.sqrt(2.0)
    dc_nyq = torch.complex(spec[..., 0].real, spec[..., n // 2].real)
    return torch.cat([dc_nyq.unsqueeze(-1), packed[..., 1:]], dim=-1)


def _unpacked_ifft(packed: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`_packed_fft`."""
    dc = torch.complex(packed[..., 0].real, torch.zeros_like(packed[..., 0].real))
    nyq = torch.complex(packed[..., 0].imag, torch.zeros_like(packed[..., 0].imag))
    spec = torch.cat(
        [dc.unsqueeze(-1), packed[..., 1:] / math.sqrt(2.0), nyq.unsqueeze(-1)], dim=-1
    )
    return torch.fft.irfft(spec, n=n, dim=-1, norm="ortho")


class RealImagFFT(Stage):
    """Whole-clip FFT as two planes: real parts, then imaginary parts (orthonormal packing)."""

    plane_names = ("real", "imag")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 2, N/2)``: plane 0 real, plane 1 imaginary."""
        packed = _packed_fft(x)
        return torch.stack([packed.real, packed.imag], dim=2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes → audio."""
        n = 2 * y.shape[-1]
        return _unpacked_ifft(torch.complex(y[:, :, 0], y[:, :, 1]), n)


class PolarFFT(Stage):
    """Whole-clip FFT as magnitude and phase planes (the seed's "ArgAngle" image).

    Plane 0 is the magnitude of the orthonormal packed spectrum, plane 1 its phase divided
    by π (in (−1, 1]). Bin 0 carries ``DC + i·Nyquist``. Not linear: a phase pixel rotates
    a whole sinusoid.
    """

    linear = False
    plane_names = ("magnitude", "phase")
    phase_planes = ("phase",)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, N)`` → ``(B, Ch, 2, N/2)``: plane 0 magnitude, plane 1 phase/π."""
        packed = _packed_fft(x)
        return torch.stack([packed.abs(), packed.angle() / math.pi], dim=2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes → audio."""
        n = 2 * y.shape[-1]
        return _unpacked_ifft(torch.polar(y[:, :, 0], y[:, :, 1] * math.pi), n)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "PolarFFT", "phase_unit": "π rad"}
