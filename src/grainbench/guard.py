"""Calls into someone else's code (representation and generator plugins), made safe.

:func:`call` turns *everything* a plugin call can throw — exceptions, ``SystemExit``,
a ``KeyboardInterrupt`` the plugin raises itself, a time-out — into a one-line
:class:`~grainbench.errors.UserError` naming the call. Only a real Ctrl-C of the user
passes through as ``KeyboardInterrupt`` (so the run stops and says how to resume).

Telling the two ``KeyboardInterrupt`` apart and limiting a call's time need the
:func:`plugin_calls` context (the runner holds it for a whole run): it installs a SIGINT
handler that notes a real Ctrl-C before raising, and with ``timeout_s`` a SIGALRM handler
armed around each call (``setitimer``). Limits of the time-out: POSIX only, main thread
only; the alarm is handled between Python bytecodes, so a plugin stuck inside one long C
call (a single huge torch operation, a blocking C library) is stopped only when that call
returns; a plugin that catches ``BaseException`` itself can swallow it. Outside the
context every ``KeyboardInterrupt`` counts as the user's and no time limit applies.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from grainbench.errors import UserError, exception_line

T = TypeVar("T")


class _TimedOut(BaseException):
    """Raised in the main thread by the SIGALRM handler while a plugin call is armed."""


class _State:
    """What the handlers and :func:`call` share (one run at a time per process)."""

    watching = False  # inside plugin_calls: SIGINT is ours
    user_interrupt = False  # a real Ctrl-C arrived
    timeout_s: float | None = None
    armed = False  # a call is running under the alarm


def _on_sigint(signum: int, frame: Any) -> None:
    _State.user_interrupt = True
    raise KeyboardInterrupt


def _on_alarm(signum: int, frame: Any) -> None:
    if _State.armed:
        _State.armed = False
        raise _TimedOut


@contextmanager
def plugin_calls(timeout_s: float | None = None) -> Iterator[None]:
    """Within the block, :func:`call` tells a real Ctrl-C from a plugin's own
    ``KeyboardInterrupt`` and stops calls that run longer than ``timeout_s`` seconds.

    Raises :class:`UserError` for a ``timeout_s`` that is not a positive number, or when a
    time limit is asked for where it cannot work (not the main thread, no SIGALRM).
    """
    if timeout_s is not None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float):
            raise UserError(f"--plugin-timeout must be a number of seconds, got {timeout_s!r}")
        if not 0 < timeout_s < 1e7:
            raise UserError(f"--plugin-timeout must be positive seconds, got {timeout_s!r}")
    main = threading.current_thread() is threading.main_thread()
    if timeout_s is not None and not (main and hasattr(signal, "SIGALRM")):
        raise UserError("--plugin-timeout works only in the main thread of a POSIX system")
    if _State.watching or not main:  # nested, or a worker thread: the outer context rules
        yield
        return
    old_int = signal.signal(signal.SIGINT, _on_sigint)
    old_alarm = signal.signal(signal.SIGALRM, _on_alarm) if timeout_s is not None else None
    _State.watching, _State.user_interrupt, _State.timeout_s = True, False, timeout_s
    try:
        yield
    finally:
        _State.watching, _State.timeout_s, _State.armed = False, None, False
        signal.signal(signal.SIGINT, old_int)
        if old_alarm is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old_alarm)


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``; anything it throws becomes ``UserError("<what> raised …")``.

    A :class:`UserError` passes unchanged, and so does a real Ctrl-C (see the module doc).
    """
    arm = _State.timeout_s is not None and not _State.armed
    try:
        try:
            if arm:
                _State.armed = True
                signal.setitimer(signal.ITIMER_REAL, _State.timeout_s)
            return fn(*args, **kwargs)
        finally:
            if arm:
                _State.armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
    except UserError:
        raise
    except _TimedOut:
        raise UserError(
            f"{what} did not return within {_State.timeout_s:g} s (--plugin-timeout)"
        ) from None
    except KeyboardInterrupt:
        if not _State.watching or _State.user_interrupt:
            raise
        raise UserError(f"{what} raised KeyboardInterrupt") from None
    except BaseException as exc:  # noqa: BLE001 - someone else's code: report, don't crash
        raise UserError(f"{what} raised {exception_line(exc)}") from None


def attribute(obj: Any, name: str, what: str) -> Any:
    """``getattr(obj, name, None)`` of a plugin ``obj``; a raising property becomes
    ``UserError("<what>: attribute <name> raised …")`` instead of a crash."""
    return call(f"{what}: attribute {name}", getattr, obj, name, None)
