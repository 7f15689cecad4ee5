"""grainbench commands: every module here is one sub-command (``cli.py`` finds them)."""

from __future__ import annotations

import argparse
from pathlib import Path

from grainbench.leaderboard.entries import DEFAULT_ENTRIES


def add_entries_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``--entries FOLDER`` (a path, default ``leaderboards/entries``), helped as ``what``."""
    parser.add_argument(
        "--entries", type=Path, default=DEFAULT_ENTRIES, help=f"{what} (default: {DEFAULT_ENTRIES})"
    )
