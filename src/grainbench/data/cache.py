"""On-disk cache of rendered / converted datasets.

Location: ``cache_dir`` when given, else ``$GRAINBENCH_CACHE``, else
``~/.cache/grainbench/datasets/``. An entry is a folder ``<dataset>-<key>`` holding
``clips.npy`` (float32, all clips before the train/test split), ``labels.npy`` (int64) and
``meta.json`` (the key material, notes, file report, params, shapes and ``content_sha256``,
the sha256 of the clips and labels in build order). The key is a sha256 of the dataset name,
every option, the setting and the renderer's code version, plus what the plan adds (the
soundfont's hash, or each input file's path, size and modification time).

Every file is written to a temporary name in the entry folder and moved into place with
``os.replace``; ``meta.json`` is written last, so an entry without it is incomplete. An entry
that cannot be read, has the wrong shape or whose content hash does not match is rendered
again and overwritten. The split and the dataset fingerprint are computed after loading, so
one entry serves every split seed.
"""

from __future__ import annotations

import hashlib
import json
import os
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


def load(entry: Path, key: str) -> RawClips | None:
    """The entry's clips, or ``None`` when it is missing, incomplete or corrupt."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        clips = np.load(entry / "clips.npy", allow_pickle=False)
        labels = np.load(entry / "labels.npy", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if (
        meta.get("key") != key
        or clips.dtype != np.float32
        or labels.dtype != np.int64
        or list(clips.shape) != meta.get("shape")
        or labels.shape != (clips.shape[0],)
        or content_hash(clips, labels) != meta.get("content_sha256")
    ):
        return None
    return RawClips(
        clips=clips,
        labels=labels,
        notes=list(meta.get("notes", [])),
        file_report=list(meta.get("file_report", [])),
        params=dict(meta.get("params", {})),
    )


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
