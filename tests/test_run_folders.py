"""Run folders: owned by one run (identity in run.json), locked against a second process,
cleared only by --force and only when they are run folders; writability checked before
anything is built; interrupted results say so and are refused by submit and check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grainbench import runner
from grainbench.cli import main
from grainbench.registries import TASKS
from hostile import TINY, env, plugin, snapshot

BUILT = "the dataset was built"


@pytest.fixture
def no_build(monkeypatch):
    """Fail the test loudly if a run gets as far as building its dataset."""

    def refuse(*args, **kwargs):
        raise AssertionError(BUILT)

    monkeypatch.setattr(runner, "load_dataset", refuse)


def _run(out: Path, rep: str = "waveform-square", *extra: str) -> int:
    return main(["run", "--rep", rep, *TINY, "--out", str(out), *extra])


def test_out_that_is_a_file_is_refused_before_building(tmp_path: Path, no_build, capsys) -> None:
    target = tmp_path / "result.txt"
    target.write_text("not a folder")
    assert _run(target) == 2
    assert "is a file" in capsys.readouterr().err
    assert target.read_text() == "not a folder"


def test_unwritable_out_is_refused_before_building(tmp_path: Path, no_build, capsys) -> None:
    if os.geteuid() == 0:  # root writes through permissions: use a kernel folder instead
        target = Path("/sys/kernel/grainbench-run")
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no /sys/kernel to stand for a read-only folder")
    else:
        target = tmp_path / "read-only"
        target.mkdir()
        target.chmod(0o555)
    assert _run(target) == 2
    err = capsys.readouterr().err
    assert "cannot write there" in err and err.count("\n") == 1


def test_another_run_into_a_folder_is_refused_and_force_replaces_it(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert _run(out, "dct-square") == 0
    first = snapshot(out)
    capsys.readouterr()
    # another representation, then another parameter: both refused, nothing touched
    assert _run(out, "waveform-square") == 2
    assert 'rep "dct-square", not "waveform-square"' in capsys.readouterr().err
    assert _run(out, "dct-square", "--param", "roundtrip.batch_size=4") == 2
    assert "roundtrip parameters differ (batch_size)" in capsys.readouterr().err
    assert snapshot(out) == first
    # the same run again resumes
    assert _run(out, "dct-square") == 0
    assert "reusing" in capsys.readouterr().err
    # --force clears the folder and runs the other representation
    (out / "roundtrip" / "stray.txt").write_text("left by the first run")
    assert _run(out, "waveform-square", "--force") == 0
    result = json.loads((out / "result.json").read_text())
    assert result["representation"]["name"] == "waveform-square"
    assert not (out / "roundtrip" / "stray.txt").exists()
    identity = json.loads((out / "run.json").read_text())["identity"]
    assert identity["rep"] == "waveform-square"
    assert result["run_signature"] == json.loads((out / "run.json").read_text())["signature"]


def test_a_folder_from_before_run_json_is_owned_by_its_result(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert _run(out, "dct-square") == 0
    (out / "run.json").unlink()
    assert _run(out, "waveform-square") == 2
    assert "holds another run" in capsys.readouterr().err
    assert _run(out, "dct-square") == 0
    (out / "run.json").unlink()
    (out / "result.json").unlink()  # as if killed before result.json: only task files
    assert _run(out, "dct-square") == 2
    assert "its owner is unknown" in capsys.readouterr().err
    assert _run(out, "dct-square", "--force") == 0


def test_force_never_clears_a_folder_that_is_not_a_run(tmp_path: Path, no_build, capsys) -> None:
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    before = snapshot(out)
    assert _run(out, "waveform-square", "--force") == 2
    assert "not a grainbench run" in capsys.readouterr().err
    assert snapshot(out) == before


_BLOCKING_FIT = """
def fit(self, audio):
    import time
    from pathlib import Path
    here = Path(__file__).parent
    (here / "fitting").touch()
    for _ in range(6000):
        if (here / "release").exists():
            return
        time.sleep(0.01)
"""


def test_a_second_process_on_a_run_folder_is_locked_out(tmp_path: Path, capsys) -> None:
    """A real process holds the run folder (its plugin's fit waits for a file); a second
    run into the folder exits 2 at once; the first finishes normally."""
    spec = plugin(tmp_path, _BLOCKING_FIT)
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "grainbench", "run", "--rep", spec, *TINY, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "fitting").exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert _run(out, spec) == 2
        assert "in use by another grainbench run" in capsys.readouterr().err
    finally:
        (tmp_path / "release").touch()
        _, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert json.loads((out / "result.json").read_text())["complete"] is True


def test_an_interrupted_result_says_so_and_submit_and_check_refuse_it(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    out = tmp_path / "run"
    args = [
        "run",
        "--rep",
        "waveform-square",
        *TINY[:2],
        "--task",
        "roundtrip,transfer",
        *TINY[4:],
        "--param",
        "transfer.n_clips=1",
        "--param",
        "transfer.psnr=[40]",
        "--param",
        'transfer.kinds=["noise"]',
        "--param",
        "transfer.n_boot=10",
        "--param",
        "transfer.n_examples=0",
        "--out",
        str(out),
    ]

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(TASKS.get("transfer"), "run", ctrl_c)
    assert main(args) == 130
    monkeypatch.undo()
    result = json.loads((out / "result.json").read_text())
    assert result["tasks_requested"] == ["roundtrip", "transfer"]
    assert list(result["tasks"]) == ["roundtrip"] and result["complete"] is False
    assert "incomplete" in (out / "results.md").read_text()
    entries = tmp_path / "entries"
    assert main(["submit", str(out), "--entries", str(entries)]) == 2
    assert "resume" in capsys.readouterr().err
    assert not entries.exists() or not any(entries.iterdir())
    check = ["check", "--rep", "waveform-square", "--against", str(out), "--entries", str(entries)]
    assert main(check) == 2
    assert "incomplete" in capsys.readouterr().err
    # resuming finishes the run; then it can be submitted
    assert main(args) == 0
    assert json.loads((out / "result.json").read_text())["complete"] is True
    assert main(["submit", str(out), "--entries", str(entries)]) == 0


def test_run_id_names_folders_and_entries_alike() -> None:
    """One function builds the default run folder's name and the board entry id."""
    from grainbench.leaderboard import entry_id
    from grainbench.runfolder import run_id

    assert run_id("my rep", "folder:~/a b?n=2", 3) == "my_rep__folder___a_b_n_2__seed3"
    assert (
        run_id("dct-square", "synth-piano", 0, (8000, 4096), "gens/g.py:G")
        == "dct-square__synth-piano__8000Hz-4096__gens_g.py_G__seed0"
    )
    spec = runner.RunSpec(rep="x", data="synth-piano?n=4", seed=2, gen="gmm", n_samples=4096)
    result = {
        "representation": {"name": "x"},
        "dataset": {"spec": "synth-piano?n=4", "sample_rate": 16000, "n_samples": 4096},
        "generator": {"spec": "gmm"},
        "seed": 2,
    }
    expected = "x__synth-piano_n_4__16000Hz-4096__gmm__seed2"
    assert runner.default_run_dir(spec, "x").name == entry_id(result) == expected
    labelled = runner.RunSpec(rep="x", data="synth-piano?n=4", seed=2, label="no-noise")
    with_label = {
        **result,
        "generator": None,
        "label": "no-noise",
        "dataset": {"spec": "synth-piano?n=4", "sample_rate": 16000, "n_samples": 16384},
    }
    expected = "x__synth-piano_n_4__no-noise__seed2"
    assert runner.default_run_dir(labelled, "x").name == entry_id(with_label) == expected


def test_a_labelled_run_is_a_variant_beside_the_unlabelled_one(tmp_path: Path, capsys) -> None:
    """``--label`` puts the label into the result, the default folder and the entry id; a
    bad label exits 2 with one line before anything is built."""
    plain, variant = tmp_path / "plain", tmp_path / "variant"
    assert _run(plain, "waveform-square", "--task", "roundtrip") == 0
    assert _run(variant, "waveform-square", "--task", "roundtrip", "--label", "v2") == 0
    r_plain = json.loads((plain / "result.json").read_text())
    r_variant = json.loads((variant / "result.json").read_text())
    assert "label" not in r_plain and r_variant["label"] == "v2"
    assert "label" not in json.loads((plain / "run.json").read_text())["identity"]
    entries = tmp_path / "entries"
    assert main(["submit", str(plain), "--entries", str(entries)]) == 0
    assert main(["submit", str(variant), "--entries", str(entries)]) == 0
    names = sorted(p.name for p in entries.iterdir() if p.is_dir())
    assert len(names) == 2 and names[1].endswith("__v2__seed0") and "__v2__" not in names[0]
    capsys.readouterr()
    assert _run(tmp_path / "bad", "waveform-square", "--label", "Has Space") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "label 'Has Space' is not allowed" in err[0]
    assert not (tmp_path / "bad").exists()
