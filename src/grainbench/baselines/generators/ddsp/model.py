"""The DDSP autoencoder: MFCC encoder → z, decoder (f0, loudness, z) → synthesiser controls.

Shapes: ``B`` clips, ``T`` frames, ``K`` harmonics, ``J`` noise bands, ``N = T·hop`` samples.

- :class:`Encoder`: MFCCs ``(B, T, M)`` → per-coefficient normalisation over time (instance
  norm) → GRU → linear → z(t) ``(B, T, z_dim)``, then the mean over frames: one z per clip.
  The paper's z(t) varies per frame; a clip-level z is what a mixture over the training
  set's z can model and sample (a sequence of independent frame draws would flicker).
- :class:`Decoder`: f0 (MIDI/127) and loudness (dB/120 + 1) per frame, and z when used,
  each through an MLP (Linear → LayerNorm → LeakyReLU, ``mlp_layers`` deep), concatenated,
  a GRU, its output concatenated with the MLP outputs again, one more MLP and a linear
  layer → overall amplitude ``(B, T)``, harmonic distribution ``(B, K, T)`` and noise band
  magnitudes ``(B, J, T)``, all through :func:`~.synth.exp_sigmoid` (noise logits start
  at −5: quiet noise at first).
- :class:`DDSP`: both plus the synthesiser (:mod:`.synth`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from grainbench.baselines.generators.ddsp.configs import DDSPConfig
from grainbench.baselines.generators.ddsp.features import Features, frame_hop
from grainbench.baselines.generators.ddsp.synth import (
    Reverb,
    exp_sigmoid,
    filtered_noise,
    harmonic_amplitudes,
    harmonic_synth,
)

NOISE_BIAS = -5.0
"""Initial offset of the noise logits (the paper's)."""


def mlp(n_in: int, units: int, layers: int) -> nn.Sequential:
    """``layers`` × (Linear → LayerNorm → LeakyReLU), ``n_in`` → ``units`` features."""
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [nn.Linear(n_in if i == 0 else units, units), nn.LayerNorm(units), nn.LeakyReLU()]
    return nn.Sequential(*mods)


def scale_f0(f0_hz: torch.Tensor) -> torch.Tensor:
    """f0 (Hz) → MIDI pitch / 127 (0 … 1 over the MIDI range)."""
    return (69.0 + 12.0 * torch.log2(f0_hz.clamp_min(1.0) / 440.0)) / 127.0


def scale_loudness(loudness_db: torch.Tensor) -> torch.Tensor:
    """Loudness (dB, −120 … 0) → 0 … 1."""
    return loudness_db / 120.0 + 1.0


@dataclass
class Controls:
    """Synthesiser controls per frame: ``f0_hz (B, T)``, ``harmonics (B, K, T)`` (linear
    amplitude of each harmonic, zero at or above Nyquist) and ``noise (B, J, T)`` (linear
    band magnitudes of the noise filter; ``None`` for a harmonic-only model)."""

    f0_hz: torch.Tensor
    harmonics: torch.Tensor
    noise: torch.Tensor | None


class Encoder(nn.Module):
    """MFCCs ``(B, T, n_mfcc)`` → z ``(B, z_dim)`` (module doc)."""

    def __init__(self, n_mfcc: int, units: int, z_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm1d(n_mfcc, affine=True)
        self.gru = nn.GRU(n_mfcc, units, batch_first=True)
        self.out = nn.Linear(units, z_dim)

    def forward(self, mfcc: torch.Tensor) -> torch.Tensor:
        """One z per clip: the mean of z(t) over frames."""
        x = self.norm(mfcc.transpose(1, 2)).transpose(1, 2)
        h, _ = self.gru(x)
        return self.out(h).mean(dim=1)


class Decoder(nn.Module):
    """(f0, loudness[, z]) per frame → amplitude, harmonic distribution, noise (module doc)."""

    def __init__(self, cfg: DDSPConfig) -> None:
        super().__init__()
        self.use_z, self.noise = cfg.use_z, cfg.noise
        self.n_harmonics, self.n_bands = cfg.n_harmonics, cfg.n_noise_bands
        h = cfg.hidden
        self.f0_mlp = mlp(1, h, cfg.mlp_layers)
        self.ld_mlp = mlp(1, h, cfg.mlp_layers)
        n_in = 2 * h
        if self.use_z:
            self.z_mlp = mlp(cfg.z_dim, h, cfg.mlp_layers)
            n_in += h
        self.gru = nn.GRU(n_in, cfg.gru_units, batch_first=True)
        self.out_mlp = mlp(cfg.gru_units + n_in, h, cfg.mlp_layers)
        n_out = 1 + self.n_harmonics + (self.n_bands if self.noise else 0)
        self.out = nn.Linear(h, n_out)

    def forward(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, z: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(B, T)`` f0 and loudness, z ``(B, z_dim)`` → amplitude ``(B, T)``,
        distribution ``(B, K, T)``, noise magnitudes ``(B, J, T)`` or ``None``."""
        parts = [
            self.f0_mlp(scale_f0(f0_hz).unsqueeze(-1)),
            self.ld_mlp(scale_loudness(loudness_db).unsqueeze(-1)),
        ]
        if self.use_z:
            if z is None:
                raise ValueError("this decoder is conditioned on z")
            parts.append(self.z_mlp(z).unsqueeze(1).expand(-1, f0_hz.shape[1], -1))
        x = torch.cat(parts, dim=-1)
        h, _ = self.gru(x)
        y = self.out(self.out_mlp(torch.cat([h, x], dim=-1)))
        amplitude = exp_sigmoid(y[..., 0])
        dist = exp_sigmoid(y[..., 1 : 1 + self.n_harmonics]).transpose(1, 2)
        noise = None
        if self.noise:
            noise = exp_sigmoid(y[..., 1 + self.n_harmonics :] + NOISE_BIAS).transpose(1, 2)
        return amplitude, dist, noise


class DDSP(nn.Module):
    """Encoder (when ``use_z``), decoder and synthesiser of one configuration."""

    def __init__(self, cfg: DDSPConfig, seed: int = 0) -> None:
        super().__init__()
        self.cfg = cfg
        self.sample_rate = int(cfg.sample_rate)
        self.hop = frame_hop(cfg.sample_rate, cfg.frame_rate)
        self.encoder = Encoder(cfg.n_mfcc, cfg.encoder_units, cfg.z_dim) if cfg.use_z else None
        self.decoder = Decoder(cfg)
        self.reverb = Reverb(cfg.reverb_taps, seed=seed) if cfg.reverb else None

    def encode(self, features: Features) -> torch.Tensor | None:
        """z ``(B, z_dim)`` of the clips' MFCCs, or ``None`` without an encoder."""
        return None if self.encoder is None else self.encoder(features.mfcc)

    def controls(
        self, f0_hz: torch.Tensor, loudness_db: torch.Tensor, z: torch.Tensor | None
    ) -> Controls:
        """The decoder's controls for f0 and loudness ``(B, T)`` and z ``(B, z_dim)``."""
        amplitude, dist, noise = self.decoder(f0_hz, loudness_db, z)
        harmonics = harmonic_amplitudes(f0_hz, amplitude, dist, self.sample_rate)
        return Controls(f0_hz, harmonics, noise)

    def synthesize(
        self, controls: Controls, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Controls → (harmonic + noise audio after the reverb ``(B, N)``, the noise part
        alone before the reverb or ``None``); the noise excitation is uniform in [−1, 1]
        drawn from ``generator``."""
        audio = harmonic_synth(controls.f0_hz, controls.harmonics, self.sample_rate, self.hop)
        noise = None
        if controls.noise is not None:
            excitation = torch.rand(audio.shape, generator=generator, device=audio.device)
            noise = filtered_noise(controls.noise, 2.0 * excitation - 1.0, self.hop)
            audio = audio + noise
        if self.reverb is not None:
            audio = self.reverb(audio)
        return audio, noise

    def forward(self, features: Features, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reconstruct clips from their features: audio ``(B, N)``."""
        z = self.encode(features)
        return self.synthesize(self.controls(features.f0_hz, features.loudness_db, z), generator)[0]
