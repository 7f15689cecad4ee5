"""``grainbench compare A B``: per-metric differences B − A with intervals and significance.

``--format`` picks text (the default), csv (:func:`grainbench.compare.comparison_frame`:
one row per metric with every number), md or json.

Exit codes: 0 when the two results compare (the table and summary are printed); 1 when they
do not (different suite version, dataset fingerprint or task parameters, or no task in
common): every difference is named and nothing is ranked; 2 for a user mistake (a folder
that is not a result).
"""

from __future__ import annotations

import argparse
import json
import sys

from grainbench.commands import add_entries_option
from grainbench.compare import (
    Comparison,
    compare_results,
    comparison_frame,
    render_comparison,
    render_comparison_markdown,
)
from grainbench.leaderboard import Entry, resolve

NAME = "compare"
HELP = "compare two results (entry ids, entry folders or run folders): B − A per metric"
FORMATS = ("text", "csv", "md", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench compare``."""
    parser.epilog = (
        "exit status: 0 compared; 1 the results do not compare (suite version, dataset "
        "fingerprint or task parameters differ: each difference is printed, nothing is ranked); "
        "2 a user mistake"
    )
    parser.add_argument("a", help="result A: entry id, entry folder, run folder or result.json")
    parser.add_argument("b", help="result B, compared against A")
    add_entries_option(parser, "where entry ids live")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text (default: a table per task and summary lines), csv (one row per metric, "
        "every number), md (a Markdown table) or json",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")


def _label(entry: Entry) -> str:
    """The entry id, with the representation's name when the id does not say it."""
    name = str((entry.result.get("representation") or {}).get("name", ""))
    return entry.id if name in entry.id else f"{entry.id}: {name}"


def run(args: argparse.Namespace) -> int:
    """Print the comparison; exit 1 (refusing to rank) when the results do not compare."""
    a, b = resolve(args.a, args.entries), resolve(args.b, args.entries)
    cmp = compare_results(a.result, b.result, _label(a), _label(b))
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(json.dumps(_json(cmp, a.id, b.id), indent=2))
    elif fmt == "csv":
        if not cmp.comparable:
            for problem in cmp.problems:
                print(f"grainbench: {problem}", file=sys.stderr)
        frame = comparison_frame(cmp)
        print((frame if cmp.comparable else frame.iloc[:0]).to_csv(index=False), end="")
    elif fmt == "md":
        print(render_comparison_markdown(cmp), end="")
    else:
        print(render_comparison(cmp))
    return 0 if cmp.comparable else 1


def _json(cmp: Comparison, a_id: str, b_id: str) -> dict[str, object]:
    """The comparison as a JSON object (metrics empty when the results do not compare)."""
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
    body = {"a": a_id, "b": b_id, "comparable": cmp.comparable, "problems": cmp.problems}
    return {**body, "metrics": rows if cmp.comparable else []}
