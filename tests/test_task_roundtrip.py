"""The round-trip task's log-spectral distance in the signal band and in the full band."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grainbench.codecs import get_codec
from grainbench.data import load_dataset
from grainbench.metrics.audio import log_spectral_distance
from grainbench.plugins import load_representation
from grainbench.tasks.base import TaskResult
from taskrun import run_task


@pytest.fixture(scope="module")
def synth() -> Any:
    return load_dataset("synth-piano?n=40", progress=False)


def _run(ds: Any, tmp_path: Path) -> tuple[TaskResult, Any]:
    rep = load_representation("dct-square", ds.sample_rate, ds.n_samples)
    rep.fit(torch.from_numpy(ds.train))
    params = {"codecs": ["png8"], "n_boot": 50, "n_examples": 0}
    return run_task("roundtrip", rep, ds, tmp_path, "roundtrip", params), rep


def _row(result: TaskResult, key: str) -> Any:
    (row,) = [m for m in result.metrics if m.key == key]
    return row


def test_without_stated_limits_the_signal_band_is_the_full_band(synth: Any, tmp_path: Path) -> None:
    result, _ = _run(synth, tmp_path)
    signal = _row(result, "lsd[band=signal,codec=png8]")
    full = _row(result, "lsd[band=full,codec=png8]")
    assert signal.value == full.value and (signal.low, signal.high) == (full.low, full.high)
    assert result.data["lsd_band"]["signal"]["up_to_hz"] == 8000.0
    assert "no band limit" in result.data["lsd_band"]["signal"]["source"]


def test_each_clip_is_scored_up_to_its_own_limit(synth: Any, tmp_path: Path) -> None:
    limits = np.linspace(1000.0, 4000.0, len(synth.test))
    limits[0] = np.nan
    ds = dataclasses.replace(synth, test_band_limits=limits)
    result, rep = _run(ds, tmp_path)
    x = torch.from_numpy(ds.test)
    stored, _ = get_codec("png8").roundtrip(rep.encode(x), tmp_path)
    x_hat = rep.decode(stored)
    per_clip = log_spectral_distance(x, x_hat, ds.sample_rate, max_hz=limits).numpy()
    full = log_spectral_distance(x, x_hat, ds.sample_rate).numpy()
    assert _row(result, "lsd[band=signal,codec=png8]").value == pytest.approx(per_clip.mean())
    assert _row(result, "lsd[band=full,codec=png8]").value == pytest.approx(full.mean())
    assert per_clip[0] == pytest.approx(full[0]) and not np.allclose(per_clip[1:], full[1:])
    band = result.data["lsd_band"]["signal"]
    assert (band["min_hz"], band["max_hz"]) == (pytest.approx(limits[1]), pytest.approx(4000.0))
    assert (band["clips_without_limit"], band["n_clips"]) == (1, len(limits))
