"""Reference generators StyleGAN2 and StyleGAN3, written from the papers, for any image shape.

- :mod:`.layers`: equalised-lr layers, modulated convolution, FIR resampling, Kaiser filters
- :mod:`.schedule`: anisotropic growth schedules (e.g. 2×131,072, 64×1,024)
- :mod:`.stylegan2`, :mod:`.stylegan3`: the networks
- :mod:`.augment`: ADA restricted to audio-safe operations
- :mod:`.normalize`: per-pixel (SpecGAN-style) training-image normalisation, undone by G
- :mod:`.loss`, :mod:`.train`: losses, the training loop, checkpoints, resume
- :mod:`.configs`: named configs ``tiny``, ``cpu``, ``ki``, ``ki-sg3``
- :mod:`.ddp`: multi-process training through ``torchrun``
- :mod:`.generator`: the SPEC generator protocol (``fit``/``sample``)
- :mod:`.export`: TorchScript export (latent → image or waveform)

Registers the generators ``stylegan2`` and ``stylegan3``.
"""

from grainbench.baselines.generators.stylegan.configs import CONFIGS, StyleGANConfig, get_config
from grainbench.baselines.generators.stylegan.export import export_torchscript
from grainbench.baselines.generators.stylegan.generator import (
    StyleGANGenerator,
    stylegan2_factory,
    stylegan3_factory,
)
from grainbench.baselines.generators.stylegan.train import Trainer, load_generator
from grainbench.registry import GENERATORS

GENERATORS.register(
    "stylegan2",
    stylegan2_factory,
    "StyleGAN2 (skip G, residual D, lazy R1, EMA, audio-safe ADA); any (C, H, W) with power-of-two sides",
)
GENERATORS.register(
    "stylegan3",
    stylegan3_factory,
    "StyleGAN3-T (alias-free, Fourier input, filtered nonlinearities); any (C, H, W) with power-of-two sides",
)

__all__ = [
    "CONFIGS",
    "StyleGANConfig",
    "StyleGANGenerator",
    "Trainer",
    "export_torchscript",
    "get_config",
    "load_generator",
]
