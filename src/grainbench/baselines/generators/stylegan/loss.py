"""StyleGAN2 losses: non-saturating logistic GAN loss, lazy R1, optional path-length penalty."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``mean(softplus(-D(G(z))))``."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic discriminator loss ``mean(softplus(D(fake))) + mean(softplus(-D(real)))``."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(
    d_fn: Callable[[torch.Tensor], torch.Tensor], reals: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample R1 penalty ``‖∇ₓ D(x)‖²`` on real images (Mescheder et al. 2018).

    ``d_fn`` maps images to logits (B, 1). Returns the per-sample squared gradient norms
    (B,) with a graph for backpropagation, and the logits.
    """
    reals = reals.detach().requires_grad_(True)
    # D sees a view, not the leaf itself: module backward hooks (e.g. FlopCounterMode's)
    # cannot handle a leaf input under autograd.grad
    logits = d_fn(reals.view_as(reals))
    (grad,) = torch.autograd.grad(logits.sum(), reals, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3]), logits


def r1_loss(penalty: torch.Tensor, gamma: float, interval: int) -> torch.Tensor:
    """The lazy R1 term ``γ/2 · mean(penalty) · interval`` (applied every ``interval`` steps)."""
    return penalty.mean() * (gamma / 2) * interval


def path_lengths(
    img: torch.Tensor, ws: torch.Tensor, gen: torch.Generator | None = None
) -> torch.Tensor:
    """Per-sample path lengths ``‖J_wᵀ y‖`` for path-length regularisation (StyleGAN2 3.2).

    ``img`` must have been synthesised from ``ws`` (with the graph kept). ``y`` is a random
    image-space direction scaled by ``1/sqrt(H·W)``; the result has a graph for
    backpropagation.
    """
    noise = torch.randn(img.shape, generator=gen, device=img.device, dtype=img.dtype)
    noise = noise / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


def path_length_penalty(lengths: torch.Tensor, pl_mean: torch.Tensor) -> torch.Tensor:
    """Per-sample penalty ``(length - a)²`` with ``a`` the running mean of path lengths."""
    return (lengths - pl_mean).square()


def lazy_adam_params(
    lr: float, betas: tuple[float, float], interval: int | None
) -> tuple[float, tuple[float, float]]:
    """Adam learning rate and betas corrected for lazy regularisation every ``interval`` steps.

    With a separate regularisation step every ``k`` minibatches, Adam takes ``k + 1`` steps
    where it would take ``k``; with ``c = k/(k+1)``: ``lr·c`` and ``β^c`` keep the same
    effective schedule (StyleGAN2 appendix B). ``None`` (no lazy regularisation) returns the
    values unchanged.
    """
    if not interval:
        return lr, betas
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)
