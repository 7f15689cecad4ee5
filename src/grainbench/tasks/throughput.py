"""Throughput (SPEC 4.6): how fast a representation encodes and decodes, beside the bare
library transform of the same size, how much memory a call needs, and, with a generator,
how fast it trains and samples.

Per device (``device``: the CPU, and CUDA when present) and batch size (``batch``: 1 and
64), on the dataset's test clips (cycled to fill a batch):

- ``encode_rtf`` / ``decode_rtf``: audio seconds per wall second of the representation's own
  encode / decode (its plugin object, without the checks that tasks add);
- ``encode_images_per_s`` / ``decode_images_per_s``: images made / decoded per second;
- ``encode_vs_library`` / ``decode_vs_library``: encode time over the forward time of the
  same-size library transform
  (:data:`~grainbench.tasks.throughput_representation.LIBRARY_BARE`; on CUDA the DCT
  family's is ``torch.fft.rfft``, SciPy having no GPU), decode time over its inverse: the median of
  the per-round ratios (one round times both, so the ratio cancels the machine's slow
  spells); only for the families that have a library transform;
- ``encode_peak_memory`` / ``decode_peak_memory``: MiB one call needs above its input,
  output included (:func:`grainbench.timing.peak_memory`), measured once after the timings.

Times are medians over ``repeats`` interleaved rounds after one warm-up call, each with its
95 % order-statistic interval (:mod:`grainbench.timing`); fewer rounds when they take over
``budget_s`` seconds (no interval below 6). A batch whose call would take over
``max_call_s`` seconds, judged from the smaller batch's time per clip, is skipped and named
in the data. The data also hold each first stage's own time (the *overhead* of encode over
it) and the same-size library transforms' times.

With a generator, on the generator's device: a StyleGAN's training images/s and s/kimg on
noise images at its own config, over ``gen_steps`` steps rounded up to whole lazy
regularisation cycles (the rate of a long run, R1 and path-length steps included; no
interval), the memory one training step with every regulariser needs
(``train_peak_memory``), and its sampling clips/s with the decode at each batch size of
``gen_sample_batches``
(:func:`~grainbench.baselines.generators.stylegan.throughput.bench_stylegan`); any other
generator is fitted once on ``gen_fit_clips`` encoded training clips (images/s of that
fit) and sampled, with the decode, at each batch size of ``gen_sample_batches``.

``wall_time[task=…]``: the wall time of every task finished in the run folder (the
runner's ``tasks/<task>.json``; run this task last, as SPEC order does) and of this one.

Not in the default run: its numbers depend on the machine and on what else runs on it,
where every default number is fixed by the seed; ``grainbench sweep`` runs it alone
(``runs_alone``) after the rest.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.tasks.base import MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.params import Choice, Int, ListOf, Real
from grainbench.tasks.throughput_generator import generator_metrics, measure_generator
from grainbench.tasks.throughput_representation import (
    measure_representation,
    representation_metrics,
)


def finished_wall_times(run_dir: Path, own: str) -> dict[str, float]:
    """Wall seconds of every task finished in ``run_dir`` (its ``tasks/<task>.json``), but ``own``."""
    out = {}
    for path in sorted((Path(run_dir) / "tasks").glob("*.json")):
        if path.stem == own:
            continue
        try:
            out[path.stem] = float(json.loads(path.read_text())["wall_s"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _plugin_on(rep: Any, device: torch.device, home: torch.device) -> Any:
    """The representation's plugin on ``device``: itself on the run's device, else a copy
    moved there; None when it cannot move (no ``.to``, or copying or moving raises)."""
    if device == home:
        return rep.plugin
    if not callable(getattr(rep.plugin, "to", None)):
        return None
    try:
        plugin = copy.deepcopy(rep.plugin)
        plugin.to(device)
    except Exception:  # noqa: BLE001 - someone else's plugin: measure what we can
        return None
    return plugin


class ThroughputTask(TaskDefaults):
    """Encode/decode speed and memory per device and batch size, with a generator its speed."""

    name = "throughput"
    in_default_run = False
    #: timings: ``grainbench sweep`` runs this task alone, after every other run
    runs_alone = True
    headline = "decode_rtf[batch=1,device=cpu]"
    key_metrics = [
        "decode_rtf[batch=1,device=cpu]",
        "encode_rtf[batch=1,device=cpu]",
        "decode_rtf[batch=64,device=cpu]",
        "encode_rtf[batch=64,device=cpu]",
        "decode_vs_library[batch=64,device=cpu]",
        "encode_vs_library[batch=64,device=cpu]",
        "decode_peak_memory[batch=64,device=cpu]",
        "decode_rtf[batch=64,device=cuda]",
        "train_s_per_kimg[device=cpu]",
        "train_s_per_kimg[device=cuda]",
        "train_peak_memory[device=cuda]",
        "sample_clips_per_s[batch=64,device=cpu]",
        "sample_clips_per_s[batch=64,device=cuda]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Batch sizes, rounds, time limits, devices and the generator's measurement sizes."""
        return {
            "batches": [1, 64],
            "repeats": 7,
            "budget_s": 30.0,
            "max_call_s": 120.0,
            "devices": ["cpu", "cuda"],
            "gen_steps": 8,
            "gen_fit_clips": 128,
            "gen_sample_batches": [1, 64],
        }

    param_schema = {
        "batches": ListOf(Int(1)),
        "repeats": Int(1),
        "budget_s": Real(0, low_open=True),
        "max_call_s": Real(0, low_open=True),
        "devices": ListOf(Choice("cpu", "cuda")),
        "gen_steps": Int(1),
        "gen_fit_clips": Int(1),
        "gen_sample_batches": ListOf(Int(1)),
    }
    uses_generator = True

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Measure on every available device, then the generator, then collect wall times."""
        start = time.perf_counter()
        rep = ctx.rep
        clips = torch.from_numpy(ctx.dataset.test)
        result = TaskResult(data={"representation": {}, "not_measured": {}})
        for name in params["devices"]:
            if name == "cuda" and not torch.cuda.is_available():
                result.data["not_measured"][name] = "no CUDA device"
                continue
            device = ctx.device if ctx.device.type == name else torch.device(name)
            plugin = _plugin_on(rep, device, ctx.device)
            if plugin is None:
                result.data["not_measured"][name] = "the representation cannot move there"
                continue
            record = measure_representation(
                plugin,
                clips,
                rep.sample_rate,
                device,
                params["batches"],
                int(params["repeats"]),
                float(params["budget_s"]),
                float(params["max_call_s"]),
            )
            if device.type == "cuda":
                record["gpu"] = torch.cuda.get_device_name(device)
            result.data["representation"][name] = record
            result.metrics += representation_metrics(record, name)
        if ctx.generator is not None:
            labels = np.asarray(ctx.dataset.train_labels, dtype=np.int64)
            labelled = bool(len(labels)) and bool((labels >= 0).all())
            record = measure_generator(
                ctx.generator,
                rep.plugin,
                torch.from_numpy(ctx.dataset.train),
                torch.from_numpy(labels) if labelled else None,
                ctx.device,
                params,
                seed=ctx.seed,
            )
            result.data["generator"] = {"spec": ctx.generator_spec, **record}
            result.metrics += generator_metrics(record)
        walls = finished_wall_times(ctx.run_dir, self.name)
        walls[self.name] = time.perf_counter() - start
        result.data["wall_s"] = walls
        for task, seconds in walls.items():
            result.metrics.append(MetricValue("wall_time", seconds, condition={"task": task}))
        return result
