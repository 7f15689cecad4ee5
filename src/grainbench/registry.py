"""Name registries for representations, datasets, tasks and generators."""

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
    """A mapping from names to registered objects, with helpful errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, obj: Any, summary: str) -> Any:
        """Register ``obj`` under ``name``; returns ``obj`` so it can be used as a decorator body."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, obj, summary)
        return obj

    def decorator(self, name: str, summary: str) -> Callable[[Any], Any]:
        """Decorator form of :meth:`register`."""
        return lambda obj: self.register(name, obj, summary)

    def get(self, name: str) -> Any:
        """The object registered as ``name``; a :class:`UserError` naming the choices otherwise."""
        _load_builtins()
        if name not in self._entries:
            choices = ", ".join(sorted(self._entries))
            raise UserError(f"unknown {self.kind} {name!r}; choose one of: {choices}")
        return self._entries[name].obj

    def entries(self) -> list[Entry]:
        """All entries, sorted by name."""
        _load_builtins()
        return [self._entries[k] for k in sorted(self._entries)]

    def __contains__(self, name: str) -> bool:
        _load_builtins()
        return name in self._entries


REPRESENTATIONS = Registry("representation")
DATASETS = Registry("dataset")
TASKS = Registry("task")
GENERATORS = Registry("generator")

_loaded = False


def _load_builtins() -> None:
    """Import the modules that register the built-ins (once, lazily, to avoid import cycles)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import grainbench.baselines  # noqa: F401
    import grainbench.data  # noqa: F401
    import grainbench.tasks  # noqa: F401
