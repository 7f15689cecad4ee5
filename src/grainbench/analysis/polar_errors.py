"""Exact one-pixel errors of a magnitude / phase image of the whole-clip FFT, in closed form.

A :class:`~grainbench.stages.transforms.PolarFFT` stage decodes its planes (magnitude
``m``, phase/π ``p``; each bin k ≥ 1 of the orthonormal packed spectrum, whose real and
imaginary units are ``√(2/N)·cos(2πkn/N)`` and ``√(2/N)·cos(2πkn/N + π/2)``) to
``Z_k = m·e^{iπp}`` and inverts the FFT, which is linear. Moving one pixel by s changes
one bin:

- magnitude pixel: ``ΔZ = (m(y + s) − m(y))·e^{iπp}``, ``m`` the magnitude the element-wise
  stages after the transform (companding) decode from the pixel value ``y``;
- phase pixel: ``ΔZ = m·e^{iπp}·(e^{iπs} − 1)``;

and the error is one whole-clip cosine ``√(2/N)·|ΔZ|·cos(2πkn/N + arg ΔZ)`` of energy
``|ΔZ|²``. So every shape statistic comes from
:meth:`~grainbench.analysis.shape.ErrorAnalyser.shape_of_cosines` without synthesising
the error, and without the float32 cancellation of ``decode(image + s·1_p) − decode(image)``.
Bin 0 holds DC and Nyquist together (two cosines): its pixels are decoded (``dense``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from grainbench.stages.transforms import PolarFFT


class PolarFFTErrors:
    """Errors of single coefficients of a :class:`PolarFFT` stage's planes ``(Ch, 2, N/2)``,
    through the element-wise stages after it (``after``, e.g. μ-law on the magnitudes)."""

    mode = "polar"
    #: the stages after its own must be element-wise (:attr:`Stage.elementwise`)
    accepts_after = "elementwise"

    def __init__(self, stage: PolarFFT, after: Sequence[Any] = ()) -> None:
        self.stage, self.after = stage, list(after)

    def dense(self, shape: tuple[int, ...], coeffs: torch.Tensor) -> torch.Tensor:
        """Which of ``coeffs`` must be decoded in full: those of bin 0 (DC and Nyquist)."""
        return coeffs % int(shape[-1]) == 0

    def _decoded_values(self, values: torch.Tensor) -> torch.Tensor:
        """Pixel values ``(K, 2)`` (magnitude-plane, phase-plane) → the stage's own
        (magnitude, phase/π), float64, through the inverses of the stages after it."""
        y = values.double()[:, None, :, None]  # (K, Ch = 1, planes, 1)
        for stage in reversed(self.after):
            y = stage.inverse(y)
        return y[:, 0, :, 0]

    def changes(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The bin changes ``ΔZ (P, D)`` complex128 of flat coefficient indices ``coeffs
        (P,)`` (none in bin 0) of ``planes (Ch, 2, N/2)`` at every ``s`` in ``deltas (D,)``,
        with each pixel's bin ``(P,)`` and channel ``(P,)``."""
        half = int(planes.shape[-1])
        channel, rest = coeffs // (2 * half), coeffs % (2 * half)
        plane, k = rest // half, rest % half
        deltas = deltas.to(planes.device, torch.float64)
        base = planes[channel, :, k]  # (P, 2): this bin's magnitude and phase pixels
        moved = base[:, None, :].double().repeat(1, len(deltas), 1)  # (P, D, 2)
        moved[torch.arange(len(coeffs)), :, plane] += deltas
        before = self._decoded_values(base)  # (P, 2)
        after = self._decoded_values(moved.flatten(0, 1)).unflatten(0, moved.shape[:2])
        turn = torch.polar(torch.ones_like(before[:, 1]), math.pi * before[:, 1])[:, None]
        amp = (after[..., 0] - before[:, None, 0]) * turn
        rotate = torch.polar(torch.ones_like(after[..., 1]), math.pi * after[..., 1]) - turn
        phase = before[:, None, 0] * rotate
        return torch.where((plane == 0)[:, None], amp, phase), k, channel

    def cosines(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each error as ``α·cos(πu·n/N + φ)`` in one channel: ``α (P, D)``, ``u (P,)``,
        ``φ (P, D)`` (float64) and ``channel (P,)``; energy ``α²·N/2 = |ΔZ|²``."""
        dz, k, channel = self.changes(planes, coeffs, deltas)
        n = 2 * int(planes.shape[-1])
        return math.sqrt(2.0 / n) * dz.abs(), 2.0 * k.double(), dz.angle(), channel

    def errors(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """``decode(planes + s·1_k) − decode(planes)`` ``(P, D, Ch, n)`` (float32, from
        the float64 cosines) for flat indices ``coeffs (P,)`` outside bin 0."""
        alpha, u, phase, channel = self.cosines(planes, coeffs, deltas)
        ch, n = int(planes.shape[0]), 2 * int(planes.shape[-1])
        t = torch.arange(n, device=planes.device, dtype=torch.float64)
        wave = alpha[..., None] * torch.cos(math.pi * u[:, None, None] * t / n + phase[..., None])
        out = torch.zeros(len(coeffs), len(deltas), ch, n, device=planes.device)
        out[torch.arange(len(coeffs)), :, channel] = wave.float()
        return out
