"""The standard tasks; each module registers its task in ``grainbench.registry.TASKS``."""

from grainbench.tasks import generation, locality, perturbation, roundtrip, transfer  # noqa: F401

SPEC_ORDER = ("roundtrip", "perturbation", "locality", "transfer", "generation")
"""The order of SPEC section 4, in which a run executes and reports its tasks."""
