"""Run folders have an owner: one run (its identity), one process at a time.

A run's *identity* is what the user asked for: the representation and dataset specs, the
clip setting, the split seed, the generator and its options, and every task's parameters.
Code and data versions are not part of it: a rerun after an upgrade is the same run, and
each task's own signature (:mod:`grainbench.runner`) decides whether its stored result is
reused.

:func:`claim` makes sure the folder can be written (before anything is built or fitted),
locks it against a second grainbench process for the whole run, and checks the identity
stored in ``run.json`` (or, for folders written before ``run.json`` existed, derived from
``result.json``): another run's finished work is never overwritten unless ``force``, which
clears the folder first, and only when it is a grainbench run folder (``run.json``,
``result.json`` or finished task files) or empty. Runs that
agree on everything they share (e.g. one more task) extend the folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grainbench import results
from grainbench.errors import UserError
from grainbench.locks import folder_lock

RUN_FILE = "run.json"
FORMAT = "grainbench-run/1"
BASE_FIELDS = (
    "rep",
    "data",
    "sample_rate",
    "n_samples",
    "n_channels",
    "seed",
    "generator",
    "label",
)
"""Identity fields that must agree; ``tasks`` (name → parameters) must agree per task."""

LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
"""A run label: 1-40 lower-case letters, digits and '-', starting with a letter or digit."""


def check_label(label: str | None) -> str | None:
    """``label`` when it is None or a valid run label (:data:`LABEL`), else a
    :class:`UserError`."""
    if label is not None and (not isinstance(label, str) or not LABEL.match(label)):
        raise UserError(
            f"label {str(label)[:60]!r} is not allowed: use 1-40 lower-case letters, digits "
            "or '-', starting with a letter or digit (e.g. throughput, no-noise)"
        )
    return label


def slug(text: Any) -> str:
    """``text`` with every character outside ``[A-Za-z0-9._-]`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))


def run_id(
    rep: str,
    data: str,
    seed: int,
    setting: tuple[int, int] | None = None,
    generator: str | None = None,
    label: str | None = None,
) -> str:
    """``<rep>__<data>[__<rate>Hz-<samples>][__<generator>][__<label>]__seed<N>``, each part
    slugged: the name of a run's default folder and of its board entry. ``setting`` is
    ``(sample rate in Hz, clip length in samples)``, given when it is not the dataset's own;
    ``label`` names a variant (:data:`LABEL`) that would otherwise share the id."""
    parts = [rep, data]
    if setting is not None:
        parts.append(f"{setting[0]}Hz-{setting[1]}")
    if generator:
        parts.append(generator)
    if label:
        parts.append(label)
    return "__".join(slug(p) for p in parts) + f"__seed{seed}"


def signature(identity: dict[str, Any]) -> str:
    """sha256 hex of an identity (canonical JSON)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def identity_from_result(result: Any) -> dict[str, Any] | None:
    """The identity of the run that wrote ``result`` (a ``result.json``), or None when it
    does not say (not a result, or damaged)."""
    try:
        ds, rep = result["dataset"], result["representation"]
        identity = {
            "rep": rep["spec"],
            "data": ds["spec"],
            "sample_rate": ds["sample_rate"],
            "n_samples": ds["n_samples"],
            "n_channels": ds["n_channels"],
            "seed": result["seed"],
            "generator": result.get("generator"),
            "tasks": {name: body["params"] for name, body in result["tasks"].items()},
        }
        if result.get("label"):
            identity["label"] = result["label"]
        return identity
    except (KeyError, TypeError, AttributeError):
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _stored(folder: Path) -> tuple[str, dict[str, Any] | None]:
    """What ``folder`` is: ``("empty", None)``, ``("run", identity or None)`` or
    ``("foreign", None)`` (files that grainbench did not write)."""
    if not any(folder.iterdir()):
        return "empty", None
    run = _read_json(folder / RUN_FILE)
    if isinstance(run, dict) and run.get("format") == FORMAT:
        return "run", run.get("identity")
    if (folder / "result.json").is_file():  # written before run.json existed
        return "run", identity_from_result(_read_json(folder / "result.json"))
    if any((folder / "tasks").glob("*.json")):  # killed before its first result.json
        return "run", None
    return "foreign", None


def _has_finished_work(folder: Path) -> bool:
    return (folder / "result.json").is_file() or any((folder / "tasks").glob("*.json"))


def _describe(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def conflict(stored: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """How ``wanted`` differs from the run ``stored`` in a folder (one phrase), or None when
    they agree on every field and on the parameters of every task both have."""
    for field in BASE_FIELDS:
        if stored.get(field) != wanted.get(field):
            return f"{field} {_describe(stored.get(field))}, not {_describe(wanted.get(field))}"
    old_tasks, new_tasks = stored.get("tasks") or {}, wanted.get("tasks") or {}
    for task in sorted(set(old_tasks) & set(new_tasks)):
        if old_tasks[task] != new_tasks[task]:
            changed = sorted(
                k
                for k in set(old_tasks[task]) | set(new_tasks[task])
                if old_tasks[task].get(k) != new_tasks[task].get(k)
            )
            return f"{task} parameters differ ({', '.join(changed)})"
    return None


def check_writable(folder: Path, option: str = "--out") -> None:
    """Create ``folder`` if needed and make sure a file can be written in it; a
    :class:`UserError` (one line) otherwise."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".grainbench-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{option} {folder}: cannot write there ({exc.strerror or exc})") from None


def clear(folder: Path) -> None:
    """Delete everything inside ``folder`` (links themselves, never what they point to)."""
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


@contextmanager
def claim(folder: Path, identity: dict[str, Any], *, force: bool = False) -> Iterator[str]:
    """Own ``folder`` for the run ``identity`` during the block; yields the run signature.

    Raises :class:`UserError` when the folder cannot be written, is in use by another
    grainbench process, holds files that are not a grainbench run, or holds another run's
    finished work (without ``force``; with it the folder is cleared first).
    """
    folder = Path(folder)
    check_writable(folder)
    busy = (
        f"run folder {folder} is in use by another grainbench run; wait for it or use another --out"
    )
    with folder_lock(folder, busy=busy):
        kind, stored = _stored(folder)
        if kind == "foreign":
            raise UserError(
                f"{folder} holds files that are not a grainbench run; "
                "give an empty or new folder with --out"
            )
        if force and kind == "run":
            clear(folder)
            stored = None
        elif kind == "run" and _has_finished_work(folder):
            why = "its owner is unknown" if stored is None else conflict(stored, identity)
            if why:
                raise UserError(
                    f"{folder} holds another run ({why}); use another --out, "
                    "or --force to replace it"
                )
        merged = dict(identity)
        if stored and _has_finished_work(folder):
            merged["tasks"] = {**(stored.get("tasks") or {}), **identity.get("tasks", {})}
        results.write_json(
            folder / RUN_FILE,
            {"format": FORMAT, "signature": signature(merged), "identity": merged},
        )
        yield signature(merged)
