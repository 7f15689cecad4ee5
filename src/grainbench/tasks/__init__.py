"""The standard tasks; each module registers its task in ``grainbench.registry.TASKS``."""

from grainbench.tasks import roundtrip  # noqa: F401
from grainbench.tasks import generation  # noqa: F401
from grainbench.tasks import perturbation  # noqa: F401
from grainbench.tasks import locality  # noqa: F401
from grainbench.tasks import transfer  # noqa: F401
