"""Datasets: ``piano-c3`` (the default), ``piano-88``, ``synth-piano``, ``folder:PATH``, ``nsynth:PATH``.

A spec is a dataset name with optional ``?key=value&...`` options (``piano-c3?n=20&seed=1``),
``folder:PATH`` or ``nsynth:PATH`` (options after a ``?``), or just an existing directory.
:func:`load_dataset` renders or converts the clips (through the on-disk cache of
:mod:`grainbench.data.cache` for everything but ``synth-piano``), splits them 90/10 with the
``seed`` argument and fingerprints the result. A ``seed`` *option* inside the spec changes
what a synthetic set contains; the ``seed`` *argument* only changes the split.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from grainbench.data import cache
from grainbench.data.core import (
    AudioDataset,
    BandLimitedPlan,
    DatasetSource,
    Plan,
    RawClips,
    Setting,
    expand_path,
    fingerprint,
    parse_query,
    resolve_setting,
    split_indices,
)
from grainbench.errors import UserError
from grainbench.registries import DATASETS

__all__ = ["DEFAULT_DATASET", "AudioDataset", "dataset_defaults", "load_dataset"]

DEFAULT_DATASET = "piano-c3"

_MEMO_SIZE = 8
_memo: OrderedDict[str, RawClips] = OrderedDict()


def parse_spec(spec: str) -> tuple[DatasetSource, str | None, dict[str, str]]:
    """Split a spec into its source (a :data:`~grainbench.registries.DATASETS` entry), path
    (folder-like sources) and raw options."""
    text = spec.strip()
    if not text:
        raise UserError("empty dataset spec")
    sources: dict[str, DatasetSource] = {entry.name: entry.obj for entry in DATASETS.entries()}
    for name, source in sources.items():
        prefix = f"{name}:"
        if source.takes_path and text.startswith(prefix):
            rest = text[len(prefix) :]
            if "?" in rest and not os.path.isdir(expand_path(rest)):
                rest, query = rest.rsplit("?", 1)
            else:
                query = ""
            return source, rest, parse_query(query, name)
    name, _, query = text.partition("?")
    if name in sources and not sources[name].takes_path:
        return sources[name], None, parse_query(query, name)
    if os.path.isdir(expand_path(text)):
        return sources["folder"], text, {}
    if os.path.isdir(expand_path(name)):
        return sources["folder"], name, parse_query(query, "folder")
    if os.sep in name or "/" in name or name.startswith(("~", ".")):
        raise UserError(f"dataset folder not found: {name}")
    choices = ", ".join(f"{n}:PATH" if s.takes_path else n for n, s in sorted(sources.items()))
    raise UserError(f"unknown dataset {name!r}; choose one of: {choices}, or an existing folder")


def _plan(spec: str) -> tuple[DatasetSource, Plan]:
    source, path, options = parse_spec(spec)
    return source, source.plan(path, options)


def dataset_defaults(spec: str) -> tuple[int, int, int]:
    """The dataset's own ``(sample_rate, n_samples, n_channels)``, without rendering anything."""
    return _plan(spec)[1].defaults().as_tuple()


def _memo_key(source: DatasetSource, plan: Plan, setting: Setting) -> str:
    return json.dumps(
        [source.name, source.version, plan.key_material(), setting.as_tuple()],
        sort_keys=True,
        default=str,
    )


def _clips(
    source: DatasetSource,
    plan: Plan,
    setting: Setting,
    cache_dir: str | Path | None,
    progress: bool,
) -> tuple[RawClips, bool]:
    """Build (or fetch from the disk cache or the in-process memo) every clip of the request."""
    if source.cached:
        return cache.load_or_build(
            source.name,
            source.version,
            plan.key_material(),
            setting,
            lambda: plan.build(setting, progress),
            cache_dir,
        )
    key = _memo_key(source, plan, setting)
    if key in _memo:
        _memo.move_to_end(key)
        return _memo[key], True
    raw = plan.build(setting, progress)
    _memo[key] = raw
    while len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)
    return raw, False


def _band_limits(plan: Plan, setting: Setting, n_clips: int) -> np.ndarray | None:
    """The plan's per-clip content limits (Hz, build order), or None when it states none."""
    if not isinstance(plan, BandLimitedPlan):
        return None
    limits = np.asarray(plan.band_limits(setting), dtype=np.float64)
    if limits.shape != (n_clips,):
        raise ValueError(f"band limits of shape {limits.shape} for {n_clips} clips")
    return np.minimum(limits, setting.sample_rate / 2.0)


def load_dataset(
    spec: str,
    *,
    sample_rate: int | None = None,
    n_samples: int | None = None,
    n_channels: int | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> AudioDataset:
    """Load the dataset ``spec`` at the given setting, split 90/10 by ``seed``.

    ``None`` settings take the dataset's own values (:func:`dataset_defaults`). Raises
    :class:`grainbench.errors.UserError` (one line) for an unknown dataset, a missing
    folder, a folder without two usable files, or a bad option or setting.
    """
    source, plan = _plan(spec)
    setting = resolve_setting(plan.defaults(), sample_rate, n_samples, n_channels)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UserError(f"split seed must be a non-negative integer, got {seed!r}")
    raw, _ = _clips(source, plan, setting, cache_dir, progress)
    train_idx, test_idx = split_indices(len(raw.clips), int(seed))
    train, test = raw.clips[train_idx], raw.clips[test_idx]
    limits = _band_limits(plan, setting, len(raw.clips))
    train_labels, test_labels = raw.labels[train_idx], raw.labels[test_idx]
    params = {
        "dataset": source.name,
        "spec": spec,
        "sample_rate": setting.sample_rate,
        "n_samples": setting.n_samples,
        "n_channels": setting.n_channels,
        "split_seed": int(seed),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "renderer_version": source.version,
        **raw.params,
    }
    return AudioDataset(
        name=source.name,
        spec=spec,
        sample_rate=setting.sample_rate,
        n_samples=setting.n_samples,
        n_channels=setting.n_channels,
        train=train,
        test=test,
        train_labels=train_labels,
        test_labels=test_labels,
        fingerprint=fingerprint(train, test, train_labels, test_labels),
        notes=list(raw.notes),
        file_report=[dict(entry) for entry in raw.file_report],
        params=params,
        train_band_limits=None if limits is None else limits[train_idx],
        test_band_limits=None if limits is None else limits[test_idx],
    )
