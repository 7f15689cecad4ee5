"""Which pixels the energy-weighted statistics use: the uniform sample plus energy draws.

A uniform sample of 1,024 pixels out of 65,536 puts about 30 of them where a piano note's
energy is, too few to estimate an energy-weighted median. So beside the stratified
uniform sample (``grainbench.analysis.pixels.sample_pixels``), which keeps serving
the unweighted statistics as before, ``n_extra`` pixels are drawn i.i.d. with
probability ``π_p ∝ target_p`` (the pixel's energy, or its pairs' energies). Pooled, the
two samples are a defensive mixture: pixel p is expected ``λ_p = incl_p + n_extra·π_p``
times (``incl_p`` its inclusion probability in the stratified sample), every pixel has
``λ_p > 0``, and weighting each draw by ``w/λ`` gives the importance-sampling estimator
of :mod:`grainbench.metrics.weighted`. When every pixel is measured, nothing is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EnergyDesign:
    """The draws of the weighted statistics: flat ``pixels (n,)`` (repeats allowed), each
    draw's expected count ``proposal`` and its bootstrap ``blocks`` (both None when every
    pixel is measured once), and how many of the draws came from the energy."""

    pixels: np.ndarray
    proposal: np.ndarray | None
    blocks: np.ndarray | None
    n_energy: int


def inclusion(everywhere: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Each pixel's inclusion probability ``(C·H·W,)`` in a stratified sample whose draws
    fell in ``strata`` (one label per drawn pixel), ``everywhere`` every pixel's stratum."""
    size = np.bincount(everywhere)
    taken = np.bincount(strata, minlength=size.size)
    return (taken / size)[everywhere]


def energy_design(
    uniform: np.ndarray,
    strata: np.ndarray,
    everywhere: np.ndarray | None,
    target: np.ndarray,
    n_extra: int,
    seed: int,
) -> EnergyDesign:
    """The uniform sample (``uniform`` pixels drawn in ``strata``) plus ``n_extra`` draws
    ∝ ``target (C·H·W,)`` (non-negative), seeded by ``seed``.

    ``everywhere`` holds every pixel's stratum (as ``sample_pixels(shape, "all", 0)[1]``),
    or None when the uniform sample is every pixel: then nothing is drawn. With a zero
    ``target`` (silent data) nothing is drawn either.
    """
    if everywhere is None:
        return EnergyDesign(np.asarray(uniform), None, None, 0)
    lam = inclusion(everywhere, strata)
    t = np.clip(np.asarray(target, dtype=np.float64), 0.0, None)
    total = float(t.sum())
    n = int(n_extra) if total > 0 else 0
    if n > 0:
        pi = t / total
        draws = np.random.default_rng([int(seed), 1]).choice(t.size, size=n, p=pi)
        lam = lam + n * pi
    else:
        draws = np.zeros(0, dtype=np.int64)
    pixels = np.concatenate([uniform, draws])
    blocks = np.concatenate([strata, np.full(n, int(strata.max(initial=0)) + 1)])
    return EnergyDesign(pixels, lam[pixels], blocks, n)
