"""The locality task: the fold, clicks, a permuted layout, correlations, outputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from grainbench.data import load_dataset
from grainbench.leaderboard import headline_key, key_metric_keys
from grainbench.plugins import Representation, load_representation
from grainbench.registries import REPRESENTATIONS, TASKS
from grainbench.tasks.neighbours import image_correlations, neighbours, picture_pixels
from taskrun import run_task

SR, N = 16000, 16384
FAST = {"n_pixels": 256, "n_energy_pixels": 256, "n_gabor": 16, "n_boot": 100}


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


class PermutedDCT:
    """A plugin-style representation: dct-square with its pixels in a seeded random order."""

    name = "dct-square-permuted"

    def __init__(self, seed: int = 0) -> None:
        self.inner = REPRESENTATIONS.get("dct-square")(sample_rate=SR, n_samples=N)
        self.sample_rate, self.n_samples, self.n_channels = SR, N, 1
        self.perm = torch.from_numpy(np.random.default_rng(seed).permutation(N))
        self.inverse = torch.argsort(self.perm)

    def fit(self, audio: torch.Tensor) -> None:
        self.inner.fit(audio)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        image = self.inner.encode(audio)
        return image.reshape(len(image), -1)[:, self.perm].reshape(image.shape)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        flat = image.reshape(len(image), -1)[:, self.inverse]
        return self.inner.decode(flat.reshape(image.shape))


def _run(rep, data, tmp_path: Path, **params) -> dict:
    rep.fit(torch.from_numpy(data.train))
    result = run_task("locality", rep, data, tmp_path, rep.name, {**FAST, **params})
    rows = {
        (
            m.name,
            m.condition.get("direction", m.condition.get("stat")),
            m.condition.get("weight"),
        ): m
        for m in result.metrics
    }
    return {"rows": rows, "data": result.data, "artifacts": result.artifacts}


def test_dct_square_fold_horizontal_far_more_local_than_vertical(data, tmp_path: Path) -> None:
    out = _run(load_representation("dct-square", SR, N), data, tmp_path)
    rows = out["rows"]
    right, down = (
        rows[("neighbour_distance", "right", "none")].value,
        rows[("neighbour_distance", "down", "none")].value,
    )
    # right: the next DCT bin, 0.49 Hz away; down: 128 bins = 62.5 Hz away
    assert down > 20 * right
    d = out["data"]["directions"]
    assert d["right"]["median_abs_dt_s"] < 1e-6 and d["down"]["median_abs_dt_s"] < 1e-6
    assert rows[("local_fraction", "right", "none")].value == 1.0
    assert (
        rows[("neighbour_correlation", "right", None)].value
        > rows[("neighbour_correlation", "down", None)].value + 0.3
    )
    assert out["data"]["method"] == "staged"
    # clip-long tones: far from the Gabor limit
    assert rows[("gabor_ratio", "median", None)].value > 10.0


def test_waveform_square_atoms_are_local_in_time(data, tmp_path: Path) -> None:
    out = _run(load_representation("waveform-square", SR, N), data, tmp_path)
    d = out["data"]["directions"]
    # right: the next sample; down: the same column one row (128 samples = 8 ms) later
    assert d["right"]["median_abs_dt_s"] == pytest.approx(1 / SR, rel=0.05)
    assert d["down"]["median_abs_dt_s"] == pytest.approx(128 / SR, rel=0.05)
    assert d["right"]["median_abs_df_erb"] < 0.05 and d["down"]["median_abs_df_erb"] < 0.05
    assert out["rows"][("local_fraction", "down", "none")].value > 0.9
    assert out["data"]["atoms"]["median_sigma_f_hz"] > 1000.0  # a click is broadband


def test_permuted_dct_square_is_clearly_less_local(data, tmp_path: Path) -> None:
    plain = _run(load_representation("dct-square", SR, N), data, tmp_path)
    perm = _run(Representation(PermutedDCT(), "test:PermutedDCT", "0"), data, tmp_path)
    assert perm["data"]["method"] == "decode"
    for direction in ("right", "down"):
        p_local = perm["rows"][("local_fraction", direction, "none")].value
        d_local = plain["rows"][("local_fraction", direction, "none")].value
        assert p_local < 0.3 < 0.9 < d_local
        assert perm["rows"][("neighbour_distance", direction, "none")].value > 2.0
        assert abs(perm["rows"][("neighbour_correlation", direction, None)].value) < 0.2


def test_image_correlations_against_numpy() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(3, 2, 5, 6, generator=g).cumsum(-1)
    images[2] = 1.0  # no variance: NaN
    for direction, (a, b) in {
        "right": (np.s_[:, :, :-1], np.s_[:, :, 1:]),
        "down": (np.s_[:, :-1, :], np.s_[:, 1:, :]),
        "channel": (np.s_[:-1], np.s_[1:]),
    }.items():
        got = image_correlations(images, direction)
        for i in range(2):
            x = images[i].numpy()
            expected = np.corrcoef(x[a].ravel(), x[b].ravel())[0, 1]
            assert got[i] == pytest.approx(expected, rel=1e-9)
        assert np.isnan(got[2])


def test_neighbours_and_picture_pixels() -> None:
    shape = (2, 3, 4)
    pixels = np.array([0, 3, 8, 11, 12, 23])
    a, b = neighbours(pixels, shape, "right")
    np.testing.assert_array_equal(a, [0, 8, 12])
    np.testing.assert_array_equal(b, [1, 9, 13])
    a, b = neighbours(pixels, shape, "down")
    np.testing.assert_array_equal(a, [0, 3, 12])
    np.testing.assert_array_equal(b, [4, 7, 16])
    a, b = neighbours(pixels, shape, "channel")
    np.testing.assert_array_equal(b - a, [12, 12, 12, 12])
    assert picture_pixels((1, 128, 128)).tolist() == [
        16 * 128 + 32,
        16 * 128 + 96,
        64 * 128 + 32,
        64 * 128 + 96,
        112 * 128 + 32,
        112 * 128 + 96,
    ]


SMALL = 4096  # a 64×64 image


@pytest.fixture(scope="module")
def small():
    return load_dataset(
        "synth-piano?n=10", sample_rate=SR, n_samples=SMALL, n_channels=1, seed=0, progress=False
    )


@pytest.fixture(scope="module")
def every_pixel(small, tmp_path_factory):
    """dct-square at 64×64, every pixel an anchor: (the run's outputs, its folder)."""
    folder = tmp_path_factory.mktemp("locality-all")
    rep = load_representation("dct-square", SR, SMALL)
    return _run(rep, small, folder, n_pixels="all"), folder / rep.name


def test_task_outputs_and_all_pixels(every_pixel) -> None:
    task = TASKS.get("locality")
    assert task.in_default_run
    out, folder = every_pixel
    assert out["data"]["all_pixels"] and out["data"]["n_anchors"] == SMALL
    row = out["rows"][("neighbour_distance", "down", "none")]
    assert row.low is None and row.high is None  # every pair measured: no interval
    paths = {Path(a.path).name for a in out["artifacts"]}
    assert paths == {
        "time_centroid.npy",
        "freq_centroid.npy",
        "centroids.png",
        "neighbours.png",
        "bands.json",
        "bands.csv",
        "bands.png",
    }
    f_map = np.load(folder / "freq_centroid.npy")
    assert f_map.shape == (1, 64, 64) and bool(np.isfinite(f_map).all())
    # DCT bins rise along each row and from row to row
    flat = f_map.ravel()
    assert float(np.mean(np.diff(flat) > 0)) > 0.99


def _brute_weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def test_all_pixel_energy_weighting_against_scipy_and_numpy(small, every_pixel) -> None:
    out, folder = every_pixel
    assert out["data"]["energy_weight"]["rule"] == "staged"
    t_map = np.load(folder / "time_centroid.npy").ravel()
    f_map = np.load(folder / "freq_centroid.npy").ravel()
    # E_p by scipy: the mean squared DCT coefficient, folded row-major
    energy = (scipy.fft.dct(small.train[:, 0].astype(np.float64), norm="ortho") ** 2).mean(0)
    for direction, step in (("right", 1), ("down", 64)):
        a = np.array([p for p in range(SMALL) if p + step < SMALL and (step > 1 or p % 64 < 63)])
        b = a + step
        d = np.hypot((t_map[b] - t_map[a]) / 0.010, f_map[b] - f_map[a])
        w = 0.5 * (energy[a] + energy[b])
        med = out["rows"][("neighbour_distance", direction, "energy")]
        local = out["rows"][("local_fraction", direction, "energy")]
        assert med.value == pytest.approx(_brute_weighted_median(d, w), rel=1e-9)
        assert local.value == pytest.approx(w[d <= 1.0].sum() / w.sum(), rel=1e-4)
        assert med.low < med.value < med.high  # clips resampled: a real interval
    down, right = (
        out["rows"][("neighbour_distance", "down", "energy")],
        out["rows"][("neighbour_distance", "right", "energy")],
    )
    # 64 bins (≈ 125 Hz) apart: over 1 ERB where the note is, far less over the empty top
    assert down.value > 1.0
    assert down.value > 4 * out["rows"][("neighbour_distance", "down", "none")].value
    assert down.value > 20 * right.value


def test_bands_table(every_pixel) -> None:
    out, folder = every_pixel
    table = json.loads((folder / "bands.json").read_text())
    rows = table["rows"]
    with open(folder / "bands.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    for direction in ("right", "down"):
        mine = [r for r in rows if r["direction"] == direction]
        assert sum(r["weight_share"] for r in mine) == pytest.approx(1.0)
        assert (
            sum(r["n_pairs_none"] for r in mine) == out["data"]["directions"][direction]["n_pairs"]
        )
        centres = [r["centre_hz"] for r in mine]
        assert centres == sorted(centres)
        loudest = max(mine, key=lambda r: r["weight_share"])
        assert loudest["centre_hz"] < 1000.0  # synth-piano's energy is at low frequencies
        # down neighbours of a DCT row are ≈ 125 Hz apart: far in ERB at the bottom only
        assert mine[0]["distance_none"] > mine[-1]["distance_none"]


def test_sampled_anchors_agree_with_every_pixel(small, every_pixel, tmp_path: Path) -> None:
    exact, _ = every_pixel
    rep = load_representation("dct-square", SR, SMALL)
    sampled = _run(rep, small, tmp_path, n_pixels=256, n_energy_pixels=256)
    assert sampled["data"]["energy_weight"]["n_energy_anchors"] == 256
    for name in ("neighbour_distance", "local_fraction"):
        row = sampled["rows"][(name, "down", "energy")]
        truth = exact["rows"][(name, "down", "energy")].value
        assert row.low <= truth <= row.high


def test_headline_and_key_metrics_are_the_weighted_rows(every_pixel) -> None:
    out, _ = every_pixel
    rows = [m.to_json() for m in out["rows"].values()]
    keys = {r["key"] for r in rows}
    task = TASKS.get("locality")
    assert headline_key("locality", rows) == task.headline
    assert task.headline == "neighbour_distance[direction=down,weight=energy]"
    assert key_metric_keys("locality", rows) == task.key_metrics
    assert set(task.key_metrics) <= keys
