"""``grainbench leaderboard``: render the board (README.md, leaderboard.csv, leaderboard.html)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grainbench.leaderboard import DEFAULT_ENTRIES, DEFAULT_OUT, scan_entries, write_leaderboard

NAME = "leaderboard"
HELP = "render leaderboards/README.md, leaderboard.csv and leaderboard.html from the entries"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench leaderboard``."""
    parser.add_argument(
        "--entries",
        type=Path,
        default=DEFAULT_ENTRIES,
        help=f"entries folder (default: {DEFAULT_ENTRIES})",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})"
    )


def run(args: argparse.Namespace) -> int:
    """Validate every entry, report (one line each) and skip broken ones, write the files."""
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
