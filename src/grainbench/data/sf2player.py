"""A small SoundFont 2 sample player, written from the SF2.04 specification.

:mod:`grainbench.data.sf2riff` reads the RIFF structure (the "hydra" of preset, instrument
and sample headers, pure Python, so every Python version works); the player does zone
selection, generator arithmetic, loops, the volume envelope, resampling and panning, with
:mod:`grainbench.data.sf2voice` (generators, zones, voices) and
:mod:`grainbench.data.sf2dsp` (the envelope and the resampler).

What is rendered, per note:

- **Zones.** The preset (looked up by bank and program) and its instruments are searched for
  zones whose key range and velocity range contain the note; every match is a voice and the
  voices are summed (layered instruments such as GM "E.Piano 1" give two). The first zone of
  a preset (instrument) without an instrument (sample) generator is its global zone: its
  generators, key range and velocity range are defaults for the other zones. Instrument-level
  values replace the spec defaults; preset-level values are added to them, except the
  generators the spec allows only in instruments (sample offsets, sample modes, root key,
  keynum, velocity, exclusive class), which are ignored at the preset level.
- **Pitch.** Root key = ``overridingRootKey`` when set, else the sample header's original
  pitch. Pitch offset in cents = ``scaleTuning`` x (key - root) + 100 x ``coarseTune`` +
  ``fineTune`` + the sample's pitch correction + the caller's detune. The sample is read at
  ``sample_rate_of_sample / output_rate x 2 ** (cents / 1200)`` source samples per output
  sample.
- **Loops.** ``sampleModes`` 0 or 2: play once; 1: loop continuously; 3: loop while the key is
  held, then play on to the end of the sample after note-off. Loop and sample boundaries take
  the fine and coarse address offset generators into account. The loop is unrolled into a
  straight buffer before interpolation, so the interpolation taps see the true neighbours
  across the loop seam.
- **Resampling.** Kaiser-windowed sinc interpolation (32 taps, cutoff 0.45 of the source rate,
  beta 7, table of 4096 sub-sample phases, each row normalised to unit DC gain). When the
  sample is read faster than one source sample per output sample the kernel is stretched by
  that factor, which low-passes below the output Nyquist frequency (no aliasing).
- **Volume envelope.** Delay, attack (linear in amplitude), hold, decay (linear in decibels:
  100 dB per decay time, stopping at the sustain level), sustain (centibels of attenuation),
  release (100 dB per release time, from the level reached at note-off). Hold and decay
  follow ``keynumToVolEnvHold`` / ``keynumToVolEnvDecay``. Times are timecents
  (seconds = 2 ** (tc / 1200)). The voice is silent once it is 100 dB down.
- **Level.** ``initialAttenuation`` (centibels) is applied scaled by 0.4, the convention of the
  EMU8000 hardware this kind of soundfont was voiced for (at the full value GM soundfonts
  sound 10-30 dB too quiet). Velocity adds an attenuation of ``400 * log10(127 / velocity)``
  centibels, i.e. amplitude proportional to (velocity / 127) ** 2: the curve of the SF2
  default velocity-to-attenuation modulator (concave, 960 cB).
- **Pan.** Constant-power: left = cos(theta), right = sin(theta), theta = (pan + 0.5) x pi / 2
  with pan in [-0.5, 0.5]. Mono output is the mean of the two pan channels (so a centred
  voice comes out at cos(pi / 4), about -3 dB).

Not rendered: the low-pass filter, the LFOs, the modulation envelope, chorus and reverb, and
every modulator other than the velocity curve above. Samples are read as 16-bit (the low
byte of an ``sm24`` chunk is ignored). All arithmetic is float64; notes are returned as float32.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from grainbench.data.sf2dsp import HALF_TAPS, volume_envelope, windowed_sinc_resample
from grainbench.data.sf2riff import cstr, read_hydra
from grainbench.data.sf2voice import (
    DEFAULTS,
    GEN_ATTENUATION,
    GEN_END_COARSE,
    GEN_END_OFFSET,
    GEN_INSTRUMENT,
    GEN_KEY_RANGE,
    GEN_LOOP_END_COARSE,
    GEN_LOOP_END_OFFSET,
    GEN_LOOP_START_COARSE,
    GEN_LOOP_START_OFFSET,
    GEN_PAN,
    GEN_SAMPLE_ID,
    GEN_SAMPLE_MODES,
    GEN_START_COARSE,
    GEN_START_OFFSET,
    GEN_VEL_RANGE,
    GEN_VELOCITY,
    INSTRUMENT_ONLY,
    UNSIGNED,
    Preset,
    Voice,
    Zone,
    ZoneList,
)

ATTENUATION_SCALE = 0.4
"""Factor applied to the ``initialAttenuation`` generator (EMU8000 convention)."""


def default_soundfont_path() -> Path:
    """Path of ``TimGM6mb.sf2``, the GM soundfont that ships inside the ``pretty_midi`` package.

    Found with ``importlib.util.find_spec`` (``pretty_midi`` is not imported).
    Raises ``FileNotFoundError`` when the package or the file is missing.
    """
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the pretty_midi package (which ships TimGM6mb.sf2) is not installed"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"soundfont not found: {path}")
    return path


def _signed(value: int) -> int:
    return value - 65536 if value >= 32768 else value


def _byte_range(value: int) -> tuple[int, int]:
    low, high = value & 0xFF, value >> 8
    return (min(low, high), max(low, high))


def velocity_attenuation_cb(velocity: int) -> float:
    """Attenuation (centibels) of the velocity curve: ``400 log10(127 / v)``, at most 960."""
    if not 1 <= velocity <= 127:
        raise ValueError(f"velocity must be in 1..127, got {velocity}")
    return min(400.0 * math.log10(127.0 / velocity), 960.0)


class SoundFont:
    """A parsed SF2 file whose notes can be rendered with :meth:`render_note`."""

    def __init__(self, path: str | Path) -> None:
        """Parse ``path`` (raises ``ValueError`` for a file that is not a usable SF2)."""
        self.path = Path(path)
        raw_bytes = self.path.read_bytes()
        self.sha256 = hashlib.sha256(raw_bytes).hexdigest()
        try:
            hydra = read_hydra(raw_bytes)
        except (ValueError, struct.error) as exc:
            raise ValueError(f"{self.path.name} is not a readable SF2 file: {exc}") from exc
        self.samples = hydra.samples[:-1]
        self.instruments = [
            self._zone_list(
                cstr(hydra.instruments[i].name),
                hydra.instrument_bags,
                hydra.instrument_gens,
                hydra.instruments[i].bag,
                hydra.instruments[i + 1].bag,
                GEN_SAMPLE_ID,
            )
            for i in range(len(hydra.instruments) - 1)
        ]
        self.presets: dict[tuple[int, int], Preset] = {}
        for i in range(len(hydra.presets) - 1):
            header = hydra.presets[i]
            name = cstr(header.name)
            zones = self._zone_list(
                name,
                hydra.preset_bags,
                hydra.preset_gens,
                header.bag,
                hydra.presets[i + 1].bag,
                GEN_INSTRUMENT,
            )
            self.presets.setdefault(
                (header.bank, header.preset), Preset(header.bank, header.preset, name, zones)
            )
        self._data = (
            np.frombuffer(
                raw_bytes, dtype="<i2", count=hydra.smpl_size // 2, offset=hydra.smpl_offset
            ).astype(np.float64)
            / 32768.0
        )

    @staticmethod
    def _zone_list(
        name: str, bags: list, gens: list, first: int, stop: int, target_gen: int
    ) -> ZoneList:
        zones: list[Zone] = []
        global_zone: Zone | None = None
        for b in range(first, stop):
            values: dict[int, int] = {}
            for gen in gens[bags[b].gen : bags[b + 1].gen]:
                values[gen.oper] = gen.amount if gen.oper in UNSIGNED else _signed(gen.amount)
            key_range = values.pop(GEN_KEY_RANGE, None)
            vel_range = values.pop(GEN_VEL_RANGE, None)
            target = values.pop(target_gen, None)
            zone = Zone(
                gens=values,
                key_range=_byte_range(key_range) if key_range is not None else None,
                vel_range=_byte_range(vel_range) if vel_range is not None else None,
                target=target,
            )
            if target is not None:
                zones.append(zone)
            elif b == first:
                global_zone = zone
        return ZoneList(name, global_zone, tuple(zones))

    def preset(self, program: int, bank: int = 0) -> Preset:
        """The preset at ``bank``/``program``; ``ValueError`` naming the bank's programs otherwise."""
        try:
            return self.presets[(bank, program)]
        except KeyError:
            available = sorted(p for b, p in self.presets if b == bank)
            raise ValueError(
                f"{self.path.name} has no preset for bank {bank} program {program}; "
                f"bank {bank} has programs {available}"
            ) from None

    def voices(self, program: int, key: int, velocity: int, bank: int = 0) -> list[Voice]:
        """The voices a note-on starts, in zone order.

        Raises ``ValueError`` for a key or velocity outside 0..127 / 1..127, an unknown
        preset, or a note that no zone of the preset covers.
        """
        if not 0 <= key <= 127:
            raise ValueError(f"MIDI key must be in 0..127, got {key}")
        if not 1 <= velocity <= 127:
            raise ValueError(f"velocity must be in 1..127, got {velocity}")
        preset = self.preset(program, bank)
        p_global = preset.zones.global_zone
        found: list[Voice] = []
        for p_zone in preset.zones.zones:
            if not p_zone.matches(key, velocity, p_global):
                continue
            offsets = dict(p_global.gens) if p_global else {}
            offsets.update(p_zone.gens)
            if p_zone.target >= len(self.instruments):
                raise ValueError(f"preset {preset.name!r} points at a missing instrument")
            instrument = self.instruments[p_zone.target]
            i_global = instrument.global_zone
            for i_zone in instrument.zones:
                if not i_zone.matches(key, velocity, i_global):
                    continue
                values = dict(DEFAULTS)
                if i_global:
                    values.update(i_global.gens)
                values.update(i_zone.gens)
                for number, amount in offsets.items():
                    if number not in INSTRUMENT_ONLY:
                        values[number] = values.get(number, 0) + amount
                if i_zone.target >= len(self.samples):
                    raise ValueError(f"instrument {instrument.name!r} points at a missing sample")
                found.append(
                    Voice(
                        sample=self.samples[i_zone.target],
                        sample_index=i_zone.target,
                        instrument=instrument.name,
                        gens=values,
                        key=key,
                        velocity=velocity,
                    )
                )
        if not found:
            raise ValueError(
                f"preset {program} {preset.name!r} (bank {bank}) has no zone for key {key} "
                f"at velocity {velocity}"
            )
        return found

    def render_note(self, *args: Any, **kwargs: Any) -> np.ndarray:
        """:meth:`render_note_f64` (the same arguments) cast to float32
        ``(n_channels, n_samples)``; not clipped."""
        return self.render_note_f64(*args, **kwargs).astype(np.float32)

    def render_note_f64(
        self,
        program: int,
        key: int,
        velocity: int,
        duration: float,
        sample_rate: int,
        n_samples: int,
        n_channels: int = 1,
        detune_cents: float = 0.0,
        gain: float = 1.0,
        bank: int = 0,
    ) -> np.ndarray:
        """Render one note as the float64 mix ``(n_channels, n_samples)``; not clipped.

        ``duration`` is the time in seconds from note-on to note-off (the release follows
        within the buffer). ``n_channels`` is 1 (mean of the pan channels) or 2 (left,
        right). ``detune_cents`` shifts the pitch; ``gain`` scales the amplitude.
        """
        if n_channels not in (1, 2):
            raise ValueError(f"the SF2 player renders 1 or 2 channels, not {n_channels}")
        if sample_rate <= 0 or n_samples <= 0:
            raise ValueError("sample_rate and n_samples must be positive")
        if duration < 0:
            raise ValueError(f"note duration must be >= 0, got {duration}")
        out = np.zeros((2, n_samples), dtype=np.float64)
        note_off = int(round(duration * sample_rate))
        for voice in self.voices(program, key, velocity, bank):
            mono = self._render_voice(voice, sample_rate, n_samples, note_off, detune_cents)
            theta = (voice.gen(GEN_PAN) / 1000.0 + 0.5) * (math.pi / 2.0)
            out[0] += mono * math.cos(theta)
            out[1] += mono * math.sin(theta)
        out *= gain
        if n_channels == 1:
            return out.mean(axis=0, keepdims=True)
        return out

    def _render_voice(
        self, voice: Voice, sample_rate: int, n_samples: int, note_off: int, detune_cents: float
    ) -> np.ndarray:
        step = voice.step(sample_rate, detune_cents)
        source = self._unrolled_source(voice, n_samples, note_off, step)
        signal = windowed_sinc_resample(source, step, n_samples)
        envelope = volume_envelope(voice, sample_rate, n_samples, note_off)
        velocity = voice.gens.get(GEN_VELOCITY, -1)
        velocity = velocity if 1 <= velocity <= 127 else voice.velocity
        attenuation_cb = ATTENUATION_SCALE * voice.gen(GEN_ATTENUATION) + velocity_attenuation_cb(
            velocity
        )
        return signal * envelope * 10.0 ** (-attenuation_cb / 200.0)

    def sample_bounds(self, voice: Voice) -> tuple[int, int, int, int]:
        """Absolute (start, end, loop_start, loop_end) after the address offset generators."""
        s = voice.sample
        total = len(self._data)
        start = s.start + voice.gen(GEN_START_OFFSET) + 32768 * voice.gen(GEN_START_COARSE)
        end = s.end + voice.gen(GEN_END_OFFSET) + 32768 * voice.gen(GEN_END_COARSE)
        loop_start = (
            s.loop_start
            + voice.gen(GEN_LOOP_START_OFFSET)
            + 32768 * voice.gen(GEN_LOOP_START_COARSE)
        )
        loop_end = (
            s.loop_end + voice.gen(GEN_LOOP_END_OFFSET) + 32768 * voice.gen(GEN_LOOP_END_COARSE)
        )
        start = min(max(start, 0), total - 1)
        end = min(max(end, start + 1), total)
        loop_start = min(max(loop_start, start), end)
        loop_end = min(max(loop_end, loop_start), end)
        return start, end, loop_start, loop_end

    def _unrolled_source(
        self, voice: Voice, n_samples: int, note_off: int, step: float
    ) -> np.ndarray:
        """The sample with its loop repeated as often as the note needs, as one straight buffer."""
        start, end, loop_start, loop_end = self.sample_bounds(voice)
        data = self._data[start:end]
        mode = voice.gen(GEN_SAMPLE_MODES) & 3
        ls, le = loop_start - start, loop_end - start
        length = le - ls
        if mode in (0, 2) or length < 2:
            return data
        loop = data[ls:le]
        if mode == 1 or note_off >= n_samples:  # mode 3 held to the end behaves like mode 1
            needed = n_samples * step + 2 * HALF_TAPS * max(1.0, step) + 2
            repeats = max(1, math.ceil((needed - le) / length) + 1)
            return np.concatenate([data[:le], np.tile(loop, repeats)])
        # mode 3: loop while held, then continue to the end of the sample after note-off
        off_position = note_off * step
        if off_position < le:
            return data
        wraps = int((off_position - le) // length) + 1
        return np.concatenate([data[:le], np.tile(loop, wraps), data[le:]])

    def describe_preset(self, program: int, bank: int = 0) -> str:
        """One line naming the preset and the sample rates of the samples it uses."""
        preset = self.preset(program, bank)
        rates: set[int] = set()
        for p_zone in preset.zones.zones:
            for i_zone in self.instruments[p_zone.target].zones:
                if i_zone.target < len(self.samples):
                    rates.add(self.samples[i_zone.target].sample_rate)
        listed = ", ".join(f"{r:,} Hz" for r in sorted(rates))
        return f"program {program} {preset.name!r} (samples at {listed})"


@functools.lru_cache(maxsize=4)
def load_soundfont(path: str | None = None) -> SoundFont:
    """Parse (once per process) the soundfont at ``path``, or the default one when ``None``."""
    return SoundFont(path if path is not None else default_soundfont_path())
