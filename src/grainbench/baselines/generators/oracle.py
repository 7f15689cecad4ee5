"""Noise oracle: real training images plus white Gaussian noise at a chosen image PSNR.

A generator that errs by a known amount: its samples are the training images themselves
with i.i.d. Gaussian noise of standard deviation σ = 2·10^(−PSNR/20) added to every pixel,
so that the image PSNR (peak 2, the range of [-1, 1]) is ``psnr`` dB. Scoring its decoded
clips separates the representation's grain from a model's quality.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.errors import UserError

PEAK = 2.0
"""Peak-to-peak range of images in [-1, 1], the PSNR peak."""


def noise_std(psnr: float) -> float:
    """Per-pixel noise standard deviation that gives image PSNR ``psnr`` dB at peak 2."""
    return PEAK * 10.0 ** (-float(psnr) / 20.0)


class NoiseOracle:
    """Training images plus white noise at image PSNR ``psnr`` dB (option ``psnr``, 40).

    ``sample`` draws training images without replacement (cycling through a fresh
    permutation when more are asked for than exist); with labels, each sample is a training
    image of its label. Images are not clipped: the codec decides what happens beyond ±1.
    """

    def __init__(self, image_shape: tuple[int, ...], psnr: float = 40.0) -> None:
        self.image_shape = tuple(int(s) for s in image_shape)
        try:
            self.psnr = float(psnr)
        except (TypeError, ValueError):
            raise UserError(f"oracle: psnr must be a number of dB, got {psnr!r}") from None
        if not math.isfinite(self.psnr):
            raise UserError(f"oracle: psnr must be finite, got {psnr!r}")
        self.images: torch.Tensor | None = None
        self.labels: np.ndarray | None = None

    def fit(self, images: torch.Tensor, labels: Any = None) -> None:
        """Keep the training images ``(N, C, H, W)`` (and labels)."""
        imgs = torch.as_tensor(images).detach().float().cpu()
        if tuple(imgs.shape[1:]) != self.image_shape or imgs.shape[0] < 1:
            raise UserError(
                f"oracle: images of shape {tuple(imgs.shape)}, expected (N, *{self.image_shape})"
            )
        self.images = imgs
        self.labels = None
        if labels is not None:
            lab = np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64).ravel()
            if lab.shape != (imgs.shape[0],):
                raise UserError(f"oracle: {lab.size} labels for {imgs.shape[0]} images")
            self.labels = lab

    def _pick(self, n: int, labels: Any, rng: np.random.Generator) -> np.ndarray:
        """Indices of the training images under the samples."""
        assert self.images is not None
        if labels is None or self.labels is None:
            return np.resize(rng.permutation(self.images.shape[0]), n)
        want = np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64).ravel()
        if want.shape != (n,):
            raise UserError(f"oracle: {want.size} labels for {n} samples")
        out = np.empty(n, dtype=np.int64)
        for label in np.unique(want):
            pool = np.flatnonzero(self.labels == label)
            if pool.size == 0:
                raise UserError(f"oracle: no training image has label {int(label)}")
            sel = np.flatnonzero(want == label)
            out[sel] = np.resize(rng.permutation(pool), sel.size)
        return out

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` noisy training images ``(n, C, H, W)``, seeded."""
        if self.images is None:
            raise UserError("oracle: call fit before sample")
        rng = np.random.default_rng(seed)
        idx = torch.from_numpy(self._pick(int(n), labels, rng))
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        noise = torch.randn((int(n), *self.image_shape), generator=gen) * noise_std(self.psnr)
        return self.images[idx] + noise

    def project(self, images: torch.Tensor, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """The oracle's "closest output" to images ``(N, C, H, W)``: the images themselves plus
        its white noise (σ = 2·10^(−PSNR/20) per pixel, drawn from ``seed``); ``labels``
        are unused. What a generator that draws every real image up to a known error gives."""
        del labels
        x = torch.as_tensor(images).detach().float().cpu()
        if tuple(x.shape[1:]) != self.image_shape:
            raise UserError(
                f"oracle: images of shape {tuple(x.shape[1:])}, expected {self.image_shape}"
            )
        gen = torch.Generator().manual_seed(int(seed))
        return x + torch.randn(x.shape, generator=gen) * noise_std(self.psnr)


def factory(image_shape: tuple[int, ...], **options: Any) -> NoiseOracle:
    """``GENERATORS`` factory: ``NoiseOracle(image_shape, psnr=…)``."""
    extra = set(options) - {"psnr"}
    if extra:
        raise UserError(f"oracle has no option(s) {', '.join(sorted(extra))}; it has: psnr")
    return NoiseOracle(image_shape, **options)
