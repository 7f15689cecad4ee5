"""Reference generators StyleGAN2 and StyleGAN3, written from the papers, for any image shape.

- :mod:`.layers`: equalised-lr layers, modulated convolution, FIR resampling, Kaiser filters
- :mod:`.schedule`: anisotropic growth schedules (e.g. 2×131,072, 64×1,024)
- :mod:`.stylegan2`, :mod:`.stylegan3`: the generator networks; :mod:`.discriminator`
- :mod:`.augment`: ADA restricted to audio-safe operations
- :mod:`.normalize`: per-pixel (SpecGAN-style) training-image normalisation, undone by G
- :mod:`.loss`, :mod:`.train`, :mod:`.checkpoint`: losses, the training loop, checkpoints, resume
- :mod:`.configs`: named configs ``tiny``, ``cpu``, ``ki``, ``ki-sg3``
- :mod:`.ddp`: multi-process training through ``torchrun``
- :mod:`.generator`: the SPEC generator protocol (``fit``/``sample``)
- :mod:`.export`: TorchScript export (latent → image or waveform)

The generators ``stylegan2`` and ``stylegan3`` (registered by :mod:`grainbench.builtins`).
"""

from grainbench.baselines.generators.stylegan.checkpoint import load_generator
from grainbench.baselines.generators.stylegan.configs import CONFIGS, StyleGANConfig, get_config
from grainbench.baselines.generators.stylegan.export import export_torchscript
from grainbench.baselines.generators.stylegan.generator import StyleGANGenerator
from grainbench.baselines.generators.stylegan.train import Trainer

__all__ = [
    "CONFIGS",
    "StyleGANConfig",
    "StyleGANGenerator",
    "Trainer",
    "export_torchscript",
    "get_config",
    "load_generator",
]
