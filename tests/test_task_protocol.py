"""Every registered task is a :class:`grainbench.tasks.base.Task`: the runner, the sweep and
the board read its flags and board keys as declared there."""

from __future__ import annotations

from typing import Any

import pytest

from grainbench.registries import TASKS
from grainbench.tasks.base import RunContext, Task, TaskDefaults, TaskResult

FLAGS = ("in_default_run", "runs_alone", "uses_generator", "needs_generator")


@pytest.mark.parametrize("name", [e.name for e in TASKS.entries()])
def test_registered_tasks_follow_the_protocol(name: str) -> None:
    task = TASKS.get(name)
    assert isinstance(task, Task)
    assert task.name == name
    for flag in FLAGS:
        assert isinstance(getattr(task, flag), bool), flag
    assert not task.needs_generator or task.uses_generator
    assert task.headline is None or task.headline in task.key_metrics
    assert all(isinstance(k, str) for k in task.key_metrics)


def test_an_object_missing_a_flag_is_not_a_task() -> None:
    class Bare:
        name = "bare"
        param_schema: dict[str, Any] = {}

        def default_params(self) -> dict[str, Any]:
            return {}

        def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
            return TaskResult()

    class WithDefaults(TaskDefaults, Bare):
        pass

    assert not isinstance(Bare(), Task)
    task = WithDefaults()
    assert isinstance(task, Task)
    assert [getattr(task, f) for f in FLAGS] == [False] * 4
    assert task.headline is None and list(task.key_metrics) == []
