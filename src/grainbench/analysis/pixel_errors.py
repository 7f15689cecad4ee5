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
- a **magnitude / phase** stage of the whole-clip FFT, then element-wise companding and
  permutation layouts (``fft-polar-square``, ``fft-polar-2ch``): one pixel changes one bin,
  so the error is one whole-clip cosine, analysed in closed form; bin 0 (DC and Nyquist)
  is decoded (:mod:`grainbench.analysis.polar_errors`);
- a **log-mel** stage inverted by Griffin–Lim (``mel-griffinlim``, ``mfcc``): the iteration
  replayed on the frames a pixel reaches (:mod:`grainbench.analysis.griffinlim_errors`);
- anything else (plugins that are not linear, ``stft-magif-mel``): the real decode of
  the perturbed image minus the decode of the base, many perturbed images of one base per
  decode call; small δs may be served by forward mode instead
  (:class:`grainbench.analysis.decoded.DecodedMeasure`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from grainbench.analysis.forward import jacobian_columns, raw_decode
from grainbench.stages import StagedRepresentation

DECODE_SAMPLES = 1 << 18
"""Audio samples per decode call of the brute force (4 clips of 65,536). Chosen when
Griffin–Lim ran 1.6× slower per clip at 40 clips a call than at 1 (its working set left the
cache); the log-mel decode now works two clips at a time per worker thread (flat per-clip
cost from batch 1 to 64), so 4 clips keep two threads busy; larger calls were not measured."""


def exact_errors(stage: Any, after: Sequence[Any] = ()) -> Any:
    """The object computing ``stage``'s exact one-pixel errors from its parts (``mode``,
    ``dense``, ``errors``), built from the class the stage names in ``exact_errors``
    (``"package.module:Class"``); None when it names none, or when ``after`` holds stages
    the class does not take: its ``accepts_after`` names the flag every one of them must
    have (``"frame_local"``, ``"elementwise"``; an element-wise stage is frame-local)."""
    spec = getattr(stage, "exact_errors", None)
    if spec is None:
        return None
    module, _, name = spec.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not after:
        return cls(stage)
    flag = getattr(cls, "accepts_after", None)
    if flag and all(getattr(s, flag, False) or getattr(s, "elementwise", False) for s in after):
        return cls(stage, after)
    return None


class PixelErrors:
    """Exact one-pixel errors of a representation, by the cheapest exact route.

    ``mode`` is ``"staged"`` or ``"linear"`` (both *factorised*: ``e = gain·atom`` with an
    atom that does not depend on the base), the mode of a stage's exact errors (``"magif"``,
    ``"harmonic"``: computed from the stage's parts, :func:`exact_errors`) or ``"decode"``
    (by decoding, with forward mode for small δ:
    :class:`~grainbench.analysis.decoded.DecodedMeasure`); see the module doc.

    The stages say which route is theirs (:class:`~grainbench.stages.base.Stage`): ``linear``
    transforms (with ``cosine_atoms`` when their atoms are cosines), then one
    ``elementwise`` stage, then layouts that ``permutes``; or one stage that names its
    ``exact_errors`` class, then such layouts.
    """

    def __init__(self, rep: Any, device: torch.device | str = "cpu") -> None:
        self.rep = rep
        self.device = torch.device(device)
        self.image_shape: tuple[int, int, int] = tuple(rep.image_shape)
        self.n_pixels = int(np.prod(self.image_shape))
        staged = getattr(rep, "plugin", rep)
        self.mode = "decode"
        self.exact: Any = None
        if isinstance(staged, StagedRepresentation) and self._init_staged(staged):
            self.mode = "staged"
        elif bool(getattr(rep, "linear", False)):
            self.mode = "linear"
        elif isinstance(staged, StagedRepresentation) and self.pre:
            exact = exact_errors(self.pre[0], [*self.pre[1:], *filter(None, [self.compand])])
            if exact is not None and self._init_layout():
                self.exact, self.mode = exact, exact.mode

    def _init_staged(self, staged: StagedRepresentation) -> bool:
        """Split the stages into linear transforms → one element-wise stage → permutations.

        True when the split exists and the layout really is a permutation of coefficients.
        """
        stages = list(staged.stages)
        cut = len(stages)
        while cut > 0 and stages[cut - 1].permutes:
            cut -= 1
        self.post = stages[cut:]
        self.compand = stages[cut - 1] if cut > 0 and stages[cut - 1].elementwise else None
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
        representation is one transform stage whose atoms are cosines (its ``cosine_atoms``:
        a whole-clip DCT or real/imaginary FFT); else None."""
        if self.mode != "staged" or len(self.pre) != 1:
            return None
        k = self.coeff_position[pixels.to(self.device)]
        return self.pre[0].cosine_atoms(k, self.coeff_shape)

    @torch.no_grad()
    def decoded_errors(
        self, image: torch.Tensor, decoded: torch.Tensor, pixels: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """``decode(image + δ·1_p) − decoded``, ``(P, D, ch, n)`` for one base.

        By decoding the perturbed images, :data:`DECODE_SAMPLES` audio samples at a time;
        in a stage's exact mode computed from the stage's own parts instead
        (:func:`exact_errors`), except for the pixels it decodes in full (f0 rows).
        """
        pixels = pixels.to(self.device)
        if self.exact is None or self.mode != self.exact.mode:  # "decode" set by hand decodes
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

    def _exact_parts(
        self, image: torch.Tensor, pixels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The stage's planes and the pixels' coefficients for its exact errors when none of
        ``pixels`` is decoded in full (``dense``); else None."""
        if self.exact is None or self.mode != self.exact.mode:
            return None
        planes = self._unlayout(image.to(self.device)[None])[0]
        coeffs = self.coeff_position[pixels.to(self.device)]
        if bool(self.exact.dense(tuple(planes.shape), coeffs).any()):
            return None
        return planes, coeffs

    @torch.no_grad()
    def factored_errors(
        self, image: torch.Tensor, pixels: torch.Tensor, deltas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:meth:`decoded_errors` as factors ``basis (P, R, ch, n)``, ``coef (P, D, R)``
        (``Σ_r coef·basis``, :func:`grainbench.analysis.magif_errors.combine`) where the
        stage's exact errors come so (``factored``) and no pixel is decoded; else None."""
        parts = self._exact_parts(image, pixels) if hasattr(self.exact, "factored") else None
        return None if parts is None else self.exact.factored(*parts, deltas)

    @torch.no_grad()
    def cosine_errors(
        self, image: torch.Tensor, pixels: torch.Tensor, deltas: torch.Tensor
    ) -> tuple[torch.Tensor, ...] | None:
        """:meth:`decoded_errors` as cosines ``α (P, D)``, ``u (P,)``, ``φ (P, D)``,
        ``channel (P,)`` (``α·cos(πu·n/N + φ)``, energy ``α²·N/2``) where the stage's exact
        errors are whole-clip cosines (``cosines``) and no pixel is decoded; else None."""
        parts = self._exact_parts(image, pixels) if hasattr(self.exact, "cosines") else None
        return None if parts is None else self.exact.cosines(*parts, deltas)

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
