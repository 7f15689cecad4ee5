"""Speed goals of issue 5 on ``piano-c3`` (44.1 kHz, 65,536 samples, the default 1,000 clips):

- the CREPE-tiny embedding of the 100 test clips: ≤ 60 s on 2 cores;
- the whole generation task with the GMM baseline on ``dct-square``: ≤ 5 minutes.

Run with ``pytest tests/benchmarks/test_bench_generation.py -m slow``.
Rendering the dataset and fitting the representation are not timed; the task's timing
includes computing the test set's embeddings (a fresh embedding cache).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from grainbench.data import load_dataset
from grainbench.metrics.embeddings import get_embedding
from grainbench.plugins import load_generator, load_representation
from grainbench.registries import TASKS
from grainbench.tasks.base import RunContext


@pytest.fixture(scope="module")
def piano():
    torch.set_num_threads(2)
    return load_dataset("piano-c3", seed=0, progress=False)


@pytest.mark.slow
def test_crepe_tiny_embedding_of_100_test_clips(benchmark, piano) -> None:
    assert piano.test.shape == (100, 1, 65536) and piano.sample_rate == 44100
    emb = get_embedding("crepe-tiny")
    out = benchmark.pedantic(
        emb.embed, args=(piano.test, piano.sample_rate), rounds=1, iterations=1
    )
    assert out.shape == (100, 256) and np.isfinite(out).all()


@pytest.mark.slow
def test_generation_task_with_gmm(benchmark, piano, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRAINBENCH_CACHE", str(tmp_path / "cache"))
    rep = load_representation("dct-square", piano.sample_rate, piano.n_samples)
    rep.fit(torch.from_numpy(piano.train))
    task = TASKS.get("generation")
    (tmp_path / "generation").mkdir()

    def run():
        ctx = RunContext(
            rep=rep,
            dataset=piano,
            seed=0,
            run_dir=tmp_path,
            out_dir=tmp_path / "generation",
            device=torch.device("cpu"),
            progress=lambda iterable, desc="", total=None: iterable,
            generator=load_generator("gmm", rep.image_shape),
            generator_spec="gmm",
        )
        return task.run(ctx, task.default_params())

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    keys = {m.key for m in result.metrics}
    assert "fd[embedding=crepe-tiny,row=generator]" in keys
    assert "r2" in result.data["fd_inf"]["generator/crepe-tiny"]  # reported only if its fit holds
    assert "pitch_accuracy[embedding=crepe-tiny,row=generator]" in keys
