"""piano-c3 / piano-88 rendered from the pretty_midi soundfont, and the dataset cache."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from grainbench.data import load_dataset
from grainbench.data.cache import CACHE_ENV, cache_root

# sha256 of piano-c3?n=20 (split seed 0); a change means the renderer changed: bump
# piano.VERSION and update this value on purpose.
PIANO_C3_N20_FINGERPRINT = "f64f4da43ac10512"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dataset-cache")


@pytest.fixture(scope="module")
def c3(cache: Path):
    return load_dataset("piano-c3?n=20", cache_dir=cache, progress=False)


def test_piano_c3_contents(c3) -> None:
    assert c3.name == "piano-c3" and (c3.sample_rate, c3.n_samples, c3.n_channels) == (
        44100,
        65536,
        1,
    )
    assert c3.train.shape == (18, 1, 65536) and c3.test.shape == (2, 1, 65536)
    assert c3.train.dtype == np.float32 and c3.test_labels.dtype == np.int64
    assert set(c3.train_labels.tolist()) | set(c3.test_labels.tolist()) == {48}
    peaks = np.max(np.abs(np.concatenate([c3.train, c3.test])), axis=(1, 2))
    assert peaks.max() <= 0.999 and np.mean((peaks > 0.1) & (peaks < 0.9)) > 0.8
    assert c3.params["soundfont"] == "TimGM6mb.sf2" and c3.params["max_detune_cents"] <= 10
    assert c3.fingerprint.startswith(PIANO_C3_N20_FINGERPRINT)


def test_piano_c3_notes_state_the_band_limit(c3) -> None:
    text = " | ".join(c3.notes)
    assert "band-limited" in text and "22,050" in text and "TimGM6mb.sf2" in text


def test_piano_c3_states_each_clips_band_limit(c3) -> None:
    limits = np.concatenate([c3.train_band_limits, c3.test_band_limits])
    assert limits.shape == (20,) and limits.dtype == np.float64
    assert np.all((limits > 2000.0) & (limits <= 22050.0))
    # The stated limit is where the content stops: under −50 dB of the clip's energy above it.
    for clip, limit in zip(np.concatenate([c3.train, c3.test])[:, 0], limits, strict=True):
        power = np.abs(np.fft.rfft(clip.astype(np.float64))) ** 2
        above = np.fft.rfftfreq(len(clip), 1 / 44100) > limit
        assert power[above].sum() < 1e-5 * power.sum()
    # Acoustic pianos (22,050 Hz samples at about a quarter rate) stop near 2.6 kHz.
    assert np.min(limits) < 2700.0 < np.max(limits)


def test_band_limits_follow_the_setting_and_only_stated_ones_exist(tmp_path: Path) -> None:
    low = load_dataset(
        "piano-c3?n=20", sample_rate=16000, n_samples=16384, cache_dir=tmp_path, progress=False
    )
    assert np.all(low.test_band_limits <= 8000.0) and np.any(low.train_band_limits == 8000.0)
    synth = load_dataset("synth-piano?n=10", progress=False)
    assert synth.train_band_limits is None and synth.test_band_limits is None


def test_piano_c3_pitch(c3) -> None:
    x = c3.train[0, 0, 4410:].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 4 * len(x)))
    freqs = np.fft.rfftfreq(4 * len(x), 1 / 44100)
    c3_hz = 440 * 2 ** ((48 - 69) / 12)
    band = (freqs > 0.95 * c3_hz) & (freqs < 1.05 * c3_hz)
    found = freqs[np.argmax(np.where(band, spectrum, 0))]
    assert (
        abs(1200 * math.log2(found / c3_hz)) < 20
    )  # detune <= 10 cents plus the soundfont's tuning


def test_cache_hit_and_entry_layout(c3, cache: Path) -> None:
    again = load_dataset("piano-c3?n=20", cache_dir=cache, progress=False)
    assert again.fingerprint == c3.fingerprint and again.notes == c3.notes
    entries = [p for p in cache.iterdir() if p.name.startswith("piano-c3-")]
    assert len(entries) == 1
    meta = json.loads((entries[0] / "meta.json").read_text())
    assert meta["shape"] == [20, 1, 65536] and len(meta["content_sha256"]) == 64
    assert not [p for p in entries[0].iterdir() if p.suffix == ".tmp"]


def test_split_seed_and_render_seed(c3, cache: Path) -> None:
    other_split = load_dataset("piano-c3?n=20", seed=3, cache_dir=cache, progress=False)
    other_render = load_dataset("piano-c3?n=20&seed=1", cache_dir=cache, progress=False)
    assert len({c3.fingerprint, other_split.fingerprint, other_render.fingerprint}) == 3
    assert len(list(cache.glob("piano-c3-*"))) == 2  # one entry serves every split seed


def test_corrupt_cache_entry_is_rendered_again(tmp_path: Path, c3) -> None:
    first = load_dataset("piano-c3?n=20", cache_dir=tmp_path, progress=False)
    (entry,) = list(tmp_path.glob("piano-c3-*"))
    (entry / "clips.npy").write_bytes(b"garbage")
    assert (
        load_dataset("piano-c3?n=20", cache_dir=tmp_path, progress=False).fingerprint
        == first.fingerprint
    )
    clips = np.load(entry / "clips.npy")
    clips[0, 0, 0] += 0.5  # readable but altered: the content hash catches it
    np.save(entry / "clips.npy", clips)
    assert (
        load_dataset("piano-c3?n=20", cache_dir=tmp_path, progress=False).fingerprint
        == c3.fingerprint
    )


def test_cache_location_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env-cache"))
    assert cache_root() == tmp_path / "env-cache"
    load_dataset("piano-c3?n=2", progress=False)
    assert len(list((tmp_path / "env-cache").glob("piano-c3-*"))) == 1


def test_piano_88_covers_every_key_in_stereo(cache: Path) -> None:
    data = load_dataset(
        "piano-88?n=88", n_channels=2, n_samples=8192, cache_dir=cache, progress=False
    )
    labels = sorted(np.concatenate([data.train_labels, data.test_labels]).tolist())
    assert labels == list(range(21, 109))
    assert data.train.shape[1:] == (2, 8192)
    assert not np.array_equal(data.train[:, 0], data.train[:, 1])  # the presets pan their voices
    assert np.max(np.abs(data.train)) <= 0.999
