"""Single-coefficient perturbation sensitivity (SPEC 4.2).

For base clips and a set of pixels p, the error ``e_p = decode(image + δ·1_p) − decode(image)``
is measured: ESR, proportionality (slope over δ·{1/4, 1/2, 1, 2, 4}), time spread,
frequency spread (ERB) and audibility (worst-frame NMR, :mod:`grainbench.metrics.masking`).

How ``e_p`` is computed (:class:`PixelErrors`), exactly except where forward mode serves:

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
  pixel and base for every δ (:mod:`grainbench.tasks.magif_errors`);
- a **harmonic-plus-noise** stage followed by permutation layouts (``harmonic-noise``):
  an amplitude pixel's error is one harmonic's oscillator times its amplitude change, a
  noise pixel's the change of the shaped noise alone; f0 pixels are decoded
  (:mod:`grainbench.tasks.harmonic_errors`);
- anything else (polar FFT, Griffin–Lim, plugins that are not linear):
  the real decode of the perturbed image minus the decode of the base, many perturbed
  images of one base per decode call (:class:`DecodedMeasure`). A δ up to one 8-bit step
  (2/255) is served by **forward mode** instead when the decode is differentiable and
  agrees with it: Jacobian columns (:mod:`grainbench.tasks.forward`) plus one real decode
  at 4δ give a quadratic error curve for the maps and the proportionality; a seeded
  brute-force check states the agreement in the task's data (``first_order``) and
  decides, with a per-pixel fall-back to decoding. docs/performance.md has the method,
  its tolerance and what it costs.

In the first two cases every shape statistic (time and frequency spread, the atom's band
energies) is computed once per pixel and the bases and δs only scale it. For a whole-clip
DCT or real/imaginary FFT the atoms are cosines, and their spectrogram, band energies and time blocks are
computed in closed form (:meth:`grainbench.metrics.masking.MaskingModel.cosine_analysis`)
without synthesising a single atom: that is what makes the full 65,536-pixel map cheap.

Summaries: per pixel, the median over base clips; over pixels, the median, 5th and 95th
percentiles, twice. ``weight=none``: uniform over the stratified sample, with a stratified
percentile-bootstrap interval when pixels were sampled (none when every pixel was
measured). ``weight=energy`` (the headline): weighted by each pixel's mean energy in the
training data (:mod:`grainbench.pixel_energy`), over the sample plus ``n_energy_pixels``
pixels drawn in proportion to that energy and importance-weighted
(:mod:`grainbench.tasks.energy_sample`, :mod:`grainbench.metrics.weighted`), with a
bootstrap over training clips and draws. A pixel whose error is exactly zero is *inert*:
NaN in the maps, counted in the task's data, left out of the summaries.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from grainbench.errors import UserError
from grainbench.metrics.grain import (
    cosine_block_energies,
    cosine_time_centroid,
    energy_time_centroid,
    erb_centroid,
    freq_spread_erb,
    nan_percentiles,
    shortest_interval,
    time_block,
    time_edges,
)
from grainbench.metrics.masking import MaskingModel
from grainbench.metrics.stats import bootstrap_percentile
from grainbench.metrics.weighted import energy_weighted
from grainbench.pixel_energy import PixelEnergy, dataset_pixel_energy
from grainbench.stages import DCT, Arrange, Compand, Fold, RealImagFFT, StagedRepresentation
from grainbench.stages.magif import MagIF
from grainbench.stages.parametric import HarmonicNoise
from grainbench.tasks import listen, plots
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskResult
from grainbench.tasks.energy_sample import EnergyDesign, energy_design
from grainbench.tasks.forward import NotDifferentiable, jacobian_columns, raw_decode
from grainbench.tasks.harmonic_errors import HarmonicNoiseErrors
from grainbench.tasks.image_axes import image_axes
from grainbench.tasks.magif_errors import MagIFErrors
from grainbench.tasks.params import MAX_BOOT, Int, ListOf, Ratio

MULTIPLIERS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""δ multipliers of the proportionality fit."""

CHUNK_SAMPLES = 1 << 23
"""Audio samples (all signals of a batch together) processed at once: bounds memory."""

COSINE_CHUNK = 128
"""Atoms analysed at once in closed form (memory ≈ 1 MB per atom at 44.1 kHz)."""

STRATA_PER_AXIS = 8
"""Pixel samples are stratified over an 8×8 grid of image regions per channel."""

DECODE_SAMPLES = 1 << 18
"""Audio samples per decode call of the brute force (4 clips of 65,536): Griffin–Lim runs
1.6× slower per clip at 40 clips a call than at 1 (its working set leaves the cache)."""

FIRST_ORDER_MAX_DELTA = 2 / 255 + 1e-12
"""δs up to one 8-bit step may be served by forward mode (:class:`DecodedMeasure`)."""

CHECK_PIXELS = 8
"""Seeded pixels decoded by brute force on every base to check forward mode."""

CHECK_TOLERANCE = 0.05
"""Forward mode must agree with the real decode to 5 % (relative error of the error signal
at δ, ≈ 0.4 dB in ESR and audibility; and ±0.05 in the proportionality slope)."""

CHECK_FLOOR_DB = -140.0
"""Check pairs with a real error under −140 dB (ESR) do not count: the float32 decode's
rounding noise (−150 to −170 dB of the clip for the built-in decoders) is within 10–30 dB."""

EXACT: dict[type, Any] = {MagIF: MagIFErrors, HarmonicNoise: HarmonicNoiseErrors}
"""Stages (first in a representation, then permutation layouts) whose one-pixel errors are
computed from their parts: stage type → errors class (``dense``, ``errors``)."""

EXACT_MODES = ("magif", "harmonic")

LINEAR_TOLERANCE = 0.25
"""A pair uses the quadratic curve only when ``‖e(4δ) − 4δ·J‖ ≤ 0.25·‖e(4δ)‖``."""

METRICS = (
    ("esr", "dB"),
    ("proportionality", ""),
    ("time_spread", "s"),
    ("freq_spread", "ERB"),
    ("audibility", "dB"),
)


def parse_delta(value: Any) -> tuple[str, float]:
    """A δ given as a number or a fraction string (``"2/255"``) → ``(label, value)``."""
    try:
        number = float(Fraction(str(value).strip()))
    except (ValueError, ZeroDivisionError):
        raise UserError(f"perturbation delta {value!r} is not a number or a fraction") from None
    if not number > 0:
        raise UserError(f"perturbation delta {value!r} must be positive")
    return str(value).strip(), number


def sample_pixels(
    shape: tuple[int, int, int], n_pixels: int | str, seed: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Flat pixel indices, their stratum labels, and whether that is all pixels.

    ``"all"`` (or a count ≥ the pixel count) gives every pixel. Otherwise a seeded sample
    without replacement, stratified over a grid of up to 8×8 regions per image channel,
    each region getting a share proportional to its size (largest remainders).
    """
    c, h, w = shape
    total = c * h * w
    rows = np.array_split(np.arange(h), min(STRATA_PER_AXIS, h))
    cols = np.array_split(np.arange(w), min(STRATA_PER_AXIS, w))
    regions = []
    for ch in range(c):
        for r in rows:
            for q in cols:
                regions.append((ch * h * w + r[:, None] * w + q[None, :]).ravel())
    if n_pixels == "all" or (not isinstance(n_pixels, str) and int(n_pixels) >= total):
        labels = np.empty(total, dtype=np.int64)
        for i, reg in enumerate(regions):
            labels[reg] = i
        return np.arange(total), labels, True
    if isinstance(n_pixels, str) or int(n_pixels) < 1:
        raise UserError(
            f"perturbation n_pixels must be a positive count or 'all', got {n_pixels!r}"
        )
    n = int(n_pixels)
    sizes = np.array([reg.size for reg in regions], dtype=np.float64)
    quota = n * sizes / sizes.sum()
    take = np.floor(quota).astype(np.int64)
    for i in np.argsort(-(quota - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    rng = np.random.default_rng(seed)
    picked, labels = [], []
    for i, (reg, k) in enumerate(zip(regions, take, strict=True)):
        if k:
            picked.append(rng.choice(reg, size=k, replace=False))
            labels.append(np.full(k, i))
    pixels = np.concatenate(picked)
    order = np.argsort(pixels)
    return pixels[order], np.concatenate(labels)[order], False


class PixelErrors:
    """Exact one-pixel errors of a representation, by the cheapest exact route.

    ``mode`` is ``"staged"`` or ``"linear"`` (both *factorised*: ``e = gain·atom`` with an
    atom that does not depend on the base), ``"magif"`` or ``"harmonic"`` (exact errors from
    the stage's parts, :data:`EXACT`) or ``"decode"`` (by decoding, with forward mode for
    small δ: :class:`DecodedMeasure`); see the module doc.
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
        y = images
        for stage in reversed(self.post):
            y = stage.inverse(y)
        return y

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
        ``(1, C, H, W)``; raises :class:`~grainbench.tasks.forward.NotDifferentiable`."""
        out_shape = (int(self.rep.n_channels), int(self.rep.n_samples))
        return jacobian_columns(
            raw_decode(self.rep), image.to(self.device), pixels.to(self.device), out_shape
        )


@dataclass
class ShapeStats:
    """Shape statistics of a batch of error signals ``(S, ch, n)``."""

    energy: torch.Tensor  # (S,) float64
    time_spread: torch.Tensor  # (S,) s
    freq_spread: torch.Tensor  # (S,) ERB
    bands: torch.Tensor  # (S, ch, frames, bands) band energies per frame
    time_centroid: torch.Tensor  # (S,) s, of the energy e[n]²


class ErrorAnalyser:
    """Time/frequency analysis of error signals and masks of decoded clips (batched)."""

    def __init__(
        self, sample_rate: int, n_samples: int, device: torch.device | str = "cpu"
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.model = MaskingModel(sample_rate, device)
        self.block = time_block(sample_rate)
        self.edges = time_edges(n_samples, sample_rate, self.block)

    def masks(self, audio: torch.Tensor) -> torch.Tensor:
        """Masking thresholds ``(B, ch, frames, bands)`` of decoded clips ``(B, ch, n)``."""
        return self.model.mask(audio)

    def shape(self, signals: torch.Tensor) -> ShapeStats:
        """Energy, time spread, frequency spread and band energies of ``signals (S, ch, n)``."""
        x = signals.float()
        energy = x.double().pow(2).sum(dim=(-1, -2))
        n = x.shape[-1]
        nb = len(self.edges) - 1
        sq = torch.nn.functional.pad(x.pow(2).sum(-2), (0, nb * self.block - n))
        blocks = sq.reshape(x.shape[0], nb, self.block).sum(-1)
        power = self.model.power_spectrogram(x)  # (S, ch, frames, bins)
        bands = self.model.band_energies(power)
        marginal = power.sum(dim=(-3, -2))  # per bin, channels and frames summed
        return ShapeStats(
            energy=energy,
            time_spread=shortest_interval(blocks, self.edges),
            freq_spread=freq_spread_erb(marginal, self.model.n_fft, self.sample_rate),
            bands=bands,
            time_centroid=energy_time_centroid(x, self.sample_rate),
        )

    def shape_of_cosines(
        self,
        alpha: torch.Tensor,
        u: torch.Tensor,
        phase: torch.Tensor,
        channel: torch.Tensor,
        n_channels: int,
    ) -> ShapeStats:
        """:meth:`shape` of cosine atoms ``α·cos(πu·n/N + φ)`` in one ``channel``, in closed form.

        Uses :meth:`MaskingModel.cosine_analysis` and :func:`cosine_block_energies`: equal to
        :meth:`shape` of the sampled atoms to float rounding, without synthesising them.
        """
        blocks = cosine_block_energies(alpha, u, phase, self.n_samples, self.block)
        frames, marginal = self.model.cosine_analysis(alpha, u, phase, self.n_samples)
        bands = torch.zeros(len(u), n_channels, *frames.shape[1:], device=frames.device)
        bands[torch.arange(len(u), device=frames.device), channel.to(frames.device)] = (
            frames.float()
        )
        return ShapeStats(
            energy=blocks.sum(-1),
            time_spread=shortest_interval(blocks, self.edges),
            freq_spread=freq_spread_erb(marginal, self.model.n_fft, self.sample_rate),
            bands=bands,
            time_centroid=cosine_time_centroid(u, phase, self.n_samples, self.sample_rate),
        )

    def shape_of_pixels(
        self, errors: PixelErrors, pixels: torch.Tensor, n_channels: int
    ) -> ShapeStats:
        """:meth:`shape` of the atoms of ``pixels``: closed form for DCT atoms, else synthesised."""
        cos = errors.cosines(pixels)
        if cos is not None and self.model.supports_cosines(self.n_samples):
            return self.shape_of_cosines(*cos, n_channels)
        return self.shape(errors.atoms(pixels))

    def centroids_of_pixels(
        self,
        errors: PixelErrors,
        pixels: torch.Tensor,
        base: torch.Tensor,
        decoded: torch.Tensor,
        delta: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Time (s, of the energy) and ERB-rate (of the spectrogram) centroids of the errors
        of ``pixels`` at ``delta`` on one base image ``(1, C, H, W)``; NaN where it is zero."""
        d = torch.tensor([delta])
        cos = errors.cosines(pixels)
        if errors.factorised:
            live = errors.gains(base, pixels, d)[0, :, 0] != 0
            if cos is not None and self.model.supports_cosines(self.n_samples):
                alpha, u, phase, _ = cos
                t = cosine_time_centroid(u, phase, self.n_samples, self.sample_rate)
                marginal = self.model.cosine_marginal(alpha, u, phase, self.n_samples)
            else:
                atoms = errors.atoms(pixels)
                t = energy_time_centroid(atoms, self.sample_rate)
                marginal = self.model.power_spectrogram(atoms).sum(dim=(-3, -2))
        else:
            err = errors.decoded_errors(base[0], decoded[0], pixels, d)[:, 0]
            live = err.abs().amax(dim=(-1, -2)) > 0
            t = energy_time_centroid(err, self.sample_rate)
            marginal = self.model.power_spectrogram(err).sum(dim=(-3, -2))
        f = erb_centroid(marginal, self.model.bin_freqs())
        nan = torch.tensor(math.nan, dtype=torch.float64)
        return torch.where(live.cpu(), t.cpu(), nan), torch.where(live.cpu(), f.cpu(), nan)

    @staticmethod
    def worst_ratio(bands: torch.Tensor, inv_masks: torch.Tensor) -> torch.Tensor:
        """``max`` over channels, frames and bands of ``bands / mask``: ``(S, B)``.

        ``bands (S, ch, F, Bd)`` against every base's ``1/mask (B, ch, F, Bd)``.
        """
        out = torch.empty(
            bands.shape[0], inv_masks.shape[0], dtype=torch.float64, device=bands.device
        )
        for b in range(inv_masks.shape[0]):
            out[:, b] = (bands * inv_masks[b]).amax(dim=(-1, -2, -3)).double()
        return out


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(n)`` of at most ``size``."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _log_ratio(x: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(x)


def _slope(norms: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of ``log norms`` against ``log MULTIPLIERS`` (last axis)."""
    log_m = torch.log(torch.tensor(MULTIPLIERS, dtype=torch.float64, device=norms.device))
    log_m = log_m - log_m.mean()
    y = torch.log(norms)
    return ((y - y.mean(-1, keepdim=True)) * log_m).sum(-1) / (log_m * log_m).sum()


@dataclass
class PerturbationMaps:
    """Per-pixel values ``(B, P, D)`` (bases × pixels × δs) of every metric.

    ``first_order`` has one entry per δ: for a δ served by forward mode (decoded
    representations, δ ≤ :data:`FIRST_ORDER_MAX_DELTA`), its check against brute force
    (:class:`DecodedMeasure`); None where the δ was measured exactly.
    """

    esr: np.ndarray
    proportionality: np.ndarray
    time_spread: np.ndarray
    freq_spread: np.ndarray
    audibility: np.ndarray
    first_order: list[dict[str, Any] | None] = field(default_factory=list)


def _quantiles(values: np.ndarray) -> dict[str, float] | None:
    v = values[np.isfinite(values)]
    if not v.size:
        return None
    return {
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(v.max()),
    }


def _agreement(rows: np.ndarray) -> dict[str, Any]:
    """Whether forward mode serves a δ, from its check pairs ``rows (pairs, 5)`` (see
    :meth:`DecodedMeasure._compare`), with the agreement stated.

    Pairs whose real error is under :data:`CHECK_FLOOR_DB` are left out: there the float32
    brute-force decode carries rounding noise of the same order as the error. Forward mode
    serves the δ when at least half of the other pairs may use the curve and, over those,
    the 90th percentiles of the curve's relative error at δ and of its slope's difference
    from the real one are within :data:`CHECK_TOLERANCE`.
    """
    esr, rel_derivative, rel_curve, slope_diff, usable = rows.T
    resolved = np.isfinite(esr) & (esr >= CHECK_FLOOR_DB)
    used = resolved & (usable > 0)
    note: dict[str, Any] = {
        "tolerance": CHECK_TOLERANCE,
        "floor_db": CHECK_FLOOR_DB,
        "check_pairs": int(len(rows)),
        "resolved_pairs": int(resolved.sum()),
        "curve_pairs": int(used.sum()),
        "derivative_rel_error": _quantiles(rel_derivative[resolved]),
        "curve_rel_error": _quantiles(rel_curve[used]),
        "slope_difference": _quantiles(slope_diff[used]),
    }
    if not resolved.any():
        note.update(served=False, reason=f"no check pair above {CHECK_FLOOR_DB} dB")
        return note
    if 2 * used.sum() < resolved.sum():
        note.update(served=False, reason="most check pairs bend too much for the curve")
        return note
    worst = max(note["curve_rel_error"]["p90"], note["slope_difference"]["p90"])
    note["served"] = worst <= CHECK_TOLERANCE
    if not note["served"]:
        note["reason"] = "the curve disagrees with the decode beyond the tolerance"
    return note


class DecodedMeasure:
    """The per-pixel metrics of a representation without a factorised form.

    **Brute force** (mode "magif" at every δ, where :meth:`PixelErrors.decoded_errors` is
    exact without decoding; mode "decode" at every δ above :data:`FIRST_ORDER_MAX_DELTA`
    and any δ whose decode has no forward-mode derivative or fails the check):
    ``e = decode(image + mδ·1_p) − decode(image)`` for every multiplier m and every such δ
    of a pixel together, many perturbed images of one base per decode call, the base's own
    decode computed once.

    **Forward mode** (mode "decode", δ ≤ :data:`FIRST_ORDER_MAX_DELTA`): each pixel's Jacobian column
    ``J = ∂decode/∂x_p`` (:mod:`grainbench.tasks.forward`) and one real decode at the largest
    multiplier ``s₄ = 4δ`` give the quadratic error curve ``e(s) = s·J + (s/s₄)²·r`` with
    ``r = e(s₄) − s₄·J``: exact at s₄, exact to first order as s → 0, second-order in
    between. The maps at δ use ``e(δ)``, the proportionality the curve's norms at every
    multiplier. A pair (base, pixel) whose column is zero or not finite, or whose curve bends
    by more than :data:`LINEAR_TOLERANCE` at s₄ (``‖r‖ > 0.25·‖e(s₄)‖``), is decoded at every
    multiplier instead. Before that, :data:`CHECK_PIXELS` seeded pixels are decoded by brute
    force on every base (their values are those brute force gives) and the curve is compared
    with them; forward mode serves the δ only when the comparison passes (see ``_agreement``).
    """

    def __init__(
        self,
        errors: PixelErrors,
        analyser: ErrorAnalyser,
        images: torch.Tensor,
        decoded: torch.Tensor,
        progress: Any,
    ) -> None:
        self.errors, self.analyser, self.progress = errors, analyser, progress
        self.images, self.decoded = images, decoded
        self.ref_energy = decoded.double().pow(2).sum(dim=(-1, -2))  # (B,)
        self.inv_masks = 1.0 / analyser.masks(decoded)
        n = analyser.n_samples * int(decoded.shape[1])
        self.size = max(1, CHUNK_SAMPLES // (n * len(MULTIPLIERS)))
        self.out: dict[str, np.ndarray] = {}

    def measure(self, pix: torch.Tensor, deltas: Sequence[float], seed: int) -> PerturbationMaps:
        """Maps ``(B, P, D)`` of flat pixel indices ``pix`` at every δ."""
        shape = (self.images.shape[0], len(pix), len(deltas))
        self.out = {name: np.full(shape, np.nan) for name, _ in METRICS}
        notes: list[dict[str, Any] | None] = [None] * len(deltas)
        forward = self.errors.mode == "decode"
        brute = [di for di, x in enumerate(deltas) if not (forward and x <= FIRST_ORDER_MAX_DELTA)]
        self._brute(pix, np.arange(len(pix)), {di: deltas[di] for di in brute})
        for di, delta in enumerate(deltas):
            if di not in brute:
                notes[di] = self._forward(pix, di, delta, seed)
        return PerturbationMaps(**self.out, first_order=notes)

    @staticmethod
    def _multiplied(delta: float) -> torch.Tensor:
        return torch.tensor([delta * m for m in MULTIPLIERS], dtype=torch.float64)

    def _store(
        self, bi: int, positions: np.ndarray, di: int, values: dict[str, torch.Tensor]
    ) -> None:
        """Write per-pixel ``values`` of base ``bi``; NaN where the error is exactly zero."""
        live = (values["energy"] > 0).cpu().numpy()
        for name, _ in METRICS:
            v = values[name].double().cpu().numpy()
            self.out[name][bi, positions, di] = np.where(live, v, np.nan)

    def _values(self, bi: int, unit_errors: torch.Tensor, norms: torch.Tensor) -> dict:
        """Metrics of errors ``(P, ch, n)`` at δ on base ``bi``, norms ``(P, M)`` for the slope."""
        stats = self.analyser.shape(unit_errors)
        ratio = ErrorAnalyser.worst_ratio(stats.bands, self.inv_masks[bi : bi + 1])[:, 0]
        return {
            "energy": stats.energy,
            "esr": _log_ratio(stats.energy / self.ref_energy[bi]),
            "audibility": _log_ratio(ratio),
            "proportionality": _slope(norms),
            "time_spread": stats.time_spread,
            "freq_spread": stats.freq_spread,
        }

    def _decoded_values(self, bi: int, err: torch.Tensor) -> dict:
        """Metrics from brute-force errors ``(P, M, ch, n)`` of base ``bi``."""
        norms = torch.linalg.vector_norm(err, dim=(-1, -2)).double()
        return self._values(bi, err[:, MULTIPLIERS.index(1.0)], norms)

    def _brute(
        self,
        pix: torch.Tensor,
        positions: np.ndarray,
        deltas: dict[int, float],
        bases: Sequence[int] | None = None,
    ) -> None:
        """Brute force for ``pix[positions]`` at ``deltas`` (index → δ) on ``bases`` (default:
        every base), all δs of a pixel in one call."""
        if not deltas or not len(positions):
            return
        ds = torch.cat([self._multiplied(x) for x in deltas.values()])
        size = max(1, self.size // len(deltas))
        bases = range(self.images.shape[0]) if bases is None else bases
        jobs = [(bi, positions[sl]) for bi in bases for sl in chunks(len(positions), size)]
        for bi, pos in self.progress(jobs, desc="perturbation decodes"):
            err = self.errors.decoded_errors(self.images[bi], self.decoded[bi], pix[pos], ds)
            err = err.unflatten(1, (len(deltas), len(MULTIPLIERS)))
            for k, di in enumerate(deltas):
                self._store(bi, pos, di, self._decoded_values(bi, err[:, k]))

    @staticmethod
    def _curve(
        columns: torch.Tensor, top: torch.Tensor, delta: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The quadratic error curve of columns ``J (P, ch, n)`` through the real errors
        ``top (P, ch, n)`` at ``4δ``: its errors at δ ``(P, ch, n)`` float64, its norms at every
        multiplier ``(P, M)`` and whether each pair may use it ``(P,)``."""
        m = torch.tensor(MULTIPLIERS, dtype=torch.float64, device=columns.device)
        s, w = m * delta, (m / max(MULTIPLIERS)) ** 2  # (M,)
        jac, e_top = columns.double(), top.double()
        r = e_top - (max(MULTIPLIERS) * delta) * jac
        jj = jac.pow(2).sum(dim=(-1, -2))[:, None]
        jr = (jac * r).sum(dim=(-1, -2))[:, None]
        rr = r.pow(2).sum(dim=(-1, -2))[:, None]
        norms = (s.pow(2) * jj + 2.0 * s * w * jr + w.pow(2) * rr).clamp_min(0.0).sqrt()
        unit = MULTIPLIERS.index(1.0)
        at_delta = delta * jac + float(w[unit]) * r
        bend = rr[:, 0].sqrt() / e_top.pow(2).sum(dim=(-1, -2)).sqrt()
        usable = torch.isfinite(jac).all(-1).all(-1) & (jj[:, 0] > 0) & (bend <= LINEAR_TOLERANCE)
        return at_delta, norms, usable

    def _columns(self, bi: int, idx: torch.Tensor) -> torch.Tensor | None:
        try:
            return self.errors.columns(self.images[bi : bi + 1], idx)
        except NotDifferentiable:
            return None

    def _forward(self, pix: torch.Tensor, di: int, delta: float, seed: int) -> dict[str, Any]:
        """Check forward mode on seeded pixels, then serve δ by it (or by brute force)."""
        p, b = len(pix), self.images.shape[0]
        check = np.sort(np.random.default_rng(seed).choice(p, min(CHECK_PIXELS, p), replace=False))
        rest = np.setdiff1d(np.arange(p), check)
        ds = self._multiplied(delta)
        rows = []
        for bi in self.progress(range(b), desc="perturbation check"):
            try:
                columns = self.errors.columns(self.images[bi : bi + 1], pix[check])
            except NotDifferentiable as exc:
                self._brute(pix, rest, {di: delta}, range(bi))
                self._brute(pix, np.arange(p), {di: delta}, range(bi, b))
                return {"served": False, "reason": f"no forward-mode derivative: {exc}"}
            err = self.errors.decoded_errors(self.images[bi], self.decoded[bi], pix[check], ds)
            real = self._decoded_values(bi, err)
            self._store(bi, check, di, real)
            rows.append(self._compare(bi, err, columns, delta, real["proportionality"]))
        note = _agreement(torch.cat(rows).cpu().numpy())
        if not note["served"]:
            self._brute(pix, rest, {di: delta})
            return note
        top = MULTIPLIERS.index(max(MULTIPLIERS))
        others = [k for k in range(len(MULTIPLIERS)) if k != top]
        counts = {"forward": 0, "decoded": 0}
        jobs = [(bi, rest[sl]) for bi in range(b) for sl in chunks(len(rest), self.size)]
        for bi, pos in self.progress(jobs, desc="perturbation derivatives"):
            idx = pix[pos]
            columns = self._columns(bi, idx)
            image, decoded = self.images[bi], self.decoded[bi]
            e_top = self.errors.decoded_errors(image, decoded, idx, ds[top : top + 1])[:, 0]
            if columns is None:
                usable = torch.zeros(len(idx), dtype=torch.bool)
            else:
                at_delta, norms, usable = self._curve(columns, e_top, delta)
                ok = usable.cpu().numpy()
                if ok.any():
                    self._store(bi, pos[ok], di, self._values(bi, at_delta[usable], norms[usable]))
            bad = ~usable.cpu()
            if bad.any():
                err = e_top[bad.to(e_top.device), None].repeat(1, len(MULTIPLIERS), 1, 1)
                err[:, others] = self.errors.decoded_errors(image, decoded, idx[bad], ds[others])
                self._store(bi, pos[bad.numpy()], di, self._decoded_values(bi, err))
            counts["forward"] += int(usable.sum())
            counts["decoded"] += int(bad.sum())
        note["pairs"] = counts
        return note

    def _compare(
        self,
        bi: int,
        err: torch.Tensor,
        columns: torch.Tensor,
        delta: float,
        real_slope: torch.Tensor,
    ) -> torch.Tensor:
        """Per check pair ``(P, 5)``: ESR of the real error (dB), relative error of ``δ·J``
        and of the curve at δ, the slope difference, and whether the curve is usable."""
        unit = MULTIPLIERS.index(1.0)
        real = err[:, unit].double()
        size = real.pow(2).sum(dim=(-1, -2)).sqrt()
        at_delta, norms, usable = self._curve(
            columns, err[:, MULTIPLIERS.index(max(MULTIPLIERS))], delta
        )

        def rel(x: torch.Tensor) -> torch.Tensor:
            return (x - real).pow(2).sum(dim=(-1, -2)).sqrt() / size

        return torch.stack(
            [
                _log_ratio(size.pow(2) / self.ref_energy[bi]),
                rel(delta * columns.double()),
                rel(at_delta),
                (_slope(norms) - real_slope).abs(),
                usable.double(),
            ],
            dim=-1,
        )


def measure(
    errors: PixelErrors,
    analyser: ErrorAnalyser,
    images: torch.Tensor,
    decoded: torch.Tensor,
    pixels: np.ndarray,
    deltas: Sequence[float],
    progress: Any = None,
    seed: int = 0,
) -> PerturbationMaps:
    """Every per-pixel metric for base ``images``/``decoded`` clips, ``pixels`` and ``deltas``.

    Returns arrays ``(B, P, D)``; a pixel whose error is exactly zero gets NaN everywhere.
    ``seed`` draws the pixels that check the forward-mode path (decoded representations).
    """
    progress = progress or (lambda it, **_: it)
    dev = errors.device
    images, decoded = images.to(dev), decoded.to(dev)
    b, p, d = images.shape[0], len(pixels), len(deltas)
    pix = torch.from_numpy(np.asarray(pixels, dtype=np.int64))
    if not errors.factorised:
        run = DecodedMeasure(errors, analyser, images, decoded, progress)
        return run.measure(pix, deltas, seed)
    ref_energy = decoded.double().pow(2).sum(dim=(-1, -2))  # (B,)
    inv_masks = 1.0 / analyser.masks(decoded)
    all_deltas = torch.tensor([x * m for x in deltas for m in MULTIPLIERS], dtype=torch.float64)
    unit = MULTIPLIERS.index(1.0)
    out = {name: np.full((b, p, d), np.nan) for name, _ in METRICS}
    n = analyser.n_samples * int(decoded.shape[1])
    gains = errors.gains(images, pix, all_deltas).abs().reshape(b, p, d, len(MULTIPLIERS))
    closed = errors.cosines(pix[:1]) is not None and analyser.model.supports_cosines(
        analyser.n_samples
    )
    size = COSINE_CHUNK if closed else max(1, CHUNK_SAMPLES // n)
    for sl in progress(list(chunks(p, size)), desc="perturbation atoms"):
        stats = analyser.shape_of_pixels(errors, pix[sl], int(decoded.shape[1]))
        ratio = ErrorAnalyser.worst_ratio(stats.bands, inv_masks).T[:, :, None]  # (B, P, 1)
        g = gains[:, sl]
        g1 = g[..., unit]  # (B, P, D)
        e_energy = g1.pow(2) * stats.energy[None, :, None]
        live = (e_energy > 0).cpu().numpy()
        values = {
            "esr": _log_ratio(e_energy / ref_energy[:, None, None]),
            "audibility": _log_ratio(g1.pow(2) * ratio),
            "proportionality": _slope(g),
            "time_spread": stats.time_spread[None, :, None].expand_as(g1),
            "freq_spread": stats.freq_spread[None, :, None].expand_as(g1),
        }
        for name, v in values.items():
            out[name][:, sl] = np.where(live, v.double().cpu().numpy(), np.nan)
    return PerturbationMaps(**out, first_order=[None] * d)


def to_map(values: np.ndarray, pixels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Scatter per-pixel ``values (P,)`` into a ``(C, H, W)`` map, NaN elsewhere."""
    out = np.full(int(np.prod(shape)), np.nan)
    out[pixels] = values
    return out.reshape(shape)


def region_map(values: np.ndarray, labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """A ``(C, H, W)`` map where each stratum shows the median of its sampled ``values``."""
    strata = sample_pixels(shape, "all", 0)[1]
    out = np.full(strata.size, np.nan)
    for label in np.unique(labels):
        v = values[labels == label]
        v = v[np.isfinite(v)]
        if v.size:
            out[strata == label] = np.median(v)
    return out.reshape(shape)


class PerturbationTask:
    """Per-pixel sensitivity maps and their summaries (SPEC 4.2)."""

    name = "perturbation"
    in_default_run = True
    #: the board's sort key and columns (see grainbench.leaderboard): how audible and how
    #: spread in time and frequency a GAN-sized one-pixel error is where the sound is
    headline = "audibility[delta=2/255,stat=median,weight=energy]"
    key_metrics = [
        "audibility[delta=2/255,stat=median,weight=energy]",
        "esr[delta=2/255,stat=median,weight=energy]",
        "time_spread[delta=2/255,stat=median,weight=energy]",
        "freq_spread[delta=2/255,stat=median,weight=energy]",
        "proportionality_dev[delta=2/255,stat=median,weight=energy]",
        "audibility[delta=2/255,stat=median,weight=none]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Base clips, pixels (count or ``"all"``) and energy-drawn pixels, δs, bootstrap
        resamples, the batch of training clips encoded at once for the pixel energies."""
        return {
            "n_clips": 8,
            "n_pixels": 1024,
            "n_energy_pixels": 1024,
            "deltas": ["2/255", "0.05"],
            "n_boot": 1000,
            "batch_size": 32,
        }

    param_schema = {
        "n_clips": Int(1),
        "n_pixels": Int(1, words=("all",)),
        "n_energy_pixels": Int(0),
        "deltas": ListOf(Ratio()),
        "n_boot": Int(1, MAX_BOOT),
        "batch_size": Int(1),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Measure every sampled pixel on every base clip; write maps, heatmaps and summaries.

        Summaries come twice: uniform over the stratified sample (``weight=none``) and
        weighted by the pixels' energy in the training data (``weight=energy``, over the
        sample plus ``n_energy_pixels`` pixels drawn in proportion to their energy,
        importance-weighted; :mod:`grainbench.tasks.energy_sample`).
        """
        rep = ctx.rep
        deltas = [parse_delta(x) for x in params["deltas"]]
        n_clips = int(params["n_clips"])
        if n_clips < 1:
            raise UserError("perturbation n_clips must be at least 1")
        n_extra = int(params["n_energy_pixels"])
        if n_extra < 0:
            raise UserError("perturbation n_energy_pixels must be 0 or more")
        test = torch.from_numpy(ctx.dataset.test[:n_clips]).to(ctx.device)
        with torch.no_grad():
            images = rep.encode(test)
            decoded = rep.decode(images)
        shape = tuple(rep.image_shape)
        pixels, labels, complete = sample_pixels(shape, params["n_pixels"], ctx.seed)
        energy = dataset_pixel_energy(
            rep, ctx.dataset.train, batch_size=int(params["batch_size"]), device=ctx.device
        )
        everywhere = None if complete else sample_pixels(shape, "all", 0)[1]
        design = energy_design(pixels, labels, everywhere, energy.mean, n_extra, ctx.seed)
        measured = np.unique(np.concatenate([pixels, design.pixels]))
        errors = PixelErrors(rep, ctx.device)
        analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples, ctx.device)
        maps = measure(
            errors,
            analyser,
            images,
            decoded,
            measured,
            [v for _, v in deltas],
            ctx.progress,
            ctx.seed,
        )
        uniform_at = np.searchsorted(measured, pixels)
        design_at = np.searchsorted(measured, design.pixels)
        n_boot = int(params["n_boot"])
        result = TaskResult()
        result.data = {
            "method": errors.mode,
            "n_clips": int(len(test)),
            "n_pixels": int(len(pixels)),
            "n_measured": int(len(measured)),
            "all_pixels": complete,
            "multipliers": list(MULTIPLIERS),
            "masking": analyser.model.describe(),
            "energy_weight": {
                "rule": energy.rule,
                "n_clips": energy.n_clips,
                "clip_groups": int(len(energy.sizes)),
                "n_energy_pixels": design.n_energy,
            },
            "summary": {},
            "first_order": {
                lab: fo for (lab, _), fo in zip(deltas, maps.first_order, strict=True) if fo
            },
        }
        a = maps.audibility[0, :, 0]  # the first δ's sound on clip 0, median and worst pixel
        axes = image_axes(errors, analyser, images[:1], decoded[:1], deltas[0][1])
        listen.one_pixel_sounds(ctx, result, images[0], decoded[0], measured, a, deltas[0])
        for di, (label, _) in enumerate(deltas):
            tag = label.replace("/", "over")
            with warnings.catch_warnings():  # inert pixels are NaN on every clip
                warnings.simplefilter("ignore", RuntimeWarning)
                per_pixel = {
                    name: np.nanmedian(getattr(maps, name)[:, :, di], axis=0) for name, _ in METRICS
                }
            result.data["summary"][label] = {}
            result.data["summary"][label]["inert_pixels"] = int(
                np.isnan(per_pixel["esr"][uniform_at]).sum()
            )
            panels = []
            for name, unit in METRICS:
                values = per_pixel[name]
                full = to_map(values, measured, shape)
                path = ctx.out_dir / f"{name}_delta{tag}.npy"
                np.save(path, full)
                result.artifacts.append(
                    Artifact(
                        ctx.relpath(path),
                        "npy",
                        f"{name} per pixel (C, H, W), δ = {label}, NaN = not measured",
                    )
                )
                shown = full if complete else region_map(values[uniform_at], labels, shape)
                panels.append((name.replace("_", " "), unit, shown))
                self._summaries(
                    result,
                    name,
                    label,
                    (values[uniform_at], labels, complete),
                    (values[design_at], design, energy),
                    ctx.seed,
                    n_boot,
                )
            picture = ctx.out_dir / f"maps_delta{tag}.png"
            how = (
                "every pixel" if complete else f"median of {len(pixels)} sampled pixels per region"
            )
            plots.heatmaps(
                picture,
                panels,
                f"{rep.name}: one-pixel change δ = {label} ({how}, median over {len(test)} clips)",
                axes=axes,
            )
            result.artifacts.append(
                Artifact(ctx.relpath(picture), "png", f"per-pixel heatmaps, δ = {label}")
            )
        return result

    @staticmethod
    def _summaries(
        result: TaskResult,
        name: str,
        label: str,
        uniform: tuple[np.ndarray, np.ndarray, bool],
        weighted: tuple[np.ndarray, EnergyDesign, PixelEnergy],
        seed: int,
        n_boot: int,
    ) -> None:
        """Median, p5 and p95 of one metric's per-pixel values, uniform and energy-weighted.

        ``uniform``: the stratified sample's values, their strata, and whether that is every
        pixel (then no interval); ``weighted``: the values at the design's draws, the
        design and the pixel energies (:func:`grainbench.metrics.weighted.energy_weighted`).
        ``proportionality`` adds the median of ``|slope − 1|`` (``proportionality_dev``).
        """
        values, strata, complete = uniform
        drawn, design, energy = weighted
        stats = {"median": 50.0, "p5": 5.0, "p95": 95.0}
        groups = [(name, stats, values, drawn)]
        if name == "proportionality":
            dev = (
                "proportionality_dev",
                {"median": 50.0},
                np.abs(values - 1.0),
                np.abs(drawn - 1.0),
            )
            groups.append(dev)
        summary: dict[str, Any] = {"energy": {}}
        for metric, wanted, v_uniform, v_drawn in groups:
            estimates = energy_weighted(
                v_drawn,
                design.pixels[:, None],
                energy,
                quantiles=[q / 100.0 for q in wanted.values()],
                proposal=design.proposal,
                blocks=design.blocks,
                seed=seed,
                n_boot=n_boot,
            )
            for (stat, q), est in zip(wanted.items(), estimates, strict=True):
                if complete:
                    value, lo, hi = float(nan_percentiles(v_uniform, [q])[0]), None, None
                else:
                    value, lo, hi = bootstrap_percentile(
                        v_uniform, q, strata=strata, seed=seed, n_boot=n_boot
                    )
                key = stat if metric == name else "median_dev"
                summary[key], summary["energy"][key] = value, est.value
                for weight, (v, low, high) in (
                    ("none", (value, lo, hi)),
                    ("energy", (est.value, est.low, est.high)),
                ):
                    if math.isfinite(v):
                        cond = {"delta": label, "stat": stat, "weight": weight}
                        result.metrics.append(MetricValue(metric, v, low, high, cond))
        result.data["summary"][label][name] = summary
