"""The SF2 player: checked on a tiny soundfont written here (exact answers) and on TimGM6mb.sf2."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grainbench.data import sf2riff
from grainbench.data.sf2dsp import windowed_sinc_resample
from grainbench.data.sf2player import SoundFont, load_soundfont

RATE = 28160  # 440 Hz has a period of exactly 64 samples at this rate
OUT = 44100

# generator numbers
KEY_RANGE, VEL_RANGE, INSTRUMENT, SAMPLE_ID, SAMPLE_MODES = 43, 44, 41, 53, 54
ROOT_KEY, COARSE, FINE, SCALE, PAN, ATTEN = 58, 51, 52, 56, 17, 48
DECAY, SUSTAIN, RELEASE = 36, 37, 38


def _chunk(tag: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return tag + struct.pack("<I", len(payload)) + payload + pad


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _gen_records(zones: list[list[tuple[int, int]]]) -> tuple[bytes, bytes]:
    """bag and gen records (with terminals) for zones given as (oper, amount) lists."""
    bags, gens, index = b"", b"", 0
    for zone in zones:
        bags += struct.pack("<HH", index, 0)
        for oper, amount in zone:
            gens += struct.pack("<HH", oper, amount & 0xFFFF)
            index += 1
    return bags + struct.pack("<HH", index, 0), gens + struct.pack("<HH", 0, 0)


def _rng(low: int, high: int) -> int:
    return low | (high << 8)


def write_sf2(path: Path) -> Path:
    """A soundfont with one 440 Hz sine sample (root 69, loop of 20 periods) and five presets.

    - program 0: instrument 0 (loop continuously) with zones
        keys 0-59 plain; keys 60-79 vel 1-99 coarse -1 fine +30; keys 60-79 vel 100-127 root
        key override 57; keys 80-90 scale tuning 50. Global zone: decay 0.2 s to -20 dB,
        release 0.5 s.
    - program 1: instrument 1, the same sample played once (no loop), panned hard left.
    - program 2: instrument 2, loop until release, release 4 s.
    - program 3: instrument 0 with a preset-level (global zone) coarse tune of +1 semitone.
    """
    n = 4096
    loop_start, loop_end = 1024, 1024 + 20 * 64
    t = np.arange(n)
    wave = np.sin(2 * np.pi * t / 64.0)
    wave[loop_end + 64 :] = 0.0  # the tail after the loop: one more period, then silence
    sample = np.round(wave * 16000).astype("<i2")
    smpl = sample.tobytes() + b"\x00" * 92  # 46 zero points after the sample
    shdr = struct.pack("<20sIIIIIBbHH", b"sine", 0, n, loop_start, loop_end, RATE, 69, 0, 0, 1)
    shdr += struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0)

    half_second, fifth_second, four_seconds = -1200, round(1200 * math.log2(0.2)), 2400
    inst_zones = [
        [  # instrument 0
            [(DECAY, fifth_second), (SUSTAIN, 200), (RELEASE, half_second)],
            [(KEY_RANGE, _rng(0, 59)), (SAMPLE_MODES, 1), (SAMPLE_ID, 0)],
            [
                (KEY_RANGE, _rng(60, 79)),
                (VEL_RANGE, _rng(1, 99)),
                (COARSE, -1),
                (FINE, 30),
                (SAMPLE_MODES, 1),
                (SAMPLE_ID, 0),
            ],
            [
                (KEY_RANGE, _rng(60, 79)),
                (VEL_RANGE, _rng(100, 127)),
                (ROOT_KEY, 57),
                (SAMPLE_MODES, 1),
                (SAMPLE_ID, 0),
            ],
            [(KEY_RANGE, _rng(80, 90)), (SCALE, 50), (SAMPLE_MODES, 1), (SAMPLE_ID, 0)],
        ],
        [[(PAN, -500), (SAMPLE_MODES, 0), (SAMPLE_ID, 0)]],  # instrument 1
        [[(RELEASE, four_seconds), (SAMPLE_MODES, 3), (SAMPLE_ID, 0)]],  # instrument 2
    ]
    ibag, igen, inst = b"", b"", b""
    flat: list[list[tuple[int, int]]] = []
    for i, zones in enumerate(inst_zones):
        inst += struct.pack("<20sH", f"inst{i}".encode(), len(flat))
        flat.extend(zones)
    inst += struct.pack("<20sH", b"EOI", len(flat))
    ibag, igen = _gen_records(flat)

    preset_zones = [
        (0, [[(INSTRUMENT, 0)]]),
        (1, [[(INSTRUMENT, 1)]]),
        (2, [[(INSTRUMENT, 2)]]),
        (3, [[(COARSE, 1)], [(INSTRUMENT, 0)]]),  # global zone, then the instrument zone
    ]
    phdr = b""
    pflat: list[list[tuple[int, int]]] = []
    for program, zones in preset_zones:
        phdr += struct.pack("<20sHHHIII", f"p{program}".encode(), program, 0, len(pflat), 0, 0, 0)
        pflat.extend(zones)
    phdr += struct.pack("<20sHHHIII", b"EOP", 0, 0, len(pflat), 0, 0, 0)
    pbag, pgen = _gen_records(pflat)
    no_mods = struct.pack("<HHhHH", 0, 0, 0, 0, 0)

    info = _list(
        b"INFO",
        _chunk(b"ifil", struct.pack("<HH", 2, 1)),
        _chunk(b"isng", b"EMU8000\x00"),
        _chunk(b"INAM", b"test\x00"),
    )
    sdta = _list(b"sdta", _chunk(b"smpl", smpl))
    pdta = _list(
        b"pdta",
        _chunk(b"phdr", phdr),
        _chunk(b"pbag", pbag),
        _chunk(b"pmod", no_mods),
        _chunk(b"pgen", pgen),
        _chunk(b"inst", inst),
        _chunk(b"ibag", ibag),
        _chunk(b"imod", no_mods),
        _chunk(b"igen", igen),
        _chunk(b"shdr", shdr),
    )
    path.write_bytes(_chunk(b"RIFF", b"sfbk" + info + sdta + pdta))
    return path


@pytest.fixture(scope="module")
def font(tmp_path_factory: pytest.TempPathFactory) -> SoundFont:
    return SoundFont(write_sf2(tmp_path_factory.mktemp("sf2") / "test.sf2"))


def peak_hz(x: np.ndarray, rate: int, near: float) -> float:
    """Frequency of the strongest FFT peak within 10% of ``near`` (parabolic interpolation)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 8 * len(x)))
    freqs = np.fft.rfftfreq(8 * len(x), 1 / rate)
    band = (freqs > 0.9 * near) & (freqs < 1.1 * near)
    i = int(np.argmax(np.where(band, spectrum, 0)))
    a, b, c = np.log(spectrum[i - 1 : i + 2])
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * rate / (8 * len(x))


def cents(f: float, ref: float) -> float:
    return 1200 * math.log2(f / ref)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2)))


def midi_hz(key: float) -> float:
    return 440 * 2 ** ((key - 69) / 12)


@pytest.mark.parametrize(
    ("program", "key", "velocity", "expected_key"),
    [
        (0, 69 - 12, 100, 57),  # plain zone, an octave down
        (0, 45, 100, 45),
        (0, 70, 64, 70 - 0.7),  # coarse -1, fine +30
        (0, 69, 110, 81),  # root key override 57: key 69 sounds an octave up
        (0, 81, 100, 69 + 6),  # scale tuning 50 cents per key
        (3, 50, 100, 51),  # the preset's coarse tune +1 is added
    ],
)
def test_pitch_follows_the_generators(
    font: SoundFont, program: int, key: int, velocity: int, expected_key: float
) -> None:
    y = font.render_note(program, key, velocity, 2.0, OUT, 32768)[0]
    measured = peak_hz(y[4096:], OUT, midi_hz(expected_key))
    assert abs(cents(measured, midi_hz(expected_key))) < 0.5


def test_velocity_curve_and_attenuation(font: SoundFont) -> None:
    loud = font.render_note(0, 50, 127, 2.0, OUT, 16384)[0]
    soft = font.render_note(0, 50, 64, 2.0, OUT, 16384)[0]
    assert rms(soft[8000:]) / rms(loud[8000:]) == pytest.approx((64 / 127) ** 2, rel=1e-3)


def test_decay_to_sustain_then_release(font: SoundFont) -> None:
    y = font.render_note(0, 69 - 12, 127, 0.5, OUT, OUT)[0]
    early = rms(y[int(0.002 * OUT) : int(0.004 * OUT)])
    sustain = rms(y[int(0.3 * OUT) : int(0.45 * OUT)])
    assert 20 * math.log10(sustain / early) == pytest.approx(-20, abs=1.0)
    # release: 100 dB per 0.5 s, so 0.1 s after note-off the level is 20 dB lower
    released = rms(y[int(0.6 * OUT) - 400 : int(0.6 * OUT) + 400])
    assert 20 * math.log10(released / sustain) == pytest.approx(-20, abs=1.5)
    assert np.all(y[int(0.96 * OUT) :] == 0)  # 100 dB down: silent


def test_loop_keeps_a_long_note_sounding_without_clicks(font: SoundFont) -> None:
    y = font.render_note_f64(0, 57, 127, 5.0, OUT, 4 * OUT)[0]
    tail = y[3 * OUT :]
    assert rms(tail) > 0.01  # sustain level: -20 dB
    # a looped sine must stay a sine: compare with the ideal tone (the player's own sinc error is tiny)
    t = np.arange(len(tail)) / OUT
    basis = np.stack([np.sin(2 * np.pi * 220 * t), np.cos(2 * np.pi * 220 * t)], axis=1)
    fit = basis @ np.linalg.lstsq(basis, tail, rcond=None)[0]
    assert np.max(np.abs(tail - fit)) < 1e-3 * np.max(np.abs(tail))


def test_unlooped_sample_stops_and_pan_is_hard_left(font: SoundFont) -> None:
    y = font.render_note(1, 69, 127, 3.0, OUT, 2 * OUT, n_channels=2)
    length = int(4096 / RATE * OUT) + 40
    assert rms(y[0, : length // 2]) > 0.05
    assert np.all(y[0, length:] == 0)
    assert np.max(np.abs(y[1])) < 1e-9


def test_loop_until_release_plays_the_tail_then_stops(font: SoundFont) -> None:
    y = font.render_note(2, 69, 127, 1.0, OUT, 2 * OUT)[0]
    assert rms(y[int(0.9 * OUT) : OUT]) > 0.05  # held: looping
    assert rms(y[OUT : OUT + 500]) > 0.05  # released: the loop plays on to its end ...
    # ... then the one-period tail, then the sample is over (at most 1280 + 64 source samples
    # after note-off, read 0.64 per output sample), although the 4 s release is still running
    assert np.all(y[OUT + 2400 :] == 0)


def test_out_of_range_key_is_a_clear_error(font: SoundFont) -> None:
    with pytest.raises(ValueError, match="no zone for key 100"):
        font.render_note(0, 100, 100, 1.0, OUT, 1000)
    with pytest.raises(ValueError, match="0..127"):
        font.render_note(0, 128, 100, 1.0, OUT, 1000)
    with pytest.raises(ValueError, match="no preset for bank 0 program 9"):
        font.render_note(9, 60, 100, 1.0, OUT, 1000)


def test_resampler_is_accurate_and_does_not_alias() -> None:
    t = np.arange(20000)
    source = np.sin(2 * np.pi * 0.02 * t)
    for step in (0.31, 1.0, 1.7):
        y = windowed_sinc_resample(source, step, 5000)
        ideal = np.sin(2 * np.pi * 0.02 * step * np.arange(5000))
        assert np.max(np.abs(y[100:-100] - ideal[100:-100])) < 5e-4
    # a tone at 0.4 of the source rate read 2x faster would alias; it must be filtered out
    high = np.sin(2 * np.pi * 0.4 * t)
    assert rms(windowed_sinc_resample(high, 2.0, 5000)[200:-200]) < 1e-3


# --- the real soundfont ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gm() -> SoundFont:
    return load_soundfont()


def test_gm_piano_presets_exist_with_their_sample_rates(gm: SoundFont) -> None:
    names = [gm.preset(p).name for p in range(8)]
    assert names[0] == "Piano 1" and names[7] == "Clavinet"
    assert "22,050 Hz" in gm.describe_preset(0)
    assert "44,100 Hz" in gm.describe_preset(4)


@pytest.mark.parametrize("key", [36, 48, 60, 72])
def test_gm_piano_pitch_within_a_few_cents(gm: SoundFont, key: int) -> None:
    y = gm.render_note(0, key, 100, 1.4, OUT, 32768)[0]
    assert abs(cents(peak_hz(y[4410:], OUT, midi_hz(key)), midi_hz(key))) < 6


def test_gm_piano_releases_after_note_off_and_loops_while_held(gm: SoundFont) -> None:
    held = gm.render_note(4, 60, 100, 10.0, OUT, 65536)[0]  # E.Piano 1 samples last 0.05 s
    assert rms(held[-4410:]) > 1e-3
    released = gm.render_note(0, 60, 100, 0.3, OUT, 65536)[0]
    before = rms(released[int(0.25 * OUT) : int(0.3 * OUT)])
    assert rms(released[-4410:]) < 0.1 * before


def test_gm_out_of_range_key(gm: SoundFont) -> None:
    with pytest.raises(ValueError, match="no zone for key 120"):
        gm.render_note(0, 120, 100, 1.0, OUT, 1000)


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b"RIFX" + b[4:], "not a RIFF sfbk"),
        (lambda b: b[: len(b) // 2], "truncated"),
        (lambda b: b.replace(b"pdta", b"xdta"), "no 'pdta' list"),
        (lambda b: b.replace(b"smpl", b"smpx"), "no 'smpl' chunk"),
        (lambda b: b.replace(b"shdr", b"shdx"), "no 'shdr' chunk"),
    ],
)
def test_damaged_files_are_refused_with_a_reason(tmp_path: Path, damage, reason: str) -> None:
    good = write_sf2(tmp_path / "good.sf2").read_bytes()
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(damage(good))
    with pytest.raises(ValueError, match=reason):
        SoundFont(bad)


def test_parsing_needs_no_audioop(tmp_path: Path) -> None:
    """Python 3.13 removed ``audioop``: the soundfont must load and render without it."""
    code = (
        "import sys; sys.modules['audioop'] = None\n"  # any import of audioop now fails
        "from grainbench.data.sf2player import load_soundfont\n"
        "note = load_soundfont().render_note(0, 60, 100, 0.2, 16000, 4096)\n"
        "assert abs(note).max() > 0.01, 'silent note'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-800:]


def _python_313() -> str | None:
    """A Python 3.13 interpreter on this machine (pyenv's, or on PATH but not a pyenv shim)."""
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))
    if pyenv:
        return str(pyenv[-1])
    found = shutil.which("python3.13")
    return found if found and "shims" not in Path(found).parts else None


def test_the_riff_reader_runs_on_python_313(gm: SoundFont) -> None:
    """The reader is standard library only; run it under 3.13 where the machine has one."""
    python = _python_313()
    if python is None:
        pytest.skip("no Python 3.13 on this machine")
    reader = Path(sf2riff.__file__)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('sf2riff', {str(reader)!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['sf2riff'] = module\n"
        "spec.loader.exec_module(module)\n"
        f"hydra = module.read_hydra(open({str(gm.path)!r}, 'rb').read())\n"
        "print(len(hydra.presets) - 1, len(hydra.samples) - 1, sys.version_info[:2])\n"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.split()[:2] == [str(len(gm.presets)), str(len(gm.samples))]
    assert "(3, 13)" in done.stdout
