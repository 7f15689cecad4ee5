"""grainbench check: an unchanged representation passes, a degraded one fails, naming metrics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grainbench.cli import main
from grainbench.leaderboard import submit
from grainbench.runner import RunSpec, run_benchmark

ROOT = Path(__file__).resolve().parents[1]
PARAMS = {"roundtrip": {"codecs": ["png8"], "n_boot": 200, "n_examples": 0}}


@pytest.fixture(scope="module")
def entries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An entries folder with one small-setting dct-square entry (png8 round trip only)."""
    base = tmp_path_factory.mktemp("check")
    spec = RunSpec(
        rep="dct-square",
        data="synth-piano?n=20",
        tasks=["roundtrip"],
        params=PARAMS,
        out=base / "run",
        progress=False,
    )
    run_benchmark(spec)
    submit(base / "run", base / "entries")
    return base / "entries"


ENTRY = "dct-square__synth-piano_n_20__seed0"


def test_the_unchanged_representation_passes(entries: Path, tmp_path: Path, capsys) -> None:
    args = ["check", "--rep", "dct-square", "--against", ENTRY, "--entries", str(entries)]
    assert main([*args, "--out", str(tmp_path / "rerun")]) == 0
    out = capsys.readouterr().out
    assert "passed: none of 8 ranked metrics is worse" in out
    assert "snr[codec=png8]" in out
    assert (tmp_path / "rerun" / "report.html").is_file()  # --out keeps the re-run


def test_eight_bit_linear_instead_of_mulaw_fails_naming_each_metric(entries: Path, capsys) -> None:
    args = ["check", "--rep", "dct-square-linear", "--against", ENTRY, "--entries", str(entries)]
    assert main(args) == 1
    out = capsys.readouterr().out
    failed = out.split("FAILED:", 1)[1]
    for key in (
        "snr[codec=png8]",
        "si_sdr[codec=png8]",
        "lsd[band=signal,codec=png8]",
        "lsd[band=full,codec=png8]",
        "max_abs_error[codec=png8]",
    ):
        assert f"roundtrip/{key} (worse)" in failed
    assert "clipped_fraction" not in failed  # nothing clips in either: not worse


def test_an_entry_of_another_suite_version_cannot_be_checked(
    entries: Path, tmp_path: Path, capsys
) -> None:
    old = tmp_path / "old"
    shutil.copytree(entries / ENTRY, old)
    result = json.loads((old / "result.json").read_text())
    result["suite_version"] = "0.0.1"
    (old / "result.json").write_text(json.dumps(result))
    assert main(["check", "--rep", "dct-square", "--against", str(old)]) == 2
    assert "re-publish" in capsys.readouterr().err


def test_bad_tolerance_is_refused_before_running(entries: Path, capsys) -> None:
    args = ["check", "--rep", "dct-square", "--against", ENTRY, "--entries", str(entries)]
    assert main([*args, "--tolerance", "nosuchmetric=1"]) == 2
    assert "not in the metric catalogue" in capsys.readouterr().err


def _script(
    name: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    full_env = {
        **os.environ,
        "GRAINBENCH": str(bin_dir / "grainbench"),
        "PYTHON": sys.executable,
        **(env or {}),
    }
    return subprocess.run(
        ["bash", str(ROOT / "ci" / name), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def test_check_representation_script_prints_usage_without_arguments() -> None:
    usage = _script("check-representation.sh")
    assert usage.returncode == 2 and "usage" in usage.stderr


@pytest.mark.slow
def test_ci_scripts_check_entries(entries: Path, tmp_path: Path) -> None:
    if not (Path(sys.executable).parent / "grainbench").exists():
        pytest.skip("the grainbench console script is not installed next to this Python")
    done = _script("check-builtins.sh", str(entries))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all 1 small-setting checks passed" in done.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _script("check-builtins.sh", str(empty)).returncode == 2
    env = {"GRAINBENCH_ENTRIES": str(entries)}
    degraded = _script("check-representation.sh", "dct-square-linear", ENTRY, "5%", env=env)
    assert degraded.returncode == 1 and "FAILED" in degraded.stdout
