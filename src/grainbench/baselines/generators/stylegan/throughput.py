"""StyleGAN throughput (SPEC 4.6): training images/s over whole regularisation cycles with the
FLOPs per image and the memory a step needs, sampling clips/s per batch size.

FLOPs are counted by ``torch.utils.flop_counter`` (matrix products and convolutions, forward
and backward), so img/s × FLOPs per image is the arithmetic rate actually reached and the
utilisation of a machine follows from its peak.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from grainbench.baselines.generators.stylegan.configs import StyleGANConfig, get_config
from grainbench.baselines.generators.stylegan.ddp import DistInfo
from grainbench.baselines.generators.stylegan.train import Trainer
from grainbench.timing import peak_memory, timed


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


def regularisation_cycle(cfg: StyleGANConfig) -> int:
    """Steps after which the lazy regularisers repeat: the least common multiple of the R1
    interval (with R1 on) and the path-length interval (with path length on); 1 without them."""
    cycle = 1
    if cfg.r1_gamma > 0:
        cycle = math.lcm(cycle, cfg.r1_interval)
    if cfg.pl_weight > 0:
        cycle = math.lcm(cycle, cfg.pl_interval)
    return cycle


def bench_stylegan(
    arch: str,
    config: str | StyleGANConfig,
    image_shape: tuple[int, int, int],
    steps: int = 8,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    sample_batches: Sequence[int] = (16,),
    device: str | torch.device = "cpu",
    seed: int = 0,
    sample_repeats: int = 3,
) -> dict[str, Any]:
    """Train ``arch`` at ``config`` (a name, or a generator's own config) on seeded noise
    images of ``image_shape`` and sample clips at each of ``sample_batches``
    ``sample_repeats`` times (through ``decode`` when given).

    Training is timed over whole regularisation cycles (:func:`regularisation_cycle`: R1
    every 16 steps, path length every 4, each on its own step), starting at a cycle's first
    step: ``steps`` rounded up to a multiple of the cycle, after one warm-up step with every
    regulariser. So ``train_img_per_s`` (images over the summed step seconds) is the rate of
    a long run, lazy regularisation included, as published seconds per kimg are.
    ``train_peak_bytes`` is the memory one step with every regulariser needs above what was
    resident before it (:func:`grainbench.timing.peak_memory`); on CUDA,
    ``cuda_max_allocated_bytes`` is torch's allocator peak over the whole measurement
    (networks, optimiser state and that step together).

    Returns img/s, FLOPs per image, the GFLOP/s reached, every step's seconds
    (``train_step_s``), and per sampling batch (keys are the batch as a string) the fastest
    call's clips/s (``sample_clips_per_s``) and every call's seconds (``sample_s``)."""
    dev = torch.device(device)
    cfg = config if isinstance(config, StyleGANConfig) else get_config(config, arch, image_shape)
    g = torch.Generator().manual_seed(seed)
    images = torch.tanh(torch.randn(max(64, cfg.batch), *image_shape, generator=g))
    benchmark_mode = torch.backends.cudnn.benchmark
    if dev.type == "cuda":  # as `grainbench train` runs: cuDNN picks its fastest kernels
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(dev)
    try:
        trainer = Trainer(cfg, images, seed=seed, progress=False, dist=DistInfo(device=dev))
        flops = train_flops_per_image(trainer)
        trainer.step = 0
        timed(trainer.train_step, dev)  # warm-up with every regulariser: allocator, kernels
        cycle = regularisation_cycle(cfg)
        n_steps = -(-max(1, steps) // cycle) * cycle
        trainer.step = 0
        step_s = [timed(trainer.train_step, dev) for _ in range(n_steps)]
        # read before peak_memory, which resets CUDA's peak counter
        cuda_peak = torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None
        trainer.step = 0
        train_peak = peak_memory(trainer.train_step, dev)
    finally:
        torch.backends.cudnn.benchmark = benchmark_mode
    img_s = n_steps * cfg.batch / sum(step_s)

    G = trainer.G_ema
    sample_s: dict[str, list[float]] = {}
    for batch in sample_batches:
        z = torch.randn(batch, cfg.z_dim, generator=g).to(dev)

        def sample(z: torch.Tensor = z) -> torch.Tensor:
            with torch.no_grad():
                img = G(z, noise_mode="const").clamp(-1, 1)
                return decode(img) if decode is not None else img

        timed(sample, dev)
        sample_s[str(batch)] = [timed(sample, dev) for _ in range(sample_repeats)]
    return {
        "arch": arch,
        "config": cfg.name,
        "image_shape": list(image_shape),
        "batch": cfg.batch,
        "steps": n_steps,
        "regularisation_cycle": cycle,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "train_img_per_s": img_s,
        "train_step_s": step_s,
        "train_GFLOP_per_image": flops["train_step_per_image"] / 1e9,
        "G_forward_GFLOP_per_image": flops["G_forward"] / 1e9,
        "D_forward_GFLOP_per_image": flops["D_forward"] / 1e9,
        "achieved_GFLOP_per_s": img_s * flops["train_step_per_image"] / 1e9,
        "train_peak_bytes": train_peak,
        "cuda_max_allocated_bytes": cuda_peak,
        "sample_batches": [int(b) for b in sample_batches],
        "sample_clips_per_s": {b: int(b) / min(t) for b, t in sample_s.items()},
        "sample_s": sample_s,
        "sample_decoded": decode is not None,
        "G_params": sum(p.numel() for p in trainer.G.parameters()),
        "D_params": sum(p.numel() for p in trainer.D.parameters()),
    }
