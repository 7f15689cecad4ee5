"""grainbench baselines/generators."""

from grainbench.baselines.generators import gmm, oracle  # noqa: F401
from grainbench.baselines.generators import stylegan  # noqa: F401
