"""Perturbation maps of representations without a factorised form, against brute force.

The map at the small setting (synth-piano, 16 kHz, 16,384 samples; 2 base clips,
δ ∈ {2/255, 0.05}) as ``grainbench run`` makes it, and in the same process by decoding
every perturbed image (the reference); the ratio ``map / brute force`` is in each
benchmark's ``extra_info``. Goals: stft-magif (exact errors from its spectrum) at most half
the brute force; stft-magif-mel (forward mode for 2/255) less than it; mel-griffinlim and
mfcc (Griffin–Lim replayed on the frames a pixel reaches, the same numbers to the bit) at
most 75 % of it (measured 0.63–0.66: at 16 kHz a clip has 128 frames, and the replay covers
all of them after 19 of the 32 iterations; at 44.1 kHz, 256 frames, it never does).

At the full setting (44.1 kHz, 65,536 samples; one base clip), the exact modes in closed
form against the same brute force (96 pixels): stft-magif (mode "magif": one row's inverse
STFT per pixel, the masking spectrogram of the frames an error reaches) at most a fifth of
it, and fft-polar-square (mode "polar": each error one whole-clip cosine, analysed in
closed form) at most a tenth (measured 0.09 and 0.036 while a sweep ran beside them).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import grainbench.analysis.decoded as decoded_measure
from grainbench.analysis.measure import measure
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.data import load_dataset
from grainbench.plugins import load_representation

SR, N = 16000, 16384
DELTAS = [2 / 255, 0.05]
CASES = {
    "stft-magif": (48, 0.5),
    "stft-magif-mel": (48, 1.0),
    "mel-griffinlim": (12, 0.75),
    "mfcc": (12, 0.75),
}
"""Representation → (sampled pixels, the largest ratio forward / brute force allowed)."""


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


def _map(rep, images, decoded, pixels, brute: bool = False):
    errors = PixelErrors(rep)
    if brute:
        errors.mode = "decode"
    analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples)
    return measure(errors, analyser, images, decoded, pixels, DELTAS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_perturbation_map_against_brute_force(benchmark, data, monkeypatch, name: str) -> None:
    n_pixels, goal = CASES[name]
    rep = load_representation(name, SR, N)
    rep.fit(torch.from_numpy(data.train))
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:2]))
        decoded = rep.decode(images)
    total = int(np.prod(rep.image_shape))
    pixels = np.sort(np.random.default_rng(0).choice(total, n_pixels, replace=False))
    _map(rep, images[:1], decoded[:1], pixels[:2])  # warm-up: first forward-mode call
    with monkeypatch.context() as m:
        m.setattr(decoded_measure, "FIRST_ORDER_MAX_DELTA", -1.0)
        start = time.perf_counter()
        brute = _map(rep, images, decoded, pixels, brute=True)
        brute_s = time.perf_counter() - start
    fast = benchmark.pedantic(_map, args=(rep, images, decoded, pixels), rounds=1, iterations=1)
    ratio = benchmark.stats.stats.mean / brute_s
    benchmark.extra_info.update(brute_force_s=brute_s, ratio=ratio, notes=fast.first_order)
    assert np.array_equal(np.isnan(fast.esr), np.isnan(brute.esr))
    if PixelErrors(rep).mode == "griffinlim":
        np.testing.assert_array_equal(fast.esr, brute.esr)
    assert ratio <= goal


FULL_SIZE = {"stft-magif": 0.2, "fft-polar-square": 0.1}
"""Representation → the largest ratio exact / brute force allowed at 44.1 kHz."""


@pytest.mark.parametrize("name", sorted(FULL_SIZE))
def test_exact_map_at_full_size(benchmark, monkeypatch, name: str) -> None:
    sr, n = 44100, 65536
    data = load_dataset(
        "synth-piano?n=12", sample_rate=sr, n_samples=n, n_channels=1, seed=0, progress=False
    )
    rep = load_representation(name, sr, n)
    rep.fit(torch.from_numpy(data.train))
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:1]))
        decoded = rep.decode(images)
    total = int(np.prod(rep.image_shape))
    pixels = np.sort(np.random.default_rng(0).choice(total, 96, replace=False))

    def run(brute: bool):
        errors = PixelErrors(rep)
        if brute:
            errors.mode = "decode"
        return measure(errors, ErrorAnalyser(sr, n), images, decoded, pixels, DELTAS)

    with monkeypatch.context() as m:
        m.setattr(decoded_measure, "FIRST_ORDER_MAX_DELTA", -1.0)
        start = time.perf_counter()
        brute = run(True)
        brute_s = time.perf_counter() - start
    fast = benchmark.pedantic(run, args=(False,), rounds=1, iterations=1)
    ratio = benchmark.stats.stats.mean / brute_s
    benchmark.extra_info.update(brute_force_s=brute_s, ratio=ratio)
    seen = np.isfinite(brute.esr) & (brute.esr >= -90.0)
    assert seen.sum() >= 10
    assert np.abs(fast.esr - brute.esr)[seen].max() <= 0.01
    assert ratio <= FULL_SIZE[name]
