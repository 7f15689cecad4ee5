"""Run tasks on a representation and a dataset, and record the result (the library API).

``run_benchmark`` is what ``grainbench run`` calls. Each finished task is written to
``run_dir/tasks/<task>.json`` atomically with a signature of everything that determines
its numbers; a rerun into the same folder reuses every task whose signature matches, so
an interrupted run resumes where it stopped and loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from grainbench import results
from grainbench.data import dataset_defaults, load_dataset
from grainbench.errors import UserError
from grainbench.plugins import Representation, load_generator, load_representation
from grainbench.registry import TASKS
from grainbench.report import write_report
from grainbench.tasks import SPEC_ORDER
from grainbench.tasks.base import RunContext, TaskResult


def default_tasks() -> list[str]:
    """The tasks ``grainbench run`` runs when none is asked for, in SPEC order."""
    chosen = [e.name for e in TASKS.entries() if getattr(e.obj, "in_default_run", False)]
    return sorted(chosen, key=lambda n: SPEC_ORDER.index(n) if n in SPEC_ORDER else len(SPEC_ORDER))


def parse_params(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["perturbation.n_pixels=256", …]`` → ``{"perturbation": {"n_pixels": 256}}``.

    Values are read as JSON where they parse (numbers, lists, true/false), else as strings.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        task, dot, name = key.partition(".")
        if not sep or not dot or not task or not name:
            raise UserError(f"--param {item!r}: expected TASK.NAME=VALUE")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(task, {})[name] = value
    return out


def make_progress(enabled: bool):
    """A tqdm-backed progress factory writing to stderr (silent when disabled)."""

    def progress(iterable, desc: str = "", total: int | None = None):
        return tqdm(
            iterable, desc=desc, total=total, disable=not enabled, file=sys.stderr, leave=False
        )

    return progress


def _signature(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class RunSpec:
    """What to run: representation, dataset, tasks, parameters, seed, where to write."""

    rep: str
    data: str = "piano-c3"
    sample_rate: int | None = None  # None: the dataset's own
    n_samples: int | None = None  # None: the dataset's own
    tasks: list[str] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    out: Path | None = None
    device: str = "cpu"
    gen: str | None = None
    gen_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    command: list[str] = field(default_factory=list)


def default_run_dir(spec: RunSpec, rep_name: str) -> Path:
    """``runs/<rep>__<dataset>[__<rate>Hz-<samples>][__<gen>]__seed<N>``: stable, so that a
    rerun resumes (the setting appears when it is not the dataset's own)."""
    safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)  # noqa: E731
    gen = f"__{safe(spec.gen)}" if spec.gen else ""
    setting = ""
    if spec.sample_rate is not None or spec.n_samples is not None:
        sr, n, _ = dataset_defaults(spec.data)
        sr = spec.sample_rate if spec.sample_rate is not None else sr
        n = spec.n_samples if spec.n_samples is not None else n
        setting = f"__{sr}Hz-{n}"
    return Path("runs") / f"{safe(rep_name)}__{safe(spec.data)}{setting}{gen}__seed{spec.seed}"


def prepare(spec: RunSpec) -> tuple[Representation, Any]:
    """Load the representation at the dataset's setting, the dataset at the representation's,
    and fit the representation on the training clips."""
    for option, value in (("--sample-rate", spec.sample_rate), ("--n-samples", spec.n_samples)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise UserError(f"{option} must be a positive integer, got {value!r}")
    sr, n, _ = dataset_defaults(spec.data)
    sr = spec.sample_rate if spec.sample_rate is not None else sr
    n = spec.n_samples if spec.n_samples is not None else n
    rep = load_representation(spec.rep, sample_rate=sr, n_samples=n)
    dataset = load_dataset(
        spec.data,
        sample_rate=rep.sample_rate,
        n_samples=rep.n_samples,
        n_channels=rep.n_channels,
        seed=spec.seed,
        progress=spec.progress,
    )
    torch.manual_seed(spec.seed)
    rep.fit(torch.from_numpy(dataset.train))
    return rep, dataset


def _device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a torch device") from None


def run_benchmark(spec: RunSpec) -> tuple[dict[str, Any], Path]:
    """Run ``spec`` and write its result; returns the result and the run folder."""
    tasks = spec.tasks or default_tasks()
    task_objs = {name: TASKS.get(name) for name in tasks}
    unknown = set(spec.params) - set(task_objs)
    if unknown:
        raise UserError(f"--param names task(s) not being run: {', '.join(sorted(unknown))}")
    device = _device(spec.device)
    rep, dataset = prepare(spec)
    rep.to(device)
    run_dir = Path(spec.out) if spec.out else default_run_dir(spec, rep.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    generator = None
    if spec.gen:
        generator = load_generator(
            spec.gen, rep.image_shape, show_progress=spec.progress, **spec.gen_options
        )
    elif "generation" in task_objs:
        raise UserError("the generation task needs a generator: add --gen gmm|oracle|FILE.py:Class")
    progress = make_progress(spec.progress)
    dataset_info = {
        "spec": dataset.spec,
        "name": dataset.name,
        "fingerprint": dataset.fingerprint,
        "sample_rate": dataset.sample_rate,
        "n_samples": dataset.n_samples,
        "n_channels": dataset.n_channels,
        "n_train": int(len(dataset.train)),
        "n_test": int(len(dataset.test)),
        "notes": list(dataset.notes),
        "params": dataset.params,
        "file_report": dataset.file_report,
    }
    result: dict[str, Any] = {
        "schema": results.SCHEMA,
        **results.suite_info(),
        "created": results.now_iso(),
        "command": spec.command,
        "seed": spec.seed,
        "machine": results.machine_info(),
        "representation": rep.describe(),
        "generator": {"spec": spec.gen, "options": spec.gen_options} if spec.gen else None,
        "dataset": dataset_info,
        "tasks": {},
    }
    for name, task in task_objs.items():
        params = {**task.default_params(), **spec.params.get(name, {})}
        unknown_params = set(spec.params.get(name, {})) - set(task.default_params())
        if unknown_params:
            raise UserError(
                f"task {name} has no parameter(s) {', '.join(sorted(unknown_params))}; "
                f"it has: {', '.join(sorted(task.default_params()))}"
            )
        signature = _signature(
            {
                "suite": result["suite_version"],
                "code": result["code_hash"],
                "rep": result["representation"],
                "data": dataset.fingerprint,
                "seed": spec.seed,
                "task": name,
                "params": params,
                "gen": result["generator"],
            }
        )
        task_file = run_dir / "tasks" / f"{name}.json"
        previous = _read_task_file(task_file)
        if previous is not None and previous.get("signature") == signature:
            print(f"grainbench: {name}: reusing finished result in {task_file}", file=sys.stderr)
            result["tasks"][name] = previous
            continue
        out_dir = run_dir / name
        out_dir.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(
            rep=rep,
            dataset=dataset,
            seed=spec.seed,
            run_dir=run_dir,
            out_dir=out_dir,
            device=device,
            progress=progress,
            generator=generator,
            generator_spec=spec.gen,
        )
        start = time.perf_counter()
        torch.manual_seed(spec.seed)
        task_result: TaskResult = task.run(ctx, params)
        body = {
            "signature": signature,
            "params": params,
            "wall_s": round(time.perf_counter() - start, 3),
            "metrics": [m.to_json() for m in task_result.metrics],
            "artifacts": [vars(a) for a in task_result.artifacts],
            "data": task_result.data,
        }
        results.write_json(task_file, body)
        result["tasks"][name] = body
        results.write_result(run_dir, result)  # a partial result survives an interruption
    results.write_result(run_dir, result)
    write_report(run_dir, result)
    return result, run_dir


def _read_task_file(path: Path) -> dict[str, Any] | None:
    """A finished task's stored body, or None when absent or unreadable (then it re-runs)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
