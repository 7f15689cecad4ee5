"""Throughput against the library: encode / decode of the representations with a speed goal
beside the same-size library transform (``grainbench bench``'s references: scipy.fft's DCT
or real FFT, torch.stft/istft for framed transforms), at batch 1 and 64.

Compare within a group (one representation, one batch): encode ÷ library-forward and
decode ÷ library-inverse are the ratios of the goal (1.5× for the DCT and whole-clip FFT
representations, 2× for the STFT ones). Run with ``pytest tests/benchmarks -m slow
-k library``.
"""

from __future__ import annotations

import pytest
import torch

from grainbench.bench import _references, family, probe_clips
from grainbench.plugins import load_representation

SR, N = 16000, 16384
REPS = [
    "dct-square",
    "dct-square-linear",
    "fft-square",
    "fft-polar-square",
    "stft-complex",
    "stft-magif",
]


@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("rep", REPS)
@pytest.mark.parametrize("what", ["encode", "decode", "library-forward", "library-inverse"])
def test_speed_against_the_library(benchmark, rep: str, batch: int, what: str) -> None:
    plugin = load_representation(rep, sample_rate=SR, n_samples=N).plugin
    plugin.fit(probe_clips(4, 1, N, seed=1))
    clips = probe_clips(batch, 1, N)
    first = plugin.stages[0]
    label = "torch" if family(first) == "stft" else "scipy"
    forward, inverse = _references(first, clips)[label]
    with torch.no_grad():
        image = plugin.encode(clips)
        fn = {
            "encode": lambda: plugin.encode(clips),
            "decode": lambda: plugin.decode(image),
            "library-forward": forward,
            "library-inverse": inverse,
        }[what]
        benchmark.group = f"{rep} batch {batch} (library: {label})"
        out = benchmark(fn)
    assert out is not None
