"""The name registry: a container of named objects, filled lazily by whoever owns it.

This module imports nothing that registers anything: :mod:`grainbench.registries` holds the
four registries and fills them (with :mod:`grainbench.builtins` and installed packages'
entry points) on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grainbench.errors import UserError


@dataclass(frozen=True)
class Entry:
    """One registered object: its name, what builds it, and a one-line summary."""

    name: str
    obj: Any
    summary: str


class Registry:
    """A mapping from names to registered objects, with helpful errors.

    ``fill`` (optional) is called once, before the first lookup, to register the entries.
    """

    def __init__(self, kind: str, fill: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._fill = fill

    def _filled(self) -> dict[str, Entry]:
        fill, self._fill = self._fill, None
        if fill is not None:
            fill()
        return self._entries

    def register(self, name: str, obj: Any, summary: str) -> Any:
        """Register ``obj`` under ``name`` (a ``ValueError`` when taken); returns ``obj``."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, obj, summary)
        return obj

    def get(self, name: str) -> Any:
        """The object registered as ``name``; a :class:`UserError` naming the choices otherwise."""
        entries = self._filled()
        if name not in entries:
            choices = ", ".join(sorted(entries))
            raise UserError(f"unknown {self.kind} {name!r}; choose one of: {choices}")
        return entries[name].obj

    def entries(self) -> list[Entry]:
        """All entries, sorted by name."""
        entries = self._filled()
        return [entries[k] for k in sorted(entries)]

    def __contains__(self, name: str) -> bool:
        return name in self._filled()


@dataclass(frozen=True)
class Registries:
    """The four registries a plugin package's ``register(registries)`` fills."""

    representations: Registry
    datasets: Registry
    tasks: Registry
    generators: Registry
