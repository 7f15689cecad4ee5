"""What a task is: parameters in, metrics and artefacts out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from grainbench.metrics.catalog import metric_spec
from grainbench.tasks.params import Checker
from grainbench.training_images import TrainingImages

if TYPE_CHECKING:  # annotations only: a task module need not load plugins or datasets
    from grainbench.data.core import AudioDataset
    from grainbench.representation import Representation


@dataclass
class MetricValue:
    """One measured number with its interval and the condition it was measured under.

    ``name`` must be in :data:`grainbench.metrics.catalog.CATALOG`; unit and direction come
    from there. ``condition`` holds what distinguishes rows of one metric, e.g.
    ``{"codec": "png8"}`` or ``{"direction": "right"}``.
    """

    name: str
    value: float
    low: float | None = None
    high: float | None = None
    condition: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        metric_spec(self.name)  # fail early on undeclared metrics
        self.value = float(self.value)
        self.low = None if self.low is None else float(self.low)
        self.high = None if self.high is None else float(self.high)

    @property
    def key(self) -> str:
        """A unique, readable key: ``name`` or ``name[codec=png8,delta=0.05]``."""
        if not self.condition:
            return self.name
        cond = ",".join(f"{k}={v}" for k, v in sorted(self.condition.items()))
        return f"{self.name}[{cond}]"

    def to_json(self) -> dict[str, Any]:
        """The row as stored in a result, with unit and direction from the catalogue."""
        spec = metric_spec(self.name)
        return {
            "key": self.key,
            "name": self.name,
            "condition": self.condition,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "unit": spec.unit,
            "higher_is_better": spec.higher_is_better,
        }


@dataclass
class Artifact:
    """A file a task wrote: path relative to the run folder, its kind, and a caption."""

    path: str
    kind: str  # "png", "wav", "npy", "json"
    caption: str = ""


@dataclass
class TaskResult:
    """What a task returns: metric rows, files written, and JSON-able extra data (curves…)."""

    metrics: list[MetricValue] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    """Everything a task may use: the representation, the data, the seed and where to write.

    ``rep``: the checked representation (:class:`grainbench.representation.Representation`);
    ``dataset``: the loaded clips (:class:`grainbench.data.core.AudioDataset`); ``run_dir``:
    the run folder, ``out_dir`` the task's own folder inside it; ``progress``: a tqdm-like
    wrapper ``progress(iterable, desc=..., total=...)``; ``generator`` and
    ``generator_spec``: the ``--gen`` generator (the checked
    :class:`grainbench.generator.Generator`; in a run inside a
    :class:`~grainbench.fitonce.FitOnce`) and its spec, None without one; ``training``: the
    training clips' images shared by the run's tasks (:meth:`training_images`).
    """

    rep: Representation
    dataset: AudioDataset
    seed: int
    run_dir: Path
    out_dir: Path
    device: torch.device
    progress: Callable[..., Any]
    generator: Any = None
    generator_spec: str | None = None
    training: TrainingImages | None = None

    def training_images(self) -> TrainingImages:
        """The training clips' images, encoded once per run (the runner's, else this
        context's own)."""
        if self.training is None:
            self.training = TrainingImages(self.rep, self.dataset.train, self.device)
        return self.training

    def relpath(self, path: Path) -> str:
        """``path`` relative to the run folder (as stored in results)."""
        return str(Path(path).relative_to(self.run_dir))


@runtime_checkable
class Task(Protocol):
    """A benchmark task, as the runner, the sweep and the board use it.

    - ``name``: its registry name; ``param_schema``: one checker per parameter
      (:mod:`grainbench.tasks.params`), the same keys as ``default_params()``;
    - ``in_default_run``: run when no ``--task`` is given; ``runs_alone``: ``grainbench
      sweep`` runs it with nothing else on the machine (timings);
    - ``uses_generator``: it uses ``--gen`` when given; ``needs_generator``: it cannot run
      without one;
    - ``headline`` and ``key_metrics``: the board's sort key and columns
      (:mod:`grainbench.leaderboard`); None and empty fall back to the first ranked metric.

    :class:`TaskDefaults` gives every flag its default; a task may also offer
    ``check_generator(generator, spec)``, called before anything is built.
    """

    name: str
    param_schema: dict[str, Checker]
    in_default_run: bool
    runs_alone: bool
    uses_generator: bool
    needs_generator: bool
    headline: str | None
    key_metrics: Sequence[str]

    def default_params(self) -> dict[str, Any]: ...

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult: ...


class TaskDefaults:
    """The defaults of :class:`Task`'s flags, for a task class to inherit."""

    in_default_run = False
    runs_alone = False
    uses_generator = False
    needs_generator = False
    headline: str | None = None
    key_metrics: Sequence[str] = ()


def save_array(
    ctx: RunContext, result: TaskResult, name: str, array: np.ndarray, caption: str
) -> Path:
    """Save ``array`` as ``name`` (a ``.npy`` file) in the task's folder and list it among
    ``result``'s artefacts with ``caption``; returns the path."""
    path = ctx.out_dir / name
    np.save(path, array)
    result.artifacts.append(Artifact(ctx.relpath(path), "npy", caption))
    return path
