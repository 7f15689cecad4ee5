"""Declared task parameters: the type and range of every parameter of every task.

A task keeps its defaults in ``default_params()`` and declares, in a class attribute
``param_schema``, one checker per parameter name::

    param_schema = {"batch_size": Int(1), "n_boot": Int(1, MAX_BOOT), "codecs": ListOf(Choice(*CODECS))}

:func:`validate_params` (called by the runner before anything is built or fitted) merges
the user's ``--param`` values over the defaults and checks each against its declaration; a
value out of type or range is a :class:`~grainbench.errors.UserError` naming the parameter
and what it must be. Values are never converted: what the user gave is what the task gets
and what the result records.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from grainbench.errors import UserError

MAX_INT = 2**31 - 1
"""The largest integer any parameter takes (numpy index and seed arithmetic stay in range)."""

MAX_BOOT = 1_000_000
"""The most bootstrap resamples a task draws."""


class Checker(Protocol):
    """One parameter's declaration: ``ok(value)`` and a phrase for the error message."""

    def ok(self, value: Any) -> bool: ...

    @property
    def what(self) -> str: ...


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]``; ``none`` also admits null, ``words`` some strings."""

    low: int = 0
    high: int = MAX_INT
    none: bool = False
    words: tuple[str, ...] = ()

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is admitted."""
        if value is None:
            return self.none
        if isinstance(value, str):
            return value in self.words
        return _is_int(value) and self.low <= value <= self.high

    @property
    def what(self) -> str:
        """``an integer from 1 to 1000000`` and the alternatives."""
        text = (
            f"an integer ≥ {self.low}"
            if self.high == MAX_INT
            else f"an integer from {self.low} to {self.high}"
        )
        extra = [json.dumps(w) for w in self.words] + (["null"] if self.none else [])
        return text + "".join(f" or {e}" for e in extra)


@dataclass(frozen=True)
class Real:
    """A finite number above ``low`` (or at it, ``low_open=False``) and at most ``high``."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is admitted."""
        if not _is_real(value) or value > self.high:
            return False
        return value > self.low if self.low_open else value >= self.low

    @property
    def what(self) -> str:
        """``a number > 0`` and similar."""
        parts = []
        if self.low != -math.inf:
            parts.append(f"{'>' if self.low_open else '≥'} {self.low:g}")
        if self.high != math.inf:
            parts.append(f"≤ {self.high:g}")
        return "a number" + (" " + " and ".join(parts) if parts else "")


@dataclass(frozen=True)
class Ratio:
    """A positive number given as a number or a fraction string such as ``"2/255"``."""

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is admitted."""
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return False
        text = str(value).strip()
        if len(text) > 64:
            return False
        try:
            # float first: Fraction("1e999999999") would build a billion-digit integer
            if "/" not in text and not math.isfinite(float(text)):
                return False
            number = float(Fraction(text))
        except (ValueError, ZeroDivisionError, OverflowError):
            return False
        return math.isfinite(number) and number > 0

    @property
    def what(self) -> str:
        """The phrase for error messages."""
        return 'a positive number or fraction such as "2/255"'


@dataclass(frozen=True)
class Choice:
    """One of the given strings."""

    values: tuple[str, ...]

    def __init__(self, *values: str) -> None:
        object.__setattr__(self, "values", tuple(values))

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is admitted."""
        return isinstance(value, str) and value in self.values

    @property
    def what(self) -> str:
        """The phrase for error messages."""
        return "one of " + ", ".join(json.dumps(v) for v in self.values)


@dataclass(frozen=True)
class Bool:
    """``true`` or ``false`` (JSON booleans)."""

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is admitted."""
        return isinstance(value, bool)

    @property
    def what(self) -> str:
        """The phrase for error messages."""
        return "true or false"


@dataclass(frozen=True)
class Text:
    """A non-empty string of at most ``max_len`` characters."""

    max_len: int = 1024

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is admitted."""
        return isinstance(value, str) and 0 < len(value.strip()) and len(value) <= self.max_len

    @property
    def what(self) -> str:
        """The phrase for error messages."""
        return "a non-empty string"


@dataclass(frozen=True)
class ListOf:
    """A list of ``min_len`` to ``max_len`` items, each admitted by ``item``; with
    ``comma_string`` also a string of comma-separated items."""

    item: Checker
    min_len: int = 1
    max_len: int = 64
    comma_string: bool = False

    def ok(self, value: Any) -> bool:
        """Whether ``value`` is admitted."""
        if self.comma_string and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            return False
        return self.min_len <= len(value) <= self.max_len and all(self.item.ok(v) for v in value)

    @property
    def what(self) -> str:
        """The phrase for error messages."""
        size = f"at least {self.min_len}" if self.min_len else "any number of"
        text = f"a JSON list of {size} items, each {self.item.what}"
        return text + (", or a comma-separated string of them" if self.comma_string else "")


def validate_params(task_name: str, task: Any, given: dict[str, Any]) -> dict[str, Any]:
    """``task``'s defaults overridden by ``given``, each value checked against the task's
    ``param_schema``.

    Raises :class:`UserError` for a name the task does not have or a value outside its
    declaration; ``TypeError`` when the task does not declare one of its own parameters
    (a programming mistake in the task, caught by the test suite).
    """
    defaults = task.default_params()
    unknown = set(given) - set(defaults)
    if unknown:
        raise UserError(
            f"task {task_name} has no parameter(s) {', '.join(sorted(unknown))}; "
            f"it has: {', '.join(sorted(defaults))}"
        )
    schema: dict[str, Checker] = getattr(task, "param_schema", {})
    undeclared = sorted(set(defaults) - set(schema))
    if undeclared:
        raise TypeError(f"task {task_name} declares no type for {', '.join(undeclared)}")
    params = {**defaults, **given}
    for name, value in params.items():
        if not schema[name].ok(value):
            shown = json.dumps(value, default=str)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise UserError(f"--param {task_name}.{name}={shown}: must be {schema[name].what}")
    return params


def parse_delta(value: Any) -> tuple[str, float]:
    """A δ given as a number or a fraction string (``"2/255"``) → ``(label, value)``."""
    try:
        number = float(Fraction(str(value).strip()))
    except (ValueError, ZeroDivisionError):
        raise UserError(f"perturbation delta {value!r} is not a number or a fraction") from None
    if not number > 0:
        raise UserError(f"perturbation delta {value!r} must be positive")
    return str(value).strip(), number
