"""Leaderboard entries on disk: ids, finding and reading them (see :mod:`grainbench.leaderboard`).

An entry id is one safe path component (:data:`ENTRY_ID`). Readers (:func:`scan_entries`)
hold a shared lock on the entries folder, so they never see a half-swapped entry, and
report and skip a broken entry instead of refusing the board.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grainbench import results
from grainbench.data import dataset_defaults
from grainbench.errors import UserError
from grainbench.locks import folder_lock
from grainbench.result_schema import require_valid
from grainbench.runfolder import run_id

REFERENCE_REP = "dct-square"
"""The reference representation every board entry is judged against: Ki's layout (the
whole-clip DCT folded row by row into a square image, μ-law companded)."""
DEFAULT_ENTRIES = Path("leaderboards/entries")
DEFAULT_OUT = Path("leaderboards")

ENTRY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$")
"""An entry id: 1–160 letters, digits, ``.``, ``_`` or ``-``, starting with a letter or digit
(so never ``.``, ``..``, a hidden name, or anything with a separator)."""
LOCK_WAIT_S = 60.0
"""How long a reader of the board waits for a submit to finish."""


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
    """``<rep>__<dataset>[__<rate>Hz-<samples>][__<generator>][__<label>]__seed<N>``, the
    folder name of a result's entry (:func:`grainbench.runfolder.run_id`); the clip setting
    appears when it is not the dataset's own, the label when the run has one."""
    gen = (result.get("generator") or {}).get("spec")
    ds = result["dataset"]
    setting = (ds.get("sample_rate"), ds.get("n_samples"))
    own = _own_setting(ds["spec"])
    shown = setting if own is not None and setting != own else None
    name = result["representation"]["name"]
    return run_id(name, ds["spec"], result["seed"], shown, gen, result.get("label"))


def check_entry_id(name: str) -> str:
    """``name`` when it is a valid entry id (:data:`ENTRY_ID`), else a :class:`UserError`."""
    if not isinstance(name, str) or not ENTRY_ID.match(name):
        raise UserError(
            f"entry id {name!r} is not allowed: use 1-160 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


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
        return read_entries(entries_dir)


def read_entries(entries_dir: Path) -> tuple[list[Entry], list[str]]:
    """:func:`scan_entries` for a caller that holds the folder's lock already (shared or
    exclusive)."""
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
