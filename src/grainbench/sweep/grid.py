"""Sweep grids: a TOML file of blocks, each the product of its lists, expanded into
independent runs (one ``grainbench run`` each, in the folder that command would choose).

::

    runs = "runs/board"                  # the folder of the run folders (default: "runs")

    [[grid]]                             # one block; a grid has one or more
    name = "piano-c3 standard tasks"     # optional, for messages
    reps = ["dct-square", "mfcc"]        # or "builtins": every built-in that keeps the
                                         # dataset's setting (grainbench list --reps-for)
    datasets = ["piano-c3"]              # default ["piano-c3"]
    seeds = [0]                          # default [0]
    gens = ["gmm"]                       # default: none (a run without a generator)
    tasks = ["roundtrip", "throughput"]  # default: the default task set
    sample_rate = 16000                  # optional: the setting, as --sample-rate
    n_samples = 16384                    # optional, as --n-samples
    device = "cpu"                       # default "cpu"
    label = "throughput"                 # optional: a variant's name, in every run's id

    [grid.params.roundtrip]              # task parameters of every run of the block
    codecs = ["png16", "png8"]

    [grid.rep_params.mfcc.perturbation]  # one representation's parameters, over params
    n_pixels = 128

    [grid.gen_options.stylegan2]         # one generator's options (--gen-opt)
    config = "cpu-sparse"

Every mistake — an unknown key, a wrong type, an unknown task or task parameter, a
representation or generator that the block does not run, two runs that would write one
folder — is a :class:`~grainbench.errors.UserError` naming the block.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from grainbench import results, runfolder
from grainbench.data import dataset_defaults
from grainbench.errors import UserError
from grainbench.plugins import is_plugin_spec, load_representation
from grainbench.registries import REPRESENTATIONS, TASKS
from grainbench.runner import RunSpec, default_run_dir, default_tasks

_TOP_KEYS = {"runs", "grid"}
_BLOCK_KEYS = {
    "name",
    "reps",
    "datasets",
    "seeds",
    "gens",
    "tasks",
    "sample_rate",
    "n_samples",
    "device",
    "label",
    "params",
    "rep_params",
    "gen_options",
}


@dataclass
class SweepRun:
    """One run of a sweep: what ``grainbench run`` would be given, and its folder."""

    rep: str
    data: str
    seed: int
    tasks: list[str]
    out: str
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    gen: str | None = None
    gen_options: dict[str, Any] = field(default_factory=dict)
    sample_rate: int | None = None
    n_samples: int | None = None
    device: str = "cpu"
    block: str = ""
    label: str | None = None

    @property
    def id(self) -> str:
        """The run folder's name (unique in a sweep)."""
        return Path(self.out).name

    def to_json(self) -> dict[str, Any]:
        """A JSON-able copy (what a worker process is handed)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepRun:
        """The run :meth:`to_json` described."""
        return cls(**data)

    def command(self, tasks: list[str] | None = None) -> list[str]:
        """The ``grainbench run`` command line that makes this run (its ``tasks``)."""
        cmd = ["grainbench", "run", "--rep", self.rep, "--data", self.data]
        if self.sample_rate is not None:
            cmd += ["--sample-rate", str(self.sample_rate)]
        if self.n_samples is not None:
            cmd += ["--n-samples", str(self.n_samples)]
        cmd += ["--task", ",".join(tasks or self.tasks), "--seed", str(self.seed)]
        if self.gen:
            cmd += ["--gen", self.gen]
            for key, value in self.gen_options.items():
                cmd += ["--gen-opt", f"{key}={json.dumps(value)}"]
        for task, values in self.params.items():
            if tasks is None or task in tasks:
                for key, value in values.items():
                    cmd += ["--param", f"{task}.{key}={json.dumps(value)}"]
        if self.device != "cpu":
            cmd += ["--device", self.device]
        if self.label:
            cmd += ["--label", self.label]
        return [*cmd, "--out", self.out, "--no-progress"]

    def spec(self, tasks: list[str] | None = None) -> RunSpec:
        """The runner's spec for this run, limited to ``tasks`` (default: all of them)."""
        chosen = list(tasks or self.tasks)
        return RunSpec(
            rep=self.rep,
            data=self.data,
            sample_rate=self.sample_rate,
            n_samples=self.n_samples,
            tasks=chosen,
            params={t: dict(v) for t, v in self.params.items() if t in chosen},
            seed=self.seed,
            out=Path(self.out),
            device=self.device,
            gen=self.gen,
            gen_options=dict(self.gen_options),
            progress=False,
            command=self.command(chosen),
            label=self.label,
        )


@dataclass
class Grid:
    """A parsed grid: where the runs go and every run, in file order."""

    root: Path
    runs: list[SweepRun]


def _where(block: dict[str, Any], index: int) -> str:
    name = block.get("name")
    return f"grid block {index + 1}" + (f" ({name})" if isinstance(name, str) else "")


def _strings(where: str, key: str, value: Any, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{where}: {key} must be a list of non-empty strings")
    if not value and not allow_empty:
        raise UserError(f"{where}: {key} is empty")
    if len(set(value)) != len(value):
        raise UserError(f"{where}: {key} repeats a value")
    return list(value)


def _positive(where: str, key: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{where}: {key} must be an integer of at least {minimum}, got {value!r}")
    return value


def _table(where: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{where}: {key} must be a table")
    try:
        json.dumps(value)
    except TypeError:
        raise UserError(f"{where}: {key} holds a value a result cannot store (a date?)") from None
    return value


def _task_params(where: str, key: str, value: Any, tasks: list[str]) -> dict[str, dict]:
    """``{task: {name: value}}``, each task run by the block and each name one of its own."""
    out = {}
    for task, values in _table(where, key, value).items():
        if task not in tasks:
            raise UserError(f"{where}: {key} names task {task!r}, which the block does not run")
        values = _table(where, f"{key}.{task}", values)
        known = TASKS.get(task).default_params()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UserError(
                f"{where}: task {task} has no parameter(s) {', '.join(unknown)}; "
                f"it has: {', '.join(sorted(known))}"
            )
        out[task] = dict(values)
    return out


def _reps(where: str, value: Any, data: str) -> list[str]:
    if value == "builtins":
        from grainbench.commands.list import reps_following

        return reps_following(data)
    reps = _strings(where, "reps", value)
    for rep in reps:
        if not is_plugin_spec(rep) and rep not in REPRESENTATIONS:
            raise UserError(f"{where}: unknown representation {rep!r} (see grainbench list)")
    return reps


def _rep_name(rep: str, sample_rate: int | None, n_samples: int | None) -> str:
    """The name ``grainbench run`` gives the run folder: a built-in's registered name (its
    ``name``), a file plugin's own ``name`` (loading it)."""
    if not is_plugin_spec(rep):
        return rep
    return load_representation(rep, sample_rate=sample_rate, n_samples=n_samples).name


def _expand_block(block: Any, index: int, root: Path) -> list[SweepRun]:
    """Every run of one ``[[grid]]`` block (the product of its lists)."""
    if not isinstance(block, dict):
        raise UserError(f"grid block {index + 1} is not a table")
    where = _where(block, index)
    unknown = sorted(set(block) - _BLOCK_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if "reps" not in block:
        raise UserError(f"{where}: reps is missing")
    datasets = _strings(where, "datasets", block.get("datasets", ["piano-c3"]))
    seeds = block.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds:
        raise UserError(f"{where}: seeds must be a non-empty list of integers")
    seeds = [_positive(where, "seeds", s, minimum=0) for s in seeds]
    gens = _strings(where, "gens", block.get("gens", []), allow_empty=True)
    if "tasks" in block:
        tasks = _strings(where, "tasks", block["tasks"])
        for task in tasks:
            TASKS.get(task)
    else:
        tasks = default_tasks()
    if "generation" in tasks and not gens:
        raise UserError(f"{where}: the generation task needs gens")
    setting = {
        k: _positive(where, k, block[k]) if k in block else None
        for k in ("sample_rate", "n_samples")
    }
    device = block.get("device", "cpu")
    if not isinstance(device, str) or not device:
        raise UserError(f"{where}: device must be a string such as cpu or cuda")
    try:
        label = runfolder.check_label(block.get("label"))
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    params = _task_params(where, "params", block.get("params", {}), tasks)
    gen_options = _table(where, "gen_options", block.get("gen_options", {}))
    for gen, options in gen_options.items():
        if gen not in gens:
            raise UserError(f"{where}: gen_options names {gen!r}, which is not in gens")
        _table(where, f"gen_options.{gen}", options)
    rep_params = _table(where, "rep_params", block.get("rep_params", {}))
    runs = []
    for data in datasets:
        dataset_defaults(data)  # a bad dataset spec fails here, naming itself
        reps = _reps(where, block["reps"], data)
        for rep, over in rep_params.items():
            if rep not in reps:
                raise UserError(f"{where}: rep_params names {rep!r}, which is not in reps")
            _task_params(where, f"rep_params.{rep}", over, tasks)
        for rep in reps:
            name = _rep_name(rep, setting["sample_rate"], setting["n_samples"])
            merged = {t: dict(v) for t, v in params.items()}
            for task, values in rep_params.get(rep, {}).items():
                merged.setdefault(task, {}).update(values)
            for seed in seeds:
                for gen in gens or [None]:
                    options = dict(gen_options.get(gen, {})) if gen else {}
                    spec = RunSpec(
                        rep=rep,
                        data=data,
                        seed=seed,
                        gen=gen,
                        sample_rate=setting["sample_rate"],
                        n_samples=setting["n_samples"],
                        label=label,
                    )
                    out = root / default_run_dir(spec, name).name
                    runs.append(
                        SweepRun(
                            rep=rep,
                            data=data,
                            seed=seed,
                            tasks=list(tasks),
                            out=str(out),
                            params=merged,
                            gen=gen,
                            gen_options=options,
                            sample_rate=setting["sample_rate"],
                            n_samples=setting["n_samples"],
                            device=device,
                            block=where,
                            label=label,
                        )
                    )
    return runs


def parse_grid(text: str, base: Path = Path(".")) -> Grid:
    """The grid in TOML ``text``; a relative ``runs`` folder is taken from ``base``."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"grid is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise UserError(f"grid: unknown top-level key(s) {', '.join(unknown)} (runs, grid)")
    root = doc.get("runs", "runs")
    if not isinstance(root, str) or not root:
        raise UserError("grid: runs must be a folder name")
    blocks = doc.get("grid")
    if not isinstance(blocks, list) or not blocks:
        raise UserError("grid: no [[grid]] block")
    root_path = Path(base) / root
    runs: list[SweepRun] = []
    for i, block in enumerate(blocks):
        runs += _expand_block(block, i, root_path)
    seen: dict[str, SweepRun] = {}
    for run in runs:
        other = seen.setdefault(run.out, run)
        if other is not run:
            raise UserError(
                f"{run.block} and {other.block} both write {run.out} "
                "(same representation, dataset, setting, generator and seed): merge them"
            )
    return Grid(root=root_path, runs=runs)


def load_grid(path: Path) -> Grid:
    """The grid in the TOML file ``path`` (``runs`` relative to the current folder)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read grid {path}: {exc}") from None
    return parse_grid(text)


def task_params(run: SweepRun, task: str) -> dict[str, Any]:
    """The parameters ``task`` runs with in ``run`` (its defaults, then the run's own)."""
    return {**TASKS.get(task).default_params(), **run.params.get(task, {})}


def finished(run: SweepRun, tasks: list[str] | None = None) -> bool:
    """Whether ``run``'s folder holds a result of this code for this run with every one of
    ``tasks`` (default: all of the run's) finished with the run's parameters."""
    try:
        result = json.loads((Path(run.out) / "result.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(result, dict) or not isinstance(result.get("tasks"), dict):
        return False
    gen = {"spec": run.gen, "options": run.gen_options} if run.gen else None
    ds = result.get("dataset") or {}
    same = (
        result.get("code_hash") == results.code_hash()
        and (result.get("representation") or {}).get("spec") == run.rep
        and ds.get("spec") == run.data
        and result.get("seed") == run.seed
        and result.get("generator") == gen
        and result.get("label") == run.label
        and run.sample_rate in (None, ds.get("sample_rate"))
        and run.n_samples in (None, ds.get("n_samples"))
    )
    if not same:
        return False
    done = result["tasks"]
    return all(
        isinstance(done.get(t), dict) and done[t].get("params") == task_params(run, t)
        for t in (tasks or run.tasks)
    )


def alone_tasks(run: SweepRun) -> list[str]:
    """The run's tasks that must run with nothing else on the machine (``runs_alone``)."""
    return [t for t in run.tasks if getattr(TASKS.get(t), "runs_alone", False)]
