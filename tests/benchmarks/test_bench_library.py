"""Throughput against the library: encode / decode of the representations with a speed goal
beside the same-size library transform that ``grainbench bench`` judges them by
(:data:`~grainbench.tasks.throughput_representation.LIBRARY_BARE`), at batch 1 and 64.

Compare within a group (one representation, one batch): encode ÷ library-forward and
decode ÷ library-inverse are the ratios of the goal (:data:`grainbench.bench.GOALS`). Run
with ``pytest tests/benchmarks -m slow -k library``.
"""

from __future__ import annotations

import pytest
import torch

from grainbench.plugins import load_representation
from grainbench.tasks.throughput_representation import (
    family,
    library_of,
    library_references,
    probe_clips,
)

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
    refs = library_references(first, clips)
    label, _ = library_of(family(first), list(refs))
    forward, inverse = refs[label]
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
