"""synth-piano and the generic dataset machinery: shapes, split, fingerprints, spec errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grainbench.data import dataset_defaults, load_dataset
from grainbench.data.core import Setting, fingerprint, split_indices, stable_permutation, uniforms
from grainbench.data.piano import PIANO_C3
from grainbench.data.synth import midi_to_hz
from grainbench.errors import UserError
from grainbench.registries import DATASETS

# sha256 of the default synth-piano (split seed 0). Changing it means the renderer changed:
# bump synth.VERSION and update this value on purpose.
SYNTH_DEFAULT_FINGERPRINT = "112e69e60a2e1a2f"


@pytest.fixture(scope="module")
def synth():
    return load_dataset("synth-piano", progress=False)


def test_shapes_dtypes_labels_and_split(synth) -> None:
    assert (synth.sample_rate, synth.n_samples, synth.n_channels) == (16000, 16384, 1)
    assert synth.train.shape == (90, 1, 16384) and synth.test.shape == (10, 1, 16384)
    assert synth.train.dtype == np.float32 and synth.train_labels.dtype == np.int64
    both = np.concatenate([synth.train, synth.test])
    assert np.all(np.abs(both) <= 1.0) and np.all(np.isfinite(both))
    peaks = np.max(np.abs(both), axis=(1, 2))
    assert peaks.min() >= 0.2 - 1e-6 and peaks.max() <= 0.9 + 1e-6
    labels = np.concatenate([synth.train_labels, synth.test_labels])
    assert labels.min() == 36 and labels.max() == 84 and len(set(labels.tolist())) == 49
    assert synth.file_report == [] and synth.notes
    assert synth.params["split_seed"] == 0 and synth.params["n"] == 100


def test_default_fingerprint_is_stable(synth) -> None:
    assert synth.fingerprint.startswith(SYNTH_DEFAULT_FINGERPRINT)
    plan = DATASETS.get("synth-piano").plan(None, {})
    again = plan.build(Setting(16000, 16384, 1), progress=False)  # bypass the in-process memo
    train_idx, test_idx = split_indices(100, 0)
    rebuilt = fingerprint(
        again.clips[train_idx],
        again.clips[test_idx],
        again.labels[train_idx],
        again.labels[test_idx],
    )
    assert rebuilt == synth.fingerprint


def test_fingerprints_are_distinct(synth) -> None:
    other_split = load_dataset("synth-piano", seed=1, progress=False)
    other_render = load_dataset("synth-piano?seed=1", progress=False)
    smaller = load_dataset("synth-piano?n=20", progress=False)
    prints = {
        synth.fingerprint,
        other_split.fingerprint,
        other_render.fingerprint,
        smaller.fingerprint,
    }
    assert len(prints) == 4
    # the split seed reorders, it does not change the clips
    assert np.allclose(
        np.sort(np.concatenate([synth.train, synth.test]).sum(axis=(1, 2))),
        np.sort(np.concatenate([other_split.train, other_split.test]).sum(axis=(1, 2))),
    )
    assert smaller.train.shape[0] == 18 and smaller.test.shape[0] == 2


def test_fundamental_is_at_the_labelled_key(synth) -> None:
    for clip, key in list(zip(synth.train, synth.train_labels, strict=True))[::15]:
        x = clip[0].astype(np.float64)
        spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 4 * len(x)))
        freqs = np.fft.rfftfreq(4 * len(x), 1 / 16000)
        f0 = midi_to_hz(int(key))
        band = (freqs > 0.97 * f0) & (freqs < 1.03 * f0)
        found = freqs[np.argmax(np.where(band, spectrum, 0))]
        assert abs(1200 * math.log2(found / f0)) < 8  # inharmonicity and string detune: a few cents


def test_setting_overrides_and_stereo() -> None:
    data = load_dataset(
        "synth-piano?n=10", sample_rate=8000, n_samples=4000, n_channels=2, progress=False
    )
    assert data.train.shape == (9, 2, 4000)
    assert np.array_equal(data.train[:, 0], data.train[:, 1])
    assert data.params["sample_rate"] == 8000


def test_defaults_without_rendering() -> None:
    assert dataset_defaults("synth-piano") == (16000, 16384, 1)
    assert dataset_defaults("piano-c3") == (44100, 65536, 1)
    assert dataset_defaults("piano-88?n=88") == (44100, 65536, 1)


@pytest.mark.parametrize(
    ("spec", "kwargs", "message"),
    [
        ("no-such-set", {}, "unknown dataset 'no-such-set'"),
        ("synth-piano?bogus=1", {}, "unknown option 'bogus'"),
        ("synth-piano?n=abc", {}, "not an integer"),
        ("synth-piano?n=1", {}, "at least 2"),
        ("synth-piano?n=3&n=4", {}, "given twice"),
        ("synth-piano", {"n_channels": 3}, "1 or 2 channels"),
        ("synth-piano", {"sample_rate": 0}, "positive integer"),
        ("synth-piano", {"seed": -1}, "non-negative"),
        ("./missing/folder", {}, "dataset folder not found"),
        ("folder:/no/such/dir", {}, "dataset folder not found"),
        ("", {}, "empty dataset spec"),
    ],
)
def test_user_errors(spec: str, kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        load_dataset(spec, progress=False, **kwargs)
    assert "\n" not in str(info.value)


def test_registered_for_grainbench_list() -> None:
    names = {entry.name for entry in DATASETS.entries()}
    assert {"synth-piano", "piano-c3", "piano-88", "folder", "nsynth"} <= names
    assert DATASETS.get("piano-c3") is PIANO_C3


def test_random_draws_are_version_stable() -> None:
    # raw PCG64 output for SeedSequence([0, 0]); fixed by numpy's stability policy
    assert uniforms(0, 3).tolist() == [0.6369616873214543, 0.2697867137638703, 0.04097352393619469]
    assert sorted(stable_permutation(10, 3).tolist()) == list(range(10))
    train, test = split_indices(1000, 0)
    assert len(train) == 900 and len(test) == 100 and not set(train) & set(test)
