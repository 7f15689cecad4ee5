"""Every cache file is checked against its content hash on load: a damaged one is reported
in one line, deleted and recomputed (never used, never a traceback)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grainbench.data import load_dataset
from grainbench.data.cache import HASH_KEY, arrays_hash, load_arrays, save_arrays
from grainbench.metrics import embeddings as E

SR = 16000


@pytest.fixture(scope="module")
def clips() -> np.ndarray:
    return load_dataset("synth-piano?n=10", progress=False).train[:3]


def _cached(clips: np.ndarray, cache: Path) -> tuple[dict, Path]:
    emb = E.get_embedding("spectral-stats")
    feats = E.cached_features(emb, clips, SR, cache_dir=cache)
    return feats, E.embedding_cache_path(emb, clips, SR, cache_dir=cache)


def _rewrite(path: Path, edit) -> None:
    """Re-save an .npz with its members changed by ``edit`` (a plain numpy rewrite)."""
    with np.load(path, allow_pickle=False) as data:
        members = {k: data[k] for k in data.files}
    edit(members)
    np.savez(path, **members)


def test_an_altered_embedding_cache_is_not_used(clips, tmp_path: Path, capsys) -> None:
    truth, path = _cached(clips, tmp_path)
    _rewrite(path, lambda m: m.update(embedding=m["embedding"] * 10.0))
    again, _ = _cached(clips, tmp_path)
    assert np.array_equal(again["embedding"], truth["embedding"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "content hash mismatch" in err[0] and str(path) in err[0]
    assert load_arrays(path) is not None  # recomputed and stored again, verified


def test_a_truncated_embedding_cache_is_recomputed(clips, tmp_path: Path, capsys) -> None:
    truth, path = _cached(clips, tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(zipfile.BadZipFile):  # what a plain reader of the file meets
        np.load(path, allow_pickle=False)
    again, _ = _cached(clips, tmp_path)
    assert np.array_equal(again["embedding"], truth["embedding"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unreadable: BadZipFile" in err[0]


def test_a_cache_file_without_a_hash_is_recomputed(clips, tmp_path: Path, capsys) -> None:
    truth, path = _cached(clips, tmp_path)
    _rewrite(path, lambda m: m.pop(HASH_KEY))
    again, _ = _cached(clips, tmp_path)
    assert np.array_equal(again["embedding"], truth["embedding"])
    assert "no content hash" in capsys.readouterr().err


def test_save_and_load_arrays_round_trip(tmp_path: Path) -> None:
    arrays = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)}
    save_arrays(tmp_path / "x.npz", arrays)
    back = load_arrays(tmp_path / "x.npz")
    assert back is not None and set(back) == {"a", "b"}
    assert all(np.array_equal(back[k], arrays[k]) for k in arrays)
    assert arrays_hash(arrays) != arrays_hash({**arrays, "a": arrays["a"].T.copy()})
    assert load_arrays(tmp_path / "missing.npz") is None
    buf = io.BytesIO()
    np.savez(buf, a=arrays["a"], **{HASH_KEY: np.array("0" * 64)})
    (tmp_path / "forged.npz").write_bytes(buf.getvalue())
    assert load_arrays(tmp_path / "forged.npz") is None
    assert not (tmp_path / "forged.npz").exists()  # deleted


def test_a_damaged_dataset_cache_entry_is_reported_deleted_and_rebuilt(
    tmp_path: Path, capsys
) -> None:
    first = load_dataset("piano-c3?n=6", n_samples=4096, cache_dir=tmp_path, progress=False)
    (entry,) = list(tmp_path.glob("piano-c3-*"))
    clips = np.load(entry / "clips.npy")
    clips[0, 0, 0] += 0.5
    np.save(entry / "clips.npy", clips)
    again = load_dataset("piano-c3?n=6", n_samples=4096, cache_dir=tmp_path, progress=False)
    assert again.fingerprint == first.fingerprint
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "content hash mismatch" in err[0] and "deleted" in err[0]
    (entry / "labels.npy").write_bytes(b"\x93NUMPY truncated")
    assert (
        load_dataset("piano-c3?n=6", n_samples=4096, cache_dir=tmp_path, progress=False).fingerprint
        == first.fingerprint
    )
    assert "unreadable" in capsys.readouterr().err
