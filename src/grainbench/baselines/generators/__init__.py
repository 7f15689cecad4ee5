"""grainbench baselines/generators."""

from grainbench.baselines.generators import (  # noqa: F401
    gmm,
    oracle,
    stylegan,  # noqa: F401
)
