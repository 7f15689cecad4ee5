"""``grainbench check``: re-run an entry's tasks on a representation and flag regressions.

Exit codes: 0 when no metric is worse than the entry beyond its 95% interval plus the
tolerance; 1 when at least one is (each is named); 2 when the check cannot be made (a user
mistake, or an entry from another suite version or dataset fingerprint).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from grainbench.commands import add_entries_option
from grainbench.compare import incompatibilities, judge, parse_tolerances, render_verdicts
from grainbench.errors import UserError
from grainbench.leaderboard import resolve
from grainbench.result_schema import Result, parse
from grainbench.results import require_complete, suite_info
from grainbench.runner import RunSpec, run_benchmark

NAME = "check"
HELP = "re-run an entry's tasks on --rep and exit 1 naming each metric worse than the entry"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench check``."""
    parser.epilog = (
        "exit status: 0 no metric worse than the entry beyond its 95% interval plus tolerance; "
        "1 at least one is (each is named); 2 the check cannot be made"
    )
    parser.add_argument(
        "--rep", required=True, help="built-in name, path/to/file.py:Class or package.module:Class"
    )
    parser.add_argument("--against", required=True, help="entry id, entry folder or run folder")
    parser.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="FRACTION|METRIC=VALUE",
        help="extra allowance beyond the interval: a fraction of the entry's value for every "
        "metric (0.05 or 5%%), or per metric name/key: absolute in its unit (snr=0.5) or "
        "relative (lsd=10%%); repeatable",
    )
    add_entries_option(parser, "where entry ids live")
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the re-run here (default: a temporary folder)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda…)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def rerun(
    entry: Result,
    rep: str,
    out: Path,
    *,
    device: str = "cpu",
    progress: bool = False,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Run ``entry``'s tasks with its dataset, parameters, seed and generator on the
    representation ``rep`` (a name or ``file.py:Class``) into the run folder ``out``;
    returns the new result."""
    gen = entry.generator
    spec = RunSpec(
        rep=rep,
        data=entry.dataset.spec,
        tasks=list(entry.tasks),
        params={t: dict(body.params) for t, body in entry.tasks.items()},
        seed=entry.seed,
        out=out,
        device=device,
        gen=gen.spec if gen else None,
        gen_options=dict(gen.options) if gen else {},
        progress=progress,
        command=command or ["grainbench", "check", "--rep", rep],
    )
    return run_benchmark(spec)[0]


def _check(args: argparse.Namespace, entry_label: str, entry: dict, out: Path) -> int:
    command = ["grainbench", *sys.argv[1:]]
    typed = parse(entry, None, f"entry {entry_label}")
    new = rerun(
        typed, args.rep, out, device=args.device, progress=not args.no_progress, command=command
    )
    problems = incompatibilities(entry, new)
    if problems:
        raise UserError(f"cannot check against {entry_label}: {'; '.join(problems)}")
    verdicts = judge(entry, new, parse_tolerances(args.tolerance))
    print(
        f"check {args.rep} against {entry_label} ({entry['representation']['name']} on {entry['dataset']['spec']}, seed {entry['seed']})"
    )
    print(render_verdicts(verdicts))
    failed = [v for v in verdicts if v.failed]
    if failed:
        names = ", ".join(f"{v.task}/{v.key} ({v.status})" for v in failed)
        print(
            f"\nFAILED: {len(failed)} metric(s) worse than {entry_label} beyond interval and tolerance: {names}"
        )
        return 1
    judged = sum(v.status in ("ok", "better") for v in verdicts)
    print(
        f"\npassed: none of {judged} ranked metrics is worse than {entry_label} beyond its interval"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    """Resolve the entry, re-run its tasks with its parameters and seed, and judge."""
    parse_tolerances(args.tolerance)  # fail on a bad tolerance before running anything
    found = resolve(args.against, args.entries)
    entry = found.result
    require_complete(entry, f"entry {found.id}")
    version = suite_info()["suite_version"]
    if entry.get("suite_version") != version:
        raise UserError(
            f"entry {found.id} was made by grainbench {entry.get('suite_version')}, this is {version}: "
            "re-publish the entry with this version"
        )
    if args.out is not None:
        return _check(args, found.id, entry, args.out)
    with tempfile.TemporaryDirectory(prefix="grainbench-check-") as tmp:
        return _check(args, found.id, entry, Path(tmp))
