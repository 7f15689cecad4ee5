import torch

from grainbench.registries import TASKS
from grainbench.tasks.base import MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.params import Int


class WorstErrorTask(TaskDefaults):  # TaskDefaults: the flags (in_default_run, headline…)
    """The largest sample error of a round trip over the first test clips (a toy task)."""

    name, param_schema = "worst-error", {"n_clips": Int(low=1)}

    def default_params(self) -> dict:
        return {"n_clips": 4}

    def run(self, ctx: RunContext, params: dict) -> TaskResult:
        x = torch.from_numpy(ctx.dataset.test[: params["n_clips"]])
        error = (ctx.rep.decode(ctx.rep.encode(x)) - x).abs().max()
        return TaskResult([MetricValue("max_abs_error", float(error))])


TASKS.register("worst-error", WorstErrorTask(), "largest round-trip sample error")
