"""`grainbench run` end to end on the tiny synthetic set: numbers, files, resume, seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from grainbench.cli import main
from grainbench.leaderboard import entry_id
from grainbench.runner import RunSpec, run_benchmark

FAST = ["roundtrip.n_boot=200", "roundtrip.n_examples=1"]


def _run(tmp_path: Path, rep: str, *extra: str) -> dict:
    spec = RunSpec(
        rep=rep,
        data="synth-piano?n=20",
        tasks=["roundtrip"],
        params={"roundtrip": {"n_boot": 200, "n_examples": 1}},
        out=tmp_path / rep,
        progress=False,
    )
    result, _ = run_benchmark(spec)
    return {m["key"]: m for m in result["tasks"]["roundtrip"]["metrics"]}


@pytest.mark.parametrize(
    "rep",
    [
        "waveform-square",
        "fft-square",
        "fft-polar-square",
        "fft-polar-2ch",
        "dct-square",
        "dct-square-linear",
    ],
)
def test_float_round_trip_is_lossless(tmp_path: Path, rep: str) -> None:
    rows = _run(tmp_path, rep)
    assert rows["snr[codec=float]"]["value"] >= 100.0
    assert rows["snr[codec=png16]"]["value"] > rows["snr[codec=png8]"]["value"]


def test_png8_companding_order(tmp_path: Path) -> None:
    """8-bit linear DCT is far below μ-law and signed square root (REFERENCES: 11 vs 37–39 dB)."""
    linear = _run(tmp_path, "dct-square-linear")["snr[codec=png8]"]["value"]
    mulaw = _run(tmp_path, "dct-square")["snr[codec=png8]"]["value"]
    sqrt = _run(tmp_path, "dct-square-sqrt")["snr[codec=png8]"]["value"]
    assert mulaw > linear + 10.0
    assert sqrt > linear + 10.0


def test_cli_writes_result_files_and_resumes(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = [
        "run",
        "--rep",
        "dct-square",
        "--data",
        "synth-piano?n=20",
        "--task",
        "roundtrip",
        "--out",
        str(out),
    ]
    args += [a for p in FAST for a in ("--param", p)]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "snr" in first.out and "results in" in first.out
    for name in ("result.json", "results.md", "results.csv", "tasks/roundtrip.json"):
        assert (out / name).is_file(), name
    result = json.loads((out / "result.json").read_text())
    for field in ("suite_version", "code_hash", "machine", "seed", "dataset", "representation"):
        assert field in result
    assert len(result["dataset"]["fingerprint"]) == 64
    assert result["representation"]["params"]["stages"][1]["kind"] == "mulaw"
    wavs = [a for a in result["tasks"]["roundtrip"]["artifacts"] if a["kind"] == "wav"]
    assert wavs and all((out / a["path"]).is_file() for a in wavs)
    # a rerun into the same folder reuses the finished task and gives the same numbers
    assert main([*args, "--json"]) == 0
    second = capsys.readouterr()
    assert "reusing finished result" in second.err
    assert (
        json.loads(second.out)["tasks"]["roundtrip"]["metrics"]
        == result["tasks"]["roundtrip"]["metrics"]
    )


def test_clip_setting_options_change_the_clips_run_folder_and_entry_id(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default run folder is relative: runs/…
    base = RunSpec(
        rep="dct-square",
        data="synth-piano?n=20",
        tasks=["roundtrip"],
        params={"roundtrip": {"n_boot": 20, "codecs": ["float"]}},
        progress=False,
    )
    own, own_dir = run_benchmark(base)
    small, small_dir = run_benchmark(
        RunSpec(**{**base.__dict__, "sample_rate": 8000, "n_samples": 4096})
    )
    assert own_dir == Path("runs/dct-square__synth-piano_n_20__seed0")
    assert small_dir == Path("runs/dct-square__synth-piano_n_20__8000Hz-4096__seed0")
    assert (own["dataset"]["sample_rate"], own["dataset"]["n_samples"]) == (16000, 16384)
    assert (small["dataset"]["sample_rate"], small["dataset"]["n_samples"]) == (8000, 4096)
    assert small["representation"]["image_shape"] == [1, 64, 64]
    assert small["dataset"]["fingerprint"] != own["dataset"]["fingerprint"]
    assert entry_id(own) == "dct-square__synth-piano_n_20__seed0"
    assert entry_id(small) == "dct-square__synth-piano_n_20__8000Hz-4096__seed0"
    # an impossible setting is a user error before anything runs
    assert (
        main(["run", "--rep", "dct-square", "--data", "synth-piano?n=20", "--sample-rate", "0"])
        == 2
    )


def test_interrupted_run_resumes_from_the_task_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = [
        "run",
        "--rep",
        "waveform-square",
        "--data",
        "synth-piano?n=20",
        "--task",
        "roundtrip",
        "--out",
        str(out),
    ]
    args += [a for p in FAST for a in ("--param", p)]
    assert main(args) == 0
    (out / "result.json").unlink()  # as if killed after the task finished
    assert main(args) == 0
    assert "reusing" in capsys.readouterr().err
    assert (out / "result.json").is_file()


def test_a_corrupt_task_file_is_recomputed(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = [
        "run",
        "--rep",
        "waveform-square",
        "--data",
        "synth-piano?n=20",
        "--task",
        "roundtrip",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    (out / "tasks" / "roundtrip.json").write_text("{ half a file")
    assert main(args) == 0
    assert "reusing" not in capsys.readouterr().err


def test_same_seed_same_numbers(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", "dct-square")
    b = _run(tmp_path / "b", "dct-square")
    assert {k: v["value"] for k, v in a.items()} == {k: v["value"] for k, v in b.items()}


def test_bad_options_are_user_errors(tmp_path: Path, capsys) -> None:
    base = ["run", "--rep", "dct-square", "--data", "synth-piano?n=20", "--out", str(tmp_path)]
    assert main([*base, "--task", "nope"]) == 2
    assert main([*base, "--task", "roundtrip", "--param", "roundtrip.nope=1"]) == 2
    assert main([*base, "--task", "roundtrip", "--param", "garbage"]) == 2
    if not torch.cuda.is_available():
        assert main([*base, "--task", "roundtrip", "--device", "cuda:7"]) == 2
    assert main(["run", "--rep", "dct-square", "--data", "no-such-dataset"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_list_shows_builtins(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "dct-square",
        "waveform-square",
        "fft-polar-square",
        "piano-c3",
        "synth-piano",
        "roundtrip",
    ):
        assert name in out


def test_list_reps_for_a_dataset_names_those_that_keep_its_setting(capsys) -> None:
    assert main(["list", "--reps-for", "synth-piano"]) == 0
    names = capsys.readouterr().out.split()
    assert "dct-square" in names and "stft-magif" in names
    # dct-stereo-2ch makes two channels of a mono dataset's clips: not the setting
    assert "dct-stereo-2ch" not in names and all(" " not in n for n in names)
    assert main(["list", "--reps-for", "no-such-data"]) == 2


def test_folder_dataset_reports_each_file(tmp_path: Path, capsys) -> None:
    """A corrupt, a 48 kHz stereo, a silent and a too-short file: the run goes on and says
    what it did with each."""
    import numpy as np
    import soundfile as sf

    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    for i in range(4):
        sf.write(folder / f"tone{i}.wav", 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t), 16000)
    stereo = 0.3 * np.sin(2 * np.pi * 330 * np.arange(96000) / 48000)
    sf.write(folder / "stereo48k.wav", np.stack([stereo, 0.5 * stereo], axis=1), 48000)
    sf.write(folder / "silent.wav", np.zeros(20000), 16000)
    sf.write(folder / "short.wav", 0.2 * rng.standard_normal(3000), 16000)
    (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x00garbage-not-a-wav")
    out = tmp_path / "run"
    args = [
        "run",
        "--rep",
        "dct-square",
        "--data",
        f"folder:{folder}",
        "--task",
        "roundtrip",
        "--out",
        str(out),
    ]
    assert main([*args, "--param", "roundtrip.n_boot=50"]) == 0
    text = capsys.readouterr().out
    report = {
        Path(r["path"]).name: r
        for r in json.loads((out / "result.json").read_text())["dataset"]["file_report"]
    }
    assert report["corrupt.wav"]["action"] == "skipped"
    assert (
        report["silent.wav"]["action"] == "skipped" and "silent" in report["silent.wav"]["reason"]
    )
    assert report["short.wav"]["action"] == "padded"
    assert report["stereo48k.wav"]["action"] != "skipped"
    assert "48000" in report["stereo48k.wav"]["reason"]
    for name in ("corrupt.wav", "silent.wav", "short.wav", "stereo48k.wav"):
        assert name in text
