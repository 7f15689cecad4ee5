"""How fast a representation encodes and decodes, beside the bare library transform of the
same size, and how much memory a call needs (:func:`measure_representation`); the
throughput task (:mod:`grainbench.tasks.throughput`) and ``grainbench bench`` report it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.fft
import torch

from grainbench.tasks.base import MetricValue
from grainbench.timing import median_interval, peak_memory, time_rounds

#: each family's bare library transform: (reference label, what it is)
LIBRARY_BARE = {
    "dct": ("scipy", "scipy.fft.dct/idct"),
    "fft": ("torch", "torch.fft.rfft/irfft"),
    "stft": ("torch", "torch.stft/istft"),
}
_TORCH_FFT = ("torch", "torch.fft.rfft/irfft")

Thunk = Callable[[], Any]


def family(stage: Any) -> str:
    """The transform family a first stage declares (``family``: dct, fft, stft, identity),
    else its class name in lower case."""
    return getattr(stage, "family", None) or type(stage).__name__.lower()


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


def median_and_interval(values: Sequence[float]) -> tuple[float, list[float] | None]:
    """Median of ``values`` and its 95 % interval ``[low, high]`` (None when too few)."""
    median, low, high = median_interval(values)
    return median, (None if low is None else [low, high])


def _ratios(samples: dict[str, list[float]], num: str, den: str) -> tuple[float, list | None]:
    """Median and interval of the per-round ratios ``num / den``."""
    return median_and_interval([a / b for a, b in zip(samples[num], samples[den], strict=True)])


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
        median, iv = median_and_interval([v / batch for v in samples[key]])
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


def inverse_interval(scale: float, iv: list[float] | None) -> tuple[float | None, float | None]:
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
            rows.append(
                MetricValue(f"{what}_rtf", clip_s / t, *inverse_interval(clip_s, t_iv), cond)
            )
            rows.append(
                MetricValue(f"{what}_images_per_s", 1 / t, *inverse_interval(1.0, t_iv), cond)
            )
            lib = row["library"]
            if lib is not None:
                ratio = row["references"][lib["label"]][f"{what}_ratio"]
                r_iv = iv[f"{lib['label']}.{what}_ratio"] or [None, None]
                rows.append(MetricValue(f"{what}_vs_library", ratio, *r_iv, cond))
            peak = row[f"{what}_peak_bytes"]
            if peak is not None:
                rows.append(MetricValue(f"{what}_peak_memory", peak / 2**20, None, None, cond))
    return rows
