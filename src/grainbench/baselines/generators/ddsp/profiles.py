"""Pitch and loudness profiles that drive sampling (the seed's "predefined profiles").

A profile is an f0 track (Hz) and a loudness track (dB) per frame. Two sources:

- clips: the tracks of real clips (:class:`Profiles`, from their :class:`~.features.Features`),
  drawn at random, of the requested note when labels are given (a clip of another note is
  transposed: its f0 scaled by 2^((note − its note)/12));
- a MIDI note and velocity (:func:`midi_profiles`): f0 constant at the note's frequency;
  loudness a *template* track (the per-frame median of the clips' tracks) shifted by
  40·log10(velocity / reference_velocity) dB, the General MIDI / SoundFont default
  velocity law (amplitude ∝ velocity²).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grainbench.baselines.generators.ddsp.features import Features
from grainbench.errors import UserError


def midi_to_hz(note: np.ndarray) -> np.ndarray:
    """MIDI note → Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69.0) / 12.0)


def velocity_gain_db(velocity: np.ndarray, reference: float) -> np.ndarray:
    """Level of ``velocity`` relative to ``reference`` (dB): 40·log10(v / reference)."""
    v = np.asarray(velocity, dtype=np.float64)
    if (v < 1).any() or (v > 127).any() or not 1 <= reference <= 127:
        raise UserError("MIDI velocities must lie in 1…127")
    return 40.0 * np.log10(v / reference)


@dataclass
class Profiles:
    """f0 ``(M, T)`` Hz and loudness ``(M, T)`` dB tracks of ``M`` clips, with their MIDI
    ``labels (M,)`` (−1 unknown)."""

    f0_hz: torch.Tensor
    loudness_db: torch.Tensor
    labels: np.ndarray

    @classmethod
    def from_features(cls, features: Features, labels: np.ndarray | None) -> Profiles:
        """The tracks of clips (labels default to unknown)."""
        lab = np.full(len(features), -1, dtype=np.int64) if labels is None else labels
        lab = np.asarray(lab, dtype=np.int64).ravel()
        if lab.shape != (len(features),):
            raise UserError(f"ddsp: {lab.size} labels for {len(features)} clips")
        return cls(features.f0_hz.clone(), features.loudness_db.clone(), lab)

    def template_loudness(self) -> torch.Tensor:
        """The per-frame median loudness ``(T,)`` dB over the clips."""
        return self.loudness_db.median(dim=0).values

    def draw(
        self, n: int, notes: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` profiles ``(n, T)`` f0 and loudness, of the given MIDI ``notes`` when not None."""
        if notes is None:
            pick = rng.integers(0, len(self.labels), size=n)
            return self.f0_hz[pick], self.loudness_db[pick]
        notes = np.asarray(notes, dtype=np.int64).ravel()
        if notes.shape != (n,):
            raise UserError(f"ddsp: {notes.size} notes for {n} samples")
        pick = np.empty(n, dtype=np.int64)
        for note in np.unique(notes):
            sel = np.flatnonzero(notes == note)
            pool = np.flatnonzero(self.labels == note)
            if pool.size == 0:
                pool = np.flatnonzero(self.labels >= 0)
            if pool.size == 0:
                raise UserError(
                    f"ddsp: no profile can play MIDI note {int(note)} (no labelled clips)"
                )
            pick[sel] = pool[rng.integers(0, pool.size, size=sel.size)]
        shift = torch.from_numpy(2.0 ** ((notes - self.labels[pick]) / 12.0)).float()
        return self.f0_hz[pick] * shift[:, None], self.loudness_db[pick]


def midi_profiles(
    notes: np.ndarray, velocities: np.ndarray, template_db: torch.Tensor, reference: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """f0 and loudness ``(n, T)`` for MIDI ``notes`` and ``velocities`` (module doc)."""
    notes = np.asarray(notes, dtype=np.float64).ravel()
    vel = np.broadcast_to(np.asarray(velocities, dtype=np.float64), notes.shape)
    gain = torch.from_numpy(velocity_gain_db(vel, reference)).float()
    f0 = torch.from_numpy(midi_to_hz(notes)).float()[:, None].expand(-1, template_db.shape[0])
    return f0.contiguous(), template_db[None, :] + gain[:, None]
