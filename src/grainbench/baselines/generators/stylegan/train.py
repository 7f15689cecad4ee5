"""The StyleGAN training loop: losses, lazy regularisation, EMA, ADA, checkpoints and resume.

One step processes one global minibatch in four phases, as StyleGAN2/ADA do:

1. **G main**: non-saturating loss on D(augment(G(z))); updates the mapping's running mean
   of w;
2. **G reg** (every ``pl_interval`` steps, only with ``pl_weight > 0``): path-length penalty
   on a smaller batch, scaled by the interval;
3. **D main**: logistic loss on augmented reals and fakes; collects the sign of D on reals
   for ADA;
4. **D reg** (every ``r1_interval`` steps): lazy R1 on augmented reals, scaled by the
   interval.

Adam's learning rate and betas are corrected for the extra regularisation steps
(:func:`~grainbench.baselines.generators.stylegan.loss.lazy_adam_params`). After the step the
generator EMA (half-life ``ema_kimg`` thousand images, ramped up over the first images) and,
every ``ada_interval`` steps, ADA's ``p`` are updated.

**Randomness.** Every random draw of a step comes from ``torch.Generator`` objects seeded from
``(seed, step, stream)`` by NumPy's ``SeedSequence``
(:func:`~grainbench.baselines.generators.training.step_generator`): stream 0 is shared by
all ranks (data indices, latents, labels, style-mixing cut-off: the global batch), stream
``1 + rank`` is the rank's own (noise inputs, augmentation, path-length directions). Network initialisation draws
from the global torch RNG inside ``torch.random.fork_rng`` seeded with ``seed`` (restored
afterwards). So a run is a pure function of ``(seed, config, data)`` on CPU, and resuming needs
only the step counter and the tensors in the checkpoint: no RNG state has to be carried.

**Checkpoints** (:mod:`.checkpoint`) hold every tensor of the training state and its JSON
description; the folder is written under a temporary name and renamed, so a killed run
leaves either a complete checkpoint or none. No pickle anywhere.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grainbench.baselines.generators.stylegan.augment import AdaController, AudioAugment
from grainbench.baselines.generators.stylegan.checkpoint import TrainerCheckpoints, build_networks
from grainbench.baselines.generators.stylegan.configs import StyleGANConfig
from grainbench.baselines.generators.stylegan.ddp import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    broadcast_buffers,
    shard,
    wrap,
)
from grainbench.baselines.generators.stylegan.loss import (
    discriminator_loss,
    generator_loss,
    lazy_adam_params,
    path_length_penalty,
    path_lengths,
    r1_loss,
    r1_penalty,
)
from grainbench.baselines.generators.stylegan.normalize import image_statistics, normalize_images
from grainbench.baselines.generators.stylegan.stylegan2 import Generator
from grainbench.baselines.generators.training import step_generator
from grainbench.errors import UserError


class Trainer(TrainerCheckpoints):
    """Trains a StyleGAN2/3 generator on images ``(N, C, H, W)`` in [-1, 1].

    ``labels`` are class indices (0 … ``num_classes - 1``) for a conditional model, or
    ``None``. ``out_dir`` receives checkpoints, ``log.jsonl`` and whatever ``snapshot_hook``
    writes; ``None`` trains in memory only. ``metadata`` is stored in every checkpoint (the
    caller's description of data, representation, classes). ``dist`` describes the process
    group (see :mod:`~grainbench.baselines.generators.stylegan.ddp`).
    """

    def __init__(
        self,
        cfg: StyleGANConfig,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        num_classes: int = 0,
        seed: int = 0,
        out_dir: str | os.PathLike[str] | None = None,
        dist: DistInfo | None = None,
        progress: bool = True,
        metadata: dict[str, Any] | None = None,
        snapshot_hook: Callable[[Trainer], None] | None = None,
    ) -> None:
        if images.ndim != 4:
            raise UserError(
                f"StyleGAN trains on (N, C, H, W) images, got shape {tuple(images.shape)}"
            )
        self.cfg = cfg
        self.info = dist or DistInfo()
        self.device = self.info.device
        if cfg.batch % self.info.world_size:
            raise UserError(
                f"batch {cfg.batch} does not divide over {self.info.world_size} processes"
            )
        self.image_shape: tuple[int, int, int] = tuple(int(s) for s in images.shape[1:])  # type: ignore[assignment]
        self.images = images.detach().to(self.device, torch.float32)
        self.num_classes = int(num_classes)
        if self.num_classes and labels is None:
            raise UserError("a conditional StyleGAN needs labels")
        self.labels = (
            labels.to(self.device, torch.long)
            if (labels is not None and self.num_classes)
            else None
        )
        self.seed = int(seed)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress and self.info.is_main
        self.metadata = dict(metadata or {})
        self.snapshot_hook = snapshot_hook

        G, D = build_networks(cfg, self.image_shape, self.num_classes, self.seed)
        mean, std = image_statistics(self.images.cpu(), cfg.normalize, cfg.normalize_floor)
        G.set_output_scale(mean, std)
        if cfg.normalize != "none":
            self.images = normalize_images(self.images, mean, std, cfg.normalize_clip)
        self.G = G.to(self.device).train()
        self.D = D.to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G_ddp = wrap(self.G, self.info)
        self.D_ddp = wrap(self.D, self.info)
        self.augment = AudioAugment(cfg.augment_ops, time_axis=cfg.augment_time_axis).to(
            self.device
        )
        self.ada = (
            AdaController(self.augment, cfg.ada_target, cfg.ada_interval, cfg.ada_kimg)
            if cfg.ada_target is not None and cfg.augment_ops
            else None
        )
        pl_interval = cfg.pl_interval if cfg.pl_weight > 0 else None
        lr_g, betas_g = lazy_adam_params(cfg.lr_g, cfg.betas, pl_interval)
        lr_d, betas_d = lazy_adam_params(
            cfg.lr_d, cfg.betas, cfg.r1_interval if cfg.r1_gamma > 0 else None
        )
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=betas_g, eps=cfg.eps)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=betas_d, eps=cfg.eps)
        self.pl_mean = torch.zeros([], device=self.device)
        self.step = 0
        self.nimg = 0
        self.stats: dict[str, float] = {}
        self._last_r1 = float("nan")
        self._last_rt = float("nan")
        self.stopped_at_time_limit = False

    # ------------------------------------------------------------------ one step
    def _draw(self) -> dict[str, Any]:
        """The step's shared draws (global batch), sharded to this rank."""
        cfg, n = self.cfg, self.images.shape[0]
        B = cfg.batch
        g = step_generator(self.seed, self.step, 0)
        idx = torch.randint(n, (B,), generator=g)
        z_g = torch.randn(B, cfg.z_dim, generator=g)
        z_d = torch.randn(B, cfg.z_dim, generator=g)
        z_mix = torch.randn(B, cfg.z_dim, generator=g)
        c_idx = torch.randint(n, (B,), generator=g)
        mix_draw = float(torch.rand((), generator=g))
        cutoff = int(torch.randint(1, self.G.num_ws, (), generator=g)) if self.G.num_ws > 1 else 0
        use_mix = cfg.style_mixing > 0 and mix_draw < cfg.style_mixing and cutoff > 0
        dev = self.device

        def sh(t: torch.Tensor) -> torch.Tensor:
            return shard(t, self.info).to(dev)

        idx_local = sh(idx)
        labels = self.labels
        return {
            "reals": self.images[idx_local],
            "real_c": labels[idx_local] if labels is not None else None,
            "z_g": sh(z_g),
            "z_d": sh(z_d),
            "z_mix": sh(z_mix) if use_mix else None,
            "cutoff": cutoff if use_mix else None,
            "c": labels[sh(c_idx)] if labels is not None else None,
        }

    @staticmethod
    def _clean_grads(module: nn.Module) -> None:
        for p in module.parameters():
            if p.grad is not None:
                torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)

    def train_step(self) -> dict[str, float]:
        """Run one step (all four phases, EMA, ADA); returns this step's losses."""
        cfg, info = self.cfg, self.info
        d = self._draw()
        local = step_generator(self.seed, self.step, 1 + info.rank, self.device)
        out: dict[str, float] = {}

        # G main
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        img, ws = self.G_ddp(
            d["z_g"],
            d["c"],
            gen=local,
            mix_z=d["z_mix"],
            mix_cutoff=d["cutoff"],
            return_ws=True,
            normalized=True,
        )
        loss_g = generator_loss(self.D(self.augment(img, local), d["c"]))
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self._clean_grads(self.G)
        self.opt_G.step()
        self.G.mapping.update_w_avg(all_reduce_mean(ws[:, 0].detach().mean(dim=0), info))
        out["loss_G"] = float(all_reduce_mean(loss_g.detach(), info))

        # G reg: path length
        if cfg.pl_weight > 0 and self.step % cfg.pl_interval == 0:
            bs = max(d["z_g"].shape[0] // cfg.pl_batch_shrink, 1)
            c = d["c"][:bs] if d["c"] is not None else None
            img, ws = self.G_ddp(d["z_g"][:bs], c, gen=local, return_ws=True, normalized=True)
            lengths = path_lengths(img, ws, local)
            self.pl_mean = self.pl_mean.lerp(all_reduce_mean(lengths.detach().mean(), info), 0.01)
            pen = path_length_penalty(lengths, self.pl_mean)
            loss = pen.mean() * cfg.pl_weight * cfg.pl_interval + img.sum() * 0
            self.opt_G.zero_grad(set_to_none=True)
            loss.backward()
            self._clean_grads(self.G)
            self.opt_G.step()
            out["pl"] = float(pen.detach().mean())

        # D main
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            fake = self.G(
                d["z_d"],
                d["c"],
                gen=local,
                mix_z=d["z_mix"],
                mix_cutoff=d["cutoff"],
                normalized=True,
            )
        fake_logits = self.D_ddp(self.augment(fake, local), d["c"])
        real_logits = self.D_ddp(self.augment(d["reals"], local), d["real_c"])
        if self.ada is not None:
            self.ada.accumulate(real_logits)
        loss_d = discriminator_loss(real_logits, fake_logits)
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        self._clean_grads(self.D)
        self.opt_D.step()
        out["loss_D"] = float(all_reduce_mean(loss_d.detach(), info))
        out["D_real"] = float(all_reduce_mean(real_logits.detach().mean(), info))
        out["D_fake"] = float(all_reduce_mean(fake_logits.detach().mean(), info))

        # D reg: lazy R1
        if cfg.r1_gamma > 0 and self.step % cfg.r1_interval == 0:
            aug = self.augment(d["reals"], local)
            pen, logits = r1_penalty(lambda x: self.D_ddp(x, d["real_c"]), aug)
            loss = r1_loss(pen, cfg.r1_gamma, cfg.r1_interval) + logits.sum() * 0
            self.opt_D.zero_grad(set_to_none=True)
            loss.backward()
            self._clean_grads(self.D)
            self.opt_D.step()
            self._last_r1 = float(all_reduce_mean(pen.detach().mean(), info))
        out["r1"] = self._last_r1
        self.G.requires_grad_(False)

        # EMA of G
        B = cfg.batch
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.nimg * cfg.ema_rampup)
        beta = 0.5 ** (B / max(ema_nimg, 1e-8))
        broadcast_buffers(self.G, info)
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                p_ema.copy_(p.detach().lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                b_ema.copy_(b)

        # ADA
        if self.ada is not None and (self.step + 1) % cfg.ada_interval == 0:
            sums = all_reduce_sum(
                torch.tensor(
                    [self.ada.sign_sum, self.ada.count], dtype=torch.float64, device=self.device
                ),
                info,
            )
            self._last_rt = self.ada.update(B, float(sums[0]), float(sums[1]))
        out["p"] = float(self.augment.p)
        out["rt"] = self._last_rt

        self.step += 1
        self.nimg += B
        return out

    # ------------------------------------------------------------------ the loop
    def steps_for_kimg(self, kimg: float) -> int:
        """Steps needed to show ``kimg`` thousand images (at least one)."""
        return max(1, math.ceil(kimg * 1000 / self.cfg.batch))

    def train(
        self, kimg: float, stop_after_steps: int | None = None, time_limit_s: float | None = None
    ) -> dict[str, float]:
        """Train until ``kimg`` thousand images have been shown in total (resumed runs count
        from their checkpoint). Writes a checkpoint (and calls the snapshot hook) every
        ``snapshot_kimg`` and at the end. ``stop_after_steps`` ends early after that many
        steps of this call (no final checkpoint: used to simulate an interruption).
        ``time_limit_s`` ends early once this call has trained that many wall seconds (the
        step under way finishes; then the final checkpoint and snapshot, and
        ``stopped_at_time_limit`` is set); one process only, since ranks timing themselves
        would stop at different steps. Returns the last step's statistics."""
        if time_limit_s is not None and self.info.world_size > 1:
            raise UserError("a StyleGAN time limit needs one process; DDP runs stop at kimg")
        self.stopped_at_time_limit = False
        total = self.steps_for_kimg(kimg)
        snap = max(1, round(self.cfg.snapshot_kimg * 1000 / self.cfg.batch))
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(
                total=total, initial=self.step, desc=f"{self.cfg.arch} {self.cfg.name}", unit="step"
            )
        if self.step == 0:
            self.snapshot()  # the starting point, for "improves over its start"
        t0, n0 = time.perf_counter(), self.nimg
        done = 0
        while self.step < total:
            if stop_after_steps is not None and done >= stop_after_steps:
                break
            if time_limit_s is not None and time.perf_counter() - t0 >= time_limit_s:
                self.stopped_at_time_limit = True
                break
            stats = self.train_step()
            done += 1
            elapsed = time.perf_counter() - t0
            stats["img_per_s"] = (self.nimg - n0) / max(elapsed, 1e-9)
            stats["kimg"] = self.nimg / 1000
            self.stats = stats
            if bar is not None:
                bar.update(1)
                bar.set_postfix(
                    {
                        "img/s": f"{stats['img_per_s']:.1f}",
                        "G": f"{stats['loss_G']:.3f}",
                        "D": f"{stats['loss_D']:.3f}",
                        "r1": f"{stats['r1']:.3g}",
                        "p": f"{stats['p']:.3f}",
                    }
                )
            if self.step % snap == 0 or self.step == total:
                self.snapshot()
        if self.stopped_at_time_limit and self.step % snap != 0:
            self.snapshot()  # the state reached, as the final checkpoint
        if bar is not None:
            bar.close()
        return self.stats

    def snapshot(self) -> None:
        """Write a checkpoint, a log line and call the snapshot hook (rank 0 only)."""
        if self.out_dir is None or not self.info.is_main:
            return
        self.save_checkpoint()
        line = {"step": self.step, "kimg": self.nimg / 1000, "time": time.time(), **self.stats}
        with open(self.out_dir / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                        for k, v in line.items()
                    }
                )
                + "\n"
            )
        if self.snapshot_hook is not None:
            self.snapshot_hook(self)

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(
        self, n: int, seed: int = 0, labels: torch.Tensor | None = None, batch: int = 16
    ) -> torch.Tensor:
        """``n`` images from the EMA generator with latents from ``seed`` (constant noise)."""
        return sample_images(self.G_ema, n, seed, labels, batch)


@torch.no_grad()
def sample_images(
    G: Generator,
    n: int,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    batch: int = 16,
    truncation_psi: float = 1.0,
) -> torch.Tensor:
    """``n`` images (CPU float32) from ``G`` with latents drawn from ``seed``.

    Latents are drawn on the CPU so the same seed gives the same latents on every device;
    noise inputs use their constant values. ``labels`` are class indices (n,) for a
    conditional ``G``; without them the classes are drawn uniformly from ``seed`` too.
    """
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, G.z_dim, generator=g)
    if G.c_dim and labels is None:
        labels = torch.randint(G.c_dim, (n,), generator=g)
    out = []
    for i in range(0, n, batch):
        c = labels[i : i + batch].to(device) if labels is not None and G.c_dim else None
        out.append(
            G(z[i : i + batch].to(device), c, truncation_psi, noise_mode="const").float().cpu()
        )
    return torch.cat(out) if out else torch.zeros(0, *G.image_shape)
