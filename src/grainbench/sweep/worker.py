"""``python -m grainbench.sweep.worker PAYLOAD``: one run of a sweep's local process pool.

``PAYLOAD`` is JSON: ``run`` (a :class:`~grainbench.sweep.grid.SweepRun`), ``tasks``,
``logs``, ``threads`` and ``outcome`` (the file the outcome is written to, atomically).
The pool points this process's output at the run's log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from grainbench.results import atomic_write_text
from grainbench.sweep.execute import run_one


def main(argv: Sequence[str] | None = None) -> int:
    """Run the payload's run; exit 0 when it is finished, 1 otherwise."""
    args = list(sys.argv[1:] if argv is None else argv)
    payload = json.loads(args[0])
    outcome = run_one(
        payload["run"], payload["tasks"], payload["logs"], payload["threads"], redirect=False
    )
    atomic_write_text(Path(payload["outcome"]), json.dumps(outcome) + "\n")
    return 0 if outcome["status"] in ("done", "finished") else 1


if __name__ == "__main__":
    sys.exit(main())
