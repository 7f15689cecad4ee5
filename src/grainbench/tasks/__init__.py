"""The standard tasks; each module registers its task in ``grainbench.registry.TASKS``."""

from grainbench.tasks import (  # noqa: F401
    generation,
    locality,
    perturbation,
    roundtrip,
    throughput,
    transfer,
)

SPEC_ORDER = ("roundtrip", "perturbation", "locality", "transfer", "generation", "throughput")
"""The order of SPEC section 4, in which a run executes and reports its tasks."""
