"""How fast a generator trains and samples on a representation's images
(:func:`measure_generator`), for the throughput task (:mod:`grainbench.tasks.throughput`)."""

from __future__ import annotations

from typing import Any

import torch

from grainbench.tasks.base import MetricValue
from grainbench.tasks.throughput_representation import (
    Thunk,
    inverse_interval,
    median_and_interval,
)
from grainbench.timing import time_rounds, timed


def _stylegan_config(generator: Any) -> Any:
    """The generator's StyleGAN config, or None for any other generator."""
    from grainbench.baselines.generators.stylegan.configs import StyleGANConfig

    cfg = getattr(generator, "cfg", None)
    return cfg if isinstance(cfg, StyleGANConfig) else None


def _encode_in_chunks(plugin: Any, clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([plugin.encode(c.to(device)).cpu() for c in clips.split(16)])


def measure_generator(
    generator: Any,
    plugin: Any,
    train: torch.Tensor,
    labels: torch.Tensor | None,
    device: torch.device,
    params: dict[str, Any],
    seed: int = 0,
) -> dict[str, Any]:
    """Training and sampling speed of ``generator`` (a checked
    :class:`~grainbench.generator.Generator`) on ``plugin``'s images (module docstring).

    Returns ``{"kind", "device", "train_images", "train_step_s" | "fit_s", "sample_s"}``
    (seconds per step / fit; ``sample_s`` maps each sampling batch size, as a string, to
    its calls' seconds) plus the StyleGAN details.
    """
    repeats, budget_s = int(params["repeats"]), float(params["budget_s"])
    batches = [int(b) for b in params["gen_sample_batches"]]
    cfg = _stylegan_config(generator.plugin)
    if cfg is not None:
        from grainbench.baselines.generators.stylegan.throughput import bench_stylegan

        dev = torch.device(getattr(generator.plugin, "device", device))
        shape = tuple(generator.plugin.image_shape)
        r = bench_stylegan(
            cfg.arch,
            cfg,
            shape,
            steps=int(params["gen_steps"]),
            decode=lambda images: plugin.decode(images.to(device)),
            sample_batches=batches,
            device=dev,
            seed=seed,
            sample_repeats=repeats,
        )
        return {"kind": "stylegan", "train_images": r["batch"], **r}
    n = min(int(params["gen_fit_clips"]), len(train))
    images = _encode_in_chunks(plugin, train[:n], device)
    fit_labels = None if labels is None else labels[:n]
    fit_s = timed(lambda: generator.fit(images, fit_labels), device)

    def sample(batch: int) -> torch.Tensor:
        with torch.no_grad():
            return plugin.decode(generator.sample(batch, seed=seed).to(device))

    thunks: dict[str, Thunk] = {str(b): (lambda b=b: sample(b)) for b in batches}
    samples, rounds = time_rounds(thunks, repeats, budget_s, device)
    return {
        "kind": "generic",
        "device": str(device),
        "train_images": n,
        "fit_s": fit_s,
        "sample_s": samples,
        "sample_rounds": rounds,
    }


def generator_metrics(record: dict[str, Any]) -> list[MetricValue]:
    """``train_images_per_s``, ``train_s_per_kimg``, ``train_peak_memory`` (when measured)
    and, per sampling batch size, ``sample_clips_per_s`` rows.

    A StyleGAN's training rate is images over the summed seconds of its timed steps (whole
    regularisation cycles, whose steps differ by design: no interval); another generator's
    is its one fit's."""
    device = torch.device(record["device"]).type
    cond = {"device": device}
    if record["kind"] == "stylegan":
        images = record["train_images"] * len(record["train_step_s"])
        seconds = float(sum(record["train_step_s"]))
    else:
        images, seconds = record["train_images"], record["fit_s"]
    rows = [
        MetricValue("train_images_per_s", images / seconds, condition=cond),
        MetricValue("train_s_per_kimg", 1000 * seconds / images, condition=cond),
    ]
    if record.get("train_peak_bytes") is not None:
        rows.append(
            MetricValue("train_peak_memory", record["train_peak_bytes"] / 2**20, None, None, cond)
        )
    for batch, calls in record["sample_s"].items():
        sample, sample_iv = median_and_interval(calls)
        clips = int(batch)
        rows.append(
            MetricValue(
                "sample_clips_per_s",
                clips / sample,
                *inverse_interval(clips, sample_iv),
                {"batch": clips, "device": device},
            )
        )
    return rows
