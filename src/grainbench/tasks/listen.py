"""Sounds to listen to side by side: clean, grainy, and the grain alone (level-normalised).

A task that has such sounds lists them in ``TaskResult.data["listen"]``, a list of rows::

    {"label": "clip 0: white noise at image PSNR 40 dB",
     "clean": "transfer/clip0_clean.wav",          # the sound without the error
     "grainy": "transfer/clip0_noise_40db.wav",    # with it
     "grain": "transfer/clip0_noise_40db_grain.wav",  # grainy − clean, level-normalised
     "grain_gain_db": 31.4}                        # how much the grain file was amplified

(paths relative to the run folder; ``clean`` and ``grainy`` may be absent, e.g. for a
one-pixel error, which is inaudible in the mix by design). ``report.html`` shows the rows
as a table of players (:mod:`grainbench.report`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.artifacts import save_wav
from grainbench.tasks.base import Artifact, RunContext, TaskResult

GRAIN_RMS_DBFS = -20.0
"""The RMS level a grain file is scaled to (dB re full scale), unless its peak would clip."""
GRAIN_PEAK = 0.99
"""The largest peak a scaled grain may reach."""


def grain_gain(grain: np.ndarray) -> float:
    """The gain that brings ``grain`` to :data:`GRAIN_RMS_DBFS` RMS with a peak of at most
    :data:`GRAIN_PEAK` (1 for silence)."""
    grain = np.asarray(grain, dtype=np.float64)
    rms = math.sqrt(float(np.mean(grain**2))) if grain.size else 0.0
    peak = float(np.max(np.abs(grain))) if grain.size else 0.0
    if rms == 0.0:
        return 1.0
    return min(10.0 ** (GRAIN_RMS_DBFS / 20.0) / rms, GRAIN_PEAK / peak)


def save_grain(
    ctx: RunContext, result: TaskResult, name: str, grain: np.ndarray, caption: str
) -> tuple[str, float]:
    """Write ``grain (channels, samples)`` level-normalised as ``ctx.out_dir/name`` and list it;
    returns its path (relative to the run folder) and the gain applied, in dB."""
    gain = grain_gain(grain)
    path = save_wav(ctx.out_dir / name, np.asarray(grain) * gain, ctx.rep.sample_rate)
    gain_db = 20.0 * math.log10(gain)
    rel = ctx.relpath(path)
    result.artifacts.append(
        Artifact(rel, "wav", f"{caption}: the error alone, amplified {gain_db:+.1f} dB")
    )
    return rel, gain_db


def add_row(result: TaskResult, label: str, grain: str, gain_db: float, **sounds: str) -> None:
    """Append a listen row (see the module docstring); ``sounds`` may hold clean and grainy."""
    row = {"label": label, **sounds, "grain": grain, "grain_gain_db": gain_db}
    result.data.setdefault("listen", []).append(row)


def one_pixel_sounds(
    ctx: RunContext,
    result: TaskResult,
    image: torch.Tensor,
    decoded: torch.Tensor,
    pixels: np.ndarray,
    audibility: np.ndarray,
    delta: tuple[str, float],
) -> None:
    """The sound of a one-pixel error for the median and the most audible of ``pixels``.

    ``image (C, H, W)`` is a base image and ``decoded (ch, n)`` its decode; ``audibility``
    holds each pixel's worst-frame NMR (dB) on that base (NaN: inert). The error
    ``decode(image + δ·1_p) − decoded`` of each chosen pixel is written level-normalised
    (``pixel_median.wav``, ``pixel_worst.wav``) with a listen row each.
    """
    values = np.asarray(audibility, dtype=np.float64)
    live = np.flatnonzero(np.isfinite(values))
    if live.size == 0:
        return
    median = float(np.median(values[live]))
    chosen = {
        "median": live[np.argmin(np.abs(values[live] - median))],
        "worst": live[np.argmax(values[live])],
    }
    label, step = delta
    c, h, w = image.shape
    for which, i in chosen.items():
        p = int(pixels[i])
        moved = image.clone().reshape(-1)
        moved[p] += step
        with torch.no_grad():
            err = ctx.rep.decode(moved.reshape(1, c, h, w))[0] - decoded
        where = f"channel {p // (h * w)}, row {p % (h * w) // w}, column {p % w}"
        text = (
            f"{which} pixel ({where}) moved by δ = {label}: "
            f"worst-frame NMR {values[i]:+.1f} dB on this clip"
        )
        path, gain_db = save_grain(
            ctx, result, f"pixel_{which}.wav", err.double().cpu().numpy(), text
        )
        add_row(result, text, path, gain_db)


def grain_rows(
    ctx: RunContext,
    result: TaskResult,
    clip: int,
    clean: tuple[str, np.ndarray],
    grainy: dict[str, tuple[str, str, np.ndarray]],
) -> None:
    """For one clip: its grain alone for every grainy version, and a listen row each.

    ``clean`` is ``(path, audio (ch, n))`` of the clean decode (already written);
    ``grainy`` maps a file tag to ``(caption, path, audio)`` of a grainy decode (written).
    """
    clean_path, clean_audio = clean
    for tag, (caption, path, audio) in grainy.items():
        grain = np.asarray(audio, dtype=np.float64) - np.asarray(clean_audio, dtype=np.float64)
        label = f"clip {clip}: {caption}"
        grain_path, gain_db = save_grain(ctx, result, f"clip{clip}_{tag}_grain.wav", grain, label)
        add_row(result, label, grain_path, gain_db, clean=clean_path, grainy=path)


def listen_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The listen rows a task's result body holds (empty when it has none)."""
    rows = (body.get("data") or {}).get("listen")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
