"""Wrap edges of phase parts: a hand-counted case, numpy's FFT angles, the locality row."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from grainbench.data import load_dataset
from grainbench.metrics.phase import phase_wrap_shares, wrap_share
from grainbench.plugins import load_representation
from taskrun import run_task

SR, N = 16000, 16384


def test_wrap_share_by_hand() -> None:
    values = [
        [0.9, -0.9, -0.8, 0.5],
        [0.95, 0.2, -0.95, 0.5],
        [-0.9, 0.0, 0.9, 0.6],
    ]
    page = torch.tensor(values)
    images = torch.stack([torch.stack([page, 5 * torch.randn(3, 4)])])  # channel 1 not in part
    images = torch.cat([images, -images, torch.zeros_like(images)])
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    mask[0] = True
    mask[0, 2, 3] = False
    # right: 8 pairs inside the part; wraps 0.9|−0.9, −0.8|0.5, 0.2|−0.95, −0.95|0.5
    right = wrap_share(images, mask, "right")
    torch.testing.assert_close(right, torch.tensor([4 / 8, 4 / 8, 0.0], dtype=torch.float64))
    # down: 7 pairs; wraps 0.95|−0.9, −0.9|0.2, −0.95|0.9
    down = wrap_share(images, mask, "down")
    torch.testing.assert_close(down, torch.tensor([3 / 7, 3 / 7, 0.0], dtype=torch.float64))
    single = torch.zeros(2, 3, 4, dtype=torch.bool)
    single[0, 1, 1] = True
    assert bool(torch.isnan(wrap_share(images, single, "right")).all())


def _numpy_wrap_shares(clip: np.ndarray, width: int) -> tuple[float, float]:
    """Right and down wrap shares of fft-polar's phase plane from numpy's FFT angles.

    Bin 0 is DC + i·Nyquist; bins are folded row-major, ``width`` to a row, so right
    neighbours are consecutive bins in a row and down neighbours are ``width`` bins apart.
    """
    spec = np.fft.rfft(clip.astype(np.float64))
    n = len(clip)
    angle = np.angle(spec[: n // 2]) / np.pi
    angle[0] = np.angle(spec[0].real + 1j * spec[n // 2].real) / np.pi
    grid = angle.reshape(-1, width)
    right = np.abs(np.diff(grid, axis=1)) > 1.0
    down = np.abs(np.diff(grid, axis=0)) > 1.0
    return float(right.mean()), float(down.mean())


@pytest.mark.parametrize("name", ["fft-polar-square", "fft-polar-2ch"])
def test_phase_wrap_shares_against_numpy_angles(name: str) -> None:
    data = load_dataset(
        "synth-piano?n=12", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )
    rep = load_representation(name, SR, N)
    rep.fit(torch.from_numpy(data.train))
    shares = phase_wrap_shares(rep, data.train[:4], torch.device("cpu"), batch_size=3)
    assert set(shares) == {("phase", "right"), ("phase", "down")}
    for i in range(4):
        right, down = _numpy_wrap_shares(data.train[i, 0], width=128)
        # float32 angles of near-empty bins may sit on the other side of ±π
        assert shares["phase", "right"][i] == pytest.approx(right, abs=2e-3)
        assert shares["phase", "down"][i] == pytest.approx(down, abs=2e-3)
    assert phase_wrap_shares(load_representation("dct-square", SR, N), data.train, "cpu") == {}


def test_locality_reports_wrap_fraction_of_phase_parts(tmp_path: Path) -> None:
    data = load_dataset(
        "synth-piano?n=12", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )
    rep = load_representation("fft-polar-2ch", SR, N)
    rep.fit(torch.from_numpy(data.train))
    params = {"n_pixels": 64, "n_gabor": 8, "n_boot": 100}
    result = run_task("locality", rep, data, tmp_path, "fft-polar-2ch", params)
    rows = {m.key: m for m in result.metrics if m.name == "wrap_fraction"}
    assert set(rows) == {
        "wrap_fraction[direction=right,part=phase]",
        "wrap_fraction[direction=down,part=phase]",
    }
    expected = phase_wrap_shares(rep, data.train, torch.device("cpu"))
    for (part, direction), shares in expected.items():
        row = rows[f"wrap_fraction[direction={direction},part={part}]"]
        assert row.value == pytest.approx(float(np.mean(shares)))
        assert row.low <= row.value <= row.high and 0.0 < row.value < 1.0
    assert all(math.isfinite(m.value) for m in rows.values())
