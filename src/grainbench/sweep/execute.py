"""Run a sweep's runs: a local process pool, or submitit (its local executor, or Slurm).

Each run executes :func:`run_one` in a process of its own, which

1. takes the run's lock (``<logs>/<run>.lock``, an ``fcntl`` lock that dies with its
   process): a run already executing elsewhere — an earlier sweep's worker still alive,
   another Slurm job — is reported ``busy`` and left alone;
2. skips the run when its folder already holds it finished (:func:`~grainbench.sweep.grid.finished`);
3. calls :func:`~grainbench.runner.run_benchmark`, which writes each task atomically and
   reuses finished tasks, so a run killed half-way loses only the task it was in;
4. writes what happened to ``<logs>/<run>.log``.

Two phases: first every run's tasks but those that must run alone (``runs_alone``:
timings), ``workers`` runs at a time; then, one run at a time, each run with every task
(the runner reuses the finished ones and computes the rest).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grainbench.errors import UserError
from grainbench.sweep.grid import SweepRun, finished

EXECUTORS = ("pool", "local", "slurm")


@dataclass
class Options:
    """How to execute: executor, parallel runs, threads per run, and Slurm's resources."""

    executor: str = "pool"
    workers: int = 1
    threads: int = 1
    logs: Path = Path("runs/logs")
    time_min: int = 240
    mem_gb: int = 16
    partition: str | None = None
    gpus: int = 0
    poll_s: float = 1.0


@dataclass
class Outcome:
    """What became of one run in one phase: done, finished (before), busy or failed."""

    run: str
    status: str
    message: str = ""
    seconds: float = 0.0


@contextlib.contextmanager
def _run_lock(path: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` while inside; yields False when another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.lockf(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)


def run_one(
    run_json: dict[str, Any], tasks: list[str], logs: str, threads: int, redirect: bool
) -> dict[str, Any]:
    """Execute one run's ``tasks`` in this process (see the module docstring); returns
    :class:`Outcome` fields. ``redirect``: send stdout and stderr to the run's log here."""
    run = SweepRun.from_json(run_json)
    logs_dir = Path(logs)
    start = time.perf_counter()
    with _run_lock(logs_dir / f"{run.id}.lock") as mine:
        if not mine:
            return {"run": run.id, "status": "busy", "message": "executing in another process"}
        if finished(run, tasks):
            return {"run": run.id, "status": "finished"}
        output = _output_to(logs_dir / f"{run.id}.log") if redirect else contextlib.nullcontext()
        with output:
            return _execute(run, tasks, threads, start)


def _execute(run: SweepRun, tasks: list[str], threads: int, start: float) -> dict[str, Any]:
    import torch

    from grainbench.runner import run_benchmark

    torch.set_num_threads(threads)
    print(f"sweep: {shlex.join(run.command(tasks))}", flush=True)
    try:
        run_benchmark(run.spec(tasks))
    except UserError as exc:
        print(f"grainbench: error: {exc}", flush=True)
        return {"run": run.id, "status": "failed", "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - one run's crash must not end the sweep
        traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return {"run": run.id, "status": "failed", "message": message}
    seconds = time.perf_counter() - start
    print(f"sweep: finished in {seconds:.1f} s", flush=True)
    return {"run": run.id, "status": "done", "seconds": seconds}


def _die_with_parent() -> None:
    """In a pool worker (Linux): end when the sweep that started it ends, even by kill -9."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _PoolJob:
    """One run in a child process of the sweep (``python -m grainbench.sweep.worker``)."""

    def __init__(self, run: SweepRun, tasks: list[str], opts: Options) -> None:
        self.run = run
        self.outcome_path = opts.logs / f"{run.id}.outcome.json"
        self.outcome_path.unlink(missing_ok=True)
        payload = {
            "run": run.to_json(),
            "tasks": tasks,
            "logs": str(opts.logs),
            "threads": opts.threads,
            "outcome": str(self.outcome_path),
        }
        env = {**os.environ, "OMP_NUM_THREADS": str(opts.threads)}
        env["MKL_NUM_THREADS"] = str(opts.threads)
        with open(opts.logs / f"{run.id}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "grainbench.sweep.worker", json.dumps(payload)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
            )

    def done(self) -> bool:
        return self.proc.poll() is not None

    def outcome(self) -> dict[str, Any]:
        try:
            return json.loads(self.outcome_path.read_text())
        except (OSError, ValueError):
            code = self.proc.returncode
            return {"run": self.run.id, "status": "failed", "message": f"worker exited {code}"}

    def cancel(self) -> None:
        self.proc.terminate()


class _SubmititJob:
    """One run as a submitit job (local process or Slurm array task)."""

    def __init__(self, run: SweepRun, job: Any) -> None:
        self.run = run
        self.job = job

    def done(self) -> bool:
        return bool(self.job.done())

    def outcome(self) -> dict[str, Any]:
        try:
            return self.job.result()
        except Exception as exc:  # noqa: BLE001 - submitit reports a dead job by raising
            text = str(exc).strip().splitlines()
            message = f"{type(exc).__name__}: {text[0] if text else ''} (job {self.job.job_id})"
            return {"run": self.run.id, "status": "failed", "message": message}

    def cancel(self) -> None:
        self.job.cancel(check=False)


def submitit_executor(opts: Options, parallel: int) -> Any:
    """A submitit executor for ``opts.executor`` (local or slurm), logs under ``opts.logs``."""
    try:
        import submitit
    except ImportError:
        raise UserError(
            f"--executor {opts.executor} needs submitit: pip install 'grainbench[slurm]'"
        ) from None
    folder = opts.logs / "submitit"
    if opts.executor == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=opts.time_min)
        return executor
    try:
        executor = submitit.SlurmExecutor(folder=folder)
    except RuntimeError as exc:  # no srun here
        raise UserError(f"--executor slurm: {exc}") from None
    params: dict[str, Any] = {
        "job_name": "grainbench-sweep",
        "time": opts.time_min,
        "mem": f"{opts.mem_gb}GB",
        "cpus_per_task": opts.threads,
        "ntasks_per_node": 1,
        "array_parallelism": parallel,
    }
    if opts.partition:
        params["partition"] = opts.partition
    if opts.gpus:
        params["gpus_per_node"] = opts.gpus
    executor.update_parameters(**params)
    return executor


def submit_slurm(
    runs: list[SweepRun], tasks: list[list[str]], opts: Options, parallel: int
) -> list[_SubmititJob]:
    """Submit ``runs`` as one Slurm job array (at most ``parallel`` at a time); returns jobs."""
    executor = submitit_executor(opts, parallel)
    n = len(runs)
    jobs = executor.map_array(
        run_one,
        [r.to_json() for r in runs],
        tasks,
        [str(opts.logs)] * n,
        [opts.threads] * n,
        [True] * n,
    )
    return [_SubmititJob(r, j) for r, j in zip(runs, jobs, strict=True)]


def execute(
    work: list[tuple[SweepRun, list[str]]],
    opts: Options,
    parallel: int,
    report: Callable[[Outcome], None],
) -> list[Outcome]:
    """Execute every ``(run, tasks)`` with at most ``parallel`` at a time; ``report`` is
    called as each ends. Ctrl-C cancels what is running and re-raises."""
    opts.logs.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    pending = list(work)
    active: list[Any] = []
    local = opts.executor == "local" and pending
    local_executor = submitit_executor(opts, parallel) if local else None
    if opts.executor == "slurm" and pending:
        active = submit_slurm([r for r, _ in pending], [t for _, t in pending], opts, parallel)
        pending = []
    try:
        while pending or active:
            while pending and len(active) < parallel:
                run, tasks = pending.pop(0)
                if local_executor is not None:
                    job = local_executor.submit(
                        run_one, run.to_json(), tasks, str(opts.logs), opts.threads, True
                    )
                    active.append(_SubmititJob(run, job))
                else:
                    active.append(_PoolJob(run, tasks, opts))
            still = []
            for job in active:
                if job.done():
                    outcome = Outcome(**job.outcome())
                    outcomes.append(outcome)
                    report(outcome)
                else:
                    still.append(job)
            active = still
            if active:
                time.sleep(opts.poll_s)
    except KeyboardInterrupt:
        for job in active:
            job.cancel()
        raise
    return outcomes
