"""grainbench baselines/generators."""

from grainbench.baselines.generators import (  # noqa: F401
    ddsp,
    gmm,
    oracle,
    stylegan,  # noqa: F401
)
