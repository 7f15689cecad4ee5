"""User mistakes that used to end in a traceback, or were silently accepted: each is now
exit 2 and one line; and a run whose stderr is not a terminal reports progress in lines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.metrics import embeddings as E
from grainbench.runner import RunSpec, run_benchmark
from hostile import TINY


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("grainbench: error:"), err
    return err


def test_gen_without_a_task_that_uses_it_is_refused(tmp_path: Path, capsys) -> None:
    args = ["run", "--rep", "waveform-square", *TINY, "--out", str(tmp_path / "run")]
    assert main([*args, "--gen", "gmm"]) == 2
    assert "--gen is used only by the generation task" in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_bad_generator_options_are_one_line(tmp_path: Path, capsys) -> None:
    args = ["run", "--rep", "waveform-square", "--data", "synth-piano?n=8", "--no-progress"]
    args += ["--task", "generation", "--out", str(tmp_path / "run"), "--gen"]
    assert main([*args, "gmm", "--gen-opt", "bogus=1"]) == 2
    assert "no option" in _one_line_error(capsys)
    assert main([*args, "stylegan2", "--gen-opt", "kimg=[[1]]"]) == 2
    _one_line_error(capsys)


def test_progress_is_printed_in_lines_when_stderr_is_not_a_terminal(tmp_path: Path, capsys) -> None:
    spec = RunSpec(
        rep="waveform-square",
        data="synth-piano?n=8",
        tasks=["roundtrip"],
        params={"roundtrip": {"n_boot": 20, "n_examples": 0, "codecs": ["float"]}},
        out=tmp_path / "run",
        progress_every_s=0.0,
    )
    run_benchmark(spec)
    err = capsys.readouterr().err.splitlines()
    assert "grainbench: loading synth-piano?n=8 and fitting waveform-square" in err
    assert "grainbench: task roundtrip" in err
    assert any(line.startswith("grainbench: roundtrip float: 0/1 (0%)") for line in err), err
    assert not any("\r" in line or "it/s" in line for line in err)  # no tqdm bars in a log


def test_vggish_weights_that_fail_the_safe_load_are_a_user_error(tmp_path: Path) -> None:
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"features.0.weight": argparse.Namespace(x=1)}, unsafe)  # needs unpickling code
    with pytest.raises(UserError, match="cannot be loaded safely"):
        E.get_embedding("vggish", weights=str(unsafe))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(UserError, match="cannot be loaded safely"):
        E.get_embedding("vggish", weights=str(truncated))


def _checkpoint(folder: Path, meta: str, state: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "checkpoint.json").write_text(meta)
    (folder / "state.safetensors").write_bytes(state)
    return folder


def test_a_corrupt_checkpoint_given_to_export_is_exit_2(tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "g.pt")
    half = _checkpoint(tmp_path / "half", '{"format": "grainbench-sty', b"")
    assert main(["export", str(half), "--out", out, "--no-decode"]) == 2
    assert "damaged checkpoint" in _one_line_error(capsys)
    meta = {"format": "grainbench-stylegan/1", "config": {}, "image_shape": [1, 16, 16]}
    foreign = _checkpoint(tmp_path / "foreign", json.dumps(meta), b"garbage")
    assert main(["export", str(foreign), "--out", out, "--no-decode"]) == 2
    assert "damaged checkpoint" in _one_line_error(capsys)
    assert main(["export", str(foreign), "--out", str(tmp_path)]) == 2
    assert "is a folder" in _one_line_error(capsys)
    assert not Path(out).exists()
