"""SoundFont 2 generators, zones and voices: what a soundfont says about a note.

Generator numbers, defaults and legal ranges are those of the SF2.04 specification (section
8.1); :class:`Voice` turns a sample and its final generator values into pitch and bandwidth.
:mod:`grainbench.data.sf2player` builds the voices of a note and renders them.
"""

from __future__ import annotations

from dataclasses import dataclass

from grainbench.data.sf2riff import SampleRecord

# Generator numbers (SF2.04 section 8.1.2).
GEN_START_OFFSET = 0
GEN_END_OFFSET = 1
GEN_LOOP_START_OFFSET = 2
GEN_LOOP_END_OFFSET = 3
GEN_START_COARSE = 4
GEN_END_COARSE = 12
GEN_PAN = 17
GEN_DELAY_VOL = 33
GEN_ATTACK_VOL = 34
GEN_HOLD_VOL = 35
GEN_DECAY_VOL = 36
GEN_SUSTAIN_VOL = 37
GEN_RELEASE_VOL = 38
GEN_KEY_TO_HOLD = 39
GEN_KEY_TO_DECAY = 40
GEN_INSTRUMENT = 41
GEN_KEY_RANGE = 43
GEN_VEL_RANGE = 44
GEN_LOOP_START_COARSE = 45
GEN_KEYNUM = 46
GEN_VELOCITY = 47
GEN_ATTENUATION = 48
GEN_LOOP_END_COARSE = 50
GEN_COARSE_TUNE = 51
GEN_FINE_TUNE = 52
GEN_SAMPLE_ID = 53
GEN_SAMPLE_MODES = 54
GEN_SCALE_TUNING = 56
GEN_EXCLUSIVE_CLASS = 57
GEN_ROOT_KEY = 58

# Spec defaults for the generators that are not 0 by default.
DEFAULTS: dict[int, int] = {
    8: 13500,  # initialFilterFc (not rendered, kept for completeness of the arithmetic)
    21: -12000,
    23: -12000,
    25: -12000,
    26: -12000,
    27: -12000,
    28: -12000,
    30: -12000,
    GEN_DELAY_VOL: -12000,
    GEN_ATTACK_VOL: -12000,
    GEN_HOLD_VOL: -12000,
    GEN_DECAY_VOL: -12000,
    GEN_RELEASE_VOL: -12000,
    GEN_KEYNUM: -1,
    GEN_VELOCITY: -1,
    GEN_SCALE_TUNING: 100,
    GEN_ROOT_KEY: -1,
}

# Generators that are meaningless (and ignored) at the preset level.
INSTRUMENT_ONLY = frozenset(
    {
        GEN_START_OFFSET,
        GEN_END_OFFSET,
        GEN_LOOP_START_OFFSET,
        GEN_LOOP_END_OFFSET,
        GEN_START_COARSE,
        GEN_END_COARSE,
        GEN_LOOP_START_COARSE,
        GEN_LOOP_END_COARSE,
        GEN_KEYNUM,
        GEN_VELOCITY,
        GEN_SAMPLE_MODES,
        GEN_EXCLUSIVE_CLASS,
        GEN_ROOT_KEY,
    }
)

# Generators whose raw 16-bit amount is unsigned or a byte pair (everything else is signed).
UNSIGNED = frozenset(
    {GEN_INSTRUMENT, GEN_KEY_RANGE, GEN_VEL_RANGE, GEN_SAMPLE_ID, GEN_SAMPLE_MODES}
)

# Clamp ranges of the generators that are rendered (SF2.04 section 8.1.3).
LIMITS: dict[int, tuple[int, int]] = {
    GEN_PAN: (-500, 500),
    GEN_DELAY_VOL: (-12000, 5000),
    GEN_ATTACK_VOL: (-12000, 8000),
    GEN_HOLD_VOL: (-12000, 5000),
    GEN_DECAY_VOL: (-12000, 8000),
    GEN_SUSTAIN_VOL: (0, 1440),
    GEN_RELEASE_VOL: (-12000, 8000),
    GEN_KEY_TO_HOLD: (-1200, 1200),
    GEN_KEY_TO_DECAY: (-1200, 1200),
    GEN_ATTENUATION: (0, 1440),
    GEN_COARSE_TUNE: (-120, 120),
    GEN_FINE_TUNE: (-99, 99),
    GEN_SCALE_TUNING: (0, 1200),
}


@dataclass(frozen=True)
class Zone:
    """A preset or instrument zone: its generators (signed values), ranges and target.

    ``target`` is the instrument index (preset zones) or the sample index (instrument
    zones); ``None`` for a global zone. Ranges are inclusive ``(low, high)`` or ``None``.
    """

    gens: dict[int, int]
    key_range: tuple[int, int] | None
    vel_range: tuple[int, int] | None
    target: int | None

    def matches(self, key: int, velocity: int, default: Zone | None) -> bool:
        """Whether ``key`` and ``velocity`` fall in this zone's ranges (or the global zone's)."""
        key_range = self.key_range or (default.key_range if default else None) or (0, 127)
        vel_range = self.vel_range or (default.vel_range if default else None) or (0, 127)
        return key_range[0] <= key <= key_range[1] and vel_range[0] <= velocity <= vel_range[1]


@dataclass(frozen=True)
class ZoneList:
    """The zones of one preset or instrument, with its optional global zone."""

    name: str
    global_zone: Zone | None
    zones: tuple[Zone, ...]


@dataclass(frozen=True)
class Preset:
    """A preset header with its zones."""

    bank: int
    program: int
    name: str
    zones: ZoneList


@dataclass(frozen=True)
class Voice:
    """One sample to play for a note, with its final generator values."""

    sample: SampleRecord
    sample_index: int
    instrument: str
    gens: dict[int, int]
    key: int
    velocity: int

    def gen(self, number: int) -> int:
        """The generator's value, clamped to its legal range where the spec gives one."""
        value = self.gens.get(number, DEFAULTS.get(number, 0))
        if number in LIMITS:
            low, high = LIMITS[number]
            value = min(max(value, low), high)
        return value

    @property
    def root_key(self) -> int:
        """The sample's root key: ``overridingRootKey`` when set, else the header's pitch."""
        override = self.gens.get(GEN_ROOT_KEY, -1)
        if 0 <= override <= 127:
            return override
        pitch = self.sample.original_pitch
        return pitch if 0 <= pitch <= 127 else 60

    @property
    def pitch_key(self) -> int:
        """The key used for pitch and key-scaled times (the ``keynum`` generator wins)."""
        forced = self.gens.get(GEN_KEYNUM, -1)
        return forced if 0 <= forced <= 127 else self.key

    def pitch_cents(self, detune_cents: float = 0.0) -> float:
        """Pitch offset of the playback relative to the sample as recorded, in cents."""
        return (
            self.gen(GEN_SCALE_TUNING) * (self.pitch_key - self.root_key)
            + 100 * self.gen(GEN_COARSE_TUNE)
            + self.gen(GEN_FINE_TUNE)
            + self.sample.pitch_correction
            + detune_cents
        )

    def step(self, output_rate: int, detune_cents: float = 0.0) -> float:
        """Source samples read per output sample."""
        ratio = 2.0 ** (self.pitch_cents(detune_cents) / 1200.0)
        return self.sample.sample_rate / output_rate * ratio

    def bandwidth(self, output_rate: int, detune_cents: float = 0.0) -> float:
        """Highest frequency (Hz) this voice can contain at ``output_rate``.

        The sample's own Nyquist frequency scaled by the playback ratio, capped at the
        output Nyquist frequency.
        """
        source_nyquist = self.sample.sample_rate / 2.0
        ratio = self.step(output_rate, detune_cents) * output_rate / self.sample.sample_rate
        return min(source_nyquist * ratio, output_rate / 2.0)
