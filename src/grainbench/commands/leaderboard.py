"""``grainbench leaderboard``: render the board (README.md, leaderboard.csv, leaderboard.html)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grainbench.commands import add_entries_option
from grainbench.leaderboard import (
    DEFAULT_OUT,
    scan_entries,
    write_entry_reports,
    write_leaderboard,
)

NAME = "leaderboard"
HELP = "render leaderboards/README.md, leaderboard.csv and leaderboard.html from the entries"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench leaderboard``."""
    add_entries_option(parser, "entries folder")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--reports",
        action="store_true",
        help="also rewrite every entry's report.html from its result.json (after a grainbench "
        "update changed the report, or to rank old entries against the board as it is now)",
    )


def run(args: argparse.Namespace) -> int:
    """Validate every entry, report (one line each) and skip broken ones, write the files."""
    if args.reports:
        print(f"rewrote {len(write_entry_reports(args.entries))} entry reports")
    entries, skipped = scan_entries(args.entries)
    for line in skipped:
        print(f"grainbench: {line}", file=sys.stderr)
    paths = write_leaderboard(args.entries, args.out, entries)
    n = len(entries)
    note = f" ({len(skipped)} skipped)" if skipped else ""
    print(
        f"leaderboard of {n} entr{'y' if n == 1 else 'ies'}{note}: "
        + ", ".join(str(p) for p in paths)
    )
    return 0
