"""``synth-piano``: a pure-numpy inharmonic additive piano model, tiny and fast, for tests.

Each note is a sum of damped sinusoids:

- partials ``f_k = k f0 sqrt(1 + B k^2)`` (stiff-string inharmonicity ``B``, rising from about
  1e-4 at MIDI 36 to 3e-3 at MIDI 84), every partial below 0.45 of the sample rate, at most 40;
- 2 strings per note below MIDI 48 and 3 above, detuned by up to +-1.5 cents, so the partials
  beat;
- amplitudes ``(|sin(pi k h)| + 0.05) / k^alpha`` with a strike point ``h`` near 1/7 and a
  slope ``alpha`` that falls with velocity (louder notes are brighter);
- a two-stage decay per partial (a fast "prompt" part and a slow "aftersound" part), faster
  for higher partials and for higher notes;
- a hammer-like attack: a raised-sine onset of 1-5 ms (shorter when louder) plus a short
  low-passed noise thump.

Each clip is peak-normalised to ``0.2 + 0.7 v`` (``v`` the velocity in [0, 1]), so peaks lie
in [0.2, 0.9]. Stereo output duplicates the mono note. Keys are spread evenly over MIDI
36-84 in clip order; every other parameter is drawn from the spec's ``seed`` option (default
0), one independent stream per clip. The oscillator bank is evaluated exactly in float64 as
complex exponentials (a block matrix product, see ``_oscillator_bank``), then cast to float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter

from grainbench.data.core import (
    RawClips,
    Setting,
    count_and_seed,
    progress_bar,
    require_channels,
    uniforms,
)

NAME = "synth-piano"
VERSION = "synth-piano-1"
SUMMARY = "pure-numpy inharmonic additive piano, 100 clips, MIDI 36-84, 16 kHz (for tests)"
DEFAULT_SETTING = Setting(16000, 16384, 1)
DEFAULT_N = 100
LOW_KEY = 36
HIGH_KEY = 84
MAX_PARTIALS = 40
_BLOCK = 256
_DRAWS_PER_NOTE = 8


def midi_to_hz(key: float) -> float:
    """Equal-tempered frequency of MIDI key ``key`` (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((key - 69.0) / 12.0)


def _powers(base: np.ndarray, count: int) -> np.ndarray:
    """``base[:, None] ** arange(count)`` by repeated multiplication."""
    table = np.ones((len(base), count), dtype=np.complex128)
    table[:, 1:] = base[:, None]
    return np.cumprod(table, axis=1)


def _oscillator_bank(
    amplitudes: np.ndarray,
    rates: np.ndarray,
    frequencies: np.ndarray,
    phases: np.ndarray,
    n: int,
    sr: int,
) -> np.ndarray:
    """``sum_j a_j exp(-t r_j) cos(2 pi f_j t + phi_j)`` for ``t = arange(n) / sr``, exactly.

    Uses ``exp(lambda (B m + l)) = exp(lambda B m) exp(lambda l)`` so the sum is a matrix
    product of two small tables built by repeated multiplication.
    """
    lam = (-rates + 2j * math.pi * frequencies) / sr
    coefficient = amplitudes * np.exp(1j * phases)
    n_blocks = -(-n // _BLOCK)
    fine = _powers(np.exp(lam), _BLOCK)
    coarse = _powers(np.exp(lam * _BLOCK), n_blocks)
    coarse[np.abs(coarse) < 1e-30] = 0.0  # fully decayed: keep denormals out of the product
    weighted = coarse * coefficient[:, None]
    # Re(weighted.T @ fine) as one real product. np.einsum (without optimize) runs its own
    # single-threaded loop: a multi-threaded BLAS was 20-50x slower on a busy machine.
    total = np.einsum(
        "jh,jl->hl",
        np.concatenate([weighted.real, -weighted.imag]),
        np.concatenate([fine.real, fine.imag]),
    )
    return total.reshape(-1)[:n]


def render_synth_note(key: int, draws: np.ndarray, sample_rate: int, n_samples: int) -> np.ndarray:
    """One synthetic piano note (float64, ``(n_samples,)``) from ``draws`` (uniforms in [0, 1)).

    ``draws`` needs ``8 + 3 * 40 + round(0.04 * sample_rate)`` values: note parameters, string
    phases and the hammer noise.
    """
    velocity = 0.25 + 0.75 * draws[0]
    f0 = midi_to_hz(key)
    inharmonicity = 10.0 ** (-4.0 + 1.5 * (key - LOW_KEY) / (HIGH_KEY - LOW_KEY)) * (
        0.8 + 0.4 * draws[1]
    )
    strike = 1.0 / 7.0 + 0.02 * (draws[2] - 0.5)
    slope = 1.5 - 0.7 * velocity
    base_decay = 6.0 * 2.0 ** (-0.9 * (key - LOW_KEY) / 12.0) * (0.7 + 0.6 * draws[3])
    n_strings = 2 if key < 48 else 3
    string_cents = np.concatenate([[0.0], (draws[4 : 4 + n_strings - 1] - 0.5) * 3.0])

    k = np.arange(1, MAX_PARTIALS + 1, dtype=np.float64)
    partial_hz = k * f0 * np.sqrt(1.0 + inharmonicity * k**2)
    keep = partial_hz < 0.45 * sample_rate
    k, partial_hz = k[keep], partial_hz[keep]
    amplitude = (np.abs(np.sin(math.pi * k * strike)) + 0.05) / k**slope
    tau = base_decay / (1.0 + 0.12 * (k - 1.0) + (partial_hz / 3000.0) ** 2)

    phase_draws = draws[_DRAWS_PER_NOTE : _DRAWS_PER_NOTE + 3 * MAX_PARTIALS].reshape(
        3, MAX_PARTIALS
    )
    freqs, amps, rates, phases = [], [], [], []
    for s in range(n_strings):
        detuned = partial_hz * 2.0 ** (string_cents[s] / 1200.0)
        phase = 2.0 * math.pi * phase_draws[s, : len(k)]
        for weight, stage in ((0.6, 6.0), (0.4, 1.0)):  # prompt sound, then aftersound
            freqs.append(detuned)
            amps.append(weight * amplitude / n_strings)
            rates.append(stage / tau)
            phases.append(phase)
    tone = _oscillator_bank(
        np.concatenate(amps),
        np.concatenate(rates),
        np.concatenate(freqs),
        np.concatenate(phases),
        n_samples,
        sample_rate,
    )

    t = np.arange(n_samples, dtype=np.float64) / sample_rate
    onset = 0.001 + 0.004 * (1.0 - velocity)
    tone *= np.sin(0.5 * math.pi * np.minimum(t / onset, 1.0)) ** 2

    n_noise = min(n_samples, int(round(0.04 * sample_rate)))
    noise_start = _DRAWS_PER_NOTE + 3 * MAX_PARTIALS
    noise = 2.0 * draws[noise_start : noise_start + n_noise] - 1.0
    pole = math.exp(-2.0 * math.pi * (800.0 + 2500.0 * velocity) / sample_rate)
    thump = lfilter([1.0 - pole], [1.0, -pole], noise) * np.exp(-t[:n_noise] / 0.006)
    peak_tone = float(np.max(np.abs(tone))) or 1.0
    tone[:n_noise] += 0.3 * velocity * peak_tone * thump / (float(np.max(np.abs(thump))) or 1.0)

    return tone * ((0.2 + 0.7 * velocity) / float(np.max(np.abs(tone))))


def draws_per_note(sample_rate: int) -> int:
    """How many uniforms :func:`render_synth_note` reads at ``sample_rate``."""
    return _DRAWS_PER_NOTE + 3 * MAX_PARTIALS + int(round(0.04 * sample_rate))


def synth_keys(n: int) -> np.ndarray:
    """The MIDI keys of ``n`` clips: spread evenly over 36-84 in clip order."""
    return LOW_KEY + (np.arange(n) * (HIGH_KEY - LOW_KEY + 1)) // n


@dataclass(frozen=True)
class SynthPlan:
    """A checked ``synth-piano`` request."""

    n: int
    seed: int

    def defaults(self) -> Setting:
        """16,000 Hz, 16,384 samples, mono."""
        return DEFAULT_SETTING

    def key_material(self) -> dict[str, Any]:
        """The options (they and the setting decide the clips)."""
        return {"n": self.n, "seed": self.seed}

    def build(self, setting: Setting, progress: bool) -> RawClips:
        """Render every note."""
        require_channels(setting, NAME)
        keys = synth_keys(self.n)
        clips = np.empty((self.n, setting.n_channels, setting.n_samples), dtype=np.float32)
        count = draws_per_note(setting.sample_rate)
        for i in progress_bar(range(self.n), self.n, f"rendering {NAME}", progress):
            draws = uniforms(self.seed, count, stream=2 + i)
            clips[i, :] = render_synth_note(
                int(keys[i]), draws, setting.sample_rate, setting.n_samples
            )
        notes = [
            f"synthetic additive piano model (grainbench {VERSION}), not a recording",
            f"partials below {0.45 * setting.sample_rate / 1000:.1f} kHz only (0.45 of the sample rate)",
        ]
        params = {"n": self.n, "render_seed": self.seed, "keys": [LOW_KEY, HIGH_KEY]}
        return RawClips(clips=clips, labels=keys.astype(np.int64), notes=notes, params=params)


class SynthPianoSource:
    """The ``synth-piano`` dataset source (options ``n``, ``seed``)."""

    name = NAME
    summary = SUMMARY
    version = VERSION
    cached = False
    takes_path = False

    def plan(self, path: str | None, options: dict[str, str]) -> SynthPlan:
        """Check the options ``n`` (at least 2) and ``seed``."""
        n, seed = count_and_seed(options, DEFAULT_N, NAME)
        return SynthPlan(n=n, seed=seed)
