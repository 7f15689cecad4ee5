"""The wheel: built from this tree, installed into a clean venv, runs and ships its assets.

The venv gets the wheel alone (``--no-deps``); the dependencies come from the environment
running the tests through a ``.pth`` line naming its site-packages directory. Lines in a
``.pth`` file add a directory without processing the ``.pth`` files inside it, so an
editable install of grainbench there (``__editable__*.pth``) stays out: the venv's
``grainbench`` can only be the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import grainbench

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ("report/style.css", "report/board.js", "py.typed")


def _build_wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of the project (so no build folder lands in the tree)."""
    project = tmp / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["--quiet", "-w", str(out), str(project)],
        check=True,
        timeout=300,
        cwd=tmp,
    )
    (wheel,) = out.glob("grainbench-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_installs_into_a_clean_venv_and_runs(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    for asset in ASSETS:
        assert f"grainbench/{asset}" in names, asset
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import grainbench, pathlib; print(pathlib.Path(grainbench.__file__).parent)",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    package = Path(where)
    assert package.is_relative_to(env_dir), package
    assert package.resolve() != Path(grainbench.__file__).parent.resolve()
    for asset in ASSETS:
        assert (package / asset).is_file(), asset

    run_dir = tmp_path / "run"
    done = subprocess.run(
        [str(env_dir / "bin" / "grainbench"), "run", "--rep", "dct-square"]
        + ["--data", "synth-piano?n=8", "--task", "roundtrip", "--no-progress"]
        + ["--param", "roundtrip.n_boot=20", "--param", "roundtrip.n_examples=0"]
        + ["--param", 'roundtrip.codecs=["float"]', "--out", str(run_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((run_dir / "result.json").read_text())
    assert result["representation"]["name"] == "dct-square"
    assert "roundtrip" in result["tasks"]
    page = (run_dir / "report.html").read_text()
    assert (package / "report/style.css").read_text(encoding="utf-8").strip()[:200] in page
