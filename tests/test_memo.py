"""The content-addressed cache of the generation task (grainbench.metrics.memo): a hit gives
the numbers a fresh computation gives, a damaged entry is recomputed, keys follow the inputs,
the embedding's weights and the code."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grainbench.data import load_dataset
from grainbench.data.cache import load_arrays, save_arrays
from grainbench.metrics import crepe, memo
from grainbench.metrics import distances as D
from grainbench.metrics import embeddings as E
from grainbench.plugins import load_generator, load_representation
from grainbench.tasks.base import TaskResult
from taskrun import FAST_GENERATION, run_task

SR, N = 16000, 16384
FAST = {**FAST_GENERATION, "n_grid": 0, "n_wavs": 0}

OPTIONS = {"oracle": {"psnr": 30}, "gmm": {"n_components": 8, "n_mixtures": 2}}


@pytest.fixture(scope="module")
def synth() -> Any:
    return load_dataset(
        "synth-piano?n=100", sample_rate=SR, n_samples=N, n_channels=1, progress=False
    )


def _generation(ds: Any, gen: str, folder: Path) -> TaskResult:
    rep = load_representation("dct-square", sample_rate=SR, n_samples=N)
    rep.fit(torch.from_numpy(ds.train))
    generator = load_generator(gen, rep.image_shape, **OPTIONS[gen])
    return run_task("generation", rep, ds, folder, "generation", FAST, generator)


def _numbers(result: TaskResult) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (m.name, repr(sorted(m.condition.items()))): (repr(m.value), repr(m.low), repr(m.high))
        for m in result.metrics
    }


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count FD∞ computations and spectral-stats passes from here on."""
    counts = {"fd_infinity": 0, "features": 0}
    fd_infinity, features = D.fd_infinity, E.SpectralStatsEmbedding.features

    def counted_fd_infinity(*args: Any, **kwargs: Any) -> Any:
        counts["fd_infinity"] += 1
        return fd_infinity(*args, **kwargs)

    def counted_features(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["features"] += 1
        return features(self, *args, **kwargs)

    monkeypatch.setattr(D, "fd_infinity", counted_fd_infinity)
    monkeypatch.setattr(E.SpectralStatsEmbedding, "features", counted_features)
    return counts


def test_a_warm_cache_gives_the_fresh_numbers_and_skips_the_shared_rows(
    synth: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAINBENCH_CACHE", str(tmp_path / "cache"))
    counts = _counting(monkeypatch)
    fresh = _generation(synth, "oracle", tmp_path / "a")
    # Cold: the pool (test and held-out clips), the round trip and the generated clips are
    # embedded; every row's distances are computed.
    assert counts == {"fd_infinity": 3, "features": 4}
    counts.update(fd_infinity=0, features=0)
    warm = _generation(synth, "oracle", tmp_path / "b")
    # Warm: only the generator's clips and distances are new.
    assert counts == {"fd_infinity": 1, "features": 1}
    assert _numbers(warm) == _numbers(fresh)
    assert json.dumps(warm.data, sort_keys=True) == json.dumps(fresh.data, sort_keys=True)
    # Another generator on the same representation shares the real and round-trip rows.
    counts.update(fd_infinity=0, features=0)
    gmm = _generation(synth, "gmm", tmp_path / "c")
    assert counts == {"fd_infinity": 1, "features": 1}
    shared = {k: v for k, v in _numbers(fresh).items() if "generator" not in k[1]}
    assert {k: _numbers(gmm)[k] for k in shared} == shared


def test_damaged_distance_entries_are_recomputed(
    synth: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRAINBENCH_CACHE", str(tmp_path / "cache"))
    fresh = _generation(synth, "oracle", tmp_path / "a")
    entries = sorted((tmp_path / "cache" / "distances").iterdir())
    assert len(entries) == 2  # real-vs-real and round trip; the generator's row is not kept
    entries[0].write_bytes(b"not an npz")
    save_arrays(entries[1], {"json": np.array("{not json")})  # a valid hash, bad content
    capsys.readouterr()
    again = _generation(synth, "oracle", tmp_path / "b")
    assert _numbers(again) == _numbers(fresh)
    err = capsys.readouterr().err
    assert "unreadable" in err and "unreadable JSON" in err
    assert all(load_arrays(p) is not None for p in entries)  # stored again, verified


def test_json_entries_keep_every_float_exactly(tmp_path: Path) -> None:
    values = {"a": 0.1 + 0.2, "nan": math.nan, "inf": -math.inf, "tiny": 5e-324, "list": [1e300]}
    path = memo.entry_path("distances", "k" * 64, tmp_path)
    first = memo.cached_json(path, lambda: values)

    def fail() -> dict[str, Any]:
        raise AssertionError("recomputed despite the cache")

    again = memo.cached_json(path, fail)
    for out in (first, again):
        assert out["a"] == values["a"] and math.isnan(out["nan"]) and out["inf"] == -math.inf
        assert out["tiny"] == 5e-324 and out["list"] == [1e300]


def test_keys_follow_the_inputs_the_weights_and_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = np.zeros((2, 3))
    key = memo.content_key({"x": x}, seed=0)
    assert memo.content_key({"x": x}, seed=0) == key
    assert memo.content_key({"x": x}, seed=1) != key
    assert memo.content_key({"x": x.astype(np.float32)}, seed=0) != key
    assert memo.content_key({"x": x.reshape(3, 2)}, seed=0) != key
    assert memo.content_key({"y": x}, seed=0) != key
    clips = np.zeros((2, 1, 4096), np.float32)
    emb = E.get_embedding("crepe-tiny")
    path = E.embedding_cache_path(emb, clips, SR, tmp_path)
    assert (
        E.embedding_cache_path(E.get_embedding("crepe-tiny", hop=320), clips, SR, tmp_path) != path
    )
    assert E.embedding_cache_path(E.get_embedding("crepe-full"), clips, SR, tmp_path) != path
    assert emb.cache_fields()["weights"] == crepe.weights_sha256("tiny")
    monkeypatch.setattr(crepe, "weights_sha256", lambda model: "0" * 64)
    assert E.embedding_cache_path(emb, clips, SR, tmp_path) != path
    monkeypatch.undo()
    monkeypatch.setattr(memo, "code_version", lambda: "other code")
    assert memo.content_key({"x": x}, seed=0) != key
    assert E.embedding_cache_path(emb, clips, SR, tmp_path) != path
