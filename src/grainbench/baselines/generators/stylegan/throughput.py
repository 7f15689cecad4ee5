"""StyleGAN throughput (SPEC 4.6): training images/s with the FLOPs per image, sampling clips/s.

FLOPs are counted by ``torch.utils.flop_counter`` (matrix products and convolutions, forward
and backward), so img/s × FLOPs per image is the arithmetic rate actually reached and the
utilisation of a machine follows from its peak.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from grainbench.baselines.generators.stylegan.configs import StyleGANConfig, get_config
from grainbench.baselines.generators.stylegan.ddp import DistInfo
from grainbench.baselines.generators.stylegan.train import Trainer
from grainbench.timing import timed


def _flops(fn: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def train_flops_per_image(trainer: Trainer) -> dict[str, float]:
    """FLOPs of one G forward and one D forward per image, and of an average training step
    per image: a step with R1 (every ``r1_interval`` steps) and one without, averaged with
    their frequencies (path length counts where the config has it). Runs two steps."""
    cfg = trainer.cfg
    with torch.no_grad():
        g_fwd = _flops(lambda: trainer.G(torch.randn(1, cfg.z_dim, device=trainer.device)))
        d_fwd = _flops(
            lambda: trainer.D(torch.zeros(1, *trainer.image_shape, device=trainer.device))
        )
    trainer.step = 0  # step 0 runs every regulariser
    with_reg = _flops(trainer.train_step)
    without = _flops(trainer.train_step)
    interval = cfg.r1_interval if cfg.r1_gamma > 0 else 1
    step = without + (with_reg - without) / interval
    return {"G_forward": g_fwd, "D_forward": d_fwd, "train_step_per_image": step / cfg.batch}


def bench_stylegan(
    arch: str,
    config: str | StyleGANConfig,
    image_shape: tuple[int, int, int],
    steps: int = 8,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    sample_batch: int = 16,
    device: str | torch.device = "cpu",
    seed: int = 0,
    sample_repeats: int = 3,
) -> dict[str, Any]:
    """Train ``steps`` steps of ``arch`` at ``config`` (a name, or a generator's own config)
    on seeded noise images of ``image_shape`` and sample ``sample_batch`` clips
    ``sample_repeats`` times (through ``decode`` when given); returns img/s, FLOPs per image,
    the GFLOP/s reached, clips/s (fastest sampling call), and every step's and sampling
    call's seconds (``train_step_s``, ``sample_s``)."""
    dev = torch.device(device)
    cfg = config if isinstance(config, StyleGANConfig) else get_config(config, arch, image_shape)
    g = torch.Generator().manual_seed(seed)
    images = torch.tanh(torch.randn(max(64, cfg.batch), *image_shape, generator=g))
    trainer = Trainer(cfg, images, seed=seed, progress=False, dist=DistInfo(device=dev))
    flops = train_flops_per_image(trainer)
    timed(trainer.train_step, dev)  # warm-up: allocator, oneDNN / cuDNN kernels
    step_s = [timed(trainer.train_step, dev) for _ in range(steps)]
    img_s = steps * cfg.batch / sum(step_s)

    G = trainer.G_ema
    z = torch.randn(sample_batch, cfg.z_dim, generator=g).to(dev)

    def sample() -> torch.Tensor:
        with torch.no_grad():
            img = G(z, noise_mode="const").clamp(-1, 1)
            return decode(img) if decode is not None else img

    timed(sample, dev)
    sample_s = [timed(sample, dev) for _ in range(sample_repeats)]
    return {
        "arch": arch,
        "config": cfg.name,
        "image_shape": list(image_shape),
        "batch": cfg.batch,
        "steps": steps,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "train_img_per_s": img_s,
        "train_step_s": step_s,
        "train_GFLOP_per_image": flops["train_step_per_image"] / 1e9,
        "G_forward_GFLOP_per_image": flops["G_forward"] / 1e9,
        "D_forward_GFLOP_per_image": flops["D_forward"] / 1e9,
        "achieved_GFLOP_per_s": img_s * flops["train_step_per_image"] / 1e9,
        "sample_batch": sample_batch,
        "sample_clips_per_s": sample_batch / min(sample_s),
        "sample_s": sample_s,
        "sample_decoded": decode is not None,
        "G_params": sum(p.numel() for p in trainer.G.parameters()),
        "D_params": sum(p.numel() for p in trainer.D.parameters()),
    }
