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
=============  ==========================================================================

Training images are normalised once and clipped to ±``clip`` standard deviations (outliers
only: a rare bright pixel where the training set is nearly always quiet); the generator's
``out_mean``/``out_std`` buffers undo the normalisation in every forward pass that is not
asked for normalised output, so samples, checkpoints and exported modules are all in the
representation's own image space.
"""

from __future__ import annotations

import torch

MODES = ("none", "global", "per-pixel")


def image_statistics(
    images: torch.Tensor, mode: str, floor: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std maps (C, H, W) of ``images`` (N, C, H, W) for normalisation ``mode``."""
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
    mean = x.mean(dim=0)
    std = x.std(dim=0) if x.shape[0] > 1 else torch.zeros_like(mean)
    return mean.float(), std.clamp_min(float(floor) * float(global_std)).float()


def normalize_images(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """``(images - mean) / std``, clipped to ±``clip`` when given."""
    out = (images - mean.to(images)) / std.to(images)
    return out.clamp(-clip, clip) if clip is not None else out
