"""StyleGAN speed: training img/s of the ``cpu`` config with its FLOPs per image (so that
utilisation is known), and the exported module's per-note latency on CPU.

Run with ``pytest tests/benchmarks/test_bench_stylegan.py -m slow``; the numbers
land in pytest-benchmark's table and ``extra_info`` (img/s, FLOPs, threads, GFLOP/s).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grainbench.baselines.generators.stylegan.configs import get_config
from grainbench.baselines.generators.stylegan.export import (
    DecodeModule,
    export_torchscript,
    measure_latency,
)
from grainbench.baselines.generators.stylegan.throughput import train_flops_per_image
from grainbench.baselines.generators.stylegan.train import Trainer
from grainbench.plugins import load_representation

SHAPE = (1, 128, 128)  # the small setting: 16 kHz, 16,384 samples → 128×128


@pytest.fixture
def threads(request):
    """Run the benchmark with ``request.param`` torch threads (restored afterwards)."""
    old = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2], indirect=True)
@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_bench_train_cpu_config(benchmark, arch: str, threads: int) -> None:
    cfg = get_config("cpu", arch, SHAPE)
    images = torch.tanh(torch.randn(64, *SHAPE, generator=torch.Generator().manual_seed(0)))
    trainer = Trainer(cfg, images, seed=0, progress=False)
    flops = train_flops_per_image(trainer)
    trainer.train_step()  # warm-up (allocator, oneDNN primitives)
    benchmark.pedantic(trainer.train_step, rounds=8, iterations=1)
    seconds = benchmark.stats.stats.mean
    img_s = cfg.batch / seconds
    benchmark.extra_info.update(
        {
            "arch": arch,
            "config": "cpu",
            "image_shape": list(SHAPE),
            "batch": cfg.batch,
            "threads": threads,
            "img_per_s": img_s,
            "G_forward_GFLOP_per_image": flops["G_forward"] / 1e9,
            "D_forward_GFLOP_per_image": flops["D_forward"] / 1e9,
            "train_GFLOP_per_image": flops["train_step_per_image"] / 1e9,
            "achieved_GFLOP_per_s": img_s * flops["train_step_per_image"] / 1e9,
            "G_params": sum(p.numel() for p in trainer.G.parameters()),
            "D_params": sum(p.numel() for p in trainer.D.parameters()),
        }
    )


def test_bench_export_latency_per_note(benchmark, tmp_path: Path) -> None:
    """The ``cpu`` config's generator composed with ``dct-square``'s decode (16,384 samples)."""
    rep = load_representation("dct-square", 16000, 16384)
    g = torch.Generator().manual_seed(0)
    t = torch.arange(16384) / 16000
    audio = (
        (0.5 * torch.sin(2 * torch.pi * 130.8 * t) * torch.exp(-3 * t))
        .reshape(1, 1, -1)
        .repeat(4, 1, 1)
    )
    audio = audio + 0.01 * torch.randn(audio.shape, generator=g)
    rep.fit(audio)
    images = rep.encode(audio).repeat(4, 1, 1, 1)
    cfg = get_config("cpu", "stylegan2", SHAPE, snapshot_kimg=1.0)
    trainer = Trainer(cfg, images, seed=0, out_dir=tmp_path / "run", progress=False)
    trainer.save_checkpoint()
    out = tmp_path / "g.pt"
    info = export_torchscript(tmp_path / "run", out, DecodeModule(rep.plugin))
    loaded = torch.jit.load(str(out))
    z = torch.randn(1, cfg.z_dim, generator=g)
    with torch.no_grad():
        loaded(z)
        benchmark.pedantic(lambda: loaded(z), rounds=10, iterations=1)
    benchmark.extra_info.update(
        {
            "threads": torch.get_num_threads(),
            "output": info["output"],
            "median_ms_per_note": benchmark.stats.stats.median * 1000,
            "measure_latency_ms": measure_latency(out, repeats=5)["median_s"] * 1000,
            "audio_seconds_per_note": 16384 / 16000,
        }
    )
