"""The sound energy each pixel carries, and its mean over a dataset (``E_p``).

Metrics that summarise pixels "where the sound is" weight each pixel by ``E_p``, the mean
over the training images of the energy (sum of squared samples) that the pixel carries.
How a pixel's energy is found, in order of preference (the rule used is recorded):

1. **declared**: the representation (the plugin object) has a method
   ``pixel_energy(images (B, C, H, W)) -> (B, C, H, W)``;
2. **staged**: a :class:`~grainbench.stages.StagedRepresentation` whose first stage (the
   transform) has a coefficient rule and whose later stages each carry energy. The image
   is taken back through the later stages' inverses (layout, companding, …) to the
   transform's coefficients, the rule gives each coefficient's energy, and the later
   stages carry those energies forward to pixel positions. A stage brings its own rule
   with ``coefficient_energy(y) -> e`` (a transform; ``y`` its output, ``e`` of ``y``'s
   shape) or ``carry_energy(e) -> e'`` (a later stage: energies shaped like its input →
   like its output); the built-in stages' rules are in this module:

   - orthonormal bases and Parseval frames (``Waveform``: sample²; ``DCT``,
     ``RealImagFFT``, ``MDCT``: coefficient²; ``STFT``, ``CQT``: each real or imaginary
     coefficient²): the coefficients' energies add up to the clip's energy, exactly;
   - polar (``PolarFFT``, ``MagIF``): the bin's |X|², on its magnitude pixel *and* on its
     phase / instantaneous-frequency pixel (a phase error at a loud bin is where the sound
     is), so these pixels add up to twice the clip's energy;
   - ``LogMel``: band m at frame t carries ``mel[m, t]·Σ_f spread[m, f]`` (the band's mean
     power times its share of the bins): its part of the STFT energy when the power is
     flat within the band (an approximation; exact for white noise);
   - ``HarmonicNoise``: harmonic k carries ``a_k²/2·hop`` per frame (0 at or above
     Nyquist), a noise band its mean power times its share of the bins (as ``LogMel``),
     and the f0 pixel the frame's whole harmonic energy (an f0 error moves every partial);
   - later stages: companding carries energy unchanged, layouts permute it, ``FreqWarp``
     splits each bin's energy among the rows that use it (in proportion to their matrix
     weights, so energy is conserved), ``MFCC`` shares a frame's energy equally among
     its cepstral coefficients (each one reshapes the whole frame's spectrum);
3. **fallback (variance)**: anything else. ``E_p`` is the variance of the pixel's value
   over the dataset: a pixel that never moves carries nothing. It is in squared image
   units, not sound energy, and counts a phase-like pixel of an empty bin as busy; a
   representation that can do better should declare ``pixel_energy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from grainbench.stages.base import StagedRepresentation
from grainbench.stages.companding import Compand
from grainbench.stages.cqt import CQT
from grainbench.stages.layouts import Arrange, Fold
from grainbench.stages.logmel import MFCC, LogMel
from grainbench.stages.magif import MagIF
from grainbench.stages.mdct import MDCT
from grainbench.stages.melscale import FreqWarp
from grainbench.stages.parametric import PIANO_HIGH_HZ, PIANO_LOW_HZ, HarmonicNoise
from grainbench.stages.stft import STFT
from grainbench.stages.transforms import DCT, PolarFFT, RealImagFFT, Waveform
from grainbench.training_images import TrainingImages

N_GROUPS = 20
"""Training clips are summed in up to this many contiguous groups, the bootstrap's units."""

Rule = Callable[[Any, torch.Tensor], torch.Tensor]


def _squares(stage: Any, y: torch.Tensor) -> torch.Tensor:
    return y.double().pow(2)


def _log_magnitude(y: torch.Tensor, peak: torch.Tensor, range_db: float) -> torch.Tensor:
    """Undo ``2·ln(1 + a/ε)/ln(1 + peak/ε) − 1`` with ``ε = peak·10^(−range_db/20)``."""
    peak = peak.double()
    eps = peak * 10.0 ** (-range_db / 20.0)
    return eps * torch.expm1((y.double() + 1.0) * 0.5 * torch.log1p(peak / eps))


def _polar(magnitude: torch.Tensor, plane_axis: int) -> torch.Tensor:
    """``|X|²`` on both the magnitude plane and the phase plane (``plane_axis`` of the output)."""
    power = magnitude.double().pow(2)
    return torch.stack([power, power], dim=plane_axis)


def _polar_fft(stage: PolarFFT, y: torch.Tensor) -> torch.Tensor:
    return _polar(y[..., 0, :], -2)  # (…, 2, K)


def _magif(stage: MagIF, y: torch.Tensor) -> torch.Tensor:
    return _polar(_log_magnitude(y[..., 0, :, :], stage.peak, stage.range_db), -3)  # (…, 2, F, T)


def _band_share(spread: torch.Tensor) -> torch.Tensor:
    """Each band's share of the bins: ``Σ_f spread[m, f]`` as a column ``(M, 1)``."""
    return spread.double().sum(-1, keepdim=True)


def _log_mel(stage: LogMel, y: torch.Tensor) -> torch.Tensor:
    db = (y.double() - 1.0) * 0.5 * stage.range_db + stage.peak_db.double()
    return 10.0 ** (db / 10.0) * _band_share(stage.spread)


def _harmonic_noise(stage: HarmonicNoise, y: torch.Tensor) -> torch.Tensor:
    rows = y.double()
    k = stage.n_harmonics
    span = math.log(PIANO_HIGH_HZ / PIANO_LOW_HZ)
    f0 = PIANO_LOW_HZ * torch.exp((rows[..., :1, :] + 1.0) * 0.5 * span)
    amps = _log_magnitude(rows[..., 1 : 1 + k, :], stage.peaks[0], stage.range_db)
    order = torch.arange(1, k + 1, dtype=torch.float64, device=rows.device)[:, None]
    audible = order * f0 < 0.5 * stage.sample_rate
    harmonic = amps.pow(2) / 2.0 * stage.hop * audible
    noise = _log_magnitude(rows[..., 1 + k :, :], stage.peaks[1], stage.range_db)
    noise = noise.pow(2) * _band_share(stage.spread)
    return torch.cat([harmonic.sum(-2, keepdim=True), harmonic, noise], dim=-2)


COEFFICIENT_RULES: dict[type, Rule] = {
    Waveform: _squares,
    DCT: _squares,
    RealImagFFT: _squares,
    MDCT: _squares,
    STFT: _squares,
    CQT: _squares,
    PolarFFT: _polar_fft,
    MagIF: _magif,
    LogMel: _log_mel,
    HarmonicNoise: _harmonic_noise,
}
"""Built-in transforms: their output ``y`` → the energy of each coefficient (``y``'s shape)."""


def _unchanged(stage: Any, e: torch.Tensor) -> torch.Tensor:
    return e


def _permuted(stage: Any, e: torch.Tensor) -> torch.Tensor:
    return stage(e)


def _freq_warp(stage: FreqWarp, e: torch.Tensor) -> torch.Tensor:
    m = stage.matrix.double().abs()
    used = m.sum(0, keepdim=True)
    share = m / torch.where(used > 0, used, torch.ones_like(used))
    return torch.einsum("gf,...ft->...gt", share, e)


def _mfcc(stage: MFCC, e: torch.Tensor) -> torch.Tensor:
    return (e.sum(-2, keepdim=True) / e.shape[-2]).expand_as(e)


CARRY_RULES: dict[type, Rule] = {
    Compand: _unchanged,
    Fold: _permuted,
    Arrange: _permuted,
    FreqWarp: _freq_warp,
    MFCC: _mfcc,
}
"""Built-in later stages: energies shaped like the stage's input → like its output."""


def _coefficient_rule(stage: Any) -> Rule | None:
    own = getattr(stage, "coefficient_energy", None)
    if callable(own):
        return lambda _stage, y: own(y)
    return COEFFICIENT_RULES.get(type(stage))


def _carry_rule(stage: Any) -> Rule | None:
    own = getattr(stage, "carry_energy", None)
    if callable(own):
        return lambda _stage, e: own(e)
    return CARRY_RULES.get(type(stage))


def energy_rule(rep: Any) -> str:
    """Which rule gives ``rep``'s pixel energies: ``"declared"``, ``"staged"`` or
    ``"fallback:variance"`` (see the module doc)."""
    inner = getattr(rep, "plugin", rep)
    if callable(getattr(inner, "pixel_energy", None)):
        return "declared"
    if isinstance(inner, StagedRepresentation):
        first, *rest = inner.stages
        if _coefficient_rule(first) is not None and all(_carry_rule(s) for s in rest):
            return "staged"
    return "fallback:variance"


@torch.no_grad()
def pixel_energy(rep: Any, images: torch.Tensor) -> torch.Tensor:
    """The sound energy each pixel of ``images (B, C, H, W)`` carries, ``(B, C, H, W)`` float64.

    By the declared or the staged rule (see the module doc); ``ValueError`` when ``rep``
    has neither (its dataset energy then falls back to the pixel variance, which is not a
    per-image quantity: see :class:`EnergyAccumulator`).
    """
    inner = getattr(rep, "plugin", rep)
    rule = energy_rule(rep)
    if rule == "declared":
        out = inner.pixel_energy(images)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(images.shape):
            raise ValueError(
                f"{getattr(inner, 'name', type(inner).__name__)}.pixel_energy must return a "
                f"tensor of the images' shape {tuple(images.shape)}"
            )
        return out.double()
    if rule != "staged":
        raise ValueError(f"{getattr(rep, 'name', rep)} declares no pixel energy rule")
    first, *rest = inner.stages
    y = images
    for stage in reversed(rest):
        y = stage.inverse(y)
    e = _coefficient_rule(first)(first, y)
    for stage in rest:
        e = _carry_rule(stage)(stage, e)
    return e.double()


@dataclass
class PixelEnergy:
    """``E_p`` of every pixel (``mean``, flat, float64) with what the bootstrap needs.

    ``groups`` holds per-group sums ``(G, P)`` of the per-image energies (or, for the
    variance fallback, of the values, with ``squares`` the sums of their squares);
    ``sizes`` the number of clips in each group.
    """

    mean: np.ndarray
    rule: str
    n_clips: int
    groups: np.ndarray
    sizes: np.ndarray
    squares: np.ndarray | None = None

    def replicates(self, rng: np.random.Generator, n: int, pixels: np.ndarray) -> np.ndarray:
        """``E`` at ``pixels`` for ``n`` bootstrap resamples of the clips, ``(n, len(pixels))``.

        Each resample draws the groups with replacement (groups of clips drawn with
        replacement, a bootstrap of the clips by blocks).
        """
        g = len(self.sizes)
        counts = np.stack([np.bincount(rng.integers(0, g, g), minlength=g) for _ in range(n)])
        clips = counts @ self.sizes
        first = counts @ self.groups[:, pixels] / clips[:, None]
        if self.squares is None:
            return first
        second = counts @ self.squares[:, pixels] / clips[:, None]
        return np.maximum(second - first**2, 0.0)


class EnergyAccumulator:
    """Sums pixel energies over a dataset's images, batch by batch, into :class:`PixelEnergy`.

    ``add`` takes consecutive batches of the ``n_clips`` training images (in order); clip i
    goes to group ``i·G // n_clips`` (G = min(n_clips, :data:`N_GROUPS`)).
    """

    def __init__(self, rep: Any, n_clips: int, n_groups: int = N_GROUPS) -> None:
        self.rep = rep
        self.rule = energy_rule(rep)
        self.n_clips = int(n_clips)
        self.n_groups = max(1, min(self.n_clips, int(n_groups)))
        self.seen = 0
        self.groups: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None

    def add(self, images: torch.Tensor) -> None:
        """Add the next batch of images ``(B, C, H, W)``."""
        flat = images.reshape(images.shape[0], -1)
        if self.rule == "fallback:variance":
            values, squares = flat.double(), flat.double().pow(2)
        else:
            values, squares = pixel_energy(self.rep, images).reshape(flat.shape), None
        clip = torch.arange(self.seen, self.seen + len(flat), device=flat.device)
        group = clip * self.n_groups // self.n_clips
        if self.groups is None:
            self.groups = values.new_zeros(self.n_groups, flat.shape[1])
            if squares is not None:
                self.squares = values.new_zeros(self.n_groups, flat.shape[1])
        self.groups.index_add_(0, group, values)
        if squares is not None:
            self.squares.index_add_(0, group, squares)
        self.seen += len(flat)

    def result(self) -> PixelEnergy:
        """The dataset's pixel energies (every clip must have been added)."""
        if self.groups is None or self.seen != self.n_clips:
            raise ValueError(f"added {self.seen} of {self.n_clips} clips")
        groups = self.groups.cpu().numpy()
        sizes = np.bincount(
            np.arange(self.n_clips) * self.n_groups // self.n_clips, minlength=self.n_groups
        ).astype(np.float64)
        mean = groups.sum(0) / self.n_clips
        squares = None
        if self.squares is not None:
            squares = self.squares.cpu().numpy()
            mean = np.maximum(squares.sum(0) / self.n_clips - mean**2, 0.0)
        return PixelEnergy(mean, self.rule, self.n_clips, groups, sizes, squares)


def training_pixel_energy(training: TrainingImages, batch_size: int = 32) -> PixelEnergy:
    """``E_p`` over the training clips of ``training`` (their images ``batch_size`` at a time,
    encoded once per run: :class:`~grainbench.training_images.TrainingImages`)."""
    acc = EnergyAccumulator(training.rep, len(training.audio))
    for _, images in training.batches(batch_size):
        acc.add(images)
    return acc.result()
