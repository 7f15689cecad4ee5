"""The four registries — ``REPRESENTATIONS``, ``DATASETS``, ``TASKS``, ``GENERATORS`` — filled
on first use.

Filling calls :func:`grainbench.builtins.register` (grainbench's own entries), then the
``register(registries)`` function each installed package names in its
``grainbench.plugins`` entry point group, e.g. in its ``pyproject.toml``::

    [project.entry-points."grainbench.plugins"]
    mypackage = "mypackage.grain:register"

where ``register(registries)`` calls ``registries.representations.register(name, factory,
summary)`` (and ``.datasets``, ``.tasks``, ``.generators`` likewise). A package that fails
to load or register, or takes a name already taken, is a :class:`UserError`.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from grainbench import guard
from grainbench.registry import Registries, Registry

GROUP = "grainbench.plugins"
"""The entry point group a package declares its ``register(registries)`` function in."""

_OWN = "grainbench.builtins"


def register_packages(registries: Registries) -> None:
    """Run every installed package's ``grainbench.plugins`` entry point on ``registries``
    (grainbench's own entry point excepted: :func:`fresh` registers the built-ins directly)."""
    for point in sorted(entry_points(group=GROUP), key=lambda p: (p.name, p.value)):
        if point.module == _OWN:
            continue
        what = f"plugin package entry point {point.name} = {point.value}"
        register = guard.call(f"{what}: load", point.load)
        guard.call(f"{what}: register", register, registries)


def fresh() -> Registries:
    """Four new registries that fill themselves, on the first lookup in any of them, with
    the built-ins and then the installed packages' entries."""
    filled = False

    def fill() -> None:
        nonlocal filled
        if filled:
            return
        filled = True
        from grainbench.builtins import register

        register(registries)
        register_packages(registries)

    registries = Registries(
        representations=Registry("representation", fill),
        datasets=Registry("dataset", fill),
        tasks=Registry("task", fill),
        generators=Registry("generator", fill),
    )
    return registries


REGISTRIES = fresh()
REPRESENTATIONS = REGISTRIES.representations
DATASETS = REGISTRIES.datasets
TASKS = REGISTRIES.tasks
GENERATORS = REGISTRIES.generators
