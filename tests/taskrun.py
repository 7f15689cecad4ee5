"""Run one registered task directly (no CLI), for the task tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from grainbench.generator import Generator
from grainbench.registries import TASKS
from grainbench.tasks.base import RunContext, TaskResult
from grainbench.tasks.params import validate_params

FAST_GENERATION = {
    "embeddings": ["spectral-stats"],
    "pitch_model": "crepe-tiny?hop=800",
    "fd_boot": 20,
    "kid_boot": 100,
    "ndb_subsets": 10,
    "n_boot": 200,
    "n_grid": 4,
    "n_wavs": 2,
}
"""Generation task parameters small enough for a unit test (one cheap embedding)."""


def run_task(
    name: str,
    rep: Any,
    data: Any,
    run_dir: Path,
    out_name: str,
    params: dict[str, Any],
    generator: Any = None,
) -> TaskResult:
    """Run task ``name`` on CPU, seed 0, with its defaults overridden by ``params`` (each
    checked against the task's ``param_schema``, as ``grainbench run`` does). A plain
    ``generator`` object is checked first (:class:`Generator`, named by its class), as
    ``grainbench run`` loads one."""
    if generator is not None and not isinstance(generator, Generator):
        generator = Generator(generator, type(generator).__name__, rep.image_shape)
    out = run_dir / out_name
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(
        rep=rep,
        dataset=data,
        seed=0,
        run_dir=run_dir,
        out_dir=out,
        device=torch.device("cpu"),
        progress=lambda it, **_: it,
        generator=generator,
    )
    task = TASKS.get(name)
    return task.run(ctx, validate_params(name, task, params))
