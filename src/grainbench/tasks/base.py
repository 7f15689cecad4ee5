"""What a task is: parameters in, metrics and artefacts out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from grainbench.metrics.catalog import metric_spec


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
    """Everything a task may use: the representation, the data, the seed and where to write."""

    rep: Any
    dataset: Any
    seed: int
    run_dir: Path
    out_dir: Path
    device: torch.device
    progress: Callable[..., Any]
    generator: Any = None
    generator_spec: str | None = None

    def relpath(self, path: Path) -> str:
        """``path`` relative to the run folder (as stored in results)."""
        return str(Path(path).relative_to(self.run_dir))


class Task(Protocol):
    """A benchmark task: a name, default parameters, their declared types
    (``param_schema``, see :mod:`grainbench.tasks.params`) and ``run``."""

    name: str
    param_schema: dict[str, Any]

    def default_params(self) -> dict[str, Any]: ...

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult: ...
