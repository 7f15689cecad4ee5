"""DDSP (Engel et al., ICLR 2020), written from the paper, made generative by a GMM over z.

- :mod:`.loudness`: A-weighting and A-weighted loudness in dB
- :mod:`.features`: f0 (CREPE), loudness and MFCCs per frame; the feature cache
- :mod:`.synth`: harmonic oscillators (anti-aliased), filtered noise, learned reverb
- :mod:`.loss`: the multi-scale spectral loss
- :mod:`.configs`: named configs ``tiny``, ``cpu``, ``paper`` and the variants
- :mod:`.model`: encoder (MFCC → GRU → z), decoder (MLPs + GRU → controls), synthesiser
- :mod:`.train`: training steps, checkpoints (safetensors + JSON), resume
- :mod:`.latent`: the Gaussian mixture over z, components by BIC
- :mod:`.profiles`: pitch and loudness profiles from clips or from a MIDI note and velocity
- :mod:`.controls`: DDSP's controls as ``harmonic-noise`` images
- :mod:`.evaluate`: reconstruction numbers of a trained model on held-out clips
- :mod:`.command`: the ``grainbench train --gen ddsp`` branch
- :mod:`.generator`: the generator protocols (audio: ``fit_audio``/``sample_audio``;
  images: ``fit``/``sample``/``project``)

The generator ``ddsp`` (registered by :mod:`grainbench.builtins`). Measurements and departures from the paper: docs/ddsp.md.
"""

from grainbench.baselines.generators.ddsp.generator import DDSPGenerator

__all__ = ["DDSPGenerator"]
