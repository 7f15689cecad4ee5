"""Throughput (SPEC 4.6): encode / decode time per clip beside the bare transform of the same size.

For each representation and batch size, on seeded noise clips at the representation's
setting, this times (the fastest of ``repeats`` interleaved rounds after one warm-up call:
interference from other work only ever adds time, so the minimum is the stable estimate):

- ``encode`` and ``decode`` of the representation itself (its plugin object, without the
  validation wrapper that tasks add), per clip, and their real-time factors (audio seconds
  per wall second);
- the *bare* transform: the representation's first stage alone (``forward`` and
  ``inverse``), and the same-size library transform: ``scipy.fft.dct``/``idct`` for a DCT,
  ``scipy.fft.rfft``/``irfft`` for FFT stages, ``torch.fft.rfft``/``irfft`` for every
  whole-clip transform, and ``torch.stft``/``istft`` (Hann window, centred) for a framed
  stage that exposes ``n_fft`` and ``hop`` (or ``hop_length``), itself or as ``.stft``;
- every stage's forward and inverse on its own input, to show where time goes.

The *overhead* is encode time over the first stage's forward time (decode over inverse):
what the companding and layout stages and the composition cost on top of the transform.
The 1.5× goal of the DCT and STFT families is judged against the library transform
(:data:`LIBRARY_BARE`), with the overhead beside it.
Timings are compared as ratios measured in one run, never across machines.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.fft
import torch

from grainbench import results
from grainbench.plugins import load_representation
from grainbench.registry import REPRESENTATIONS

GOAL_OVERHEAD = 1.5
GOAL_FAMILIES = ("dct", "stft")


_FAMILIES = {
    "DCT": "dct",
    "RealImagFFT": "fft",
    "PolarFFT": "fft",
    "Waveform": "identity",
    "STFT": "stft",
    "MagIF": "stft",
}


def family(stage: Any) -> str:
    """The transform family of a first stage (dct, fft, stft, identity), else its class name."""
    name = type(stage).__name__
    return _FAMILIES.get(name, name.lower())


def stft_framing(stage: Any) -> tuple[int, int] | None:
    """``(n_fft, hop)`` of a framed stage (or of the STFT stage it wraps as ``.stft``), or None."""
    for s in (stage, getattr(stage, "stft", None)):
        hop = getattr(s, "hop_length", getattr(s, "hop", None))
        if s is not None and getattr(s, "n_fft", None) and hop:
            return int(s.n_fft), int(hop)
    return None


def _references(
    stage: Any, x: torch.Tensor
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Library transforms of the same size as ``stage``'s, as (forward, inverse) thunks on ``x``."""
    fam = family(stage)
    workers = torch.get_num_threads()
    out: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {}
    n = x.shape[-1]
    xn = x.numpy()
    if fam == "dct":
        coef = scipy.fft.dct(xn, type=2, norm="ortho", workers=workers)
        out["scipy"] = (
            lambda: scipy.fft.dct(xn, type=2, norm="ortho", workers=workers),
            lambda: scipy.fft.idct(coef, type=2, norm="ortho", workers=workers),
        )
    if fam in ("dct", "fft"):
        spec_np = scipy.fft.rfft(xn, norm="ortho", workers=workers)
        if fam == "fft":
            out["scipy"] = (
                lambda: scipy.fft.rfft(xn, norm="ortho", workers=workers),
                lambda: scipy.fft.irfft(spec_np, n=n, norm="ortho", workers=workers),
            )
        spec = torch.fft.rfft(x, norm="ortho")
        out["torch"] = (
            lambda: torch.fft.rfft(x, norm="ortho"),
            lambda: torch.fft.irfft(spec, n=n, norm="ortho"),
        )
    framing = stft_framing(stage)
    if framing is not None:
        n_fft, hop = framing
        window = torch.hann_window(n_fft)
        flat = x.reshape(-1, n)
        stft = torch.stft(flat, n_fft, hop, window=window, return_complex=True)
        out["torch"] = (
            lambda: torch.stft(flat, n_fft, hop, window=window, return_complex=True),
            lambda: torch.istft(stft, n_fft, hop, window=window, length=n),
        )
    return out


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _median_times(
    thunks: dict[str, Callable[[], Any]], repeats: int, budget_s: float
) -> tuple[dict[str, float], int]:
    """Fastest wall time of each thunk and the rounds timed: one warm-up each, then up to
    ``repeats`` interleaved rounds, stopping early (after at least one) once the rounds have
    taken ``budget_s`` seconds. When the warm-up alone takes ``budget_s``, its times are the
    result (0 rounds): calls that slow are not dominated by first-call costs."""
    warm = {k: _timed(fn) for k, fn in thunks.items()}
    if sum(warm.values()) >= budget_s:
        return warm, 0
    samples: dict[str, list[float]] = {k: [] for k in thunks}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats and (rounds == 0 or time.perf_counter() - start < budget_s):
        for k, fn in thunks.items():
            samples[k].append(_timed(fn))
        rounds += 1
    return {k: min(v) for k, v in samples.items()}, rounds


def probe_clips(batch: int, n_channels: int, n_samples: int, seed: int = 0) -> torch.Tensor:
    """Seeded Gaussian noise at −12 dBFS RMS, clipped to [-1, 1]: ``(batch, ch, n)`` float32."""
    rng = np.random.default_rng(seed)
    clips = 0.25 * rng.standard_normal((batch, n_channels, n_samples), dtype=np.float32)
    return torch.from_numpy(np.clip(clips, -1.0, 1.0))


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


@torch.no_grad()
def bench_representation(
    spec: str,
    batches: Sequence[int] = (1, 64),
    repeats: int = 5,
    sample_rate: int | None = None,
    n_samples: int | None = None,
    budget_s: float = 30.0,
) -> dict[str, Any]:
    """Timings of one representation (see the module docstring), per batch size.

    Each batch size times up to ``repeats`` rounds, fewer when they take over ``budget_s``.
    """
    rep = load_representation(spec, sample_rate=sample_rate, n_samples=n_samples)
    plugin = rep.plugin
    rep.fit(probe_clips(4, rep.n_channels, rep.n_samples, seed=1))
    stages = list(getattr(plugin, "stages", []))
    clip_s = rep.n_samples / rep.sample_rate
    out: dict[str, Any] = {
        "rep": spec,
        "name": rep.name,
        "family": family(stages[0]) if stages else "opaque",
        "sample_rate": rep.sample_rate,
        "n_samples": rep.n_samples,
        "n_channels": rep.n_channels,
        "image_shape": list(rep.image_shape),
        "clip_seconds": clip_s,
        "batches": {},
    }
    for batch in batches:
        x = probe_clips(batch, rep.n_channels, rep.n_samples)
        image = plugin.encode(x)
        thunks: dict[str, Callable[[], Any]] = {
            "encode": lambda x=x: plugin.encode(x),
            "decode": lambda image=image: plugin.decode(image),
        }
        y = x
        for i, stage in enumerate(stages):
            z = stage(y)
            thunks[f"stage{i}.forward"] = lambda stage=stage, y=y: stage(y)
            thunks[f"stage{i}.inverse"] = lambda stage=stage, z=z: stage.inverse(z)
            y = z
        refs = _references(stages[0], x) if stages else {}
        for label, (fwd, inv) in refs.items():
            thunks[f"{label}.forward"] = fwd
            thunks[f"{label}.inverse"] = inv
        medians, rounds = _median_times(thunks, repeats, budget_s)
        t = {k: v / batch for k, v in medians.items()}
        row: dict[str, Any] = {
            "rounds": rounds,
            "encode_s": t["encode"],
            "decode_s": t["decode"],
            "encode_rtf": clip_s / t["encode"],
            "decode_rtf": clip_s / t["decode"],
            "bare_forward_s": t.get("stage0.forward"),
            "bare_inverse_s": t.get("stage0.inverse"),
            "encode_overhead": _ratio(t["encode"], t.get("stage0.forward")),
            "decode_overhead": _ratio(t["decode"], t.get("stage0.inverse")),
            "stages": [
                {
                    "stage": type(s).__name__,
                    "forward_s": t[f"stage{i}.forward"],
                    "inverse_s": t[f"stage{i}.inverse"],
                }
                for i, s in enumerate(stages)
            ],
            "references": {
                label: {
                    "forward_s": t[f"{label}.forward"],
                    "inverse_s": t[f"{label}.inverse"],
                    "encode_ratio": t["encode"] / t[f"{label}.forward"],
                    "decode_ratio": t["decode"] / t[f"{label}.inverse"],
                }
                for label in refs
            },
        }
        out["batches"][str(batch)] = row
    return out


def run_bench(
    reps: Sequence[str] | None = None,
    batches: Sequence[int] = (1, 64),
    repeats: int = 5,
    sample_rate: int | None = None,
    n_samples: int | None = None,
    progress: Callable[[str], None] | None = None,
    budget_s: float = 30.0,
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
        },
        "results": [],
    }
    for name in names:
        if progress:
            progress(name)
        record["results"].append(
            bench_representation(name, batches, repeats, sample_rate, n_samples, budget_s)
        )
    return record


def bench_generators(
    archs: Sequence[str],
    config: str = "cpu",
    rep: str = "dct-square",
    steps: int = 8,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Training img/s (with FLOPs per image) and sampling clips/s of StyleGAN ``archs`` with
    the named ``config``, on images of ``rep`` at the config's clip setting (its own for
    the Ki configs); sampling includes ``rep``'s decode."""
    from grainbench.baselines.generators.stylegan.configs import CLIP_SETTING
    from grainbench.baselines.generators.stylegan.throughput import bench_stylegan
    from grainbench.errors import UserError

    if config not in CLIP_SETTING:
        raise UserError(
            f"unknown StyleGAN config {config!r}; choose one of: {', '.join(CLIP_SETTING)}"
        )
    sr, n = CLIP_SETTING[config]
    representation = load_representation(rep, sample_rate=sr, n_samples=n)
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
            device=device,
        )
        out.append({"rep": representation.name, **r})
    return out


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1e3:.3g}"


def _x(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio:.2f}×"


#: the library transform that is each goal family's bare transform
LIBRARY_BARE = {"dct": ("scipy", "scipy.fft.dct/idct"), "stft": ("torch", "torch.stft/istft")}


def _worst(values: Any) -> float | None:
    return max((v for v in values if v), default=None)


def goal_verdicts(record: dict[str, Any]) -> list[str]:
    """One line per representation of a goal family: its worst ratio (over batch sizes, encode
    and decode) against the same-size library transform, and over its own transform stage."""
    lines = []
    for r in record["results"]:
        if r["family"] not in GOAL_FAMILIES:
            continue
        label, name = LIBRARY_BARE[r["family"]]
        batches = r["batches"].values()
        library = _worst(
            v
            for b in batches
            if label in b["references"]
            for v in (
                b["references"][label]["encode_ratio"],
                b["references"][label]["decode_ratio"],
            )
        )
        own = _worst(v for b in batches for v in (b["encode_overhead"], b["decode_overhead"]))
        parts = []
        if library is not None:
            verdict = "meets" if library <= GOAL_OVERHEAD else "MISSES"
            parts.append(f"{library:.2f}× {name} ({verdict} the {GOAL_OVERHEAD}× goal)")
        if own is not None:
            verdict = "meets" if own <= GOAL_OVERHEAD else "misses"
            parts.append(f"{own:.2f}× its own transform stage ({verdict} {GOAL_OVERHEAD}×)")
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
        f"- suite {record['suite_version']}, {record['created']}, fastest of "
        f"{record['settings']['repeats']} rounds after a warm-up (fewer where rounds took over "
        f"{record['settings']['budget_s']:g} s: see bench.json); times are per clip",
        "- overhead = encode ÷ first stage forward (decode ÷ its inverse); scipy/torch columns "
        "are the same-size library transform and encode ÷ that",
        "",
        "| representation | family | batch | encode ms | encode RTF | decode ms | decode RTF "
        "| bare fwd/inv ms | overhead enc/dec | scipy fwd/inv ms | vs scipy enc/dec "
        "| torch fwd/inv ms | vs torch enc/dec |",
        "|" + "---|" * 13,
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
            lines.append("| " + " | ".join(cols) + " |")
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
            "| train GFLOP/img | GFLOP/s reached | sample clips/s |",
            "|" + "---|" * 9,
        ]
        for g in record["generators"]:
            shape = "×".join(str(v) for v in g["image_shape"])
            lines.append(
                f"| {g['arch']} | {g['config']} | {g['rep']} | {shape} | {g['device']}, "
                f"{g['threads']} | {g['train_img_per_s']:.2f} | {g['train_GFLOP_per_image']:.2f} "
                f"| {g['achieved_GFLOP_per_s']:.1f} | {g['sample_clips_per_s']:.1f} |"
            )
    goals = goal_verdicts(record)
    if goals:
        lines += ["", f"## Goal: overhead ≤ {GOAL_OVERHEAD}× for the DCT and STFT families", ""]
        lines += [
            "The goal is judged against the same-size library transform (scipy.fft.dct for the "
            "DCT family, torch.stft for the STFT family) at the same thread count; the ratio "
            "over the representation's own transform stage is what its companding and layout "
            "stages add.",
            "",
        ]
        lines += [f"- {g}" for g in goals]
    return "\n".join(lines) + "\n"
