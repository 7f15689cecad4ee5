"""Perturbation summaries weighted by pixel energy: against numpy on every pixel, sampled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from grainbench.data import load_dataset
from grainbench.leaderboard import headline_key
from grainbench.plugins import load_representation
from grainbench.registries import TASKS
from taskrun import run_task

SR, SMALL = 16000, 4096  # 64×64 images
BASE = {"n_clips": 2, "n_boot": 100}


@pytest.fixture(scope="module")
def small():
    return load_dataset(
        "synth-piano?n=10", sample_rate=SR, n_samples=SMALL, n_channels=1, seed=0, progress=False
    )


def _run(small, folder: Path, **params) -> tuple[dict, Path]:
    rep = load_representation("dct-square", SR, SMALL)
    rep.fit(torch.from_numpy(small.train))
    result = run_task("perturbation", rep, small, folder, rep.name, {**BASE, **params})
    return {m.key: m for m in result.metrics} | {"data": result.data}, folder / rep.name


@pytest.fixture(scope="module")
def every_pixel(small, tmp_path_factory):
    return _run(small, tmp_path_factory.mktemp("perturbation-all"), n_pixels="all")


def _brute_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def test_every_pixel_summaries_against_numpy(small, every_pixel) -> None:
    rows, folder = every_pixel
    assert rows["data"]["energy_weight"]["rule"] == "staged"
    assert rows["data"]["n_measured"] == SMALL
    energy = (scipy.fft.dct(small.train[:, 0].astype(np.float64), norm="ortho") ** 2).mean(0)
    for name in ("esr", "audibility", "time_spread", "freq_spread", "proportionality"):
        values = np.load(folder / f"{name}_delta2over255.npy").ravel()
        live = np.isfinite(values)
        for stat, q in (("median", 0.5), ("p5", 0.05), ("p95", 0.95)):
            uniform = rows[f"{name}[delta=2/255,stat={stat},weight=none]"]
            assert uniform.value == pytest.approx(np.percentile(values[live], 100 * q))
            weighted = rows[f"{name}[delta=2/255,stat={stat},weight=energy]"]
            expected = _brute_quantile(values[live], energy[live], q)
            assert weighted.value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    dev = np.abs(np.load(folder / "proportionality_delta2over255.npy").ravel() - 1.0)
    live = np.isfinite(dev)
    row = rows["proportionality_dev[delta=2/255,stat=median,weight=energy]"]
    assert row.value == pytest.approx(_brute_quantile(dev[live], energy[live], 0.5), abs=1e-12)


def test_sampled_pixels_agree_with_every_pixel(small, every_pixel, tmp_path: Path) -> None:
    exact, _ = every_pixel
    rows, _ = _run(small, tmp_path, n_pixels=256, n_energy_pixels=256)
    assert rows["data"]["energy_weight"]["n_energy_pixels"] == 256
    alone, _ = _run(small, tmp_path / "alone", n_pixels=256, n_energy_pixels=0)
    for name in ("esr", "audibility"):
        key = f"{name}[delta=2/255,stat=median,weight=energy]"
        assert rows[key].low <= exact[key].value <= rows[key].high
        # the uniform sample's statistics are what they were without the energy draws
        none = f"{name}[delta=2/255,stat=median,weight=none]"
        assert (alone[none].value, alone[none].low) == (rows[none].value, rows[none].low)


def test_headline_is_the_weighted_audibility(every_pixel) -> None:
    rows, _ = every_pixel
    task = TASKS.get("perturbation")
    json_rows = [m.to_json() for k, m in rows.items() if k != "data"]
    assert task.headline == "audibility[delta=2/255,stat=median,weight=energy]"
    assert headline_key("perturbation", json_rows) == task.headline
    assert set(task.key_metrics) <= {r["key"] for r in json_rows}
