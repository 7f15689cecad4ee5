"""``grainbench leaderboard``: render the board (README.md, leaderboard.csv, leaderboard.html)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grainbench.leaderboard import DEFAULT_ENTRIES, DEFAULT_OUT, load_entries, write_leaderboard

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
    """Validate every entry and write the three files."""
    paths = write_leaderboard(args.entries, args.out)
    n = len(load_entries(args.entries))
    print(f"leaderboard of {n} entr{'y' if n == 1 else 'ies'}: " + ", ".join(str(p) for p in paths))
    return 0
