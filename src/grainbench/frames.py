"""Results as pandas DataFrames: one row per metric value.

:func:`load_result` reads one run or entry, :func:`load_board` every entry of a board.
Columns, in order:

- ``entry`` (the entry id, or the run folder's name), ``task``, ``key``, ``name`` (the
  catalogue metric), ``condition`` (all of it as text, ``codec=png8;delta=2/255``);
- one column per condition key that occurs (``codec``, ``delta``, ``stat``, ``error``,
  ``psnr``…; empty where a row does not have it); a condition key that would shadow one of
  the fixed columns is prefixed ``condition.``;
- ``value``, ``low``, ``high`` (float; NaN where missing), ``unit``, ``higher_is_better``
  (nullable boolean: NA for descriptive metrics);
- entry metadata: ``representation``, ``family`` (the name up to its first ``-``:
  ``dct``, ``stft``, ``fft``…), ``rep_spec``, ``dataset``, ``sample_rate``, ``n_samples``,
  ``fingerprint``, ``generator`` (spec with options, or empty), ``seed``, ``suite_version``,
  ``created``, ``machine`` (CPU, cores, GPU), ``params_id`` (a short id of the task's
  parameters);
- :func:`load_board` adds ``group`` (entries that compare: same suite version, dataset
  fingerprint and task parameters, SPEC section 6) and ``rank`` (the entry's place in its
  group by the task's headline metric; NA when not ranked).

For example, the median energy-weighted audibility of every entry::

    board = grainbench.load_board()
    head = board[board.key == "audibility[delta=2/255,stat=median,weight=energy]"]
    head.sort_values("value")[["representation", "dataset", "value", "low", "high"]]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from grainbench import results, tables
from grainbench.leaderboard.cells import generator_text, machine_text
from grainbench.leaderboard.entries import Entry, scan_entries
from grainbench.leaderboard.ranking import group_entries, params_id

ID_COLUMNS = ["entry", "task", "key", "name", "condition"]
VALUE_COLUMNS = ["value", "low", "high", "unit", "higher_is_better"]
META_COLUMNS = [
    "representation",
    "family",
    "rep_spec",
    "dataset",
    "sample_rate",
    "n_samples",
    "fingerprint",
    "generator",
    "seed",
    "suite_version",
    "created",
    "machine",
    "params_id",
]
BOARD_COLUMNS = ["group", "rank"]
_FIXED = set(ID_COLUMNS + VALUE_COLUMNS + META_COLUMNS + BOARD_COLUMNS)


def family(name: str) -> str:
    """A representation's family: its name up to the first ``-`` (``stft-magif`` → ``stft``)."""
    return str(name).split("-", 1)[0]


def condition_column(key: str) -> str:
    """The column of condition key ``key`` (prefixed when it would shadow a fixed column)."""
    return f"condition.{key}" if key in _FIXED else key


def _meta(entry: str, result: dict[str, Any]) -> dict[str, Any]:
    rep = result.get("representation") or {}
    ds = result.get("dataset") or {}
    gen = generator_text(result)
    return {
        "entry": entry,
        "representation": rep.get("name"),
        "family": family(rep.get("name", "")),
        "rep_spec": rep.get("spec"),
        "dataset": ds.get("spec"),
        "sample_rate": ds.get("sample_rate"),
        "n_samples": ds.get("n_samples"),
        "fingerprint": ds.get("fingerprint"),
        "generator": "" if gen == "–" else gen,
        "seed": result.get("seed"),
        "suite_version": result.get("suite_version"),
        "created": result.get("created"),
        "machine": machine_text(result),
    }


def _records(entry: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    meta = _meta(entry, result)
    out = []
    for task, body in (result.get("tasks") or {}).items():
        pid = params_id(body.get("params") or {})
        for row in body.get("metrics", []):
            cond = row.get("condition") or {}
            rec = {**meta, "task": task, "key": row["key"], "name": row["name"], "params_id": pid}
            rec["condition"] = tables.condition_text(cond, ";")
            rec.update({condition_column(k): v for k, v in cond.items()})
            rec.update({k: row.get(k) for k in VALUE_COLUMNS})
            out.append(rec)
    return out


def _frame(records: list[dict[str, Any]], extra: list[str]) -> pd.DataFrame:
    """Records → a frame with the documented column order and dtypes."""
    conditions: dict[str, None] = {}
    for rec in records:
        conditions.update((k, None) for k in rec if k not in _FIXED)
    columns = ID_COLUMNS + list(conditions) + VALUE_COLUMNS + META_COLUMNS + extra
    frame = pd.DataFrame.from_records(records, columns=columns)
    for col in ("value", "low", "high"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    for col in ("sample_rate", "n_samples", "seed", *(c for c in extra if c == "rank")):
        frame[col] = frame[col].astype("Int64")
    return frame


def result_frame(result: dict[str, Any], entry: str = "") -> pd.DataFrame:
    """The metric rows of a result dict (as stored in ``result.json``) as a DataFrame."""
    label = entry or str((result.get("entry") or {}).get("id") or "")
    return _frame(_records(label, result), [])


def load_result(path: str | Path) -> pd.DataFrame:
    """The metrics of one result (a run or entry folder, or a ``result.json``): one row per
    metric value, columns as in this module's docstring. ``entry`` is the entry id, or the
    folder's name for a run."""
    path = Path(path)
    result = results.load_result(path)
    folder = path if path.is_dir() else path.parent
    return result_frame(result, str((result.get("entry") or {}).get("id") or folder.name))


def entries_folder(path: str | Path) -> Path:
    """The entries folder of a board: ``path/entries`` when it exists, else ``path``."""
    path = Path(path)
    return path / "entries" if (path / "entries").is_dir() else path


def board_frame(entries: list[Entry]) -> pd.DataFrame:
    """Every metric of every entry with its comparable group and rank (see the docstring)."""
    records = []
    for task, groups in group_entries(entries).items():
        for g in groups:
            for rank, e in g.ranked():
                for rec in _records(e.id, e.result):
                    if rec["task"] == task:
                        records.append({**rec, "group": g.id, "rank": rank})
    return _frame(records, BOARD_COLUMNS)


def load_board(path: str | Path = "leaderboards/") -> pd.DataFrame:
    """Every metric of every valid entry of the board in ``path`` (a board folder holding
    ``entries/``, or an entries folder), one row per metric value, with ``group`` and
    ``rank`` (see the module docstring). Folders that are not valid entries are skipped."""
    entries, _ = scan_entries(entries_folder(path))
    return board_frame(entries)
