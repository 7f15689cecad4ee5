"""Speed goals of issue 3 for dct-square at Ki's setting (44.1 kHz, 65,536 samples, 256×256).

- every one of the 65,536 pixels, 8 base clips, δ ∈ {2/255, 0.05} × 5 multipliers: ≤ 60 s
  on 2 cores;
- a stratified sample of 1,024 pixels with its bootstrap intervals: ≤ 5 s.

Run with ``pytest tests/benchmarks/test_bench_perturbation.py -m slow`` (every benchmark is
marked slow, so the default run skips them); the clips are synth-piano rendered at that setting
(rendering and fitting are not timed).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grainbench.analysis.maps import METRICS
from grainbench.analysis.measure import measure
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.pixels import sample_pixels
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.data import load_dataset
from grainbench.metrics.stats import bootstrap_percentile
from grainbench.plugins import load_representation

SR, N = 44100, 65536
DELTAS = [2 / 255, 0.05]


@pytest.fixture(scope="module")
def setting():
    torch.set_num_threads(2)
    data = load_dataset(
        "synth-piano?n=80", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )
    rep = load_representation("dct-square", SR, N)
    rep.fit(torch.from_numpy(data.train))
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:8]))
        decoded = rep.decode(images)
    assert len(images) == 8
    return rep, images, decoded


def _estimate(rep, images, decoded, n_pixels: int | str) -> dict[str, tuple[float, float, float]]:
    pixels, strata, complete = sample_pixels(tuple(rep.image_shape), n_pixels, 0)
    maps = measure(PixelErrors(rep), ErrorAnalyser(SR, N), images, decoded, pixels, DELTAS)
    out = {}
    for name, _ in METRICS:
        values = np.nanmedian(getattr(maps, name)[:, :, 0], axis=0)
        if complete:
            med = float(np.nanmedian(values))
            out[name] = (med, med, med)
        else:
            out[name] = bootstrap_percentile(values, 50.0, strata=strata, seed=0)
    return out


@pytest.mark.slow
def test_full_map_dct_square(benchmark, setting) -> None:
    rep, images, decoded = setting
    out = benchmark.pedantic(_estimate, args=(rep, images, decoded, "all"), rounds=1, iterations=1)
    assert np.isfinite(out["esr"][0])


@pytest.mark.slow
def test_sampled_1024_dct_square(benchmark, setting) -> None:
    rep, images, decoded = setting
    out = benchmark.pedantic(_estimate, args=(rep, images, decoded, 1024), rounds=3, iterations=1)
    est, lo, hi = out["esr"]
    assert lo <= est <= hi
