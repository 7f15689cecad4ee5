"""Every per-pixel metric of one-pixel errors, by the cheapest exact route (:func:`measure`).

In the factorised cases (:attr:`grainbench.analysis.pixel_errors.PixelErrors.factorised`)
every shape statistic (time and frequency spread, the atom's band energies) is computed
once per pixel and the bases and δs only scale it. For a whole-clip DCT or
real/imaginary FFT the atoms are cosines, and their spectrogram, band energies and time
blocks are computed in closed form
(:meth:`grainbench.metrics.masking.MaskingModel.cosine_analysis`) without synthesising a
single atom: that is what makes the full 65,536-pixel map cheap. Otherwise
:class:`grainbench.analysis.decoded.DecodedMeasure` decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from grainbench.analysis.decoded import DecodedMeasure
from grainbench.analysis.maps import (
    CHUNK_SAMPLES,
    COSINE_CHUNK,
    METRICS,
    MULTIPLIERS,
    PerturbationMaps,
    log_ratio,
    slope,
)
from grainbench.analysis.pixel_errors import PixelErrors, chunks
from grainbench.analysis.shape import ErrorAnalyser


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
            "esr": log_ratio(e_energy / ref_energy[:, None, None]),
            "audibility": log_ratio(g1.pow(2) * ratio),
            "proportionality": slope(g),
            "time_spread": stats.time_spread[None, :, None].expand_as(g1),
            "freq_spread": stats.freq_spread[None, :, None].expand_as(g1),
        }
        for name, v in values.items():
            out[name][:, sl] = np.where(live, v.double().cpu().numpy(), np.nan)
    return PerturbationMaps(**out, first_order=[None] * d)
