"""``grainbench compare A B``: per-metric differences B − A with intervals and significance.

Exit codes: 0 when the two results compare (the table and summary are printed); 1 when they
do not (different suite version, dataset fingerprint or task parameters, or no task in
common): every difference is named and nothing is ranked; 2 for a user mistake (a folder
that is not a result).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grainbench.compare import compare_results, render_comparison
from grainbench.leaderboard import DEFAULT_ENTRIES, Entry, resolve

NAME = "compare"
HELP = "compare two results (entry ids, entry folders or run folders): B − A per metric"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench compare``."""
    parser.epilog = (
        "exit status: 0 compared; 1 the results do not compare (suite version, dataset "
        "fingerprint or task parameters differ: each difference is printed, nothing is ranked); "
        "2 a user mistake"
    )
    parser.add_argument("a", help="result A: entry id, entry folder, run folder or result.json")
    parser.add_argument("b", help="result B, compared against A")
    parser.add_argument(
        "--entries",
        type=Path,
        default=DEFAULT_ENTRIES,
        help=f"where entry ids live (default: {DEFAULT_ENTRIES})",
    )
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")


def _label(entry: Entry) -> str:
    """The entry id, with the representation's name when the id does not say it."""
    name = str((entry.result.get("representation") or {}).get("name", ""))
    return entry.id if name in entry.id else f"{entry.id}: {name}"


def run(args: argparse.Namespace) -> int:
    """Print the comparison; exit 1 (refusing to rank) when the results do not compare."""
    a, b = resolve(args.a, args.entries), resolve(args.b, args.entries)
    cmp = compare_results(a.result, b.result, _label(a), _label(b))
    if args.json:
        rows = [
            {
                "task": r.task,
                "key": r.key,
                "unit": r.unit,
                "higher_is_better": r.higher_is_better,
                "a": r.a["value"],
                "b": r.b["value"],
                "difference": None if r.diff is None else list(r.diff),
                "significant": r.significant,
                "better": r.better,
            }
            for r in cmp.rows
        ]
        body = {"a": a.id, "b": b.id, "comparable": cmp.comparable, "problems": cmp.problems}
        print(json.dumps({**body, "metrics": rows if cmp.comparable else []}, indent=2))
    else:
        print(render_comparison(cmp))
    return 0 if cmp.comparable else 1
