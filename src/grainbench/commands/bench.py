"""``grainbench bench``: the throughput task's encode/decode timings beside the bare
transform, as a table (bench.json, bench.md), without a run folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from grainbench.bench import bench_generators, render_markdown, run_bench
from grainbench.errors import UserError
from grainbench.results import atomic_write_text, write_json

NAME = "bench"
HELP = "time encode/decode of representations against their bare transform (bench.json, bench.md)"


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(
            f"--batch {text!r}: expected comma-separated integers such as 1,64"
        ) from None
    if not values or min(values) < 1:
        raise UserError(f"--batch {text!r}: batch sizes must be positive")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench bench``."""
    parser.add_argument(
        "--rep",
        action="append",
        default=[],
        help="representation(s), comma-separated or repeated (default: all built-ins)",
    )
    parser.add_argument("--batch", default="1,64", help="batch sizes (default: 1,64)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=7,
        help="timed rounds per measurement (default: 7; 6 or more give a 95%% interval)",
    )
    parser.add_argument(
        "--sample-rate", type=int, default=None, help="setting for built-ins (default: their own)"
    )
    parser.add_argument(
        "--n-samples", type=int, default=None, help="clip length for built-ins (default: their own)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds of timed rounds per representation and batch before stopping early (default: 30)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch and scipy.fft threads (default: torch's own)",
    )
    parser.add_argument(
        "--gen",
        default=None,
        help="also time StyleGAN training and sampling: stylegan2, stylegan3 (comma-separated)",
    )
    parser.add_argument(
        "--gen-config", default="cpu", help="StyleGAN config for --gen (default: cpu)"
    )
    parser.add_argument(
        "--gen-steps", type=int, default=8, help="timed training steps for --gen (default: 8)"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="device for the timings and --gen (cpu, cuda…; default: cpu)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/bench"), help="output folder (default: runs/bench)"
    )


def run(args: argparse.Namespace) -> int:
    """Bench, write bench.json and bench.md, print the Markdown."""
    if args.repeats < 1 or not args.budget > 0:
        raise UserError("--repeats must be at least 1 and --budget positive")
    if args.threads is not None:
        if args.threads < 1:
            raise UserError("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    reps = [r.strip() for item in args.rep for r in item.split(",") if r.strip()]
    gens = [g.strip() for g in (args.gen or "").split(",") if g.strip()]
    unknown = [g for g in gens if g not in ("stylegan2", "stylegan3")]
    if unknown:
        raise UserError(f"--gen {unknown[0]!r}: the bench trains stylegan2 or stylegan3")
    if gens and args.gen_steps < 1:
        raise UserError("--gen-steps must be at least 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: torch sees no CUDA device")
    try:
        torch.device(args.device)
    except RuntimeError:
        raise UserError(f"--device {args.device!r} is not a torch device") from None
    record = run_bench(
        reps or None,
        _ints(args.batch),
        args.repeats,
        args.sample_rate,
        args.n_samples,
        progress=lambda name: print(f"bench: {name}", file=sys.stderr),
        budget_s=args.budget,
        device=args.device,
    )
    if gens:
        record["generators"] = bench_generators(
            gens,
            args.gen_config,
            (reps or ["dct-square"])[0],
            args.gen_steps,
            args.device,
            progress=lambda name: print(f"bench: {name}", file=sys.stderr),
        )
    write_json(args.out / "bench.json", record)
    text = render_markdown(record)
    atomic_write_text(args.out / "bench.md", text)
    print(text)
    print(f"written: {args.out / 'bench.json'}, {args.out / 'bench.md'}")
    return 0
