"""folder:PATH and nsynth:PATH: conversion, reporting and errors on small files made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from grainbench.data import dataset_defaults, load_dataset
from grainbench.errors import UserError

N = 4096  # clip length asked for in most tests (small and fast)


def tone(n: int, rate: int, hz: float = 220.0, level: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(n) / rate
    x = level * np.sin(2 * np.pi * hz * t)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """One file of each kind the loader must handle."""
    root = tmp_path / "messy"
    (root / "sub").mkdir(parents=True)
    soundfile.write(
        root / "keys_acoustic_000-060-100.wav", tone(6000, 16000), 16000
    )  # normal, longer
    soundfile.write(root / "sub" / "nested.flac", tone(N, 16000, 330), 16000)  # exact length
    soundfile.write(root / "stereo48k.wav", tone(16000, 48000, channels=2), 48000)
    soundfile.write(root / "silent.wav", np.zeros(6000), 16000)
    soundfile.write(root / "short.wav", tone(1000, 16000), 16000)
    soundfile.write(root / "clipped.wav", np.clip(tone(6000, 16000, level=2.0), -1, 1), 16000)
    soundfile.write(root / "hot.wav", tone(6000, 16000, level=1.5), 16000, subtype="FLOAT")
    nan = tone(6000, 16000)
    nan[100] = np.nan
    soundfile.write(root / "nan.wav", nan, 16000, subtype="FLOAT")
    (root / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (root / "readme.txt").write_text("not audio")
    return root


def by_path(report: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {entry["path"]: entry for entry in report}


def test_messy_folder_loads_and_reports_each_file(messy: Path, tmp_path: Path) -> None:
    data = load_dataset(
        f"folder:{messy}", n_samples=N, cache_dir=tmp_path / "cache", progress=False
    )
    assert (data.sample_rate, data.n_channels, data.n_samples) == (16000, 1, N)  # most common
    report = by_path(data.file_report)
    assert set(report) == {
        "clipped.wav",
        "corrupt.wav",
        "hot.wav",
        "keys_acoustic_000-060-100.wav",
        "nan.wav",
        "short.wav",
        "silent.wav",
        "stereo48k.wav",
        "sub/nested.flac",
    }
    assert [e["path"] for e in data.file_report] == sorted(report)  # sorted by relative path
    assert report["keys_acoustic_000-060-100.wav"]["action"] == "trimmed"
    assert report["sub/nested.flac"]["action"] == "used"
    stereo = report["stereo48k.wav"]
    assert stereo["action"] == "converted"
    assert "48000 -> 16000 Hz" in stereo["reason"] and "2 -> 1 channels (mean)" in stereo["reason"]
    assert "trimmed" in stereo["reason"]
    assert (
        report["short.wav"]["action"] == "padded"
        and "1000 -> 4096" in report["short.wav"]["reason"]
    )
    assert report["silent.wav"]["action"] == "skipped" and report["silent.wav"][
        "reason"
    ].startswith("silent")
    assert report["nan.wav"]["action"] == "skipped" and "NaN" in report["nan.wav"]["reason"]
    corrupt = report["corrupt.wav"]
    assert corrupt["action"] == "skipped" and corrupt["reason"] and "\n" not in corrupt["reason"]
    assert (
        report["clipped.wav"]["action"] == "trimmed"
        and "clipped:" in report["clipped.wav"]["reason"]
    )
    hot = report["hot.wav"]
    assert hot["action"] == "converted" and "beyond +-1 clipped" in hot["reason"]

    assert data.train.shape[0] + data.test.shape[0] == 6
    both = np.concatenate([data.train, data.test])
    assert both.dtype == np.float32 and np.all(np.abs(both) <= 1.0)
    labels = sorted(np.concatenate([data.train_labels, data.test_labels]).tolist())
    assert labels == [-1, -1, -1, -1, -1, 60]
    assert any("1 files with other extensions ignored" in note for note in data.notes)
    assert any("resample_poly" in note for note in data.notes)


def test_conversion_values(tmp_path: Path) -> None:
    root = tmp_path / "pair"
    root.mkdir()
    soundfile.write(root / "a.wav", tone(2000, 16000), 16000)
    soundfile.write(root / "b.wav", tone(N * 3, 48000, channels=2), 48000)
    assert dataset_defaults(str(root)) == (48000, 65536, 2)  # a tie goes to the larger value
    data = load_dataset(
        str(root),
        sample_rate=16000,
        n_samples=N,
        n_channels=2,
        cache_dir=tmp_path / "c",
        progress=False,
    )
    padded, resampled = sorted(
        np.concatenate([data.train, data.test]), key=lambda c: float(np.abs(c[:, -1]).max())
    )
    assert np.array_equal(padded[0], padded[1])  # mono duplicated
    assert np.all(padded[:, 2000:] == 0)  # zero-padded
    assert np.allclose(padded[0, :2000], tone(2000, 16000), atol=1e-4)  # 16-bit file
    assert np.allclose(
        resampled[0, 200:-200], tone(N, 16000)[200:-200], atol=2e-3
    )  # 48 kHz -> 16 kHz


def test_defaults_and_cache(messy: Path, tmp_path: Path) -> None:
    assert dataset_defaults(str(messy)) == (16000, 65536, 1)
    first = load_dataset(str(messy), n_samples=N, cache_dir=tmp_path / "c", progress=False)
    second = load_dataset(f"folder:{messy}", n_samples=N, cache_dir=tmp_path / "c", progress=False)
    assert first.fingerprint == second.fingerprint
    assert len(list((tmp_path / "c").iterdir())) == 1
    (messy / "short.wav").unlink()  # a changed folder is a different dataset
    third = load_dataset(str(messy), n_samples=N, cache_dir=tmp_path / "c", progress=False)
    assert third.fingerprint != first.fingerprint


def test_subset_option(messy: Path, tmp_path: Path) -> None:
    data = load_dataset(
        f"folder:{messy}?n=4&seed=2", n_samples=N, cache_dir=tmp_path / "c", progress=False
    )
    assert len(data.file_report) == 4


def test_too_few_usable_files(tmp_path: Path) -> None:
    root = tmp_path / "few"
    root.mkdir()
    soundfile.write(root / "one.wav", tone(N, 16000), 16000)
    soundfile.write(root / "quiet.wav", np.zeros(N), 16000)
    with pytest.raises(UserError, match="1 usable audio file"):
        load_dataset(str(root), cache_dir=tmp_path / "c", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no audio file"):
        load_dataset(f"folder:{empty}", progress=False)


def make_nsynth(root: Path) -> Path:
    """A fake NSynth split: 3 keyboard notes, 1 guitar note, 1 entry without its wav."""
    (root / "audio").mkdir(parents=True)
    examples = {}
    for name, family, pitch in [
        ("keyboard_acoustic_001-048-100", "keyboard", 48),
        ("keyboard_acoustic_001-060-100", "keyboard", 60),
        ("keyboard_electronic_002-072-075", "keyboard", 72),
        ("guitar_acoustic_003-055-127", "guitar", 55),
        ("keyboard_synthetic_004-050-050", "keyboard", 50),
    ]:
        examples[name] = {
            "note_str": name,
            "pitch": pitch,
            "velocity": 100,
            "sample_rate": 16000,
            "instrument_family_str": family,
            "instrument_family": {"keyboard": 4, "guitar": 3}[family],
        }
        if "synthetic" not in name:
            soundfile.write(
                root / "audio" / f"{name}.wav",
                tone(N, 16000, 440 * 2 ** ((pitch - 69) / 12)),
                16000,
            )
    (root / "examples.json").write_text(json.dumps(examples))
    return root


def test_nsynth_layout(tmp_path: Path) -> None:
    root = make_nsynth(tmp_path / "nsynth-test")
    data = load_dataset(f"nsynth:{root}", n_samples=N, cache_dir=tmp_path / "c", progress=False)
    assert data.name == "nsynth"
    labels = sorted(np.concatenate([data.train_labels, data.test_labels]).tolist())
    assert labels == [48, 55, 60, 72]
    missing = by_path(data.file_report)["audio/keyboard_synthetic_004-050-050.wav"]
    assert missing == {
        "path": "audio/keyboard_synthetic_004-050-050.wav",
        "action": "skipped",
        "reason": "missing file",
    }

    keys = load_dataset(
        f"nsynth:{root}?instrument_family=keyboard",
        n_samples=N,
        cache_dir=tmp_path / "c",
        progress=False,
    )
    assert sorted(np.concatenate([keys.train_labels, keys.test_labels]).tolist()) == [48, 60, 72]
    by_number = load_dataset(
        f"nsynth:{root}?instrument_family=4&n=3&seed=1",
        n_samples=N,
        cache_dir=tmp_path / "c",
        progress=False,
    )
    assert len(by_number.file_report) == 3


def test_nsynth_errors(tmp_path: Path) -> None:
    root = make_nsynth(tmp_path / "ns")
    with pytest.raises(UserError, match="unknown option 'colour'"):
        load_dataset(f"nsynth:{root}?colour=red", progress=False)
    with pytest.raises(UserError, match="no NSynth example"):
        load_dataset(f"nsynth:{root}?instrument_family=brass", progress=False)
    with pytest.raises(UserError, match="not an NSynth folder"):
        load_dataset(f"nsynth:{tmp_path}", progress=False)
