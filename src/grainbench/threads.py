"""CPU threads for torch: every core this process may use, unless told otherwise."""

from __future__ import annotations

import os

import torch

from grainbench.errors import UserError


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
