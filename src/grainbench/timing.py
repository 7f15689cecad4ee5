"""Time calls and measure the memory one call needs (SPEC 4.6).

- :func:`time_rounds`: one warm-up call of each thunk, then up to ``repeats`` *interleaved*
  rounds (every thunk once per round, so that a slow spell of the machine hits all of them
  alike), stopping early once the rounds have taken a time budget. A thunk faster than
  :data:`MIN_SAMPLE_S` is called several times per round and their mean kept.
- :func:`median_interval`: the median of repeated measurements with its distribution-free
  95 % interval (order statistics, ``scipy.stats.quantile_test``; needs at least 6 values).
- :func:`peak_memory`: the extra memory a call needs at its peak, inputs excluded. On
  CUDA, torch's caching-allocator peak (``torch.cuda.max_memory_allocated``) above what
  was allocated before the call. On a Linux CPU, the resident-set high-water mark: free
  heap pages are first handed back to the kernel (glibc ``malloc_trim``) so that the call
  must fault in every page it touches, the kernel's high-water mark is reset to the
  current resident set (``/proc/self/clear_refs``), and the peak is read back from
  ``VmHWM``. This counts every allocation (torch, NumPy, SciPy, a plugin's own), which a
  Python-level tracer such as ``tracemalloc`` does not; it is exact to the page, less any
  file-backed pages the kernel reclaims meanwhile (tested within 2 %). Elsewhere: not
  measured (None).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats
import torch

CONFIDENCE = 0.95

MIN_SAMPLE_S = 0.01
"""A timed sample lasts at least this long: a thunk whose call is shorter is called
``ceil(MIN_SAMPLE_S / t)`` times per sample (``t``: a call after the warm-up) and the mean
kept, as ``timeit``'s autorange does, so that a timer read or one scheduler tick does not
set a sample (sub-millisecond encodes moved by up to 0.9 in ratio between quiet runs of
7 single-call rounds)."""

MAX_CALLS = 1000
"""The most calls averaged into one sample."""


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work on ``device`` (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of one call of ``fn`` (CUDA work included)."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def timed_mean(fn: Callable[[], Any], device: torch.device, calls: int) -> float:
    """Wall seconds per call of ``calls`` back-to-back calls of ``fn`` (CUDA work included)."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / calls


def _calls_per_sample(fn: Callable[[], Any], device: torch.device) -> int:
    """Warm ``fn`` up and choose its calls per sample (:data:`MIN_SAMPLE_S`): one call when
    the warm-up call already lasts that long, else from a second, steady call."""
    if timed(fn, device) >= MIN_SAMPLE_S:
        return 1
    steady = max(timed(fn, device), 1e-9)
    return max(1, min(MAX_CALLS, math.ceil(MIN_SAMPLE_S / steady)))


def time_rounds(
    thunks: dict[str, Callable[[], Any]],
    repeats: int,
    budget_s: float,
    device: torch.device,
) -> tuple[dict[str, list[float]], int]:
    """Seconds per call of each thunk and the number of timed rounds.

    One warm-up call each (not timed into the result; a second one sets how many calls a
    sample of a fast thunk averages, :data:`MIN_SAMPLE_S`), then up to ``repeats``
    interleaved rounds, stopping early once the rounds have taken ``budget_s`` seconds, but
    never before one timed round: a first call can cost far more than the next (a transform
    plan or kernel built at a new size: 351 ms against 0.45 ms on a GPU), even for calls
    that take longer than the budget.
    """
    calls = {k: _calls_per_sample(fn, device) for k, fn in thunks.items()}
    samples: dict[str, list[float]] = {k: [] for k in thunks}
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats and (rounds == 0 or time.perf_counter() - start < budget_s):
        for k, fn in thunks.items():
            samples[k].append(timed_mean(fn, device, calls[k]))
        rounds += 1
    return samples, rounds


def median_interval(values: Any) -> tuple[float, float | None, float | None]:
    """``(median, low, high)``: the 95 % distribution-free interval of the median from order
    statistics (exact binomial coverage); ``low``/``high`` are None below 6 values, where no
    pair of order statistics reaches 95 %."""
    x = np.asarray(values, dtype=np.float64)
    median = float(np.median(x))
    if len(x) < 2:
        return median, None, None
    ci = scipy.stats.quantile_test(x, q=median, p=0.5).confidence_interval(CONFIDENCE)
    if not (np.isfinite(ci.low) and np.isfinite(ci.high)):
        return median, None, None
    return median, float(ci.low), float(ci.high)


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only: raises AttributeError elsewhere
    except (OSError, AttributeError, TypeError):
        return None
    return libc


_STATUS_KB = re.compile(r"^(VmRSS|VmHWM):\s+(\d+) kB", re.M)


def _rss_kb() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {k: int(v) for k, v in _STATUS_KB.findall(text)}


def _reset_high_water() -> bool:
    """Hand free heap pages back to the kernel and reset the resident-set high-water mark."""
    libc = _libc()
    if libc is None:
        return False
    gc.collect()
    libc.malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # 5: reset the peak resident set size to the current one
    except OSError:
        return False
    return True


def peak_memory(fn: Callable[[], Any], device: torch.device) -> int | None:
    """Bytes that one call of ``fn`` needs above what was in use before it (its output
    included), measured as the module docstring says; None where it cannot be measured."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = fn()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        del out
        return int(peak)
    if device.type != "cpu" or not _reset_high_water():
        return None
    before = _rss_kb()["VmRSS"]
    out = fn()
    peak = _rss_kb()["VmHWM"] - before
    del out
    return max(0, peak) * 1024
