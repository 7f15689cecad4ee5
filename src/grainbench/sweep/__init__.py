"""``grainbench sweep``: a grid of independent runs, resumable, on a local pool or Slurm.

:mod:`grainbench.sweep.grid` reads and expands the grid file, :mod:`.execute` runs the
runs; :func:`plan` and :func:`sweep` put them together (the library API behind the command).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grainbench.errors import UserError
from grainbench.sweep.execute import Options, Outcome, execute
from grainbench.sweep.grid import Grid, SweepRun, alone_tasks, finished


@dataclass
class Plan:
    """What a sweep has to do: runs already finished, and the work of each phase."""

    finished: list[SweepRun] = field(default_factory=list)
    together: list[tuple[SweepRun, list[str]]] = field(default_factory=list)
    alone: list[tuple[SweepRun, list[str]]] = field(default_factory=list)


def plan(grid: Grid) -> Plan:
    """Split ``grid``'s runs: finished ones are skipped; the tasks that may share the machine
    run first, many runs at a time; runs with a ``runs_alone`` task then run one at a time
    with every task (the finished ones are reused)."""
    out = Plan()
    for run in grid.runs:
        if finished(run):
            out.finished.append(run)
            continue
        alone = alone_tasks(run)
        rest = [t for t in run.tasks if t not in alone]
        if rest and not finished(run, rest):
            out.together.append((run, rest))
        if alone:
            out.alone.append((run, list(run.tasks)))
    return out


@dataclass
class Summary:
    """A sweep's outcome: every phase outcome, the runs finished at the end, wall seconds."""

    outcomes: list[Outcome]
    finished: list[SweepRun]
    unfinished: list[SweepRun]
    wall_s: float


def sweep(grid: Grid, opts: Options, report: Callable[[str], None]) -> Summary:
    """Execute ``grid`` as :func:`plan` says with ``opts``; ``report`` gets one line per
    event. Phase two gets every thread of the sweep (``workers × threads``) on this machine,
    its own ``threads`` on Slurm."""
    start = time.perf_counter()
    work = plan(grid)
    total = len(grid.runs)
    report(
        f"sweep: {total} runs, {len(work.finished)} finished before, "
        f"{len(work.together)} to run {opts.workers} at a time, "
        f"{len(work.alone)} with tasks that run alone"
    )
    count = [0]

    def note(outcome: Outcome) -> None:
        count[0] += 1
        extra = f" ({outcome.seconds:.0f} s)" if outcome.seconds else ""
        extra += f": {outcome.message}" if outcome.message else ""
        report(f"[{count[0]}] {outcome.status} {outcome.run}{extra}")

    outcomes = execute(work.together, opts, opts.workers, note)
    failed = {o.run for o in outcomes if o.status in ("failed", "busy")}
    second = [(r, t) for r, t in work.alone if r.id not in failed]
    if second:
        threads = opts.threads if opts.executor == "slurm" else opts.threads * opts.workers
        alone_opts = Options(**{**vars(opts), "threads": threads})
        outcomes += execute(second, alone_opts, 1, note)
    done = [r for r in grid.runs if finished(r)]
    todo = [r for r in grid.runs if r not in done]
    return Summary(outcomes, done, todo, time.perf_counter() - start)


def submit_runs(runs: list[SweepRun], entries: Path, board: Path) -> list[str]:
    """Submit every run (replacing its entry) and render the board; returns the problems."""
    from grainbench.leaderboard import submit, write_leaderboard

    problems = []
    for run in runs:
        try:
            submit(Path(run.out), entries, force=True)
        except UserError as exc:
            problems.append(f"{run.id}: {exc}")
    write_leaderboard(entries, board)
    return problems
