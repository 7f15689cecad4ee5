"""``grainbench sweep GRID.toml``: run a grid of runs (resuming), locally or on Slurm."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from grainbench.commands import add_entries_option
from grainbench.errors import UserError
from grainbench.leaderboard import DEFAULT_OUT
from grainbench.sweep import plan, submit_runs, sweep
from grainbench.sweep.execute import EXECUTORS, Options
from grainbench.sweep.grid import Grid, load_grid
from grainbench.threads import available_cores

NAME = "sweep"
HELP = "run a TOML grid of runs (reps × datasets × seeds × gens), resuming, locally or on Slurm"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench sweep`` (the grid format: docs/sweep.md)."""
    parser.add_argument("grid", type=Path, help="the grid file (TOML; see docs/sweep.md)")
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="pool",
        help="pool: child processes here (default); local: submitit's local executor; "
        "slurm: a submitit job array",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs at a time (default: the cores ÷ --threads; on Slurm: array tasks)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per run (default: the cores ÷ --workers, at least 1; "
        "Slurm: CPUs per task, default 1)",
    )
    parser.add_argument(
        "--time", type=int, default=240, help="minutes per run under submitit (default: 240)"
    )
    parser.add_argument("--mem", type=int, default=16, help="GB per Slurm task (default: 16)")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs per Slurm task (default: 0)")
    parser.add_argument("--slurm-partition", default=None, help="Slurm partition")
    parser.add_argument(
        "--logs", type=Path, default=None, help="log folder (default: RUNS/logs of the grid)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the runs and what is left; run nothing"
    )
    parser.add_argument(
        "--submit", action="store_true", help="submit every finished run and render the board"
    )
    add_entries_option(parser, "entries folder for --submit")
    parser.add_argument(
        "--board", type=Path, default=DEFAULT_OUT, help=f"board folder (default: {DEFAULT_OUT})"
    )


def _options(args: argparse.Namespace, root: Path) -> Options:
    """Executor options; parallel runs share this machine's cores (threads = cores ÷ workers)."""
    for option in ("threads", "workers", "time", "mem"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise UserError(f"--{option} must be at least 1")
    if args.gpus < 0:
        raise UserError("--gpus must not be negative")
    cores = available_cores()
    threads = args.threads
    if threads is None:
        threads = 1 if args.executor == "slurm" or not args.workers else cores // args.workers
    workers = args.workers or max(1, cores // threads)
    return Options(
        executor=args.executor,
        workers=workers,
        threads=max(1, threads),
        logs=args.logs or root / "logs",
        time_min=args.time,
        mem_gb=args.mem,
        partition=args.slurm_partition,
        gpus=args.gpus,
        poll_s=10.0 if args.executor == "slurm" else 1.0,
    )


def _dry_run(grid: Grid) -> int:
    """Print each run, what is left of it, and its ``grainbench run`` command."""
    work = plan(grid)
    together = {r.id: t for r, t in work.together}
    alone = {r.id for r, _ in work.alone}
    for run in grid.runs:
        if run in work.finished:
            state = "finished"
        else:
            parts = [f"run {','.join(together[run.id])}"] if run.id in together else []
            parts += ["then alone: all tasks"] if run.id in alone else []
            state = "; ".join(parts)
        print(f"{run.id}: {state}\n    {shlex.join(run.command())}")
    print(f"{len(grid.runs)} runs, {len(work.finished)} finished")
    return 0


def run(args: argparse.Namespace) -> int:
    """Expand the grid, run what is not finished, optionally submit; exit 1 if a run failed."""
    grid = load_grid(args.grid)
    opts = _options(args, grid.root)
    if args.dry_run:
        return _dry_run(grid)
    summary = sweep(grid, opts, lambda line: print(line, flush=True))
    failed = [o for o in summary.outcomes if o.status in ("failed", "busy")]
    print(
        f"sweep: {len(summary.finished)} of {len(grid.runs)} runs finished, "
        f"{len(failed)} failed or busy, {summary.wall_s:.0f} s; logs in {opts.logs}/"
    )
    if args.submit:
        problems = submit_runs(summary.finished, args.entries, args.board)
        for line in problems:
            print(f"sweep: not submitted: {line}", file=sys.stderr)
        print(f"sweep: {len(summary.finished) - len(problems)} entries in {args.entries}/")
    return 1 if summary.unfinished else 0
