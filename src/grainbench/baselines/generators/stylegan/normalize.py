"""Image normalisation for training: the statistics a generator learns in, and undoes.

Sound images are far from the natural images StyleGAN was built for: a whole-clip DCT
image is almost all zeros with a few bright harmonic pixels (piano-c3 at the small
setting: median |pixel| 0.0013, standard deviation 0.04), while a freshly initialised
generator draws values of standard deviation ~1.4 everywhere. SpecGAN (Donahue et al.
2019, "Adversarial Audio Synthesis") normalises each frequency bin of its spectrograms to
zero mean and unit variance over the training set and clips at 3 σ; ``per-pixel`` does
the same for every pixel of any representation's image, so the generator works with
unit-variance values everywhere and its leftover noise is scaled down to each pixel's own
spread when it is undone (a pixel that is quiet in every training image stays quiet).

=============  ==========================================================================
mode           statistics
=============  ==========================================================================
``none``       mean 0, std 1 (images as the representation makes them; the Ki pipeline)
``global``     one mean and one std over all pixels
``per-pixel``  mean and std of each (channel, row, column) over the training images; std
               floored at ``floor`` × the global std (so never-used pixels do not blow up)
``per-pixel-   as ``per-pixel`` but centred on each pixel's median: a pixel that is quiet
median``       in most training images (a DCT coefficient above an acoustic piano's band
               limit) has its quiet value at exactly 0, where the generator's output
               shrinkage (``Generator.output_shrink``) puts silence
=============  ==========================================================================

Training images are normalised once and clipped to ±``clip`` standard deviations (outliers
only: a rare bright pixel where the training set is nearly always quiet); the generator's
``out_mean``/``out_std`` buffers undo the normalisation in every forward pass that is not
asked for normalised output, so samples, checkpoints and exported modules are all in the
representation's own image space.
"""

from __future__ import annotations

import torch

MODES = ("none", "global", "per-pixel", "per-pixel-median")


def image_statistics(
    images: torch.Tensor, mode: str, floor: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre (mean, or median) and std maps (C, H, W) of ``images`` (N, C, H, W) for ``mode``."""
    if mode not in MODES:
        from grainbench.errors import UserError

        raise UserError(f"unknown image normalisation {mode!r}; choose one of: {', '.join(MODES)}")
    shape = images.shape[1:]
    x = images.detach().double()
    if mode == "none":
        return torch.zeros(shape), torch.ones(shape)
    global_std = x.std().clamp_min(1e-12)
    if mode == "global":
        return x.mean().expand(shape).float().clone(), global_std.expand(shape).float().clone()
    std = x.std(dim=0) if x.shape[0] > 1 else torch.zeros(shape, dtype=x.dtype)
    # the lower median (torch.median) for an even count: any size, unlike torch.quantile
    centre = x.median(dim=0).values if mode == "per-pixel-median" else x.mean(dim=0)
    return centre.float(), std.clamp_min(float(floor) * float(global_std)).float()


def normalize_images(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """``(images - mean) / std``, clipped to ±``clip`` when given."""
    out = (images - mean.to(images)) / std.to(images)
    return out.clamp(-clip, clip) if clip is not None else out
