"""Pitch metrics of generated clips from CREPE's outputs (:mod:`grainbench.metrics.crepe`).

- :func:`pitch_accuracy` (and :func:`pitch_hits`, :func:`cents_off`): is each clip's pitch
  within a tolerance of the intended MIDI note;
- :func:`pitch_score`: an inception-style score of the pitch-class probabilities
  (:func:`pitch_class_probs`).
"""

from __future__ import annotations

import numpy as np

from grainbench.errors import UserError
from grainbench.metrics.crepe import N_BINS, bin_cents, cents_to_hz, hz_to_cents, midi_to_hz


def cents_off(pitch_hz: np.ndarray, target_hz: np.ndarray) -> np.ndarray:
    """Signed pitch error in cents, 1200·log2(f / f_target); NaN where no pitch was found."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return hz_to_cents(pitch_hz) - hz_to_cents(target_hz)


def pitch_hits(
    pitch_hz: np.ndarray, intended_midi: np.ndarray, tolerance_cents: float = 50.0
) -> np.ndarray:
    """Per clip: is the measured pitch within ``tolerance_cents`` of the intended MIDI note?

    A clip with no measured pitch (NaN) is a miss.
    """
    off = cents_off(np.asarray(pitch_hz, np.float64), midi_to_hz(intended_midi))
    return np.nan_to_num(np.abs(off), nan=np.inf) <= tolerance_cents


def pitch_accuracy(
    pitch_hz: np.ndarray, intended_midi: np.ndarray, tolerance_cents: float = 50.0
) -> float:
    """Share of clips whose pitch is within ``tolerance_cents`` of the intended MIDI note."""
    return float(pitch_hits(pitch_hz, intended_midi, tolerance_cents).mean())


def midi_of_bins() -> np.ndarray:
    """The MIDI note nearest to each CREPE pitch bin (bin 0, 31.7 Hz, is nearest MIDI 23)."""
    midi = 69.0 + 12.0 * np.log2(cents_to_hz(bin_cents()) / 440.0)
    return np.rint(midi).astype(int)


def pitch_class_probs(salience_sum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold CREPE's 360 bins to MIDI notes: per-clip class probabilities and the notes.

    ``salience_sum`` ``(N, 360)`` is each bin's salience summed over a clip's frames, so
    confident frames weigh more; the bins nearest each MIDI note are added up and each row
    normalised to sum 1. Returns ``(p (N, n_notes), notes (n_notes,))``.
    """
    sal = np.asarray(salience_sum, dtype=np.float64)
    if sal.ndim != 2 or sal.shape[1] != N_BINS:
        raise UserError(f"salience sums must be (N, {N_BINS}), got {sal.shape}")
    midi = midi_of_bins()
    notes = np.unique(midi)
    folded = np.zeros((sal.shape[0], notes.size))
    np.add.at(folded.T, midi - notes[0], sal.T)
    total = folded.sum(1, keepdims=True)
    uniform = np.full_like(folded, 1.0 / notes.size)
    probs = np.divide(folded, total, out=uniform, where=total > 0)
    return probs, notes


def pitch_score(probs: np.ndarray) -> float:
    """Inception-style score exp(E_x KL(p(y|x) ‖ p(y))) of class probabilities ``(N, K)``.

    1 when every clip has the same class distribution; K when every clip is certain of its
    class and the classes are used equally. For a single-note data set the real data scores
    near 1: the score measures confident and varied pitches, so it is meaningful on
    multi-pitch sets (``piano-88``) and a sanity check elsewhere.
    """
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))
