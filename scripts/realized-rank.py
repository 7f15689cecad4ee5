"""Predicted against realized grain across representations: Spearman's ρ with intervals.

usage: python scripts/realized-rank.py [--json] [--seed N] [--n-boot N] PATH...

PATH: run folders, board entries, folders of them (searched for result.json), or result
files holding a finished `realized` task. One table per comparable group (generator and
options, data, setting, task parameters); see grainbench.realized_rank and
docs/metrics/realized.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grainbench.realized_rank import report


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def main(argv: list[str] | None = None) -> int:
    """Print the rank correlations of the realized results under the given paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    groups = report(args.paths, seed=args.seed, n_boot=args.n_boot)
    if not groups:
        print("no result with a realized task under the given paths", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(groups, indent=2))
        return 0
    for g in groups:
        info = g["group"]
        print(
            f"\ngenerator {info['generator']} {info['options'] or ''}, data {info['data'][:12]}…, "
            f"setting {info['setting'][0]} Hz × {info['setting'][1]}"
        )
        for c in g["correlations"]:
            lo_c, hi_c = c["interval_over_clips"]
            lo_r, hi_r = c["interval_over_representations"]
            print(
                f"  {c['predictor']:<15} ρ = {_fmt(c['spearman'])} over {c['n_representations']} "
                f"representations, {c['n_clips']} clips; 95% over clips [{_fmt(lo_c)}, {_fmt(hi_c)}], "
                f"over representations [{_fmt(lo_r)}, {_fmt(hi_r)}]"
            )
        rows = g["correlations"][0]["rows"]
        print(f"  {'representation':<20} {'realized ESR':>13} {'predicted (noise)':>18}")
        for r in rows:
            print(f"  {r['rep']:<20} {r['realized_esr']:>13.2f} {r['predicted_esr']:>18.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
