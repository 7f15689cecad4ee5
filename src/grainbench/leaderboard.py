"""Leaderboard entries: validate and submit results, render the board (Markdown, CSV, HTML).

An *entry* is a folder ``leaderboards/entries/<entry-id>/`` holding one run's
``result.json`` and the pictures (PNG) and small JSON files it lists; sounds and arrays stay
out so that entries stay small (the entry's ``result.json`` lists only what was copied and
names what was left out under ``entry.left_out``).

An entry id is one safe path component (:data:`ENTRY_ID`). :func:`submit` holds an
exclusive lock on the entries folder (:mod:`grainbench.locks`), builds the new entry in a
hidden temporary folder beside the old one and swaps it in by renaming; the old entry is
deleted only once the new one is in place. Readers (:func:`scan_entries`) hold a shared
lock, so they never see a half-swapped entry, and report and skip a broken entry instead
of refusing the board.

Tables group entries that compare (SPEC section 6: same suite version, dataset
fingerprint and task parameters) and sort each group by the task's *headline* metric using
the catalogue's ``higher_is_better``; descriptive metrics (``None``) are never ranked.
A task object may declare ``headline`` (a metric key such as ``"snr[codec=png8]"``) and
``key_metrics`` (a list of keys); otherwise the headline is the task's first ranked metric
and the key metrics are the ranked metrics measured under the headline's condition.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from grainbench import results, tables
from grainbench.data import dataset_defaults
from grainbench.errors import UserError
from grainbench.locks import folder_lock
from grainbench.metrics.catalog import CATALOG
from grainbench.registries import TASKS
from grainbench.runfolder import run_id
from grainbench.version import __version__

REFERENCE_REP = "dct-square"
"""The reference representation every board entry is judged against: Ki's layout (the
whole-clip DCT folded row by row into a square image, μ-law companded)."""
DEFAULT_ENTRIES = Path("leaderboards/entries")
DEFAULT_OUT = Path("leaderboards")
# Artefact kinds copied into an entry (pictures and small JSON); WAV and NPY stay out.
ENTRY_KINDS = ("png", "json")
MAX_ENTRY_FILE_BYTES = 4 << 20

ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$")
"""An entry id: 1–160 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit
(so never ``.``, ``..``, a hidden name, or anything with a separator)."""
_SCRATCH = re.compile(r"^\..+\.(staging|old)-[0-9a-z_]+$")
LOCK_WAIT_S = 60.0
"""How long a reader of the board waits for a submit to finish."""
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ROW_FIELDS = ("key", "name", "condition", "value", "low", "high", "unit", "higher_is_better")


@dataclass(frozen=True)
class Entry:
    """A result on disk: a label (the entry id or folder name), its folder and its content."""

    id: str
    path: Path
    result: dict[str, Any]


def _own_setting(spec: str) -> tuple[int, int] | None:
    """The dataset's own (sample rate, samples), or None when the spec cannot be planned here
    (e.g. a folder dataset submitted from another machine)."""
    try:
        sr, n, _ = dataset_defaults(spec)
    except UserError:
        return None
    return sr, n


def entry_id(result: dict[str, Any]) -> str:
    """``<rep>__<dataset>[__<rate>Hz-<samples>][__<generator>]__seed<N>``, the folder name of
    a result's entry (:func:`grainbench.runfolder.run_id`); the clip setting appears when it
    is not the dataset's own."""
    gen = (result.get("generator") or {}).get("spec")
    ds = result["dataset"]
    setting = (ds.get("sample_rate"), ds.get("n_samples"))
    own = _own_setting(ds["spec"])
    shown = setting if own is not None and setting != own else None
    return run_id(result["representation"]["name"], ds["spec"], result["seed"], shown, gen)


def check_entry_id(name: str) -> str:
    """``name`` when it is a valid entry id (:data:`ENTRY_ID`), else a :class:`UserError`."""
    if not isinstance(name, str) or not ENTRY_ID.match(name):
        raise UserError(
            f"entry id {name!r} is not allowed: use 1-160 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _condition_key(name: str, condition: dict[str, Any]) -> str:
    if not condition:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in sorted(condition.items()))}]"


def _safe_relpath(path: Any) -> bool:
    if not isinstance(path, str) or not path:
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and ".." not in pure.parts


def _validate_metric(where: str, row: Any) -> list[str]:
    if not isinstance(row, dict):
        return [f"{where}: not an object"]
    missing = [f for f in _ROW_FIELDS if f not in row]
    if missing:
        return [f"{where}: missing {', '.join(missing)}"]
    name = row["name"]
    spec = CATALOG.get(name)
    if spec is None:
        return [f"{where}: metric {name!r} is not in the metric catalogue"]
    problems = []
    if row["unit"] != spec.unit or row["higher_is_better"] != spec.higher_is_better:
        problems.append(f"{where}: unit/direction of {name} disagree with the catalogue")
    if not isinstance(row["condition"], dict):
        problems.append(f"{where}: condition is not an object")
    elif row["key"] != _condition_key(name, row["condition"]):
        problems.append(f"{where}: key {row['key']!r} does not match name and condition")
    for field in ("value", "low", "high"):
        if row[field] is not None and not _is_number(row[field]):
            problems.append(f"{where}: {field} is not a number")
    if _is_number(row["low"]) and _is_number(row["high"]) and row["low"] > row["high"]:
        problems.append(f"{where}: interval low > high")
    return problems


def _validate_task(name: str, body: Any, root: Path | None) -> list[str]:
    where = f"tasks.{name}"
    if not isinstance(body, dict):
        return [f"{where}: not an object"]
    problems = []
    if not isinstance(body.get("signature"), str) or not _HEX64.match(body["signature"]):
        problems.append(f"{where}.signature: missing or not a sha256 hex digest")
    if not isinstance(body.get("params"), dict):
        problems.append(f"{where}.params: missing")
    if not _is_number(body.get("wall_s")):
        problems.append(f"{where}.wall_s: missing")
    metrics = body.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        problems.append(f"{where}.metrics: missing or empty")
        metrics = []
    keys: set[str] = set()
    for i, row in enumerate(metrics):
        problems += _validate_metric(f"{where}.metrics[{i}]", row)
        if isinstance(row, dict) and row.get("key") in keys:
            problems.append(f"{where}.metrics[{i}]: key {row['key']!r} appears twice")
        keys.add(row.get("key") if isinstance(row, dict) else None)
    artifacts = body.get("artifacts", [])
    if not isinstance(artifacts, list):
        return problems + [f"{where}.artifacts: not a list"]
    for i, art in enumerate(artifacts):
        if not isinstance(art, dict) or not _safe_relpath(art.get("path")):
            problems.append(f"{where}.artifacts[{i}]: path must be relative to the run folder")
        elif root is not None and not (root / art["path"]).is_file():
            problems.append(f"{where}.artifacts[{i}]: file {art['path']} is missing")
    return problems


def validate_result(result: Any, root: Path | None = None) -> list[str]:
    """Every problem that keeps ``result`` from being a leaderboard entry (empty when valid).

    Checks the schema version, the provenance fields (suite version, code hash, git commit
    key, creation time, seed, machine), the representation (name, spec, source hash, image
    shape), the dataset (spec, fingerprint, clip counts), and every task: signature,
    parameters, wall time, metric rows (fields, catalogue membership, unit and direction as
    catalogued, key = name + condition, unique keys, low ≤ high). With ``root`` (the result's
    folder), every artefact it lists must exist there.
    """
    if not isinstance(result, dict):
        return ["the result is not a JSON object"]
    problems = []
    if result.get("schema") != results.SCHEMA:
        problems.append(f"schema: expected {results.SCHEMA}, got {result.get('schema')!r}")
    for field in ("suite_version", "created"):
        if not isinstance(result.get(field), str) or not result[field]:
            problems.append(f"{field}: missing")
    if not isinstance(result.get("code_hash"), str) or not _HEX64.match(result["code_hash"]):
        problems.append("code_hash: missing or not a sha256 hex digest")
    if "git_commit" not in result:
        problems.append("git_commit: missing (null is allowed)")
    if "generator" not in result:
        problems.append("generator: missing (null is allowed)")
    if not isinstance(result.get("seed"), int):
        problems.append("seed: missing")
    machine = result.get("machine")
    if not isinstance(machine, dict) or not machine.get("cpu"):
        problems.append("machine: missing")
    rep = result.get("representation")
    if not isinstance(rep, dict):
        problems.append("representation: missing")
    else:
        for field in ("name", "spec"):
            if not isinstance(rep.get(field), str) or not rep[field]:
                problems.append(f"representation.{field}: missing")
        if not isinstance(rep.get("source_hash"), str) or not _HEX64.match(rep["source_hash"]):
            problems.append("representation.source_hash: missing or not a sha256 hex digest")
        if not isinstance(rep.get("image_shape"), list):
            problems.append("representation.image_shape: missing")
    ds = result.get("dataset")
    if not isinstance(ds, dict):
        problems.append("dataset: missing")
    else:
        if not isinstance(ds.get("spec"), str) or not ds["spec"]:
            problems.append("dataset.spec: missing")
        if not isinstance(ds.get("fingerprint"), str) or not _HEX64.match(ds["fingerprint"]):
            problems.append("dataset.fingerprint: missing or not a sha256 hex digest")
        for field in ("n_train", "n_test"):
            if not isinstance(ds.get(field), int):
                problems.append(f"dataset.{field}: missing")
    tasks = result.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        problems.append("tasks: missing or empty")
    else:
        for name, body in tasks.items():
            problems += _validate_task(name, body, root)
    return problems + _validate_completion(result)


def _validate_completion(result: dict[str, Any]) -> list[str]:
    """``tasks_requested`` and ``complete`` (absent in results older than them) agree."""
    requested = result.get("tasks_requested")
    if requested is None and "complete" not in result:
        return []
    if not isinstance(requested, list) or not all(isinstance(t, str) for t in requested):
        return ["tasks_requested: missing or not a list of task names"]
    if not isinstance(result.get("complete"), bool):
        return ["complete: missing or not true/false"]
    if result["complete"] != (not results.unfinished_tasks(result)):
        return ["complete: disagrees with tasks_requested and the finished tasks"]
    return []


def require_valid(result: Any, root: Path | None, what: str) -> None:
    """Raise :class:`UserError` listing every problem of ``result`` (``what`` names it)."""
    problems = validate_result(result, root)
    if problems:
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise UserError(f"{what} is not a valid result: {'; '.join(problems[:5])}{more}")


def resolve(ref: str | Path, entries_dir: Path = DEFAULT_ENTRIES) -> Entry:
    """An entry id (a folder in ``entries_dir``), an entry or run folder, or a result.json file.

    An existing path wins over an entry id of the same spelling.
    """
    path = Path(ref)
    if path.is_file() and path.suffix == ".json":
        return Entry(path.parent.name, path.parent, results.load_result(path))
    if (path / "result.json").is_file():
        return Entry(path.resolve().name, path, results.load_result(path))
    candidate = Path(entries_dir) / str(ref)
    if ENTRY_ID.match(str(ref)) and (candidate / "result.json").is_file():
        return Entry(str(ref), candidate, results.load_result(candidate))
    known = sorted(p.parent.name for p in Path(entries_dir).glob("[!.]*/result.json"))
    hint = f"; entries there: {', '.join(known)}" if known else ""
    raise UserError(f"{ref}: not a result folder, result.json or entry id in {entries_dir}{hint}")


def scan_entries(entries_dir: Path = DEFAULT_ENTRIES) -> tuple[list[Entry], list[str]]:
    """The valid entries under ``entries_dir`` (sorted by id, each validated with its files)
    and one line per folder skipped because it is not a valid entry.

    Hidden folders (a submit's scratch space) are not entries. Holds a shared lock on the
    folder while reading, so a submit's swap is never seen half-way.
    """
    entries_dir = Path(entries_dir)
    if not entries_dir.is_dir():
        raise UserError(f"entries folder {entries_dir} does not exist")
    busy = f"entries folder {entries_dir} is being written for over {LOCK_WAIT_S:g} s"
    with folder_lock(entries_dir, busy=busy, shared=True, wait_s=LOCK_WAIT_S):
        return _read_entries(entries_dir)


def _read_entries(entries_dir: Path) -> tuple[list[Entry], list[str]]:
    """:func:`scan_entries` for a caller that holds the folder's lock already."""
    out, skipped = [], []
    for folder in sorted(p for p in entries_dir.iterdir() if not p.name.startswith(".")):
        if not folder.is_dir():
            continue
        try:
            result = results.load_result(folder / "result.json")
            require_valid(result, folder, f"entry {folder.name}")
        except UserError as exc:
            skipped.append(f"skipped {folder.name}: {exc}")
            continue
        out.append(Entry(folder.name, folder, result))
    return out, skipped


def load_entries(entries_dir: Path = DEFAULT_ENTRIES) -> list[Entry]:
    """Every entry under ``entries_dir`` (sorted by id); a :class:`UserError` naming the
    first folder that is not a valid entry (:func:`scan_entries` skips those instead)."""
    entries, skipped = scan_entries(entries_dir)
    if skipped:
        more = f" (+{len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise UserError(f"{entries_dir}: {skipped[0]}{more}")
    return entries


def submit(
    result_dir: Path,
    entries_dir: Path = DEFAULT_ENTRIES,
    *,
    force: bool = False,
    entry_name: str | None = None,
    lock_wait_s: float = 0.0,
) -> Path:
    """Validate the run in ``result_dir`` and copy it into ``entries_dir/<entry-id>/``.

    Copies ``result.json`` and the PNG and JSON artefacts (each at most 4 MiB); the entry's
    ``result.json`` lists only those, and records the rest under ``entry.left_out``.
    Refuses an incomplete result, an invalid id (``entry_name``, else :func:`entry_id`),
    and an existing entry unless ``force`` (then the new entry replaces it atomically).
    Another submit into ``entries_dir`` holding the lock for more than ``lock_wait_s``
    seconds is a :class:`UserError` (so of several at once, one wins). Returns the entry
    folder.
    """
    result_dir = Path(result_dir)
    if not (result_dir / "result.json").is_file():
        raise UserError(f"{result_dir} has no result.json (give the run folder)")
    result = results.load_result(result_dir)
    require_valid(result, result_dir, f"{result_dir}/result.json")
    results.require_complete(result, f"{result_dir}/result.json")
    if entry_name is not None:
        name = check_entry_id(entry_name)
    else:
        name = entry_id(result)
        if not ENTRY_ID.match(name):
            raise UserError(f"the run's entry id {name[:80]!r} is not a safe name: give --id")
    entries_dir = Path(entries_dir)
    try:
        entries_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create entries folder {entries_dir}: {exc.strerror}") from None
    target = entries_dir / name
    if target.parent.resolve() != entries_dir.resolve():
        raise UserError(f"entry {name!r} does not resolve inside {entries_dir}")
    busy = f"another grainbench submit is writing to {entries_dir}; retry when it has finished"
    with folder_lock(entries_dir, busy=busy, wait_s=lock_wait_s):
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise UserError(f"{target} is not an entry folder; not replacing it")
        if target.exists() and not force:
            raise UserError(f"entry {target} exists; pass --force to replace it")
        _remove_scratch(entries_dir)
        board = _read_entries(entries_dir)[0]  # what the entry's report ranks against
        staging = Path(tempfile.mkdtemp(dir=entries_dir, prefix=f".{name}.staging-"))
        try:
            _build_entry(staging, result, result_dir, name, board)
            _swap_in(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _build_entry(
    staging: Path, result: dict[str, Any], result_dir: Path, name: str, board: list[Entry]
) -> None:
    """Write the entry for ``result`` (from ``result_dir``) into the empty ``staging``, with
    its report ranked against the ``board`` entries."""
    entry = json.loads(json.dumps(result))
    left_out = []
    for body in entry["tasks"].values():
        kept = []
        for art in body.get("artifacts", []):
            src = result_dir / art["path"]
            if art.get("kind") in ENTRY_KINDS and src.stat().st_size <= MAX_ENTRY_FILE_BYTES:
                dst = staging / art["path"]
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                kept.append(art)
            else:
                left_out.append(art["path"])
        body["artifacts"] = kept
    entry["entry"] = {
        "id": name,
        "submitted": results.now_iso(),
        "source": str(result_dir),
        "left_out": left_out,
    }
    results.write_json(staging / "result.json", entry)
    from grainbench.report import write_report  # the report ranks against the board

    write_report(staging, entry, board)


def _swap_in(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` at ``target`` by renames: an existing ``target`` is moved
    aside first and deleted only after ``staging`` took its place (moved back on failure)."""
    if not target.exists():
        os.rename(staging, target)
        return
    old = target.parent / f".{target.name}.old-{secrets.token_hex(6)}"
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _remove_scratch(entries_dir: Path) -> None:
    """Delete what a killed submit left (hidden ``.ID.staging-*`` / ``.ID.old-*`` folders);
    called under the exclusive lock, when no other submit can be using them."""
    for path in entries_dir.iterdir():
        if _SCRATCH.match(path.name) and path.is_dir() and not path.is_symlink():
            print(f"grainbench: removing {path} left by an interrupted submit", file=sys.stderr)
            shutil.rmtree(path, ignore_errors=True)


# ----------------------------------------------------------------------------- ranking


def _task_attr(task: str, attr: str) -> Any:
    return getattr(TASKS.get(task), attr, None) if task in TASKS else None


def headline_key(task: str, rows: list[dict[str, Any]]) -> str | None:
    """The metric key a task's table is sorted by (see the module docstring), or None."""
    keys = [r["key"] for r in rows]
    declared = _task_attr(task, "headline")
    if declared in keys:
        return declared
    ranked = [r["key"] for r in rows if r["higher_is_better"] is not None]
    return ranked[0] if ranked else (keys[0] if keys else None)


def key_metric_keys(task: str, rows: list[dict[str, Any]]) -> list[str]:
    """The metric keys shown as columns for a task: declared, else the headline's condition."""
    keys = [r["key"] for r in rows]
    declared = _task_attr(task, "key_metrics")
    if declared:
        return [k for k in declared if k in keys]
    head = headline_key(task, rows)
    if head is None:
        return []
    cond = next(r["condition"] for r in rows if r["key"] == head)
    picked = [
        r["key"] for r in rows if r["condition"] == cond and r["higher_is_better"] is not None
    ]
    return picked if head in picked else [head, *picked]


def sort_value(row: dict[str, Any] | None) -> float:
    """A row's value as a sort key where smaller ranks first (better by ``higher_is_better``)."""
    if row is None or row["value"] is None or row["higher_is_better"] is None:
        return math.inf
    value = float(row["value"])
    if not math.isfinite(value):
        return math.inf
    return -value if row["higher_is_better"] else value


def params_id(params: dict[str, Any]) -> str:
    """A short stable id of a task's parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclass
class Group:
    """Entries of one task that compare: same suite version, fingerprint and parameters."""

    task: str
    suite_version: str
    dataset: dict[str, Any]
    params: dict[str, Any]
    entries: list[Entry]
    rows: list[dict[str, Any]]  # the union of metric rows, in first-seen order
    headline: str | None
    columns: list[str]

    def row(self, entry: Entry, key: str) -> dict[str, Any] | None:
        """``entry``'s metric row ``key`` in this task, or None."""
        for r in entry.result["tasks"][self.task]["metrics"]:
            if r["key"] == key:
                return r
        return None

    def ranked(self) -> list[tuple[int | None, Entry]]:
        """Entries sorted by the headline metric, with ranks (None when not ranked)."""
        head = self.headline
        order = sorted(
            self.entries, key=lambda e: (sort_value(self.row(e, head) if head else None), e.id)
        )
        out: list[tuple[int | None, Entry]] = []
        for i, e in enumerate(order):
            ranked = head is not None and sort_value(self.row(e, head)) != math.inf
            out.append((i + 1 if ranked else None, e))
        return out

    @property
    def stale(self) -> bool:
        """True when the group's entries were made by another suite version than this one
        (its metric definitions may differ: the numbers are kept, marked, and ranked apart)."""
        return self.suite_version != __version__

    @property
    def id(self) -> str:
        """A short id: task, dataset fingerprint prefix and parameter id."""
        return f"{self.task}-{self.dataset['fingerprint'][:8]}-{params_id(self.params)}"


def group_entries(entries: list[Entry]) -> dict[str, list[Group]]:
    """Task name → groups of comparable entries (tasks and groups in a stable order)."""
    buckets: dict[str, dict[tuple[str, str, str], list[Entry]]] = {}
    for e in entries:
        for task, body in e.result["tasks"].items():
            key = (
                e.result["suite_version"],
                e.result["dataset"]["fingerprint"],
                params_id(body["params"]),
            )
            buckets.setdefault(task, {}).setdefault(key, []).append(e)
    out: dict[str, list[Group]] = {}
    for task in sorted(buckets):
        groups = []
        for members in buckets[task].values():
            rows: dict[str, dict[str, Any]] = {}
            for e in members:
                for r in e.result["tasks"][task]["metrics"]:
                    rows.setdefault(r["key"], r)
            row_list = list(rows.values())
            first = members[0].result
            groups.append(
                Group(
                    task=task,
                    suite_version=first["suite_version"],
                    dataset=first["dataset"],
                    params=first["tasks"][task]["params"],
                    entries=members,
                    rows=row_list,
                    headline=headline_key(task, row_list),
                    columns=key_metric_keys(task, row_list),
                )
            )
        groups.sort(key=lambda g: (g.dataset["spec"], g.stale, g.suite_version, g.id))
        out[task] = groups
    return out


# ----------------------------------------------------------------------------- rendering


def column_title(row: dict[str, Any]) -> str:
    """``key (unit ↑)`` for a metric column."""
    bits = " ".join(b for b in (row["unit"], tables.arrow(row["higher_is_better"])) if b)
    return f"{row['key']} ({bits})" if bits else row["key"]


def machine_text(result: dict[str, Any]) -> str:
    """``CPU (N cores[, GPU])`` of a result's machine."""
    m = result.get("machine") or {}
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    return f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores{gpu})"


def generator_text(result: dict[str, Any]) -> str:
    """The generator spec of a result with its options (``stylegan2 (config=cpu, kimg=2)``),
    or ``–``: two rows of one generator trained differently must be told apart."""
    gen = result.get("generator") or {}
    spec = gen.get("spec")
    if not spec:
        return "–"
    options = gen.get("options") or {}
    if not options:
        return str(spec)
    return f"{spec} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items()))


def group_heading(g: Group) -> str:
    """``piano-c3 — 44100 Hz, 65536 samples, 900 train / 100 test clips``."""
    ds = g.dataset
    return (
        f"{ds['spec']} — {ds.get('sample_rate', '?')} Hz, {ds.get('n_samples', '?')} samples, "
        f"{ds['n_train']} train / {ds['n_test']} test clips"
    )


def group_facts(g: Group) -> str:
    """Suite version, fingerprint, parameters and the sort key of a group, on one line."""
    head = next((r for r in g.rows if r["key"] == g.headline), None)
    sort = (
        f"sorted by {column_title(head)}"
        if head and head["higher_is_better"] is not None
        else "not ranked"
    )
    stale = (
        f"STALE: made by suite {g.suite_version}, not {__version__} (metric "
        "definitions changed; rerun: grainbench sweep scripts/board.toml --submit) · "
        if g.stale
        else ""
    )
    return (
        f"{stale}suite {g.suite_version} · dataset fingerprint {g.dataset['fingerprint'][:12]} · "
        f"parameters {_params_text(g.params)} · {sort}"
    )


def group_table(g: Group) -> Any:
    """A group's table as display strings (a pandas DataFrame), best first: rank, entry,
    representation, generator, a column per key metric (value [interval]), seed, machine,
    wall time."""
    import pandas as pd

    by_key = {r["key"]: r for r in g.rows}
    header = ["#", "entry", "representation", "generator"]
    header += [column_title(by_key[k]) for k in g.columns]
    header += ["seed", "machine", "wall s"]
    body = []
    for rank, e in g.ranked():
        r = e.result
        line = [str(rank) if rank else "–", e.id, r["representation"]["name"], generator_text(r)]
        line += [tables.value_text(g.row(e, k)) for k in g.columns]
        line += [
            str(r["seed"]),
            machine_text(r),
            results.format_value(r["tasks"][g.task]["wall_s"]),
        ]
        body.append(line)
    return pd.DataFrame(body, columns=header, dtype=object)


def render_markdown(entries: list[Entry]) -> str:
    """The board as Markdown: a table per task and comparable group, sorted by headline."""
    lines = [
        "# grainbench leaderboard",
        "",
        "Generated by `grainbench leaderboard` from `entries/`; do not edit by hand.",
        "Add a run: `grainbench submit RUN_DIR`, then `grainbench leaderboard`.",
        "Sort, filter and plot every entry, with pictures side by side: "
        "[leaderboard.html](leaderboard.html); every metric: [leaderboard.csv](leaderboard.csv)"
        " (or `grainbench.load_board()`, a pandas DataFrame).",
        "",
        "Values are estimates with their 95% intervals; ↑ higher is better, ↓ lower is better"
        " (from the metric catalogue). One table holds entries that compare: the same suite"
        " version, dataset fingerprint and task parameters.",
        "",
    ]
    groups = group_entries(entries)
    if not groups:
        lines.append("No entries yet.")
    for task, task_groups in groups.items():
        lines += [f"## {results.md_escape(task)}", ""]
        for g in task_groups:
            heading, facts = results.md_escape(group_heading(g)), results.md_escape(group_facts(g))
            lines += [f"### {heading}", "", facts, "", tables.markdown(group_table(g)), ""]
    return "\n".join(lines).rstrip() + "\n"


CSV_COLUMNS = [
    "entry",
    "task",
    "group",
    "rank",
    "representation",
    "rep_spec",
    "dataset",
    "fingerprint",
    "suite_version",
    "generator",
    "seed",
    "machine",
    "created",
    "key",
    "name",
    "condition",
    "value",
    "low",
    "high",
    "unit",
    "higher_is_better",
]


def render_csv(entries: list[Entry]) -> str:
    """One row per entry, task and metric, with the entry's rank in its group
    (:func:`grainbench.frames.board_frame`'s columns :data:`CSV_COLUMNS`)."""
    from grainbench import frames

    return frames.board_frame(entries)[CSV_COLUMNS].to_csv(index=False)


def write_entry_reports(entries_dir: Path = DEFAULT_ENTRIES) -> list[Path]:
    """Rewrite every valid entry's ``report.html`` (and the pictures it draws) from its
    ``result.json``, ranked against the board, under the folder's exclusive lock (a report
    written by an older grainbench is replaced); returns the report paths."""
    from grainbench.report import write_report

    entries_dir = Path(entries_dir)
    busy = f"another grainbench submit is writing to {entries_dir}; retry when it has finished"
    with folder_lock(entries_dir, busy=busy, wait_s=LOCK_WAIT_S):
        entries = _read_entries(entries_dir)[0]
        return [write_report(e.path, e.result, entries) for e in entries]


def write_leaderboard(
    entries_dir: Path = DEFAULT_ENTRIES,
    out_dir: Path = DEFAULT_OUT,
    entries: list[Entry] | None = None,
) -> list[Path]:
    """Render ``README.md``, ``leaderboard.csv`` and ``leaderboard.html`` into ``out_dir``
    from ``entries`` (default: :func:`load_entries` of ``entries_dir``)."""
    from grainbench.report.board import render_board

    if entries is None:
        entries = load_entries(entries_dir)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot create it ({exc.strerror})") from None
    files = {
        out_dir / "README.md": render_markdown(entries),
        out_dir / "leaderboard.csv": render_csv(entries),
        out_dir / "leaderboard.html": render_board(entries, out_dir.resolve()),
    }
    for path, text in files.items():
        results.atomic_write_text(path, text)
    return list(files)
