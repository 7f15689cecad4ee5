"""``grainbench run``: run tasks on a representation and print and write the result."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grainbench.results import render_terminal
from grainbench.runner import RunSpec, parse_params, run_benchmark
from grainbench.threads import use_threads

NAME = "run"
HELP = "run tasks on a representation (built-in name, file.py:Class or package.module:Class) and write the result"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench run``."""
    parser.add_argument(
        "--rep",
        required=True,
        help="built-in name (grainbench list), path/to/file.py:Class or package.module:Class",
    )
    parser.add_argument("--data", default="piano-c3", help="dataset spec (default: piano-c3)")
    parser.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        help="clip sample rate (default: the dataset's own; StyleGAN's cpu config: 16000)",
    )
    parser.add_argument(
        "--n-samples",
        type=int,
        default=None,
        help="samples per clip (default: the dataset's own; StyleGAN's cpu config: 16384)",
    )
    parser.add_argument(
        "--task", default="", help="comma-separated tasks (default: the standard set)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="run folder (default: runs/REP__DATA__seedN)"
    )
    parser.add_argument("--seed", type=int, default=0, help="one seed fixes every number on CPU")
    parser.add_argument(
        "--label",
        default=None,
        help="name of a variant (e.g. throughput, no-noise): a run folder and board entry "
        "of its own beside the unlabelled run (lower-case letters, digits, '-')",
    )
    parser.add_argument(
        "--gen",
        default=None,
        help="generator for the generation task: name, file.py:Class or package.module:Class",
    )
    parser.add_argument(
        "--gen-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="generator option (repeatable)",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="TASK.NAME=VALUE",
        help="task parameter (repeatable)",
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1…)")
    parser.add_argument(
        "--json", action="store_true", help="print the result JSON instead of a table"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (bars on a terminal, else a line every 30 s on stderr)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace another run in the --out folder (it is cleared first; only a "
        "grainbench run folder or an empty one)",
    )
    parser.add_argument(
        "--plugin-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop with exit 2 when one plugin call (encode, decode, fit, sample) runs "
        "longer (POSIX, see docs/guarantees.md)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: every core)"
    )


def _gen_options(items: list[str]) -> dict[str, object]:
    return {k: v for k, v in parse_params([f"gen.{i}" for i in items]).get("gen", {}).items()}


def _print_dataset_report(dataset: dict) -> None:
    """Notes on the data and what was done with every file that was not used as it was."""
    for note in dataset.get("notes", []):
        print(f"note: {note}")
    changed = [r for r in dataset.get("file_report", []) if r.get("action") != "used"]
    if changed:
        print(f"\ndataset files ({len(changed)} not used as they were):")
        for r in changed:
            print(f"  {r['action']:<9} {r['path']}: {r.get('reason', '')}")


def run(args: argparse.Namespace) -> int:
    """Run, print a table (or the JSON), and say where the files are."""
    use_threads(args.threads)
    spec = RunSpec(
        rep=args.rep,
        data=args.data,
        sample_rate=args.sample_rate,
        n_samples=args.n_samples,
        tasks=[t.strip() for t in args.task.split(",") if t.strip()],
        params=parse_params(args.param),
        seed=args.seed,
        out=args.out,
        device=args.device,
        gen=args.gen,
        gen_options=_gen_options(args.gen_opt),
        progress=not args.no_progress,
        command=["grainbench", *sys.argv[1:]],
        force=args.force,
        plugin_timeout=args.plugin_timeout,
        label=args.label,
    )
    result, run_dir = run_benchmark(spec)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_terminal(result))
        _print_dataset_report(result["dataset"])
        print(f"\nresults in {run_dir}/ (result.json, results.md, results.csv)")
    return 0
