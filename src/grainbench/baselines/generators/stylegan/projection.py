"""Projection of images onto a trained StyleGAN2/3 generator (Image2StyleGAN's recipe).

For each target image the generator's closest output is found by optimising its latent
(Abdal et al. 2019, "Image2StyleGAN"): first one ``w`` shared by every layer (the W space,
``w_steps`` Adam steps), then one ``w`` per layer starting from the W result (the W+
space, ``wplus_steps`` steps). Adam with learning rate ``lr`` and β = (0.9, 0.999), as the
paper; the loss is the pixel MSE in the generator's *normalised* image space (what it was
trained in: ``(x − out_mean) / out_std``, see :mod:`.normalize`) and nothing else (no
perceptual term: sound images are not photographs). The noise inputs are fixed at their
constant values (``noise_mode="const"``); the generator's weights and buffers are not
changed.

The start is the mean of ``w`` over ``n_avg`` latents ``z`` drawn from ``seed`` (per
image label for a conditional generator), so the whole projection is a function of the
generator, the targets and ``seed``. Images are optimised ``batch`` at a time; the loss is
the *sum* of the per-image MSEs, so each image's latent gets exactly the gradient it would
get alone (Adam is element-wise). Every step keeps, per image, the latent with the lowest
loss seen so far; that best latent's image is the projection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grainbench.baselines.generators.stylegan.stylegan2 import Generator
from grainbench.errors import UserError

W_STEPS = 250
"""Default Adam steps in W."""
WPLUS_STEPS = 250
"""Default Adam steps in W+."""
LEARNING_RATE = 0.01
"""Image2StyleGAN's Adam learning rate."""
N_AVG = 1000
"""Latents whose mean ``w`` starts the optimisation."""


@dataclass
class Projection:
    """A projection's result.

    ``images``: the generator's images of the best latents ``(B, C, H, W)``, in the
    representation's image space (CPU float32); ``ws``: those latents ``(B, num_ws, w_dim)``;
    ``history``: the best-so-far normalised-space MSE per image before the first step and
    after each step ``(1 + w_steps + wplus_steps, B)`` (float64, non-increasing by
    construction); ``mse``: its last row.
    """

    images: torch.Tensor
    ws: torch.Tensor
    history: torch.Tensor
    mse: torch.Tensor


def _start_ws(
    G: Generator, n: int, labels: torch.Tensor | None, seed: int, n_avg: int
) -> torch.Tensor:
    """The starting ``w`` per image ``(n, w_dim)``: mean over ``n_avg`` seeded latents."""
    device = G.out_mean.device
    z = torch.randn(n_avg, G.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    z = z.to(device)
    if not G.c_dim:
        w = G.mapping(z, None)[:, 0].mean(0)
        return w.expand(n, -1).clone()
    if labels is None:
        raise UserError("projection on a conditional StyleGAN needs class labels")
    out = torch.empty(n, G.w_dim, device=device)
    for c in torch.unique(labels):
        sel = labels == c
        cls = torch.full((n_avg,), int(c), dtype=torch.long, device=device)
        out[sel.to(device)] = G.mapping(z, cls)[:, 0].mean(0)
    return out


def _render(G: Generator, ws: torch.Tensor) -> torch.Tensor:
    """G's synthesis of ``ws`` in normalised image space (output shrinkage applied)."""
    img = G.synthesis(ws, noise_mode="const").float()
    if G.output_shrink > 0:
        img = torch.sign(img) * torch.relu(img.abs() - G.output_shrink)
    return img


def _optimise(
    G: Generator,
    target: torch.Tensor,
    param: torch.Tensor,
    expand: bool,
    steps: int,
    lr: float,
    best_ws: torch.Tensor,
    best: torch.Tensor,
    history: list[torch.Tensor],
) -> None:
    """``steps`` Adam steps on ``param`` (W: ``(B, w_dim)`` broadcast to every layer when
    ``expand``; W+: ``(B, num_ws, w_dim)``), updating ``best``/``best_ws`` in place and
    appending the best-so-far MSE after each step to ``history``."""
    param.requires_grad_(True)
    opt = torch.optim.Adam([param], lr=lr, betas=(0.9, 0.999), eps=1e-8)

    def loss_of() -> tuple[torch.Tensor, torch.Tensor]:
        ws = param[:, None, :].expand(-1, G.num_ws, -1) if expand else param
        per_image = (_render(G, ws) - target).square().flatten(1).mean(1)
        return per_image, ws

    for step in range(steps + 1):
        per_image, ws = loss_of()
        with torch.no_grad():
            better = per_image < best
            best.copy_(torch.where(better, per_image, best))
            best_ws[better] = ws[better].detach()
            if step:
                history.append(best.double().cpu().clone())
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        per_image.sum().backward()
        opt.step()
    param.requires_grad_(False)


def project_images(
    G: Generator,
    targets: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    w_steps: int = W_STEPS,
    wplus_steps: int = WPLUS_STEPS,
    lr: float = LEARNING_RATE,
    n_avg: int = N_AVG,
    seed: int = 0,
    batch: int = 16,
) -> Projection:
    """Project ``targets (B, C, H, W)`` (representation image space) onto ``G`` (module doc).

    ``labels`` are class indices ``(B,)`` for a conditional ``G``. Runs on ``G``'s device;
    results come back on the CPU.
    """
    if w_steps < 0 or wplus_steps < 0 or w_steps + wplus_steps < 1:
        raise UserError(f"projection needs at least one step, got W {w_steps} + W+ {wplus_steps}")
    if tuple(targets.shape[1:]) != tuple(G.image_shape):
        raise UserError(
            f"projection: images of shape {tuple(targets.shape[1:])}, expected {G.image_shape}"
        )
    device = G.out_mean.device
    images, all_ws, histories = [], [], []
    for i in range(0, len(targets), batch):
        x = targets[i : i + batch].to(device, torch.float32)
        tn = (x - G.out_mean) / G.out_std
        lab = None if labels is None else labels[i : i + batch]
        with torch.no_grad():
            w0 = _start_ws(G, len(x), lab, seed, n_avg)
            ws0 = w0[:, None, :].expand(-1, G.num_ws, -1).clone()
            best = (_render(G, ws0) - tn).square().flatten(1).mean(1)
        best_ws = ws0.clone()
        history = [best.double().cpu().clone()]
        with torch.enable_grad():
            if w_steps:
                _optimise(G, tn, w0.clone(), True, w_steps, lr, best_ws, best, history)
            if wplus_steps:
                start = best_ws.clone()
                _optimise(G, tn, start, False, wplus_steps, lr, best_ws, best, history)
        with torch.no_grad():
            out = _render(G, best_ws) * G.out_std + G.out_mean
        images.append(out.float().cpu())
        all_ws.append(best_ws.cpu())
        histories.append(torch.stack(history))
    hist = torch.cat(histories, dim=1)
    return Projection(torch.cat(images), torch.cat(all_ws), hist, hist[-1].clone())
