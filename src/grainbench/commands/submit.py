"""``grainbench submit``: validate a run's result and add it to the leaderboard entries."""

from __future__ import annotations

import argparse
from pathlib import Path

from grainbench.commands import add_entries_option
from grainbench.leaderboard import DEFAULT_ENTRIES, submit

NAME = "submit"
HELP = "validate a run folder's result and add it as a leaderboard entry (pictures, no sounds)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench submit``."""
    parser.add_argument("result_dir", type=Path, help="run folder holding result.json")
    add_entries_option(parser, "entries folder")
    parser.add_argument("--id", default=None, help="entry id (default: REP__DATASET[__GEN]__seedN)")
    parser.add_argument(
        "--force", action="store_true", help="replace an existing entry of the same id"
    )


def run(args: argparse.Namespace) -> int:
    """Copy the validated result into the entries folder and say what to do next."""
    target = submit(args.result_dir, args.entries, force=args.force, entry_name=args.id)
    print(f"entry {target.name} written to {target}/")
    print(
        "next: grainbench leaderboard"
        + ("" if args.entries == DEFAULT_ENTRIES else f" --entries {args.entries}")
    )
    return 0
