"""Reference representations and generators shipped with grainbench."""

from grainbench.baselines import generators, harmonic_noise, representations, tf_representations

__all__ = ["generators", "harmonic_noise", "representations", "tf_representations"]
