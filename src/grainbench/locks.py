"""Advisory locks on folders (a run folder, the leaderboard's entries folder).

A lock is ``flock`` on the folder itself (an open directory descriptor): no lock file is
created, so a locked folder's content is exactly what its owner wrote, and the kernel
releases the lock when its process ends in any way (``kill -9`` included). Locks are
advisory: they order grainbench processes, not other programs. On a platform without
``fcntl`` (Windows) no lock is taken; docs/guarantees.md says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grainbench.errors import UserError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

POLL_S = 0.05
"""How often a waiting lock retries."""


@contextmanager
def folder_lock(
    folder: Path, *, busy: str, shared: bool = False, wait_s: float = 0.0
) -> Iterator[None]:
    """Hold an exclusive (or ``shared``) lock on the existing ``folder`` for the block.

    Waits up to ``wait_s`` seconds (0: not at all) for other holders to let go, then
    raises :class:`UserError` with the one-line message ``busy``.
    """
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if fcntl is not None:
            mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, mode)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise UserError(busy) from None
                    time.sleep(POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
