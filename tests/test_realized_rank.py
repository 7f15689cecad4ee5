"""Predicted against realized grain across representations (grainbench.realized_rank)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from grainbench.realized_rank import find_entries, rank_correlation, report

ROOT = Path(__file__).resolve().parents[1]


def _result(
    folder: Path,
    rep: str,
    realized: np.ndarray,
    noise: np.ndarray,
    gen: str = "gmm",
    level: float | None = None,
) -> None:
    per_clip = {
        "test_index": list(range(len(realized))),
        "esr_realized": realized.tolist(),
        "esr_noise": noise.tolist(),
    }
    params = {"codec": "png8", "n_wavs": int(rep[-1]), "batch_size": 16}  # no matter
    tasks = {"realized": {"params": params, "data": {"per_clip": per_clip}}}
    if level is not None:
        tasks["transfer"] = {"metrics": [{"key": "grain_level[error=noise]", "value": level}]}
    body = {
        "representation": {"name": rep},
        "generator": {"spec": gen, "options": {}},
        "dataset": {"fingerprint": "abc", "sample_rate": 16000, "n_samples": 16384},
        "tasks": tasks,
    }
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(body))


def test_spearman_of_the_means_with_intervals(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    means_r = np.array([-20.0, -12.0, -8.0, -3.0, 1.0])
    means_p = np.array([-25.0, -10.0, -14.0, 0.0, 5.0])  # one pair swapped
    for i, (r, p) in enumerate(zip(means_r, means_p, strict=True)):
        _result(
            tmp_path / f"rep{i}",
            f"rep{i}",
            r + rng.normal(0, 0.3, 40),
            p + rng.normal(0, 0.3, 40),
            level=float(p),
        )
    _result(tmp_path / "other", "rep0", np.zeros(40), np.zeros(40), gen="oracle")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "result.json").write_text("{}")
    entries = find_entries([tmp_path])
    assert len(entries) == 6
    gmm = [e for e in entries if '"gmm"' in e.group]
    out = rank_correlation(gmm, "noise", seed=1, n_boot=300)
    want = spearmanr(
        [np.mean(e.predicted["noise"]) for e in gmm], [np.mean(e.realized) for e in gmm]
    ).statistic
    # one swapped pair of five: 1 − 6·Σd²/(n(n²−1)) = 1 − 12/120
    assert out["spearman"] == pytest.approx(want) == pytest.approx(0.9)
    lo, hi = out["interval_over_clips"]
    assert lo - 1e-9 <= 0.9 <= hi + 1e-9 and hi <= 1.0 + 1e-9
    lo_r, hi_r = out["interval_over_representations"]
    assert lo_r < 0.9 <= hi_r + 1e-9
    assert [r["rep"] for r in out["rows"]] == [f"rep{i}" for i in range(5)]
    level = rank_correlation(gmm, "grain-level", seed=1, n_boot=300)
    assert level["spearman"] == pytest.approx(0.9) and level["interval_over_clips"] == (None, None)
    assert rank_correlation(gmm, "transfer-curve")["n_representations"] == 0
    groups = report([tmp_path], n_boot=50)
    assert sorted(g["group"]["generator"] for g in groups) == ["gmm", "oracle"]


def test_script_prints_a_table(tmp_path: Path) -> None:
    for i in range(3):
        _result(tmp_path / f"r{i}", f"rep{i}", np.full(4, float(i)), np.full(4, float(-i)))
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "realized-rank.py"),
            str(tmp_path),
            "--n-boot",
            "20",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ρ = -1.000 over 3 representations" in out
    empty = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "realized-rank.py"), str(tmp_path / "none")],
        capture_output=True,
        text=True,
    )
    assert empty.returncode == 2
