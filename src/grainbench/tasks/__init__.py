"""The standard tasks; each module registers its task in ``grainbench.registry.TASKS``."""

from grainbench.tasks import (  # noqa: F401
    generation,
    locality,
    perturbation,
    realized,
    reconstruction,
    roundtrip,
    throughput,
    transfer,
)

SPEC_ORDER = (
    "roundtrip",
    "perturbation",
    "locality",
    "transfer",
    "generation",
    "realized",
    "throughput",
)
"""The order of SPEC section 4, in which a run executes and reports its tasks; ``realized``
(4.7) runs right after ``generation`` so that both use one fit of the generator (the
throughput task refits it on a subset for its timings)."""
