"""A content-addressed disk cache for the generation task's pure computations.

The generation task spends most of its time on CREPE embeddings and bootstrap intervals
(docs/performance.md). Much of that work is the same in every run on one dataset setting:
the real reference pool's features, the real-vs-real row's distances, and — for every
generator on one representation — the round-trip row's features and distances. This module
stores such results so that a board computes each once.

An entry's key is the sha256 of everything that decides its value: the input arrays'
names, dtypes, shapes and bytes (so the dataset, the clip selection and the clips
themselves), the named parameters (the embedding, its options and its weights' hash, the
seed, the bootstrap settings), and the code version, :func:`grainbench.results.code_hash`
(grainbench's own source: any change to the code makes new keys, so an entry made by other
code is never used). Same key, same inputs through the same code: the same numbers.

Entries are ``<cache>/<kind>/<key>.npz`` under the dataset cache folder
(:func:`grainbench.data.cache.cache_root`: ``$GRAINBENCH_CACHE`` or
``~/.cache/grainbench/datasets``), written with :func:`grainbench.data.cache.save_arrays`:
to a temporary file, then renamed into place, with the sha256 of their arrays. A reader
sees a whole entry or none; runs in parallel that compute one entry write identical bytes
and the last rename wins. An entry that cannot be read or fails its hash (or its caller's
check) is reported in one line on stderr, deleted and recomputed, never used. Deleting the
folders clears the cache (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from grainbench.data.cache import (
    arrays_hash,
    cache_root,
    load_arrays,
    report_damaged,
    save_arrays,
)
from grainbench.results import code_hash

Arrays = dict[str, np.ndarray]


@lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 of grainbench's source files (computed once per process)."""
    return code_hash()


def content_key(arrays: Arrays, **fields: Any) -> str:
    """sha256 hex of ``arrays`` (names, dtypes, shapes, bytes), the JSON-able ``fields`` and
    the code version."""
    payload = {"arrays": arrays_hash(arrays), "fields": fields, "code": code_version()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(kind: str, key: str, cache_dir: str | Path | None = None) -> Path:
    """Where the entry ``key`` of ``kind`` lives: ``<cache>/<kind>/<key>.npz``."""
    return cache_root(cache_dir) / kind / f"{key}.npz"


def cached_arrays(
    path: Path,
    compute: Callable[[], Arrays],
    valid: Callable[[Arrays], str | None] = lambda arrays: None,
) -> Arrays:
    """The arrays stored at ``path``, or ``compute()``'s, stored there.

    ``valid`` returns None for a usable entry, else the reason it is not (the entry is then
    reported, deleted and recomputed, as a damaged file is by :func:`load_arrays`).
    """
    stored = load_arrays(path)
    if stored is not None:
        reason = valid(stored)
        if reason is None:
            return stored
        report_damaged(path, reason)
    arrays = compute()
    save_arrays(path, arrays)
    return arrays


def cached_json(path: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The JSON object stored at ``path``, or ``compute()``'s, stored there.

    Floats round-trip exactly (JSON writes their shortest repr; NaN and ±inf included).
    """

    def encoded() -> Arrays:
        return {"json": np.array(json.dumps(compute(), sort_keys=True))}

    def readable(arrays: Arrays) -> str | None:
        text = arrays.get("json")
        if text is None or text.shape != () or text.dtype.kind != "U":
            return "not a JSON entry"
        try:
            json.loads(str(text))
        except ValueError:
            return "unreadable JSON"
        return None

    return json.loads(str(cached_arrays(path, encoded, readable)["json"]))
