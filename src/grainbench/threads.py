"""CPU threads for torch: every core this process may use, unless told otherwise."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from grainbench.errors import UserError

T = TypeVar("T")
R = TypeVar("R")


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS reports one."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def use_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads to ``n`` (None: :func:`available_cores`); returns the count.

    Results do not depend on it (tests/test_task_perturbation.py checks the maps); only
    wall time does.
    """
    count = available_cores() if n is None else n
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UserError(f"--threads must be a positive integer, got {count!r}")
    torch.set_num_threads(count)
    return count


def map_on_workers(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]`` on as many worker threads as torch has intra-op threads,
    each call with one intra-op thread (torch's count is 1 meanwhile, then restored) and
    with nothing recorded for derivatives.

    For many small tensor operations per item: they scale badly over intra-op threads
    (2–3× slower with 2 threads on a busy 2-core machine), whole items well. Each item's
    arithmetic is what it would be on the calling thread with one intra-op thread.
    """
    threads = torch.get_num_threads()
    if threads == 1 or len(items) < 2:
        with torch.no_grad():
            return [fn(x) for x in items]

    def untracked(x: T) -> R:
        with torch.no_grad():  # a worker thread's grad mode is its own, on by default
            return fn(x)

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(threads, len(items))) as pool:
            return list(pool.map(untracked, items))
    finally:
        torch.set_num_threads(threads)
