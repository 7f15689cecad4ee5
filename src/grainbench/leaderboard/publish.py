"""``grainbench submit``'s library side: validate a run and swap it in as an entry.

:func:`submit` holds an exclusive lock on the entries folder (:mod:`grainbench.locks`),
builds the new entry in a hidden temporary folder beside the old one and swaps it in by
renaming; the old entry is deleted only once the new one is in place.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from grainbench import results
from grainbench.errors import UserError
from grainbench.leaderboard.entries import (
    DEFAULT_ENTRIES,
    ENTRY_ID,
    Entry,
    check_entry_id,
    entry_id,
    read_entries,
)
from grainbench.locks import folder_lock
from grainbench.result_schema import require_valid

# Artefact kinds copied into an entry (pictures and small JSON); WAV and NPY stay out.
ENTRY_KINDS = ("png", "json")
MAX_ENTRY_FILE_BYTES = 4 << 20
_SCRATCH = re.compile(r"^\..+\.(staging|old)-[0-9a-z_]+$")


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
        board = read_entries(entries_dir)[0]  # what the entry's report ranks against
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
