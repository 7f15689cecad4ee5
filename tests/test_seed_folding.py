"""The seed's folding claim, from grainbench's own numbers on piano-c3 at its own setting.

Ki: in a row-major square image of a whole-clip DCT "the point just below corresponds to a
far frequency: not analogous". Where a piano note's energy is (C3, 131 Hz and its first
harmonics), a DCT row of 256 bins spans ≈ 86 Hz ≈ 2 ERB, so the energy-weighted vertical
neighbour distance must be well above 1 ERB and several times the horizontal one (the
next bin); the whole-clip FFT folds the same way; a Hilbert-curve layout keeps vertical
neighbours a few bins apart. piano-c3 at 44.1 kHz, 65,536 samples (256×256 images), its
first 100 clips: the same notes as the full set's first 100 (rendering order), whose
weighted vertical distance for dct-square (1.80 ERB) matches the full set's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grainbench.data import load_dataset
from grainbench.plugins import load_representation
from taskrun import run_task

PARAMS = {"n_pixels": 256, "n_energy_pixels": 512, "n_gabor": 8, "n_boot": 100}


@pytest.fixture(scope="module")
def piano():
    return load_dataset("piano-c3?n=100", progress=False)


@pytest.fixture(scope="module")
def weighted_distance(piano, tmp_path_factory):
    """``{rep: {direction: energy-weighted neighbour distance}}``, each rep run once."""
    folder: Path = tmp_path_factory.mktemp("folding")
    cache: dict[str, dict[str, float]] = {}

    def get(name: str) -> dict[str, float]:
        if name not in cache:
            rep = load_representation(name, piano.sample_rate, piano.n_samples)
            assert tuple(rep.image_shape) == (1, 256, 256)
            rep.fit(torch.from_numpy(piano.train))
            result = run_task("locality", rep, piano, folder, name, PARAMS)
            cache[name] = {
                m.condition["direction"]: m.value
                for m in result.metrics
                if m.name == "neighbour_distance" and m.condition.get("weight") == "energy"
            }
        return cache[name]

    return get


@pytest.mark.parametrize("name", ["dct-square", "fft-square"])
def test_row_major_fold_puts_vertical_neighbours_far_apart(weighted_distance, name: str) -> None:
    d = weighted_distance(name)
    assert d["down"] > 1.0
    assert d["down"] >= 3.0 * d["right"]


def test_hilbert_layout_keeps_vertical_neighbours_close(weighted_distance) -> None:
    square, hilbert = weighted_distance("dct-square"), weighted_distance("dct-hilbert")
    assert hilbert["down"] < square["down"] / 10.0
