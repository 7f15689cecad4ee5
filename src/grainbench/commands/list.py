"""``grainbench list``: the built-in representations, datasets, tasks and generators."""

from __future__ import annotations

import argparse

from grainbench.registry import DATASETS, GENERATORS, REPRESENTATIONS, TASKS

NAME = "list"
HELP = "list built-in representations, datasets, tasks and generators"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Print each registry as a two-column list."""
    for title, registry in (
        ("representations", REPRESENTATIONS),
        ("datasets", DATASETS),
        ("tasks", TASKS),
        ("generators", GENERATORS),
    ):
        entries = registry.entries()
        print(f"{title}:")
        width = max((len(e.name) for e in entries), default=0)
        for e in entries:
            print(f"  {e.name:<{width}}  {e.summary}")
        print()
    return 0
