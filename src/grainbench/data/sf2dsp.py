"""The signal processing of the SoundFont player: volume envelope and resampling.

Both follow the rules in :mod:`grainbench.data.sf2player`'s docstring: a DAHDSR envelope
(attack linear in amplitude, decay and release linear in decibels) and Kaiser-windowed sinc
interpolation whose kernel stretches when a sample is read faster than one source sample
per output sample. All arithmetic is float64.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from grainbench.data.sf2voice import (
    GEN_ATTACK_VOL,
    GEN_DECAY_VOL,
    GEN_DELAY_VOL,
    GEN_HOLD_VOL,
    GEN_KEY_TO_DECAY,
    GEN_KEY_TO_HOLD,
    GEN_RELEASE_VOL,
    GEN_SUSTAIN_VOL,
    Voice,
)

SILENCE_CB = 1000.0
"""Attenuation (centibels) at which a voice counts as silent: 100 dB."""

# Interpolation kernel (see the module docstring).
HALF_TAPS = 16
_CUTOFF = 0.45
_KAISER_BETA = 7.0
_PHASES = 4096
_BLOCK = 8192


def timecents_to_seconds(timecents: float) -> float:
    """Convert SF2 timecents to seconds (-32768 and below mean exactly zero)."""
    if timecents <= -32768:
        return 0.0
    return 2.0 ** (timecents / 1200.0)


def volume_envelope(voice: Voice, sample_rate: int, n_samples: int, note_off: int) -> np.ndarray:
    """The DAHDSR volume envelope of ``voice`` (amplitude, float64), note-off at sample ``note_off``."""
    key_offset = 60 - voice.pitch_key
    delay = timecents_to_seconds(voice.gen(GEN_DELAY_VOL))
    attack = timecents_to_seconds(voice.gen(GEN_ATTACK_VOL))
    hold = timecents_to_seconds(voice.gen(GEN_HOLD_VOL) + voice.gen(GEN_KEY_TO_HOLD) * key_offset)
    decay = timecents_to_seconds(
        voice.gen(GEN_DECAY_VOL) + voice.gen(GEN_KEY_TO_DECAY) * key_offset
    )
    sustain_cb = float(voice.gen(GEN_SUSTAIN_VOL))
    release = timecents_to_seconds(voice.gen(GEN_RELEASE_VOL))

    t = np.arange(n_samples, dtype=np.float64) / sample_rate
    attack_end = delay + attack
    decay_start = attack_end + hold
    if decay > 0:
        decay_cb = np.minimum(SILENCE_CB * np.maximum(t - decay_start, 0.0) / decay, sustain_cb)
    else:
        decay_cb = np.full(n_samples, sustain_cb)
    envelope = _cb_to_amplitude(decay_cb)
    if attack > 0:
        ramp = np.clip((t - delay) / attack, 0.0, 1.0)
        envelope = np.where(t < attack_end, ramp, envelope)
    envelope[t < delay] = 0.0
    if note_off < n_samples:
        level = envelope[note_off]
        off_cb = -200.0 * math.log10(level) if level > 0 else SILENCE_CB
        after = t[note_off:] - t[note_off]
        rate = SILENCE_CB / release if release > 0 else math.inf
        with np.errstate(invalid="ignore"):
            release_cb = off_cb + rate * after
        release_cb[0] = off_cb
        envelope[note_off:] = _cb_to_amplitude(release_cb)
    return envelope


def _cb_to_amplitude(attenuation_cb: np.ndarray) -> np.ndarray:
    """Amplitude of an attenuation in centibels; 0 from :data:`SILENCE_CB` on."""
    amplitude = np.exp(attenuation_cb * (-math.log(10.0) / 200.0))
    amplitude[attenuation_cb >= SILENCE_CB] = 0.0
    return amplitude


@functools.lru_cache(maxsize=8)
def _kernel_table(scale: float) -> tuple[np.ndarray, int]:
    """Windowed-sinc kernel rows for each sub-sample phase, and the half width in taps."""
    half = math.ceil(HALF_TAPS * scale)
    phases = max(256, math.ceil(_PHASES / scale))
    offsets = np.arange(2 * half, dtype=np.float64) + 1 - half  # tap t sits at i0 + 1 - half + t
    fractions = np.arange(phases, dtype=np.float64) / phases
    distance = offsets[None, :] - fractions[:, None]
    cutoff = 2.0 * _CUTOFF / scale
    window_arg = np.clip(1.0 - (distance / half) ** 2, 0.0, None)
    kernel = np.sinc(cutoff * distance) * np.i0(_KAISER_BETA * np.sqrt(window_arg))
    kernel /= kernel.sum(axis=1, keepdims=True)
    return kernel, half


def windowed_sinc_resample(source: np.ndarray, step: float, n_out: int) -> np.ndarray:
    """Read ``source`` at positions ``0, step, 2 step, ...`` (``n_out`` of them) by sinc interpolation.

    Samples outside ``source`` count as zero. Kaiser-windowed sinc, see the module docstring.
    """
    if step <= 0:
        raise ValueError(f"resampling step must be positive, got {step}")
    scale = max(1.0, step)
    table, half = _kernel_table(round(scale, 6))
    phases = table.shape[0]
    out = np.zeros(n_out, dtype=np.float64)
    # only positions whose kernel overlaps the source produce sound
    n_valid = min(n_out, max(0, math.ceil((len(source) + half) / step)))
    if n_valid == 0:
        return out
    padded = np.concatenate([np.zeros(half), source, np.zeros(2 * half + 2)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half)
    for first in range(0, n_valid, _BLOCK):
        index = np.arange(first, min(first + _BLOCK, n_valid), dtype=np.float64)
        position = index * step
        whole = np.floor(position)
        phase = np.rint((position - whole) * phases).astype(np.int64)
        carry = phase == phases
        whole[carry] += 1
        phase[carry] = 0
        rows = whole.astype(np.int64) + 1
        out[first : first + len(index)] = np.einsum("ij,ij->i", windows[rows], table[phase])
    return out
