"""On-disk cache of rendered / converted datasets.

Location: ``cache_dir`` when given, else ``$GRAINBENCH_CACHE``, else
``~/.cache/grainbench/datasets/``. An entry is a folder ``<dataset>-<key>`` holding
``clips.npy`` (float32, all clips before the train/test split), ``labels.npy`` (int64) and
``meta.json`` (the key material, notes, file report, params, shapes and ``content_sha256``,
the sha256 of the clips and labels in build order). The key is a sha256 of the dataset name,
every option, the setting and the renderer's code version, plus what the plan adds (the
soundfont's hash, or each input file's path, size and modification time).

Every file is written to a temporary name in the entry folder and moved into place with
``os.replace``; ``meta.json`` is written last, so an entry without it is incomplete (a
miss). An entry that cannot be read, has the wrong shape or whose content hash does not
match is reported in one line on stderr, deleted and rendered again. The split and the
dataset fingerprint are computed after loading, so one entry serves every split seed.

Other caches (features and distances of the generation task, :mod:`grainbench.metrics.memo`;
DDSP features) store arrays with :func:`save_arrays`: one
``.npz`` that carries the sha256 of its arrays, checked by :func:`load_arrays` on every
read, with the same report-delete-recompute rule for a damaged file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from grainbench.data.core import RawClips, Setting, content_hash

CACHE_ENV = "GRAINBENCH_CACHE"
FORMAT_VERSION = 1


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$GRAINBENCH_CACHE``, else ``~/.cache/grainbench/datasets``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "grainbench" / "datasets"


def cache_key(name: str, version: str, material: dict[str, Any], setting: Setting) -> str:
    """sha256 hex of everything that decides a dataset's clips."""
    payload = {
        "format": FORMAT_VERSION,
        "dataset": name,
        "version": version,
        "material": material,
        "setting": list(setting.as_tuple()),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write(path: Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def store(entry: Path, raw: RawClips, key: str, material: dict[str, Any], setting: Setting) -> None:
    """Write ``raw`` into the entry folder atomically (arrays first, ``meta.json`` last)."""
    entry.mkdir(parents=True, exist_ok=True)
    _atomic_write(entry / "clips.npy", lambda f: np.save(f, raw.clips, allow_pickle=False))
    _atomic_write(entry / "labels.npy", lambda f: np.save(f, raw.labels, allow_pickle=False))
    meta = {
        "format": FORMAT_VERSION,
        "key": key,
        "material": material,
        "setting": list(setting.as_tuple()),
        "shape": list(raw.clips.shape),
        "content_sha256": content_hash(raw.clips, raw.labels),
        "notes": raw.notes,
        "file_report": raw.file_report,
        "params": raw.params,
    }
    text = json.dumps(meta, indent=1, sort_keys=True, default=str)
    _atomic_write(entry / "meta.json", lambda f: f.write(text), mode="w")


def report_damaged(path: Path, reason: str) -> None:
    """Say in one line on stderr that the cache file or entry ``path`` is damaged and is
    being deleted and recomputed."""
    print(f"grainbench: cache {path} is damaged ({reason}); deleted, recomputing", file=sys.stderr)


def _discard(entry: Path) -> None:
    """Delete a damaged entry's files (``meta.json`` first, so it is never half-valid)."""
    for name in ("meta.json", "clips.npy", "labels.npy"):
        try:
            (entry / name).unlink(missing_ok=True)
        except OSError:
            pass  # a read-only cache: the rebuilt clips are used without storing them


def load(entry: Path, key: str) -> RawClips | None:
    """The entry's clips, or ``None`` when it is missing or incomplete (a miss) or damaged
    (reported, deleted)."""
    if not (entry / "meta.json").is_file():
        return None
    try:
        meta = json.loads((entry / "meta.json").read_text())
        clips = np.load(entry / "clips.npy", allow_pickle=False)
        labels = np.load(entry / "labels.npy", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        reason = f"unreadable: {type(exc).__name__}"
    else:
        reason = _problem(meta, clips, labels, key)
        if reason is None:
            return RawClips(
                clips=clips,
                labels=labels,
                notes=list(meta.get("notes", [])),
                file_report=list(meta.get("file_report", [])),
                params=dict(meta.get("params", {})),
            )
    report_damaged(entry, reason)
    _discard(entry)
    return None


def _problem(meta: Any, clips: np.ndarray, labels: np.ndarray, key: str) -> str | None:
    """Why a read entry cannot be used, or None."""
    if not isinstance(meta, dict) or meta.get("key") != key:
        return "its key does not match"
    if clips.dtype != np.float32 or labels.dtype != np.int64:
        return "wrong dtype"
    if list(clips.shape) != meta.get("shape") or labels.shape != (clips.shape[0],):
        return "wrong shape"
    if content_hash(clips, labels) != meta.get("content_sha256"):
        return "content hash mismatch"
    return None


HASH_KEY = "__sha256__"
"""The member of a :func:`save_arrays` file that holds the sha256 of the others."""


def arrays_hash(arrays: dict[str, np.ndarray]) -> str:
    """sha256 hex over every array's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, value.dtype.str, list(value.shape)]).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (no object arrays) and their :func:`arrays_hash` to the ``.npz``
    ``path`` atomically; a cache folder that cannot be written is left alone (no error)."""
    stored = {**arrays, HASH_KEY: np.array(arrays_hash(arrays))}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, lambda f: np.savez(f, **stored))
    except OSError:
        pass


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a :func:`save_arrays` file, or None when it is absent or damaged (then
    it is reported in one line on stderr and deleted)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # untrusted bytes: BadZipFile, zlib.error, ValueError, OSError…
        reason = f"unreadable: {type(exc).__name__}"
    else:
        stored = arrays.pop(HASH_KEY, None)
        if stored is None:
            reason = "no content hash"
        elif str(stored) != arrays_hash(arrays):
            reason = "content hash mismatch"
        else:
            return arrays
    report_damaged(path, reason)
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    return None


def load_or_build(
    name: str,
    version: str,
    material: dict[str, Any],
    setting: Setting,
    build: Callable[[], RawClips],
    cache_dir: str | Path | None,
) -> tuple[RawClips, bool]:
    """The cached clips for this request, building and storing them on a miss.

    Returns the clips and whether they came from the cache. A cache folder that cannot be
    written to gives a warning, not an error.
    """
    key = cache_key(name, version, material, setting)
    entry = cache_root(cache_dir) / f"{name}-{key[:24]}"
    cached = load(entry, key)
    if cached is not None:
        return cached, True
    raw = build()
    try:
        store(entry, raw, key, material, setting)
    except OSError as exc:
        warnings.warn(f"dataset cache not written ({entry}): {exc}", stacklevel=3)
    return raw, False
