"""Exact one-pixel errors ``e_p = decode(image + δ·1_p) − decode(image)`` of a
representation, by the cheapest exact route (:class:`PixelErrors`).

- **staged** representations made of linear transform stages, then at most one element-wise
  :class:`~grainbench.stages.Compand`, then permutation layouts (``Fold``/``Arrange``): a
  pixel is one companded coefficient ``v``, so ``e_p = g·a_p`` with the scalar
  ``g = C⁻¹(v + δ) − C⁻¹(v)`` (computed in float64; ``g = δ`` without companding) and the
  atom ``a_p = T⁻¹(1_k)`` of the linear transform. μ-law ``dct-square`` is nonlinear, yet
  this is exact: no cancellation, no approximation;
- other **linear** representations (``rep.linear``, e.g. plugins): ``e_p = δ·a_p`` with
  ``a_p = decode(1_p) − decode(0)``, the same for every base;
- a **magnitude / instantaneous-frequency** stage followed by permutation layouts
  (``stft-magif``): exact errors from the base's spectrum, one or two inverse STFTs per
  pixel and base for every δ (:mod:`grainbench.analysis.magif_errors`);
- a **harmonic-plus-noise** stage followed by permutation layouts (``harmonic-noise``):
  an amplitude pixel's error is one harmonic's oscillator times its amplitude change, a
  noise pixel's the change of the shaped noise alone; f0 pixels are decoded
  (:mod:`grainbench.analysis.harmonic_errors`);
- anything else (polar FFT, Griffin–Lim, plugins that are not linear): the real decode of
  the perturbed image minus the decode of the base, many perturbed images of one base per
  decode call; small δs may be served by forward mode instead
  (:class:`grainbench.analysis.decoded.DecodedMeasure`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from grainbench.analysis.forward import jacobian_columns, raw_decode
from grainbench.analysis.harmonic_errors import HarmonicNoiseErrors
from grainbench.analysis.magif_errors import MagIFErrors
from grainbench.stages import DCT, Arrange, Compand, Fold, RealImagFFT, StagedRepresentation
from grainbench.stages.parametric import HarmonicNoise
from grainbench.stages.tf import MagIF

DECODE_SAMPLES = 1 << 18
"""Audio samples per decode call of the brute force (4 clips of 65,536): Griffin–Lim runs
1.6× slower per clip at 40 clips a call than at 1 (its working set leaves the cache)."""

EXACT: dict[type, Any] = {MagIF: MagIFErrors, HarmonicNoise: HarmonicNoiseErrors}
"""Stages (first in a representation, then permutation layouts) whose one-pixel errors are
computed from their parts: stage type → errors class (``dense``, ``errors``)."""

EXACT_MODES = ("magif", "harmonic")


class PixelErrors:
    """Exact one-pixel errors of a representation, by the cheapest exact route.

    ``mode`` is ``"staged"`` or ``"linear"`` (both *factorised*: ``e = gain·atom`` with an
    atom that does not depend on the base), ``"magif"`` or ``"harmonic"`` (exact errors from
    the stage's parts, :data:`EXACT`) or ``"decode"`` (by decoding, with forward mode for
    small δ: :class:`~grainbench.analysis.decoded.DecodedMeasure`); see the module doc.
    """

    def __init__(self, rep: Any, device: torch.device | str = "cpu") -> None:
        self.rep = rep
        self.device = torch.device(device)
        self.image_shape: tuple[int, int, int] = tuple(rep.image_shape)
        self.n_pixels = int(np.prod(self.image_shape))
        staged = getattr(rep, "plugin", rep)
        self.mode = "decode"
        if isinstance(staged, StagedRepresentation) and self._init_staged(staged):
            self.mode = "staged"
        elif bool(getattr(rep, "linear", False)):
            self.mode = "linear"
        elif (
            isinstance(staged, StagedRepresentation)
            and self.compand is None
            and [type(s) for s in self.pre] in ([MagIF], [HarmonicNoise])
            and self._init_layout()
        ):
            self.mode = "magif" if isinstance(self.pre[0], MagIF) else "harmonic"
            self.exact = EXACT[type(self.pre[0])](self.pre[0])

    def _init_staged(self, staged: StagedRepresentation) -> bool:
        """Split the stages into linear transform → element-wise companding → permutations.

        True when the split exists and the layout really is a permutation of coefficients.
        """
        stages = list(staged.stages)
        cut = len(stages)
        while cut > 0 and isinstance(stages[cut - 1], (Fold, Arrange)):
            cut -= 1
        self.post = stages[cut:]
        self.compand = stages[cut - 1] if cut > 0 and isinstance(stages[cut - 1], Compand) else None
        self.pre = stages[: cut - 1] if self.compand is not None else stages[:cut]
        if not self.pre or not all(s.linear for s in self.pre):
            return False
        return self._init_layout()

    def _init_layout(self) -> bool:
        """Map pixels to coefficients through the layout stages (``post``); True when the
        layout is a permutation."""
        index = torch.arange(self.n_pixels, dtype=torch.float32, device=self.device)
        coeff_of = self._unlayout(index.reshape(1, *self.image_shape))
        flat = coeff_of.reshape(-1).round().long()
        if flat.numel() != self.n_pixels or not torch.equal(
            torch.sort(flat).values, torch.arange(self.n_pixels, device=self.device)
        ):
            return False
        self.coeff_shape = tuple(coeff_of.shape[1:])
        self.coeff_position = torch.empty_like(flat)
        self.coeff_position[flat] = torch.arange(self.n_pixels, device=self.device)
        return True

    def _unlayout(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` back through the layout stages to coefficients."""
        return functools.reduce(lambda y, stage: stage.inverse(y), reversed(self.post), images)

    @property
    def factorised(self) -> bool:
        """True when ``e = gain·atom`` with a base-independent atom (staged or linear)."""
        return self.mode in ("staged", "linear")

    def _onehot_images(
        self, pixels: torch.Tensor, scale: torch.Tensor | float = 1.0
    ) -> torch.Tensor:
        out = torch.zeros(len(pixels), self.n_pixels, device=self.device)
        out[torch.arange(len(pixels), device=self.device), pixels] = scale
        return out.reshape(len(pixels), *self.image_shape)

    @torch.no_grad()
    def atoms(self, pixels: torch.Tensor) -> torch.Tensor:
        """Atoms ``(P, ch, n)`` of flat pixel indices (factorised modes only)."""
        pixels = pixels.to(self.device)
        if self.mode == "linear":
            zero = self.rep.decode(torch.zeros(1, *self.image_shape, device=self.device))
            return self.rep.decode(self._onehot_images(pixels)) - zero
        if self.mode != "staged":
            raise ValueError("atoms exist only for linear or staged representations")
        coeff = torch.zeros(len(pixels), self.n_pixels, device=self.device)
        coeff[torch.arange(len(pixels), device=self.device), self.coeff_position[pixels]] = 1.0
        z = coeff.reshape(len(pixels), *self.coeff_shape)
        for stage in reversed(self.pre):
            z = stage.inverse(z)
        return z

    @torch.no_grad()
    def gains(
        self, images: torch.Tensor, pixels: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """Scalars ``(B, P, D)`` with ``e = gain·atom`` for base ``images (B, C, H, W)``.

        Companded: ``C⁻¹(v + δ) − C⁻¹(v)`` in float64. The stage is element-wise, so one call
        moves every coefficient by δ at once and each pixel's gain is read at its position.
        """
        pixels = pixels.to(self.device)
        deltas = deltas.to(self.device, torch.float64)
        if self.mode == "linear":
            return deltas.expand(images.shape[0], len(pixels), len(deltas)).clone()
        if self.mode != "staged":
            raise ValueError("gains exist only for linear or staged representations")
        if self.compand is None:
            return deltas.expand(images.shape[0], len(pixels), len(deltas)).clone()
        y = self._unlayout(images.to(self.device)).double()
        pos = self.coeff_position[pixels]
        base = self.compand.inverse(y).reshape(images.shape[0], -1)[:, pos]
        out = [
            self.compand.inverse(y + d).reshape(images.shape[0], -1)[:, pos] - base for d in deltas
        ]
        return torch.stack(out, dim=-1)

    def cosines(self, pixels: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
        """Each pixel's atom as a cosine ``α·cos(πu·n/N + φ)`` ``(α, u, φ, channel)``, when the
        transform is a whole-clip DCT or real/imaginary FFT; else None.

        - DCT (orthonormal DCT-II): coefficient q gives ``α_q·cos(πq(n + ½)/N)``,
          ``α = √(1/N)`` for q = 0 and ``√(2/N)`` otherwise: ``u = q``, ``φ = πq/(2N)``;
        - RealImagFFT (orthonormal packing): the real part of bin k gives
          ``√(2/N)·cos(2πkn/N)``, the imaginary part ``√(2/N)·cos(2πkn/N + π/2)``; bin 0
          holds DC (real, ``√(1/N)``) and Nyquist (imaginary, ``√(1/N)·cos(πn)``).
        """
        if self.mode != "staged" or len(self.pre) != 1:
            return None
        k = self.coeff_position[pixels.to(self.device)]
        if isinstance(self.pre[0], DCT):
            n = int(self.coeff_shape[-1])
            channel, q = k // n, (k % n).double()
            alpha = torch.full_like(q, math.sqrt(2.0 / n))
            alpha[q == 0] = math.sqrt(1.0 / n)
            return alpha, q, math.pi * q / (2 * n), channel
        if isinstance(self.pre[0], RealImagFFT):
            half = int(self.coeff_shape[-1])
            n = 2 * half
            channel, rest = k // n, k % n
            imag, b = rest // half, (rest % half).double()
            alpha = torch.full_like(b, math.sqrt(2.0 / n))
            alpha[b == 0] = math.sqrt(1.0 / n)
            u = 2.0 * b
            u[(b == 0) & (imag == 1)] = float(n)  # Nyquist
            phase = torch.where((imag == 1) & (b > 0), math.pi / 2, 0.0).double()
            return alpha, u, phase, channel
        return None

    @torch.no_grad()
    def decoded_errors(
        self, image: torch.Tensor, decoded: torch.Tensor, pixels: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """``decode(image + δ·1_p) − decoded``, ``(P, D, ch, n)`` for one base.

        By decoding the perturbed images, :data:`DECODE_SAMPLES` audio samples at a time;
        in modes ``"magif"`` and ``"harmonic"`` computed exactly from the stage's own parts
        instead (:data:`EXACT`), except for the pixels those decode in full (f0 rows).
        """
        pixels = pixels.to(self.device)
        if self.mode not in EXACT_MODES:
            return self._decoded(image, decoded, pixels, deltas)
        planes = self._unlayout(image.to(self.device)[None])[0]
        coeffs = self.coeff_position[pixels]
        dense = self.exact.dense(tuple(planes.shape), coeffs)
        out = torch.empty(len(pixels), len(deltas), *decoded.shape, device=self.device)
        if bool((~dense).any()):
            out[~dense] = self.exact.errors(planes, coeffs[~dense], deltas)
        if bool(dense.any()):
            out[dense] = self._decoded(image, decoded, pixels[dense], deltas)
        return out

    def _decoded(
        self, image: torch.Tensor, decoded: torch.Tensor, pixels: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`decoded_errors` by decoding the perturbed images."""
        p, d = len(pixels), len(deltas)
        scale = deltas.to(self.device, torch.float32).repeat(p)
        moved = image.to(self.device)[None] + self._onehot_images(
            pixels.repeat_interleave(d), scale
        )
        step = max(1, DECODE_SAMPLES // int(decoded.numel()))
        out = torch.cat([self.rep.decode(moved[sl]) for sl in chunks(len(moved), step)])
        out = out - decoded.to(self.device)[None]
        return out.reshape(p, d, *out.shape[1:])

    def columns(self, image: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """Forward-mode Jacobian columns ``(P, ch, n)`` of ``pixels`` at one base image
        ``(1, C, H, W)``; raises :class:`~grainbench.analysis.forward.NotDifferentiable`."""
        out_shape = (int(self.rep.n_channels), int(self.rep.n_samples))
        return jacobian_columns(
            raw_decode(self.rep), image.to(self.device), pixels.to(self.device), out_shape
        )


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
