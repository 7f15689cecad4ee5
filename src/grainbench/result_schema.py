"""The result schema, defined once: what a ``result.json`` holds (SPEC section 6).

The dataclasses below are the definition; everything else reads them:

- :func:`validate_result` lists every problem of a JSON object: first what its types say
  (required fields, types, sha256 digests, non-empty texts and lists, finite numbers: a
  result stores a missing or non-finite number as ``null``, never NaN), then the rules a
  type cannot say (metric catalogue, key = name + condition, unique keys, low ≤ high,
  artefacts inside the run folder and present there, ``complete`` agreeing with
  ``tasks_requested``). :func:`require_valid` turns them into one-line :class:`UserError`;
- :func:`parse` returns the typed :class:`Result` of a valid object;
- :func:`grainbench.result_jsonschema.json_schema` exports the definition as JSON Schema
  (draft 2020-12), committed as ``docs/result.schema.json`` for other tools.

An object may hold more fields than listed (a run records its ``command``, a task its
``data``, a generator its training record): they are kept and not checked. A field without
a default is required (``None`` in its type: present, ``null`` allowed); one with a
default may be absent. The fields are explained in ``docs/result.md``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from grainbench import results, runfolder
from grainbench.errors import UserError
from grainbench.metrics.catalog import CATALOG


@dataclass(frozen=True)
class Rule:
    """A constraint on a value beyond its type (a JSON Schema keyword each)."""

    pattern: str | None = None  # a string matches this regular expression
    what: str = ""  # how a problem names a value that does not match ``pattern``
    non_empty: bool = False  # a string, list or object has at least one character / item
    const: Any = None  # the value equals this (when not None)


SHA256 = Annotated[str, Rule(pattern="^[0-9a-f]{64}$", what="a sha256 hex digest")]
Text = Annotated[str, Rule(non_empty=True)]
Label = Annotated[str, Rule(pattern=runfolder.LABEL.pattern, what="a run label")]
Number = float
"""An int or a finite float (never a bool, NaN or ±inf)."""


@dataclass(frozen=True)
class Metric:
    """One metric value of a task: a catalogue metric under a condition, with its 95%
    interval (``low``/``high`` null without one); ``unit`` and ``higher_is_better`` as the
    catalogue has them."""

    key: str
    name: str
    condition: dict[str, Any]
    value: Number | None
    low: Number | None
    high: Number | None
    unit: str
    higher_is_better: bool | None


@dataclass(frozen=True)
class Artifact:
    """A file a task wrote, relative to the run (or entry) folder."""

    path: Text
    kind: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    """One finished task: its signature (what it was computed from), parameters, wall
    time in seconds, metrics, files and data (curves, maps summaries)."""

    signature: SHA256
    params: dict[str, Any]
    wall_s: Number
    metrics: Annotated[list[Metric], Rule(non_empty=True)]
    artifacts: list[Artifact] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    generator: Any = None  # what the generator's describe() said after the task


@dataclass(frozen=True)
class RepresentationInfo:
    """The representation measured: its name, the spec it was loaded from, a hash of its
    source, the image shape ``[C, H, W]``, its clip setting and declared parameters."""

    name: Text
    spec: Text
    source_hash: SHA256
    image_shape: list[int]
    sample_rate: int | None = None
    n_samples: int | None = None
    n_channels: int | None = None
    linear: bool | None = None
    lossless: Any = None
    params: Any = None


@dataclass(frozen=True)
class DatasetInfo:
    """The clips measured on: spec, fingerprint (sha256 of the clips), setting, clip counts,
    one-line facts (``notes``) and what was done with every input file."""

    spec: Text
    fingerprint: SHA256
    n_train: int
    n_test: int
    name: str | None = None
    sample_rate: int | None = None
    n_samples: int | None = None
    n_channels: int | None = None
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] | None = None
    file_report: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Machine:
    """The machine a result was measured on."""

    cpu: Text
    cores: int | None = None
    torch_threads: int | None = None
    gpu: str | None = None
    os: str | None = None
    python: str | None = None
    torch: str | None = None


@dataclass(frozen=True)
class GeneratorInfo:
    """The generator of a generation run: its spec and options."""

    spec: Text
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryInfo:
    """What ``grainbench submit`` adds to an entry's copy: its id, when and from where,
    and the artefacts it left out (sounds, arrays, big files)."""

    id: str
    submitted: str
    source: str
    left_out: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    """A run's ``result.json``: provenance, the representation, dataset and generator, and
    every finished task (by name)."""

    schema: Annotated[int, Rule(const=results.SCHEMA)]
    suite_version: Text
    code_hash: SHA256
    git_commit: str | None
    created: Text
    seed: int
    machine: Machine
    representation: RepresentationInfo
    generator: GeneratorInfo | None
    dataset: DatasetInfo
    tasks: Annotated[dict[str, TaskRecord], Rule(non_empty=True)]
    git_dirty: bool | None = None
    command: list[str] | None = None
    run_signature: str | None = None
    tasks_requested: list[str] | None = None
    complete: bool | None = None
    entry: EntryInfo | None = None
    label: Label | None = None


# ----------------------------------------------------------------------------- types


def split_hint(hint: Any) -> tuple[Any, list[Rule]]:
    """A type hint of this module without its ``Annotated`` rules, and the rules."""
    if typing.get_origin(hint) is Annotated:
        base, *extra = typing.get_args(hint)
        return base, [r for r in extra if isinstance(r, Rule)]
    return hint, []


def optional_of(hint: Any) -> Any | None:
    """``X`` of ``X | None``, else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return None


def field_hints(cls: type) -> dict[str, Any]:
    """Field name → type hint (with its rules) of one of this module's dataclasses."""
    return typing.get_type_hints(cls, include_extras=True)


def is_required(f: dataclasses.Field) -> bool:
    """True for a field without a default: a result must have it (maybe ``null``)."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_KINDS = {str: "a string", int: "an integer", float: "a number", bool: "true/false"}


def _type_problems(value: Any, hint: Any, path: str) -> list[str]:
    """Where ``value`` does not have the type ``hint`` (paths like ``tasks.x.metrics[0]``)."""
    hint, rules = split_hint(hint)
    inner = optional_of(hint)
    if inner is not None:
        return [] if value is None else _type_problems(value, inner, path)
    problems = _shape_problems(value, hint, path)
    if problems:
        return problems
    for rule in rules:
        if rule.const is not None and value != rule.const:
            return [f"{path}: expected {rule.const}, got {value!r}"]
        if rule.non_empty and not value:
            return [f"{path}: empty"]
        if rule.pattern is not None and not re.match(rule.pattern, value):
            return [f"{path}: not {rule.what}"]
    return []


def _shape_problems(value: Any, hint: Any, path: str) -> list[str]:
    """:func:`_type_problems` for a hint without rules and without ``None``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return []
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        hints, problems = field_hints(hint), []
        for f in dataclasses.fields(hint):
            where = f"{path}.{f.name}" if path else f.name
            if f.name in value:
                problems += _type_problems(value[f.name], hints[f.name], where)
            elif is_required(f):
                problems.append(f"{where}: missing")
        return problems
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        item = typing.get_args(hint)[1]
        return [p for k, v in value.items() for p in _type_problems(v, item, f"{path}.{k}")]
    if origin is list:
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        item = typing.get_args(hint)[0]
        return [p for i, v in enumerate(value) for p in _type_problems(v, item, f"{path}[{i}]")]
    if hint is float:
        if not _is_number(value):
            return [f"{path}: not a number"]
        return [] if math.isfinite(value) else [f"{path}: not a finite number"]
    ok = isinstance(value, hint) and (hint is bool or not isinstance(value, bool))
    return [] if ok else [f"{path}: not {_KINDS[hint]}"]


def _build(value: Any, hint: Any) -> Any:
    """The typed value of a JSON value that has the type ``hint`` (checked before)."""
    hint, _ = split_hint(hint)
    inner = optional_of(hint)
    if inner is not None:
        return None if value is None else _build(value, inner)
    if dataclasses.is_dataclass(hint):
        hints = field_hints(hint)
        known = [f.name for f in dataclasses.fields(hint) if f.name in value]
        return hint(**{name: _build(value[name], hints[name]) for name in known})
    if typing.get_origin(hint) is dict:
        item = typing.get_args(hint)[1]
        return {k: _build(v, item) for k, v in value.items()}
    if typing.get_origin(hint) is list:
        item = typing.get_args(hint)[0]
        return [_build(v, item) for v in value]
    return value


# ----------------------------------------------------------------------------- rules


def condition_key(name: str, condition: dict[str, Any]) -> str:
    """A metric row's key: ``name`` or ``name[k=v,…]`` with the condition sorted by key."""
    if not condition:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in sorted(condition.items()))}]"


def _safe_relpath(path: str) -> bool:
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


def _metric_rules(where: str, row: dict[str, Any]) -> list[str]:
    """Catalogue membership, unit and direction as catalogued, key, low ≤ high."""
    name = row["name"]
    spec = CATALOG.get(name)
    if spec is None:
        return [f"{where}: metric {name!r} is not in the metric catalogue"]
    problems = []
    if row["unit"] != spec.unit or row["higher_is_better"] != spec.higher_is_better:
        problems.append(f"{where}: unit/direction of {name} disagree with the catalogue")
    if row["key"] != condition_key(name, row["condition"]):
        problems.append(f"{where}: key {row['key']!r} does not match name and condition")
    if row["low"] is not None and row["high"] is not None and row["low"] > row["high"]:
        problems.append(f"{where}: interval low > high")
    return problems


def _task_rules(name: str, body: dict[str, Any], root: Path | None) -> list[str]:
    """Each metric's rules, unique keys, artefacts inside (and, with ``root``, present in)
    the run folder."""
    where = f"tasks.{name}"
    problems: list[str] = []
    keys: set[str] = set()
    for i, row in enumerate(body["metrics"]):
        problems += _metric_rules(f"{where}.metrics[{i}]", row)
        if row["key"] in keys:
            problems.append(f"{where}.metrics[{i}]: key {row['key']!r} appears twice")
        keys.add(row["key"])
    for i, art in enumerate(body.get("artifacts", [])):
        if not _safe_relpath(art["path"]):
            problems.append(f"{where}.artifacts[{i}]: path must be relative to the run folder")
        elif root is not None and not (root / art["path"]).is_file():
            problems.append(f"{where}.artifacts[{i}]: file {art['path']} is missing")
    return problems


def _completion_rules(result: dict[str, Any]) -> list[str]:
    """``tasks_requested`` and ``complete`` (absent in results older than them) agree."""
    if result.get("tasks_requested") is None and "complete" not in result:
        return []
    if result.get("tasks_requested") is None:
        return ["tasks_requested: missing or not a list of task names"]
    if result.get("complete") is None:
        return ["complete: missing or not true/false"]
    if result["complete"] != (not results.unfinished_tasks(result)):
        return ["complete: disagrees with tasks_requested and the finished tasks"]
    return []


def validate_result(result: Any, root: Path | None = None) -> list[str]:
    """Every problem that keeps ``result`` (a parsed ``result.json``) from being a valid
    result (empty when valid): its types (:class:`Result`), then the rules of the module
    docstring. With ``root`` (the result's folder), every artefact it lists must exist there.
    """
    if not isinstance(result, dict):
        return ["the result is not a JSON object"]
    problems = _type_problems(result, Result, "")
    if problems:  # the rules read only what has its type
        return problems
    for name, body in result["tasks"].items():
        problems += _task_rules(name, body, root)
    return problems + _completion_rules(result)


def require_valid(result: Any, root: Path | None, what: str) -> None:
    """Raise :class:`UserError` (one line) listing the problems of ``result`` (``what``
    names it, e.g. its file)."""
    problems = validate_result(result, root)
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        lines = " ".join(f"{'; '.join(problems[:5])}{more}".splitlines())
        raise UserError(f"{what} is not a valid result: {lines}")


def parse(result: Any, root: Path | None = None, what: str = "the result") -> Result:
    """The typed :class:`Result` of a parsed ``result.json`` (fields beyond the schema are
    dropped); a :class:`UserError` when it is not valid (see :func:`require_valid`)."""
    require_valid(result, root, what)
    return _build(result, Result)
