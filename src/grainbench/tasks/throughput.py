"""Throughput (SPEC 4.6): how fast a representation encodes and decodes, beside the bare
library transform of the same size, how much memory a call needs, and, with a generator,
how fast it trains and samples.

Per device (``device``: the CPU, and CUDA when present) and batch size (``batch``: 1 and
64), on the dataset's test clips (cycled to fill a batch):

- ``encode_rtf`` / ``decode_rtf``: audio seconds per wall second of the representation's own
  encode / decode (its plugin object, without the checks that tasks add);
- ``encode_images_per_s`` / ``decode_images_per_s``: images made / decoded per second;
- ``encode_vs_library`` / ``decode_vs_library``: encode time over the forward time of the
  same-size library transform (:data:`LIBRARY_BARE`; on CUDA the DCT family's is
  ``torch.fft.rfft``, SciPy having no GPU), decode time over its inverse: the median of
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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.fft
import torch

from grainbench.tasks.base import MetricValue, RunContext, TaskResult
from grainbench.tasks.params import Choice, Int, ListOf, Real
from grainbench.timing import median_interval, peak_memory, time_rounds, timed

_FAMILIES = {
    "DCT": "dct",
    "RealImagFFT": "fft",
    "PolarFFT": "fft",
    "Waveform": "identity",
    "STFT": "stft",
    "MagIF": "stft",
}

#: each family's bare library transform: (reference label, what it is)
LIBRARY_BARE = {
    "dct": ("scipy", "scipy.fft.dct/idct"),
    "fft": ("torch", "torch.fft.rfft/irfft"),
    "stft": ("torch", "torch.stft/istft"),
}
_TORCH_FFT = ("torch", "torch.fft.rfft/irfft")

Thunk = Callable[[], Any]


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


def library_references(stage: Any, x: torch.Tensor) -> dict[str, tuple[Thunk, Thunk]]:
    """Library transforms of the same size as ``stage``'s on clips ``x`` ``(B, ch, n)``, as
    (forward, inverse) thunks: ``scipy`` (DCT-II or real FFT, CPU only) and ``torch``
    (real FFT, or ``torch.stft``/``istft`` with a Hann window for a framed stage)."""
    fam = family(stage)
    out: dict[str, tuple[Thunk, Thunk]] = {}
    n = x.shape[-1]
    if x.device.type == "cpu" and fam in ("dct", "fft"):
        workers = torch.get_num_threads()
        xn = x.numpy()
        if fam == "dct":
            coef = scipy.fft.dct(xn, type=2, norm="ortho", workers=workers)
            out["scipy"] = (
                lambda: scipy.fft.dct(xn, type=2, norm="ortho", workers=workers),
                lambda: scipy.fft.idct(coef, type=2, norm="ortho", workers=workers),
            )
        else:
            spec_np = scipy.fft.rfft(xn, norm="ortho", workers=workers)
            out["scipy"] = (
                lambda: scipy.fft.rfft(xn, norm="ortho", workers=workers),
                lambda: scipy.fft.irfft(spec_np, n=n, norm="ortho", workers=workers),
            )
    if fam in ("dct", "fft"):
        spec = torch.fft.rfft(x, norm="ortho")
        out["torch"] = (
            lambda: torch.fft.rfft(x, norm="ortho"),
            lambda: torch.fft.irfft(spec, n=n, norm="ortho"),
        )
    framing = stft_framing(stage)
    if framing is not None:
        n_fft, hop = framing
        window = torch.hann_window(n_fft, device=x.device)
        flat = x.reshape(-1, n)
        stft = torch.stft(flat, n_fft, hop, window=window, return_complex=True)
        out["torch"] = (
            lambda: torch.stft(flat, n_fft, hop, window=window, return_complex=True),
            lambda: torch.istft(stft, n_fft, hop, window=window, length=n),
        )
    return out


def library_of(fam: str, labels: Sequence[str]) -> tuple[str, str] | None:
    """The (label, name) of ``fam``'s bare library transform among the references measured."""
    lib = LIBRARY_BARE.get(fam)
    if lib is not None and lib[0] in labels:
        return lib
    if fam == "dct" and "torch" in labels:
        return _TORCH_FFT
    return None


def probe_clips(batch: int, n_channels: int, n_samples: int, seed: int = 0) -> torch.Tensor:
    """Seeded Gaussian noise at −12 dBFS RMS, clipped to [-1, 1]: ``(batch, ch, n)`` float32."""
    rng = np.random.default_rng(seed)
    clips = 0.25 * rng.standard_normal((batch, n_channels, n_samples), dtype=np.float32)
    return torch.from_numpy(np.clip(clips, -1.0, 1.0))


def cycled(clips: torch.Tensor, batch: int) -> torch.Tensor:
    """``batch`` clips from ``clips`` ``(N, ch, n)``, repeating them in order when N < batch."""
    return clips[torch.arange(batch) % len(clips)].contiguous()


def _interval(values: Sequence[float]) -> tuple[float, list[float] | None]:
    median, low, high = median_interval(values)
    return median, (None if low is None else [low, high])


def _ratios(samples: dict[str, list[float]], num: str, den: str) -> tuple[float, list | None]:
    """Median and interval of the per-round ratios ``num / den``."""
    return _interval([a / b for a, b in zip(samples[num], samples[den], strict=True)])


def _row(
    samples: dict[str, list[float]],
    rounds: int,
    batch: int,
    clip_s: float,
    stage_names: list[str],
    labels: list[str],
    fam: str,
) -> dict[str, Any]:
    """One batch size's record: per-clip medians, ratios and their intervals, and the
    timed ``samples`` themselves (seconds per call of each thunk, round by round)."""
    intervals: dict[str, list[float] | None] = {}

    def per_clip(key: str) -> float:
        median, iv = _interval([v / batch for v in samples[key]])
        intervals[f"{key}_s"] = iv
        return median

    def ratio(key: str, num: str, den: str) -> float:
        median, iv = _ratios(samples, num, den)
        intervals[key] = iv
        return median

    enc, dec = per_clip("encode"), per_clip("decode")
    row: dict[str, Any] = {
        "rounds": rounds,
        "encode_s": enc,
        "decode_s": dec,
        "encode_rtf": clip_s / enc,
        "decode_rtf": clip_s / dec,
        "bare_forward_s": None,
        "bare_inverse_s": None,
        "encode_overhead": None,
        "decode_overhead": None,
    }
    if stage_names:
        row["bare_forward_s"] = per_clip("stage0.forward")
        row["bare_inverse_s"] = per_clip("stage0.inverse")
        row["encode_overhead"] = ratio("encode_overhead", "encode", "stage0.forward")
        row["decode_overhead"] = ratio("decode_overhead", "decode", "stage0.inverse")
    row["stages"] = [
        {
            "stage": name,
            "forward_s": float(np.median(samples[f"stage{i}.forward"])) / batch,
            "inverse_s": float(np.median(samples[f"stage{i}.inverse"])) / batch,
        }
        for i, name in enumerate(stage_names)
        if f"stage{i}.forward" in samples
    ]
    row["references"] = {
        label: {
            "forward_s": per_clip(f"{label}.forward"),
            "inverse_s": per_clip(f"{label}.inverse"),
            "encode_ratio": ratio(f"{label}.encode_ratio", "encode", f"{label}.forward"),
            "decode_ratio": ratio(f"{label}.decode_ratio", "decode", f"{label}.inverse"),
        }
        for label in labels
    }
    lib = library_of(fam, labels)
    row["library"] = None if lib is None else {"label": lib[0], "name": lib[1]}
    row["intervals"] = intervals
    row["samples"] = samples
    return row


@torch.no_grad()
def measure_representation(
    plugin: Any,
    clips: torch.Tensor,
    sample_rate: int,
    device: torch.device,
    batches: Sequence[int] = (1, 64),
    repeats: int = 7,
    budget_s: float = 30.0,
    max_call_s: float = float("inf"),
    stages: bool = False,
) -> dict[str, Any]:
    """Encode/decode timings and peak memory of ``plugin`` (already on ``device``) on
    ``clips`` ``(N, ch, n)``, per batch size (see the module docstring).

    Times the first stage (when the plugin has ``stages``) for the overhead, every stage
    when ``stages`` is true (where the time goes), and the same-size library transforms.
    Returns ``{"family", "clip_seconds", "device", "threads", "batches": {"1": row, …},
    "skipped": {batch: reason}}``; times in a row are seconds per clip.
    """
    stage_list = list(getattr(plugin, "stages", []))
    clip_s = clips.shape[-1] / sample_rate
    fam = family(stage_list[0]) if stage_list else "opaque"
    out: dict[str, Any] = {
        "family": fam,
        "clip_seconds": clip_s,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "batches": {},
        "skipped": {},
    }
    per_clip_s: float | None = None
    for batch in sorted(batches):
        if per_clip_s is not None and per_clip_s * batch > max_call_s:
            out["skipped"][str(batch)] = (
                f"a call would take about {per_clip_s * batch:.0f} s, over max_call_s {max_call_s:g}"
            )
            continue
        x = cycled(clips, batch).to(device)
        image = plugin.encode(x)
        thunks: dict[str, Thunk] = {
            "encode": lambda x=x: plugin.encode(x),
            "decode": lambda image=image: plugin.decode(image),
        }
        y = x
        for i, stage in enumerate(stage_list[: len(stage_list) if stages else 1]):
            z = stage(y)
            thunks[f"stage{i}.forward"] = lambda stage=stage, y=y: stage(y)
            thunks[f"stage{i}.inverse"] = lambda stage=stage, z=z: stage.inverse(z)
            y = z
        refs = library_references(stage_list[0], x) if stage_list else {}
        for label, (fwd, inv) in refs.items():
            thunks[f"{label}.forward"] = fwd
            thunks[f"{label}.inverse"] = inv
        samples, rounds = time_rounds(thunks, repeats, budget_s, device)
        names = [type(s).__name__ for s in stage_list]
        row = _row(samples, rounds, batch, clip_s, names, list(refs), fam)
        row["encode_peak_bytes"] = peak_memory(thunks["encode"], device)
        row["decode_peak_bytes"] = peak_memory(thunks["decode"], device)
        out["batches"][str(batch)] = row
        per_clip_s = max(row["encode_s"], row["decode_s"])
    return out


def _inverse(scale: float, iv: list[float] | None) -> tuple[float | None, float | None]:
    """The interval of ``scale / t`` from the interval of ``t`` (ends swap)."""
    return (None, None) if iv is None else (scale / iv[1], scale / iv[0])


def representation_metrics(record: dict[str, Any], device_type: str) -> list[MetricValue]:
    """The metric rows of one :func:`measure_representation` record."""
    rows = []
    clip_s = record["clip_seconds"]
    for batch, row in record["batches"].items():
        cond = {"device": device_type, "batch": int(batch)}
        iv = row["intervals"]
        for what in ("encode", "decode"):
            t = row[f"{what}_s"]
            t_iv = iv[f"{what}_s"]
            rows.append(MetricValue(f"{what}_rtf", clip_s / t, *_inverse(clip_s, t_iv), cond))
            rows.append(MetricValue(f"{what}_images_per_s", 1 / t, *_inverse(1.0, t_iv), cond))
            lib = row["library"]
            if lib is not None:
                ratio = row["references"][lib["label"]][f"{what}_ratio"]
                r_iv = iv[f"{lib['label']}.{what}_ratio"] or [None, None]
                rows.append(MetricValue(f"{what}_vs_library", ratio, *r_iv, cond))
            peak = row[f"{what}_peak_bytes"]
            if peak is not None:
                rows.append(MetricValue(f"{what}_peak_memory", peak / 2**20, None, None, cond))
    return rows


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
    """Training and sampling speed of ``generator`` on ``plugin``'s images (module docstring).

    Returns ``{"kind", "device", "train_images", "train_step_s" | "fit_s", "sample_s"}``
    (seconds per step / fit; ``sample_s`` maps each sampling batch size, as a string, to
    its calls' seconds) plus the StyleGAN details.
    """
    repeats, budget_s = int(params["repeats"]), float(params["budget_s"])
    batches = [int(b) for b in params["gen_sample_batches"]]
    cfg = _stylegan_config(generator)
    if cfg is not None:
        from grainbench.baselines.generators.stylegan.throughput import bench_stylegan

        dev = torch.device(getattr(generator, "device", device))
        shape = tuple(generator.image_shape)
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
            return plugin.decode(torch.as_tensor(generator.sample(batch, seed=seed)).to(device))

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
        sample, sample_iv = _interval(calls)
        clips = int(batch)
        rows.append(
            MetricValue(
                "sample_clips_per_s",
                clips / sample,
                *_inverse(clips, sample_iv),
                {"batch": clips, "device": device},
            )
        )
    return rows


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


class ThroughputTask:
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
