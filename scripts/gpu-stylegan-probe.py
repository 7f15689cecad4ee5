"""Where a StyleGAN training step spends its time on a device (docs/gpu.md, "What the first
GPU run found"): builds the trainer of ``--config`` on seeded noise images, times the first
steps one by one (first-use costs), then a whole lazy-regularisation cycle with cuDNN's
autotuner off and on and with TF32 matrix products off and on, profiles two steps
(``torch.profiler``: the operators with the most device time and how busy the device was),
and prints the peak memory a step needs at each batch size given.

usage: python scripts/gpu-stylegan-probe.py [--arch stylegan2] [--config ki] [--device cuda]
           [--shape 1,256,256] [--batches 16] [--cycles 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from grainbench.baselines.generators.stylegan.configs import get_config
from grainbench.baselines.generators.stylegan.ddp import DistInfo
from grainbench.baselines.generators.stylegan.throughput import regularisation_cycle
from grainbench.baselines.generators.stylegan.train import Trainer


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _step_s(trainer: Trainer, dev: torch.device) -> float:
    _sync(dev)
    t = time.perf_counter()
    trainer.train_step()
    _sync(dev)
    return time.perf_counter() - t


def probe(
    arch: str,
    config: str,
    shape: tuple[int, int, int],
    batch: int | None,
    dev: torch.device,
    cycles: int,
    profile: bool,
) -> None:
    """Print first-step, cycle and profile timings of one trainer."""
    cfg = get_config(config, arch, shape)
    if batch:
        cfg = dataclasses.replace(cfg, batch=batch)
    g = torch.Generator().manual_seed(0)
    images = torch.tanh(torch.randn(max(64, cfg.batch), *shape, generator=g))
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t = time.perf_counter()
    trainer = Trainer(cfg, images, seed=0, progress=False, dist=DistInfo(device=dev))
    print(
        f"== {arch} {cfg.name} batch {cfg.batch} {shape}: trainer built in "
        f"{time.perf_counter() - t:.1f} s",
        flush=True,
    )
    trainer.step = 0
    first = [_step_s(trainer, dev) for _ in range(3)]
    print(
        f"first three steps (every regulariser on the first): "
        f"{', '.join(f'{s:.2f}' for s in first)} s",
        flush=True,
    )
    cycle = regularisation_cycle(cfg) * cycles
    for bench_mode, tf32 in ((False, False), (True, False), (True, True)):
        torch.backends.cudnn.benchmark = bench_mode
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        trainer.step = 0
        _step_s(trainer, dev)  # the autotuner's first look at every shape
        trainer.step = 0
        total = sum(_step_s(trainer, dev) for _ in range(cycle))
        print(
            f"cudnn.benchmark={bench_mode} tf32={tf32}: {cycle} steps {total:.2f} s, "
            f"{cycle * cfg.batch / total:.1f} img/s, {1000 * total / (cycle * cfg.batch):.1f} "
            f"s/kimg",
            flush=True,
        )
    if dev.type == "cuda":
        print(
            f"CUDA peak allocated {torch.cuda.max_memory_allocated(dev) / 2**20:.0f} MiB",
            flush=True,
        )
    if not profile:
        return
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    trainer.step = 1
    _sync(dev)
    wall = time.perf_counter()
    with torch_profile(activities=acts) as prof:
        trainer.train_step()
        trainer.train_step()
        _sync(dev)
    wall = time.perf_counter() - wall
    key = "self_cuda_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    device_us = sum(getattr(e, "self_device_time_total", 0) or 0 for e in events)
    print(
        f"profile of 2 steps: wall {wall:.3f} s, device busy {device_us / 1e6:.3f} s "
        f"({100 * device_us / 1e6 / wall:.0f} % of the wall time)",
        flush=True,
    )
    print(events.table(sort_by=key, row_limit=15, max_name_column_width=50), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="stylegan2")
    ap.add_argument("--config", default="ki")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--shape", default="1,256,256")
    ap.add_argument("--batches", default="", help="batch sizes (default: the config's)")
    ap.add_argument("--cycles", type=int, default=1)
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    shape = tuple(int(v) for v in args.shape.split(","))
    dev = torch.device(args.device)
    batches = [int(b) for b in args.batches.split(",") if b] or [None]
    for k, batch in enumerate(batches):
        try:
            probe(
                args.arch,
                args.config,
                shape,
                batch,
                dev,
                args.cycles,
                profile=not args.no_profile and k == 0,
            )
        except torch.OutOfMemoryError as exc:
            print(f"batch {batch}: out of memory: {str(exc).splitlines()[0]}", flush=True)
        if dev.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
