"""Named DDSP configurations (every hyper-parameter of a model and its training, JSON-able).

=========  ==========================================================================
name       what it is for
=========  ==========================================================================
``tiny``   tests: 16 kHz clips of 4,096 samples, 32 units, 16 harmonics, 17 noise
           bands, 3 FFT sizes; a step takes milliseconds.
``cpu``    the board's small setting (16 kHz, 16,384 samples) on one core of a 2-core
           CPU in under 30 minutes: 128 units per MLP layer and GRU, 64 harmonics (up
           to Nyquist for f0 ≥ 125 Hz), 65 noise bands, batch 16, Adam at 1e-3.
``paper``  the paper's sizes (512 units, 100 harmonics, 65 bands, 16 kHz, 4 s clips,
           full CREPE every 4 ms, batch 32, lr 1e-3 decaying by 0.98 every 10,000
           steps, 30,000 steps); GPU.
=========  ==========================================================================

Variants: ``noise`` (harmonic + filtered noise, else harmonic only), ``use_z`` (the MFCC
encoder's z conditions the decoder) and ``reverb`` (a learned impulse response).
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from grainbench.errors import UserError


@dataclass
class DDSPConfig:
    """Every hyper-parameter of a DDSP model and its training run."""

    name: str = "custom"
    # setting and features
    sample_rate: int = 16000
    n_samples: int = 16384
    frame_rate: float = 250.0
    crepe_model: str = "tiny"
    crepe_hop: int = 160
    voicing: float = 0.5
    n_mfcc: int = 30
    n_mels: int = 128
    mfcc_fft: int = 1024
    # model
    z_dim: int = 16
    encoder_units: int = 128
    hidden: int = 128
    mlp_layers: int = 3
    gru_units: int = 128
    n_harmonics: int = 64
    n_noise_bands: int = 65
    noise: bool = True
    use_z: bool = True
    reverb: bool = False
    reverb_taps: int = 4096
    # training
    batch: int = 16
    lr: float = 1e-3
    lr_decay: float = 0.98
    lr_decay_steps: int = 10000
    grad_clip: float = 3.0
    loss_sizes: list[int] = field(default_factory=lambda: [2048, 1024, 512, 256, 128, 64])
    log_weight: float = 1.0
    kimg: float = 16.0
    checkpoint_every: int = 100
    keep_checkpoints: int = 2

    def variant(self) -> str:
        """``harmonic`` or ``harmonic+noise``, with ``+z`` and ``+reverb`` when used."""
        name = "harmonic+noise" if self.noise else "harmonic"
        return name + ("+z" if self.use_z else "") + ("+reverb" if self.reverb else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DDSPConfig:
        """The config stored by :meth:`to_dict` (unknown keys are an error)."""
        names = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(data) - names)
        if extra:
            raise UserError(f"ddsp config: unknown field(s) {', '.join(extra)}")
        return cls(**data)


CONFIGS: dict[str, dict[str, Any]] = {
    "tiny": {
        "n_samples": 4096,
        "n_mfcc": 13,
        "n_mels": 40,
        "mfcc_fft": 512,
        "encoder_units": 32,
        "hidden": 32,
        "mlp_layers": 1,
        "gru_units": 32,
        "n_harmonics": 16,
        "n_noise_bands": 17,
        "reverb_taps": 256,
        "batch": 4,
        "loss_sizes": [512, 128, 64],
        "kimg": 0.2,
        "checkpoint_every": 10,
    },
    "cpu": {},
    "paper": {
        "n_samples": 64000,
        "crepe_model": "full",
        "crepe_hop": 64,
        "encoder_units": 512,
        "hidden": 512,
        "gru_units": 512,
        "n_harmonics": 100,
        "batch": 32,
        "kimg": 960.0,
        "checkpoint_every": 1000,
    },
}


def get_config(name: str, **overrides: Any) -> DDSPConfig:
    """The named config with ``overrides`` (any :class:`DDSPConfig` field) applied."""
    if name not in CONFIGS:
        raise UserError(f"ddsp config {name!r}: choose one of {', '.join(CONFIGS)}")
    fields = {f.name: f for f in dataclasses.fields(DDSPConfig)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise UserError(f"ddsp config has no field(s) {', '.join(unknown)}")
    values = {**CONFIGS[name], **overrides, "name": name}
    cfg = DDSPConfig(**values)
    for f in dataclasses.fields(DDSPConfig):
        value = getattr(cfg, f.name)
        kind = type(getattr(DDSPConfig(), f.name))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            setattr(cfg, f.name, float(value))
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise UserError(f"ddsp config field {f.name}={value!r}: expected {kind.__name__}")
    if cfg.n_noise_bands < 2 or cfg.n_harmonics < 1 or cfg.z_dim < 1 or cfg.batch < 1:
        raise UserError(
            "ddsp config: need n_noise_bands ≥ 2, n_harmonics ≥ 1, z_dim ≥ 1, batch ≥ 1"
        )
    return cfg


def feature_options(cfg: DDSPConfig) -> dict[str, Any]:
    """The keyword options of :func:`.features.compute_features` for ``cfg``."""
    return {
        "crepe_model": cfg.crepe_model,
        "crepe_hop": cfg.crepe_hop,
        "voicing": cfg.voicing,
        "n_mfcc": cfg.n_mfcc,
        "mfcc_fft": cfg.mfcc_fft,
        "n_mels": cfg.n_mels,
    }
