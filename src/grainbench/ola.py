"""Process a signal of any length in fixed-size clips, joined by windowed overlap-add.

Clips of ``n`` samples start every ``hop = n // 2`` samples; the signal is padded with
``hop`` zeros in front (and as many as needed at the end) so that every sample lies in
exactly two clips. Each clip is processed whole (no analysis window: the process sees the
signal as it is), and its output is weighted by a periodic Hann window of ``2·hop``
samples (zero beyond, for odd ``n``) before it is added in place. Periodic Hann windows at
half their length sum to exactly one, so an identity process returns the signal itself,
and any process's clips cross-fade: no seams.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def synthesis_window(n: int) -> np.ndarray:
    """The weight of a clip's output ``(n,)``: a periodic Hann of ``2·(n // 2)`` samples,
    zero-padded to ``n``; shifted copies every ``n // 2`` samples sum to one."""
    hop = n // 2
    window = np.zeros(n)
    window[: 2 * hop] = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(2 * hop) / (2 * hop))
    return window


def clip_starts(length: int, n: int) -> np.ndarray:
    """Start of every clip in the padded signal (``hop`` zeros in front) for a signal of
    ``length`` samples: ``0, hop, 2·hop, …`` up to the last clip that covers its last sample."""
    hop = n // 2
    last = (length - 1 + hop) // hop
    return np.arange(last + 1) * hop


def overlap_add(
    signal: np.ndarray,
    n: int,
    process: Callable[[np.ndarray, np.ndarray], np.ndarray],
    batch: int = 16,
) -> np.ndarray:
    """``process`` applied to ``signal (channels, length)`` in clips of ``n`` samples.

    ``process(clips, index)`` takes clips ``(k, channels, n)`` and their running indices
    ``(k,)`` (for seeding) and returns processed clips of the same shape; it is called with
    at most ``batch`` clips at a time. Returns float64 ``(channels, length)``.
    """
    if n < 2:
        raise ValueError(f"clips need at least 2 samples, got {n}")
    x = np.asarray(signal, dtype=np.float64)
    channels, length = x.shape
    hop = n // 2
    starts = clip_starts(length, n)
    padded = np.zeros((channels, int(starts[-1]) + n))
    padded[:, hop : hop + length] = x
    out = np.zeros_like(padded)
    window = synthesis_window(n)
    for first in range(0, len(starts), batch):
        idx = np.arange(first, min(first + batch, len(starts)))
        clips = np.stack([padded[:, starts[i] : starts[i] + n] for i in idx])
        done = np.asarray(process(clips, idx), dtype=np.float64)
        if done.shape != clips.shape:
            raise ValueError(f"process returned shape {done.shape} for clips {clips.shape}")
        for j, i in enumerate(idx):
            out[:, starts[i] : starts[i] + n] += window * done[j]
    return out[:, hop : hop + length]
