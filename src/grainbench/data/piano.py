"""``piano-c3`` and ``piano-88``: piano notes rendered from the soundfont inside ``pretty_midi``.

Every clip is one note of a piano-family GM preset (bank 0, programs 0-7: acoustic, bright and
electric grands, honky-tonk, two electric pianos, harpsichord, clavinet; those the soundfont
has), rendered by :mod:`grainbench.data.sf2player` straight at the requested sample rate.
Per clip, drawn from the raw PCG64 stream of the spec's ``seed`` option (default 0):

- program: uniform over the piano programs that cover the key;
- velocity: uniform integer in 80..127 (amplitude ~ (velocity / 127) ** 2);
- note length (note-on to note-off): uniform in 0.3..1.7 s, so some notes are released
  inside the 1.486 s clip and others are still held at its end;
- detune: uniform in -10..+10 cents;
- gain: uniform in -3..0 dB.

Level: the soundfont's own level (attenuation generators and velocity curve) times the gain
times a fixed house gain of 1.5, so that most clips peak between 0.1 and 0.9. A clip that
would still peak above 0.999 is scaled down to 0.999 and counted in ``notes``.

``piano-c3`` plays MIDI 48 (1000 clips by default); ``piano-88`` plays every piano key
21-108 in turn (``n`` defaults to 88 x 12, so each key appears 12 times), with the key as
label. Both default to 44,100 Hz, 65,536 samples, mono.

Band limit: the acoustic-piano samples ("Piano D1" ... "Piano Gb5", programs 0, 1, 3 and part
of 2) are stored at 22,050 Hz and carry root keys 14-26 semitones above the keys they serve, so
a C3 note plays its sample at about a quarter of its rate and has no content above about
2.6 kHz; the electric-piano, CP70, harpsichord and clavinet samples are 44,100 Hz and reach
9-15 kHz at C3. :func:`band_note` states the limits found for the clips rendered (each
sample's Nyquist frequency times its playback ratio), per program and overall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from grainbench.data.core import (
    RawClips,
    Setting,
    count_and_seed,
    progress_bar,
    require_channels,
    uniforms,
)
from grainbench.data.sf2player import SoundFont, load_soundfont
from grainbench.errors import UserError

VERSION = "sf2-piano-2"
DEFAULT_SETTING = Setting(44100, 65536, 1)
PIANO_PROGRAMS = tuple(range(8))
VELOCITY_RANGE = (80, 127)
NOTE_LENGTH_RANGE = (0.3, 1.7)
MAX_DETUNE_CENTS = 10.0
GAIN_DB_RANGE = (-3.0, 0.0)
HOUSE_GAIN = 1.5
PEAK_LIMIT = 0.999
_DRAWS_PER_CLIP = 5


@dataclass(frozen=True)
class NoteParams:
    """What one clip plays."""

    program: int
    key: int
    velocity: int
    note_length: float
    detune_cents: float
    gain: float


def open_default_soundfont() -> SoundFont:
    """The parsed ``TimGM6mb.sf2``; ``UserError`` when it cannot be found or read."""
    try:
        return load_soundfont()
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"cannot use the pretty_midi soundfont: {exc}") from None


def piano_programs(font: SoundFont) -> list[int]:
    """The GM piano-family programs (0-7) present in bank 0 of ``font``."""
    return [p for p in PIANO_PROGRAMS if (0, p) in font.presets]


def _covers(font: SoundFont, program: int, key: int, velocity: int) -> bool:
    try:
        font.voices(program, key, velocity)
    except ValueError:
        return False
    return True


def draw_notes(font: SoundFont, keys: np.ndarray, seed: int) -> list[NoteParams]:
    """Per-clip note parameters for the given keys (see the module docstring)."""
    programs = piano_programs(font)
    draws = uniforms(seed, len(keys) * _DRAWS_PER_CLIP).reshape(len(keys), _DRAWS_PER_CLIP)
    notes = []
    low_v, high_v = VELOCITY_RANGE
    low_len, high_len = NOTE_LENGTH_RANGE
    low_db, high_db = GAIN_DB_RANGE
    for key, u in zip(keys, draws, strict=True):
        velocity = low_v + min(int(u[1] * (high_v - low_v + 1)), high_v - low_v)
        usable = [p for p in programs if _covers(font, p, int(key), velocity)]
        if not usable:
            raise UserError(f"no piano program of the soundfont covers MIDI key {int(key)}")
        notes.append(
            NoteParams(
                program=usable[min(int(u[0] * len(usable)), len(usable) - 1)],
                key=int(key),
                velocity=velocity,
                note_length=low_len + (high_len - low_len) * float(u[2]),
                detune_cents=MAX_DETUNE_CENTS * (2.0 * float(u[3]) - 1.0),
                gain=10.0 ** ((low_db + (high_db - low_db) * float(u[4])) / 20.0),
            )
        )
    return notes


def content_limits(font: SoundFont, notes: list[NoteParams], sample_rate: int) -> np.ndarray:
    """Per clip, the highest frequency (Hz) it can contain.

    The maximum over the clip's voices of the sample's Nyquist frequency times the playback
    ratio, capped at the output Nyquist frequency.
    """
    return np.array(
        [
            max(
                v.bandwidth(sample_rate, n.detune_cents)
                for v in font.voices(n.program, n.key, n.velocity)
            )
            for n in notes
        ]
    )


def band_note(limits: np.ndarray, sample_rate: int) -> str:
    """One line summarising the per-clip content limits (Hz) against the output Nyquist frequency."""
    nyquist = sample_rate / 2.0
    below = int(np.sum(limits < 0.99 * nyquist))
    return (
        f"band-limited by the soundfont: content stops at {np.min(limits) / 1000:.1f}-"
        f"{np.max(limits) / 1000:.1f} kHz per clip (median {np.median(limits) / 1000:.1f} kHz; "
        f"{below} of {len(limits)} clips below the {nyquist / 1000:.2f} kHz output Nyquist), "
        "each sample's Nyquist frequency times its playback ratio"
    )


def samples_note(font: SoundFont, notes: list[NoteParams], limits: np.ndarray) -> str:
    """One line: per program used, its preset name, sample rates and content limits."""
    rates: dict[int, set[int]] = {}
    bands: dict[int, list[float]] = {}
    for n, limit in zip(notes, limits, strict=True):
        for v in font.voices(n.program, n.key, n.velocity):
            rates.setdefault(n.program, set()).add(v.sample.sample_rate)
        bands.setdefault(n.program, []).append(float(limit))
    parts = []
    for program in sorted(rates):
        listed = "/".join(f"{r:,}" for r in sorted(rates[program]))
        low, high = min(bands[program]) / 1000, max(bands[program]) / 1000
        span = f"{low:.1f}" if round(low, 1) == round(high, 1) else f"{low:.1f}-{high:.1f}"
        parts.append(
            f"{program} {font.preset(program).name} ({listed} Hz samples, up to {span} kHz)"
        )
    return "programs: " + "; ".join(parts)


@dataclass(frozen=True)
class PianoPlan:
    """A checked ``piano-c3`` / ``piano-88`` request."""

    name: str
    keys: tuple[int, ...]
    seed: int
    font: SoundFont

    def defaults(self) -> Setting:
        """44,100 Hz, 65,536 samples, mono."""
        return DEFAULT_SETTING

    def key_material(self) -> dict[str, Any]:
        """Options plus the soundfont's sha256 (a different file means different clips)."""
        return {
            "n": len(self.keys),
            "seed": self.seed,
            "keys": sorted(set(self.keys)),
            "soundfont": self.font.sha256,
        }

    def band_limits(self, setting: Setting) -> np.ndarray:
        """Per clip in build order, the highest frequency (Hz) it can contain (:func:`content_limits`).

        Computed from the note parameters alone, without rendering.
        """
        notes = draw_notes(self.font, np.array(self.keys), self.seed)
        return content_limits(self.font, notes, setting.sample_rate)

    def build(self, setting: Setting, progress: bool) -> RawClips:
        """Render every note (float64 mix, peak-limited, cast to float32)."""
        require_channels(setting, self.name)
        notes = draw_notes(self.font, np.array(self.keys), self.seed)
        clips = np.empty((len(notes), setting.n_channels, setting.n_samples), dtype=np.float32)
        limited = 0
        for i in progress_bar(range(len(notes)), len(notes), f"rendering {self.name}", progress):
            n = notes[i]
            mix = self.font.render_note_f64(
                n.program,
                n.key,
                n.velocity,
                n.note_length,
                setting.sample_rate,
                setting.n_samples,
                setting.n_channels,
                n.detune_cents,
                n.gain * HOUSE_GAIN,
            )
            peak = float(np.max(np.abs(mix)))
            if peak > PEAK_LIMIT:
                mix *= PEAK_LIMIT / peak
                limited += 1
            clips[i] = mix
        peaks = np.max(np.abs(clips), axis=(1, 2))
        limits = self.band_limits(setting)
        notes_text = [
            f"rendered from {self.font.path.name} (sha256 {self.font.sha256[:12]}) by grainbench's own SF2 player "
            "(no filter, LFOs, modulation envelope, chorus or reverb)",
            samples_note(self.font, notes, limits),
            band_note(limits, setting.sample_rate),
            f"peaks {float(np.min(peaks)):.3f}-{float(np.max(peaks)):.3f} (median {float(np.median(peaks)):.3f}); "
            f"{limited} clips scaled down to peak {PEAK_LIMIT}",
        ]
        params = {
            "n": len(notes),
            "render_seed": self.seed,
            "soundfont": self.font.path.name,
            "soundfont_sha256": self.font.sha256,
            "programs": sorted({n.program for n in notes}),
            "velocity_range": list(VELOCITY_RANGE),
            "note_length_range_s": list(NOTE_LENGTH_RANGE),
            "max_detune_cents": MAX_DETUNE_CENTS,
            "gain_db_range": list(GAIN_DB_RANGE),
            "house_gain": HOUSE_GAIN,
            "peak_limit": PEAK_LIMIT,
        }
        labels = np.array([n.key for n in notes], dtype=np.int64)
        return RawClips(clips=clips, labels=labels, notes=notes_text, params=params)


class PianoSource:
    """``piano-c3`` (one key) or ``piano-88`` (all 88 keys), options ``n`` and ``seed``."""

    version = VERSION
    cached = True
    takes_path = False

    def __init__(self, name: str, keys: tuple[int, ...], default_n: int, summary: str) -> None:
        """A source cycling over ``keys``; ``default_n`` clips unless the spec sets ``n``."""
        self.name = name
        self.summary = summary
        self._keys = keys
        self._default_n = default_n

    def plan(self, path: str | None, options: dict[str, str]) -> PianoPlan:
        """Check ``n`` (at least 2) and ``seed``; open the soundfont."""
        n, seed = count_and_seed(options, self._default_n, self.name)
        keys = tuple(self._keys[i % len(self._keys)] for i in range(n))
        return PianoPlan(self.name, keys, seed, open_default_soundfont())


PIANO_C3 = PianoSource(
    "piano-c3",
    (48,),
    1000,
    "the default: 1000 C3 notes of the soundfont's 8 piano-family presets, 44.1 kHz, 65536 samples",
)
PIANO_88 = PianoSource(
    "piano-88",
    tuple(range(21, 109)),
    88 * 12,
    "every piano key 21-108 (12 clips each) from the soundfont's piano presets, labelled by key",
)
