"""``grainbench list``: the built-in representations, datasets, tasks and generators."""

from __future__ import annotations

import argparse

from grainbench.data import dataset_defaults
from grainbench.plugins import load_representation
from grainbench.registries import DATASETS, GENERATORS, REPRESENTATIONS, TASKS

NAME = "list"
HELP = "list built-in representations, datasets, tasks and generators"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--reps-for DATA``: only the representations that follow a dataset's setting."""
    parser.add_argument(
        "--reps-for",
        metavar="DATA",
        default=None,
        help="print only the names of the built-in representations that take DATA's setting "
        "(sample rate, clip length, channels), one per line (for scripts)",
    )


def reps_following(data: str) -> list[str]:
    """Built-in representations that, built at ``data``'s setting, keep it exactly."""
    sr, n, ch = dataset_defaults(data)
    names = []
    for entry in REPRESENTATIONS.entries():
        rep = load_representation(entry.name, sample_rate=sr, n_samples=n)
        if (rep.sample_rate, rep.n_samples, rep.n_channels) == (sr, n, ch):
            names.append(entry.name)
    return names


def run(args: argparse.Namespace) -> int:
    """Print each registry as a two-column list (or the names ``--reps-for`` asks for)."""
    if args.reps_for is not None:
        print("\n".join(reps_following(args.reps_for)))
        return 0
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
