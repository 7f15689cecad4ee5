"""grainbench: measure the grain of audio representations."""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``grainbench.apply`` (:func:`grainbench.effect.apply`), imported on first use so that
    ``import grainbench`` stays light."""
    if name == "apply":
        from grainbench.effect import apply

        return apply
    raise AttributeError(f"module 'grainbench' has no attribute {name!r}")
