"""Results: atomic writes, standard JSON, tables, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grainbench import results
from grainbench.errors import UserError
from grainbench.tasks.base import MetricValue


def test_metric_value_takes_unit_and_direction_from_the_catalogue() -> None:
    row = MetricValue("snr", 12.5, 12.0, 13.0, {"codec": "png8"}).to_json()
    assert row["unit"] == "dB" and row["higher_is_better"] is True
    assert row["key"] == "snr[codec=png8]"
    with pytest.raises(UserError):
        MetricValue("not-a-metric", 1.0)


def test_write_json_is_standard_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "a" / "r.json"
    results.write_json(path, {"x": float("nan"), "y": [1.0, float("inf")]})
    assert json.loads(path.read_text()) == {"x": None, "y": [1.0, None]}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temp files left


def test_code_hash_and_machine() -> None:
    assert len(results.code_hash()) == 64
    info = results.machine_info()
    assert info["cores"] >= 1 and "torch" in info


def _fake_result() -> dict:
    rows = [MetricValue("snr", 40.0, 39.0, 41.0, {"codec": "png8"}).to_json()]
    return {
        "suite_version": "0.1.0",
        "code_hash": "0" * 64,
        "seed": 0,
        "machine": {"cpu": "cpu", "cores": 2},
        "representation": {"name": "r", "image_shape": [1, 8, 8]},
        "dataset": {
            "spec": "d",
            "fingerprint": "f" * 64,
            "n_train": 9,
            "n_test": 1,
            "sample_rate": 16000,
            "n_samples": 64,
            "notes": ["band-limited"],
        },
        "tasks": {"roundtrip": {"metrics": rows}},
    }


def test_git_dirty_tells_whether_the_source_differs_from_the_commit(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("needs git")
    assert results.git_dirty(tmp_path) is None  # not a checkout
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
    assert results.git_commit(pkg) and results.git_dirty(pkg) is False
    (pkg / "a.py").write_text("x = 2\n")
    assert results.git_dirty(pkg) is True
    git("checkout", "--", ".")
    (pkg / "new.py").write_text("")  # an untracked source file counts too
    assert results.git_dirty(pkg) is True
    (tmp_path / "outside.txt").write_text("")
    (pkg / "new.py").unlink()
    assert results.git_dirty(pkg) is False  # only the package folder matters
    assert "git_dirty" in results.suite_info()


def test_tables(tmp_path: Path) -> None:
    result = _fake_result()
    results.write_result(tmp_path, result)
    md = (tmp_path / "results.md").read_text()
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in md.splitlines() if "|" in line]
    assert ["roundtrip", "snr", "codec=png8", "40", "[39, 41]", "dB", "↑"] in cells
    assert "band-limited" in md
    csv_text = (tmp_path / "results.csv").read_text().splitlines()
    assert csv_text[1].startswith("roundtrip,snr[codec=png8],snr,codec=png8,40.0,39.0,41.0,dB,True")
    assert "snr" in results.render_terminal(result)
    assert results.load_result(tmp_path)["seed"] == 0
