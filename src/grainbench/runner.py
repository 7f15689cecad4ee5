"""Run tasks on a representation and a dataset, and record the result (the library API).

``run_benchmark`` is what ``grainbench run`` calls. Every user mistake that can be found
cheaply is found first (tasks, parameters against their declared types, generator use,
device, the plugin's probe, a writable and free run folder), then the dataset is built and
the representation fitted. The run folder is claimed for the run (:mod:`grainbench.runfolder`:
a lock, and the run identity in ``run.json``). Each finished task is written to
``run_dir/tasks/<task>.json`` atomically with a signature of everything that determines
its numbers; a rerun into the same folder reuses every task whose signature matches, so
an interrupted run resumes where it stopped and loses nothing. ``result.json`` is
rewritten after every task and says which requested tasks finished.
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

from grainbench import guard, results, runfolder
from grainbench.data import dataset_defaults, load_dataset
from grainbench.errors import UserError
from grainbench.fitonce import FitOnce
from grainbench.plugins import Representation, load_generator, load_representation
from grainbench.registries import TASKS
from grainbench.report import write_report
from grainbench.tasks import SPEC_ORDER
from grainbench.tasks.base import RunContext, TaskResult
from grainbench.tasks.params import validate_params
from grainbench.training_images import TrainingImages

PROGRESS_EVERY_S = 30.0
"""Seconds between progress lines when stderr is not a terminal."""


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
        except (ValueError, RecursionError):  # not JSON, or absurdly long / deep JSON
            value = raw
        out.setdefault(task, {})[name] = value
    return out


class LogProgress:
    """Progress for a log (stderr is not a terminal): an iterable wrapper that prints one
    line ``grainbench: DESC: i/N (P%), T s`` at most every ``every_s`` seconds, shared by
    every loop of a run so that a log gets a steady, sparse heartbeat."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self.last = time.monotonic()

    def __call__(self, iterable: Any, desc: str = "", total: int | None = None) -> Any:
        """Yield from ``iterable``, printing a line when ``every_s`` has passed."""
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        start = time.monotonic()
        for i, item in enumerate(iterable):
            now = time.monotonic()
            if now - self.last >= self.every_s:
                self.last = now
                of = f"/{total} ({100 * i / total:.0f}%)" if total else ""
                print(f"grainbench: {desc}: {i}{of}, {now - start:.0f} s", file=sys.stderr)
            yield item

    def note(self, text: str) -> None:
        """A one-line stage message (dataset, fitting, each task)."""
        self.last = time.monotonic()
        print(f"grainbench: {text}", file=sys.stderr)


def make_progress(enabled: bool, every_s: float = PROGRESS_EVERY_S):
    """A progress factory writing to stderr: tqdm bars on a terminal, a :class:`LogProgress`
    line every ``every_s`` seconds otherwise, nothing when disabled."""
    if enabled and not sys.stderr.isatty():
        return LogProgress(every_s)

    def progress(iterable, desc: str = "", total: int | None = None):
        return tqdm(
            iterable, desc=desc, total=total, disable=not enabled, file=sys.stderr, leave=False
        )

    return progress


def _signature(parts: dict[str, Any]) -> str:
    """sha256 hex of a task's signature parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class RunSpec:
    """What to run: representation, dataset, tasks, parameters, seed, where to write.

    ``force`` clears a run folder that holds another run; ``plugin_timeout`` (seconds)
    limits every plugin call (:mod:`grainbench.guard`); ``progress`` shows bars on a
    terminal and a line every ``progress_every_s`` seconds otherwise; ``label`` names a
    variant of the same representation, data, generator and seed (a folder and entry of its
    own, :func:`grainbench.runfolder.run_id`).
    """

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
    force: bool = False
    plugin_timeout: float | None = None
    progress_every_s: float = PROGRESS_EVERY_S
    label: str | None = None


def default_run_dir(spec: RunSpec, rep_name: str) -> Path:
    """``runs/<rep>__<dataset>[__<rate>Hz-<samples>][__<gen>][__<label>]__seed<N>``: stable,
    so that a rerun resumes (the setting appears when it is not the dataset's own)."""
    setting = None
    if spec.sample_rate is not None or spec.n_samples is not None:
        sr, n, _ = dataset_defaults(spec.data)
        sr = spec.sample_rate if spec.sample_rate is not None else sr
        n = spec.n_samples if spec.n_samples is not None else n
        setting = (sr, n)
    return Path("runs") / runfolder.run_id(
        rep_name, spec.data, spec.seed, setting, spec.gen, spec.label
    )


def _check_setting(spec: RunSpec) -> None:
    for option, value in (
        ("--sample-rate", spec.sample_rate),
        ("--n-samples", spec.n_samples),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1
        ):
            raise UserError(f"{option} must be a positive integer, got {value!r}")
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or not 0 <= spec.seed < 2**63:
        raise UserError(f"--seed must be an integer from 0 to 2**63-1, got {spec.seed!r}")


def load_rep(spec: RunSpec) -> Representation:
    """The representation of ``spec`` at the dataset's setting (unless ``spec`` or the plugin
    fixes its own), validated on a probe batch; nothing is built or fitted."""
    _check_setting(spec)
    sr, n, _ = dataset_defaults(spec.data)
    sr = spec.sample_rate if spec.sample_rate is not None else sr
    n = spec.n_samples if spec.n_samples is not None else n
    return load_representation(spec.rep, sample_rate=sr, n_samples=n)


def load_and_fit(spec: RunSpec, rep: Representation) -> Any:
    """The dataset of ``spec`` at ``rep``'s setting; fits ``rep`` on its training clips
    (which also checks that the fitted decoder is not degenerate)."""
    return fit_on_training(spec, rep)[0]


def fit_on_training(spec: RunSpec, rep: Representation) -> tuple[Any, torch.Tensor | None]:
    """:func:`load_and_fit`, and the training images the fit returned (None: none)."""
    dataset = load_dataset(
        spec.data,
        sample_rate=rep.sample_rate,
        n_samples=rep.n_samples,
        n_channels=rep.n_channels,
        seed=spec.seed,
        progress=spec.progress and sys.stderr.isatty(),
    )
    torch.manual_seed(spec.seed)
    images = rep.fit(torch.from_numpy(dataset.train))
    return dataset, images


def prepare(spec: RunSpec) -> tuple[Representation, Any]:
    """Load the representation at the dataset's setting, the dataset at the representation's,
    and fit the representation on the training clips."""
    with guard.plugin_calls(spec.plugin_timeout):
        rep = load_rep(spec)
        return rep, load_and_fit(spec, rep)


def _device(name: str) -> torch.device:
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a torch device") from None


def check_request(spec: RunSpec) -> dict[str, dict[str, Any]]:
    """Every task's parameters (defaults overridden by ``spec.params``), checked against the
    tasks' declarations, and the tasks' use of the generator; :class:`UserError` otherwise."""
    runfolder.check_label(spec.label)
    tasks = spec.tasks or default_tasks()
    task_objs = {name: TASKS.get(name) for name in tasks}
    unknown = set(spec.params) - set(task_objs)
    if unknown:
        raise UserError(f"--param names task(s) not being run: {', '.join(sorted(unknown))}")
    params = {
        name: validate_params(name, task, spec.params.get(name, {}))
        for name, task in task_objs.items()
    }
    if spec.gen and not any(getattr(t, "uses_generator", False) for t in task_objs.values()):
        raise UserError(
            f"--gen is used only by the generation task, which this run does not include "
            f"(tasks: {', '.join(task_objs)}); add --task generation or drop --gen"
        )
    needing = [
        n for n, t in task_objs.items() if n == "generation" or getattr(t, "needs_generator", False)
    ]
    if not spec.gen and needing:
        raise UserError(
            f"the {needing[0]} task needs a generator: add --gen gmm|oracle|FILE.py:Class"
        )
    return params


def run_identity(
    spec: RunSpec, rep: Representation, params: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What makes this run this run (see :mod:`grainbench.runfolder`), as stored JSON."""
    identity = {
        "rep": spec.rep,
        "data": spec.data,
        "sample_rate": rep.sample_rate,
        "n_samples": rep.n_samples,
        "n_channels": rep.n_channels,
        "seed": spec.seed,
        "generator": {"spec": spec.gen, "options": spec.gen_options} if spec.gen else None,
        "tasks": params,
    }
    if spec.label:  # only when set: unlabelled runs keep their identities
        identity["label"] = spec.label
    return json.loads(json.dumps(identity, default=str))


def run_benchmark(spec: RunSpec) -> tuple[dict[str, Any], Path]:
    """Run ``spec`` and write its result; returns the result and the run folder.

    Raises :class:`UserError` for every user mistake, before the dataset is built where
    it can be found before (see the module doc).
    """
    params = check_request(spec)
    device = _device(spec.device)
    progress = make_progress(spec.progress, spec.progress_every_s)
    note = getattr(progress, "note", None)
    with guard.plugin_calls(spec.plugin_timeout):
        rep = load_rep(spec)
        generator = None
        if spec.gen:
            generator = FitOnce(
                load_generator(
                    spec.gen,
                    rep.image_shape,
                    show_progress=spec.progress and sys.stderr.isatty(),
                    **spec.gen_options,
                )
            )
            for name in params:
                check = getattr(TASKS.get(name), "check_generator", None)
                if callable(check):
                    check(generator.inner, spec.gen)
        run_dir = Path(spec.out) if spec.out else default_run_dir(spec, rep.name)
        identity = run_identity(spec, rep, params)
        with runfolder.claim(run_dir, identity, force=spec.force) as run_signature:
            if note:
                note(f"loading {spec.data} and fitting {rep.name}")
            dataset, images = fit_on_training(spec, rep)
            rep.to(device)
            # the fit's images are the CPU encode's; another device encodes its own
            kept = images if device.type == "cpu" else None
            training = TrainingImages(rep, dataset.train, device, images=kept)
            result = _new_result(spec, rep, dataset, list(params), run_signature)
            for name, task_params in params.items():
                if note:
                    note(f"task {name}")
                body = _run_task(
                    spec,
                    name,
                    task_params,
                    result,
                    rep,
                    dataset,
                    run_dir,
                    device,
                    progress,
                    generator,
                    training,
                )
                result["tasks"][name] = body
                result["complete"] = not results.unfinished_tasks(result)
                results.write_result(run_dir, result)  # a partial result survives an interruption
            results.write_result(run_dir, result)
            write_report(run_dir, result)
    return result, run_dir


def _new_result(
    spec: RunSpec, rep: Representation, dataset: Any, tasks: list[str], run_signature: str
) -> dict[str, Any]:
    """The result's provenance, with no task finished yet."""
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
    return {
        "schema": results.SCHEMA,
        **results.suite_info(),
        "created": results.now_iso(),
        "command": spec.command,
        "seed": spec.seed,
        "machine": results.machine_info(),
        "representation": rep.describe(),
        "generator": {"spec": spec.gen, "options": spec.gen_options} if spec.gen else None,
        "dataset": dataset_info,
        "run_signature": run_signature,
        "tasks_requested": tasks,
        "complete": not tasks,
        "tasks": {},
        **({"label": spec.label} if spec.label else {}),
    }


def _run_task(
    spec: RunSpec,
    name: str,
    params: dict[str, Any],
    result: dict[str, Any],
    rep: Representation,
    dataset: Any,
    run_dir: Path,
    device: torch.device,
    progress: Any,
    generator: Any,
    training: TrainingImages,
) -> dict[str, Any]:
    """Task ``name``'s stored body: reused from ``tasks/<name>.json`` when its signature
    matches, else computed and written there."""
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
        return previous
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
        training=training,
    )
    start = time.perf_counter()
    torch.manual_seed(spec.seed)
    task_result: TaskResult = TASKS.get(name).run(ctx, params)
    body = {
        "signature": signature,
        "params": params,
        "wall_s": round(time.perf_counter() - start, 3),
        "metrics": [m.to_json() for m in task_result.metrics],
        "artifacts": [vars(a) for a in task_result.artifacts],
        "data": task_result.data,
    }
    described = None if generator is None else generator.describe()
    if described is not None:  # the generator as the task left it (e.g. the images it trained on)
        body["generator"] = described
    results.write_json(task_file, body)
    return body


def _read_task_file(path: Path) -> dict[str, Any] | None:
    """A finished task's stored body, or None when absent or unreadable (then it re-runs)."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None
