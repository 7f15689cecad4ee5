"""grainbench: measure the grain of audio representations.

``grainbench.load_result(path)`` and ``grainbench.load_board(path="leaderboards/")`` return
results as pandas DataFrames (:mod:`grainbench.frames`); they are imported on first use, so
that ``import grainbench`` stays light.
"""

from __future__ import annotations

from typing import Any

from grainbench.version import __version__ as __version__

_FRAMES = ("load_result", "load_board")


def __getattr__(name: str) -> Any:
    """``load_result`` and ``load_board`` from :mod:`grainbench.frames` and ``apply``
    (:func:`grainbench.effect.apply`), imported on first use."""
    if name in _FRAMES:
        from grainbench import frames

        return getattr(frames, name)
    if name == "apply":
        from grainbench.effect import apply

        return apply
    raise AttributeError(f"module 'grainbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_FRAMES, "apply"])
