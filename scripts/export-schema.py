"""Write ``docs/result.schema.json``: the JSON Schema (draft 2020-12) of ``result.json``,
made from the result's dataclasses (:mod:`grainbench.result_schema`).

    python scripts/export-schema.py [--out docs/result.schema.json]

Run it after changing the result schema; ``tests/test_result_schema.py`` fails while the
committed file differs from what this writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grainbench.result_jsonschema import json_schema_text
from grainbench.results import atomic_write_text

DEFAULT = Path(__file__).resolve().parents[1] / "docs" / "result.schema.json"


def main() -> None:
    """Write the schema file (default: the checkout's ``docs/result.schema.json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT, help="where to write it")
    args = parser.parse_args()
    atomic_write_text(args.out, json_schema_text())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
