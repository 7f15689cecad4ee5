"""``grainbench bench``: the throughput task's measurements (SPEC 4.6) as a table, without a
run folder: built-in representations (or any plugin) on seeded noise clips at their own
setting, fitted on four of them.

Every number comes from :mod:`grainbench.tasks.throughput_representation` (``measure_representation``),
with the per-stage breakdown on: per representation and batch size, encode and decode time
per clip (the median of interleaved rounds after a warm-up, with its 95 % interval in
bench.json) and real-time factors, each stage's forward and inverse on its own input, the
same-size library transforms, and the peak memory of a call.

The *overhead* is encode time over the first stage's forward time (decode over inverse):
what the companding and layout stages and the composition cost on top of the transform.
The goal of the DCT, FFT and STFT families (:data:`GOALS`) is judged against the library
transform (:data:`~grainbench.tasks.throughput_representation.LIBRARY_BARE`), with the overhead beside it.
Ratios are medians of per-round ratios measured in one process, never compared across
machines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from grainbench import results
from grainbench.plugins import load_representation
from grainbench.registries import REPRESENTATIONS
from grainbench.tasks.throughput_representation import (
    LIBRARY_BARE,
    measure_representation,
    probe_clips,
)

#: the issue-15 goals: encode and decode each within this factor of the library transform
GOALS = {"dct": 1.5, "fft": 1.5, "stft": 2.0}


def bench_representation(
    spec: str,
    batches: Sequence[int] = (1, 64),
    repeats: int = 7,
    sample_rate: int | None = None,
    n_samples: int | None = None,
    budget_s: float = 30.0,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Timings of one representation (see the module docstring), per batch size.

    Each batch size times up to ``repeats`` rounds, fewer when they take over ``budget_s``.
    """
    rep = load_representation(spec, sample_rate=sample_rate, n_samples=n_samples)
    rep.fit(probe_clips(4, rep.n_channels, rep.n_samples, seed=1))
    dev = torch.device(device)
    rep.to(dev)
    clips = probe_clips(max(batches), rep.n_channels, rep.n_samples)
    record = measure_representation(
        rep.plugin, clips, rep.sample_rate, dev, batches, repeats, budget_s, stages=True
    )
    return {
        "rep": spec,
        "name": rep.name,
        "sample_rate": rep.sample_rate,
        "n_samples": rep.n_samples,
        "n_channels": rep.n_channels,
        "image_shape": list(rep.image_shape),
        **record,
    }


def run_bench(
    reps: Sequence[str] | None = None,
    batches: Sequence[int] = (1, 64),
    repeats: int = 7,
    sample_rate: int | None = None,
    n_samples: int | None = None,
    progress: Callable[[str], None] | None = None,
    budget_s: float = 30.0,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Bench ``reps`` (default: every built-in representation); returns the bench record."""
    names = list(reps) if reps else [e.name for e in REPRESENTATIONS.entries()]
    record: dict[str, Any] = {
        "suite_version": results.suite_info()["suite_version"],
        "created": results.now_iso(),
        "machine": results.machine_info(),
        "settings": {
            "batches": list(batches),
            "repeats": repeats,
            "budget_s": budget_s,
            "sample_rate": sample_rate,
            "n_samples": n_samples,
            "torch_threads": torch.get_num_threads(),
            "device": str(device),
        },
        "results": [],
    }
    for name in names:
        if progress:
            progress(name)
        record["results"].append(
            bench_representation(name, batches, repeats, sample_rate, n_samples, budget_s, device)
        )
    return record


def bench_generators(
    archs: Sequence[str],
    config: str = "cpu",
    rep: str = "dct-square",
    steps: int = 8,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
    sample_batches: Sequence[int] = (16,),
) -> list[dict[str, Any]]:
    """Training img/s (with FLOPs per image) and sampling clips/s at each of
    ``sample_batches`` of StyleGAN ``archs`` with the named ``config``, on images of ``rep``
    at the config's clip setting (its own for the Ki configs); sampling includes ``rep``'s
    decode."""
    from grainbench.baselines.generators.stylegan.configs import CLIP_SETTING
    from grainbench.baselines.generators.stylegan.throughput import bench_stylegan
    from grainbench.errors import UserError

    if config not in CLIP_SETTING:
        raise UserError(
            f"unknown StyleGAN config {config!r}; choose one of: {', '.join(CLIP_SETTING)}"
        )
    sr, n = CLIP_SETTING[config]
    representation = load_representation(rep, sample_rate=sr, n_samples=n).to(torch.device(device))
    out = []
    for arch in archs:
        if arch not in ("stylegan2", "stylegan3"):
            raise UserError(f"unknown StyleGAN architecture {arch!r}: stylegan2 or stylegan3")
        if progress:
            progress(f"{arch}/{config} on {representation.name}")
        r = bench_stylegan(
            arch,
            config,
            tuple(representation.image_shape),
            steps=steps,
            decode=representation.plugin.decode,
            sample_batches=sample_batches,
            device=device,
        )
        out.append({"rep": representation.name, **r})
    return out


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:.3g}"


def _x(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.2f}×"


def _mib(n_bytes: int | None) -> str:
    return "–" if n_bytes is None else f"{n_bytes / 2**20:.3g}"


def _worst(values: Any) -> float | None:
    return max((v for v in values if v), default=None)


def goal_verdicts(record: dict[str, Any]) -> list[str]:
    """One line per representation of a goal family (:data:`GOALS`): its worst ratio (over
    batch sizes, encode and decode) against the same-size library transform, and over its
    own transform stage."""
    lines = []
    for r in record["results"]:
        goal = GOALS.get(r["family"])
        if goal is None:
            continue
        batches = [b for b in r["batches"].values() if b["library"] is not None]
        library = _worst(
            b["references"][b["library"]["label"]][f"{what}_ratio"]
            for b in batches
            for what in ("encode", "decode")
        )
        own = _worst(
            v for b in r["batches"].values() for v in (b["encode_overhead"], b["decode_overhead"])
        )
        parts = []
        if library is not None:
            name = batches[0]["library"]["name"]
            verdict = "meets" if library <= goal else "MISSES"
            parts.append(f"{library:.2f}× {name} ({verdict} the {goal}× goal)")
        if own is not None:
            verdict = "meets" if own <= goal else "misses"
            parts.append(f"{own:.2f}× its own transform stage ({verdict} {goal}×)")
        if parts:
            lines.append(f"{r['rep']}: worst " + "; ".join(parts))
    return lines


def render_markdown(record: dict[str, Any]) -> str:
    """bench.md: machine, a table of times and ratios, the per-stage breakdown, the goal."""
    m = record["machine"]
    lines = [
        "# grainbench bench",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, torch threads {m['torch_threads']}, "
        f"GPU {m['gpu'] or 'none'}; torch {m['torch']}, Python {m['python']}",
        f"- suite {record['suite_version']}, {record['created']}, device "
        f"{record['settings'].get('device', 'cpu')}, median of {record['settings']['repeats']} "
        f"rounds after a warm-up (fewer where rounds took over "
        f"{record['settings']['budget_s']:g} s; 95 % intervals and rounds in bench.json); "
        "times are per clip",
        "- overhead = encode ÷ first stage forward (decode ÷ its inverse); scipy/torch columns "
        "are the same-size library transform and encode ÷ that (medians of per-round ratios); "
        "peak = memory one call of the whole batch needs",
        "",
        "| representation | family | batch | encode ms | encode RTF | decode ms | decode RTF "
        "| bare fwd/inv ms | overhead enc/dec | scipy fwd/inv ms | vs scipy enc/dec "
        "| torch fwd/inv ms | vs torch enc/dec | peak MiB enc/dec |",
        "|" + "---|" * 14,
    ]
    for r in record["results"]:
        for batch, b in r["batches"].items():
            refs = b["references"]
            cols = [r["rep"], r["family"], batch, _ms(b["encode_s"]), f"{b['encode_rtf']:.0f}"]
            cols += [_ms(b["decode_s"]), f"{b['decode_rtf']:.0f}"]
            cols += [f"{_ms(b['bare_forward_s'])} / {_ms(b['bare_inverse_s'])}"]
            cols += [f"{_x(b['encode_overhead'])} / {_x(b['decode_overhead'])}"]
            for label in ("scipy", "torch"):
                ref = refs.get(label)
                if ref is None:
                    cols += ["–", "–"]
                else:
                    cols += [f"{_ms(ref['forward_s'])} / {_ms(ref['inverse_s'])}"]
                    cols += [f"{_x(ref['encode_ratio'])} / {_x(ref['decode_ratio'])}"]
            cols += [f"{_mib(b['encode_peak_bytes'])} / {_mib(b['decode_peak_bytes'])}"]
            lines.append("| " + " | ".join(cols) + " |")
        for batch, reason in r["skipped"].items():
            lines.append(f"| {r['rep']} | {r['family']} | {batch} | skipped: {reason} |")
    lines += ["", "## Where the time goes (ms per clip, each stage on its own input)", ""]
    lines += [
        "| representation | batch | stage | forward ms | inverse ms |",
        "|---|---|---|---|---|",
    ]
    for r in record["results"]:
        for batch, b in r["batches"].items():
            for s in b["stages"]:
                lines.append(
                    f"| {r['rep']} | {batch} | {s['stage']} | {_ms(s['forward_s'])} | {_ms(s['inverse_s'])} |"
                )
    if record.get("generators"):
        lines += ["", "## Generators (training on noise images; sampling includes the decode)", ""]
        lines += [
            "| generator | config | representation | image | device, threads | train img/s "
            "| train GFLOP/img | GFLOP/s reached | train step peak MiB "
            "| sample clips/s (batch: clips/s) |",
            "|" + "---|" * 10,
        ]
        for g in record["generators"]:
            shape = "×".join(str(v) for v in g["image_shape"])
            sampled = ", ".join(f"{b}: {v:.1f}" for b, v in g["sample_clips_per_s"].items())
            lines.append(
                f"| {g['arch']} | {g['config']} | {g['rep']} | {shape} | {g['device']}, "
                f"{g['threads']} | {g['train_img_per_s']:.2f} | {g['train_GFLOP_per_image']:.2f} "
                f"| {g['achieved_GFLOP_per_s']:.1f} | {_mib(g['train_peak_bytes'])} | {sampled} |"
            )
    goals = goal_verdicts(record)
    if goals:
        targets = ", ".join(f"{fam.upper()} ≤ {goal}×" for fam, goal in GOALS.items())
        lines += ["", f"## Goal: encode and decode within {targets} the library transform", ""]
        lines += [
            "The goal is judged against the same-size library transform ("
            + ", ".join(
                f"{name} for the {fam.upper()} family" for fam, (_, name) in LIBRARY_BARE.items()
            )
            + ") at the same thread count; the ratio over the representation's own transform "
            "stage is what its companding and layout stages add.",
            "",
        ]
        lines += [f"- {g}" for g in goals]
    return "\n".join(lines) + "\n"
