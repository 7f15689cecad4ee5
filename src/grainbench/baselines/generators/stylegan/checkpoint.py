"""StyleGAN checkpoints: the format, reading one back, and a trainer's state in and out.

A checkpoint (:mod:`grainbench.baselines.generators.training`) holds G, D, G_ema, both Adam
states, ADA's p and the path-length mean as tensors, and as JSON the step, images seen,
config, image shape, classes, ADA's partial sums and the caller's metadata.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from grainbench.baselines.generators.stylegan.augment import AdaController, AudioAugment
from grainbench.baselines.generators.stylegan.configs import (
    StyleGANConfig,
    build_discriminator,
    build_generator,
)
from grainbench.baselines.generators.stylegan.ddp import DistInfo
from grainbench.baselines.generators.stylegan.stylegan2 import Generator
from grainbench.baselines.generators.training import (
    STATE_FILE,
    check_same_config,
    list_checkpoints,
    load_module,
    load_optimizer,
    optimizer_tensors,
    resolve_checkpoint,
    state_tensors,
    write_checkpoint,
)
from grainbench.baselines.generators.training import read_checkpoint_meta as read_meta
from grainbench.errors import UserError

CHECKPOINT_FORMAT = "grainbench-stylegan/1"

BOOKKEEPING = {"snapshot_kimg", "sample_count", "keep_checkpoints", "extra"}
"""Config fields that may differ between a checkpoint and the run that resumes it."""


def build_networks(
    cfg: StyleGANConfig, image_shape: tuple[int, int, int], num_classes: int, seed: int
) -> tuple[Generator, nn.Module]:
    """G and D initialised from ``seed`` (without disturbing the caller's global RNG)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = build_generator(cfg, image_shape, num_classes)
        D = build_discriminator(cfg, image_shape, num_classes)
    return G, D


def read_checkpoint_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON half of a StyleGAN checkpoint (a run folder's latest, a checkpoint folder or
    its JSON)."""
    return read_meta(path, CHECKPOINT_FORMAT, "StyleGAN")


def load_generator(
    path: str | os.PathLike[str], which: str = "G_ema", device: str | torch.device = "cpu"
) -> tuple[Generator, dict[str, Any]]:
    """Rebuild a trained generator (``G_ema`` by default) and the checkpoint's JSON."""
    ckpt = resolve_checkpoint(path, "StyleGAN")
    meta = read_checkpoint_meta(ckpt)
    try:
        cfg = StyleGANConfig.from_dict(meta["config"])
        shape = tuple(meta["image_shape"])
        G, _ = build_networks(cfg, shape, int(meta["num_classes"]), int(meta["seed"]))
        tensors = load_file(str(ckpt / STATE_FILE))
        load_module(G, which, tensors)
    except UserError:
        raise
    except Exception as exc:  # a damaged or foreign checkpoint: KeyError, SafetensorError…
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UserError(f"{ckpt}: damaged checkpoint ({type(exc).__name__}: {first})") from None
    return G.to(device).eval().requires_grad_(False), meta


class TrainerCheckpoints:
    """The checkpointing half of :class:`~grainbench.baselines.generators.stylegan.train.Trainer`:
    its training state to tensors and JSON, and back."""

    cfg: StyleGANConfig
    info: DistInfo
    device: torch.device
    image_shape: tuple[int, int, int]
    num_classes: int
    seed: int
    out_dir: Path | None
    metadata: dict[str, Any]
    G: Generator
    D: nn.Module
    G_ema: Generator
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    augment: AudioAugment
    ada: AdaController | None
    pl_mean: torch.Tensor
    step: int
    nimg: int
    stats: dict[str, float]
    _last_r1: float
    _last_rt: float

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor of the training state, keyed ``G/…``, ``D/…``, ``G_ema/…``, ``opt_G/…``…"""
        t: dict[str, torch.Tensor] = {}
        t.update(state_tensors("G", self.G))
        t.update(state_tensors("D", self.D))
        t.update(state_tensors("G_ema", self.G_ema))
        t.update(optimizer_tensors("opt_G", self.opt_G))
        t.update(optimizer_tensors("opt_D", self.opt_D))
        t["augment/p"] = self.augment.p.detach().cpu().clone()
        t["pl_mean"] = self.pl_mean.detach().cpu().clone()
        return t

    def checkpoint_meta(self) -> dict[str, Any]:
        """The JSON half of a checkpoint."""
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "nimg": self.nimg,
            "kimg": self.nimg / 1000,
            "seed": self.seed,
            "config": self.cfg.to_dict(),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "world_size": self.info.world_size,
            "ada": {
                "sign_sum": self.ada.sign_sum if self.ada else 0.0,
                "count": self.ada.count if self.ada else 0.0,
                "last_rt": None if math.isnan(self._last_rt) else self._last_rt,
            },
            "last_r1": None if math.isnan(self._last_r1) else self._last_r1,
            "stats": {
                k: v for k, v in self.stats.items() if isinstance(v, float) and math.isfinite(v)
            },
            "metadata": self.metadata,
            "saved_at": time.time(),
        }

    def save_checkpoint(self) -> Path:
        """Write ``OUT/checkpoints/<step>/`` atomically and prune old checkpoints."""
        if self.out_dir is None:
            raise UserError("this trainer has no output folder")
        return write_checkpoint(
            self.out_dir,
            self.step,
            self.checkpoint_tensors(),
            self.checkpoint_meta(),
            CHECKPOINT_FORMAT,
            self.cfg.keep_checkpoints,
        )

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore the full training state from a checkpoint (same config and data shape)."""
        ckpt = resolve_checkpoint(path, "StyleGAN")
        meta = read_checkpoint_meta(ckpt)
        check_same_config(ckpt, meta["config"], self.cfg.to_dict(), BOOKKEEPING, "StyleGAN")
        if (
            tuple(meta["image_shape"]) != self.image_shape
            or int(meta["num_classes"]) != self.num_classes
        ):
            raise UserError(
                f"{ckpt}: made for images {meta['image_shape']} / {meta['num_classes']} classes"
            )
        if int(meta["seed"]) != self.seed:
            raise UserError(f"{ckpt}: made with seed {meta['seed']}, not {self.seed}")
        tensors = load_file(str(ckpt / STATE_FILE), device=str(self.device))
        load_module(self.G, "G", tensors)
        load_module(self.D, "D", tensors)
        load_module(self.G_ema, "G_ema", tensors)
        load_optimizer(self.opt_G, "opt_G", tensors)
        load_optimizer(self.opt_D, "opt_D", tensors)
        self.augment.p.copy_(tensors["augment/p"])
        self.pl_mean = tensors["pl_mean"].to(self.device).clone()
        self.step = int(meta["step"])
        self.nimg = int(meta["nimg"])
        if self.ada is not None:
            self.ada.sign_sum = float(meta["ada"]["sign_sum"])
            self.ada.count = float(meta["ada"]["count"])
        rt = meta["ada"].get("last_rt")
        self._last_rt = float("nan") if rt is None else float(rt)
        self._last_r1 = float("nan") if meta.get("last_r1") is None else float(meta["last_r1"])

    def resume_latest(self) -> bool:
        """Load the newest checkpoint in ``out_dir``; False when there is none."""
        if self.out_dir is None or not list_checkpoints(self.out_dir):
            return False
        self.load_checkpoint(self.out_dir)
        return True
