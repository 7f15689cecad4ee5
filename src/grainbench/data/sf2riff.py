"""Read the RIFF structure of a SoundFont 2 file: the "hydra" headers and the sample data offset.

Written from the SoundFont 2.04 specification (sections 4-7). An SF2 file is a RIFF form of
type ``sfbk`` holding three ``LIST`` chunks: ``INFO`` (text, not read here), ``sdta`` (the
16-bit ``smpl`` sample data) and ``pdta``, whose nine sub-chunks are arrays of fixed-size
little-endian records. Only the records the player uses are decoded; modulators (``pmod``,
``imod``) are skipped. Every array ends with a terminal record, kept here as the spec
requires, so ``records[i + 1].bag`` bounds record ``i``'s zones.

Pure Python (``struct``), so it runs on every Python version; a file that is truncated, not
RIFF/sfbk or lacks a required chunk raises ``ValueError`` with a one-line reason.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "Bag",
    "Generator",
    "Hydra",
    "InstrumentHeader",
    "PresetHeader",
    "SampleRecord",
    "cstr",
    "read_hydra",
]


class PresetHeader(NamedTuple):
    """A ``phdr`` record: name (raw 20 bytes), program, bank and index of its first bag."""

    name: bytes
    preset: int
    bank: int
    bag: int


class InstrumentHeader(NamedTuple):
    """An ``inst`` record: name (raw 20 bytes) and index of its first bag."""

    name: bytes
    bag: int


class Bag(NamedTuple):
    """A ``pbag``/``ibag`` record: index of the zone's first generator."""

    gen: int


class Generator(NamedTuple):
    """A ``pgen``/``igen`` record: generator number and its raw 16-bit amount (unsigned)."""

    oper: int
    amount: int


class SampleRecord(NamedTuple):
    """An ``shdr`` record (sample positions in sample points from the start of ``smpl``;
    ``name`` decoded by :func:`cstr`)."""

    name: str
    start: int
    end: int
    loop_start: int
    loop_end: int
    sample_rate: int
    original_pitch: int
    pitch_correction: int
    sample_type: int


def cstr(raw: bytes) -> str:
    """A fixed-size SF2 name field as text: up to the first NUL, latin-1, stripped."""
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


@dataclass(frozen=True)
class Hydra:
    """The parsed ``pdta`` arrays (each with its terminal record) and the ``smpl`` data location.

    ``smpl_offset`` is the byte offset of the first sample in the file and ``smpl_size`` the
    data's length in bytes (two bytes per 16-bit sample point).
    """

    presets: list[PresetHeader]
    preset_bags: list[Bag]
    preset_gens: list[Generator]
    instruments: list[InstrumentHeader]
    instrument_bags: list[Bag]
    instrument_gens: list[Generator]
    samples: list[SampleRecord]
    smpl_offset: int
    smpl_size: int


# pdta sub-chunk -> struct format of one record (SF2.04 section 7)
_RECORDS = {
    b"phdr": "<20sHHHIII",
    b"pbag": "<HH",
    b"pgen": "<HH",
    b"inst": "<20sH",
    b"ibag": "<HH",
    b"igen": "<HH",
    b"shdr": "<20sIIIIIBbHH",
}


def _chunks(data: bytes, start: int, stop: int, where: str) -> dict[bytes, tuple[int, int]]:
    """The chunks between ``start`` and ``stop``: id -> (offset of its body, body size).

    A ``LIST`` chunk is keyed by its list type (``INFO``, ``sdta``, ``pdta``) and its body
    starts after that type. Bodies are padded to an even length, as RIFF requires.
    """
    found: dict[bytes, tuple[int, int]] = {}
    pos = start
    while pos + 8 <= stop:
        kind, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if body + size > stop:
            raise ValueError(f"truncated {kind.decode('latin-1')!r} chunk in {where}")
        if kind == b"LIST" and size >= 4:
            found.setdefault(data[body : body + 4], (body + 4, size - 4))
        else:
            found.setdefault(kind, (body, size))
        pos = body + size + (size & 1)
    return found


def _array(data: bytes, chunks: dict[bytes, tuple[int, int]], kind: bytes) -> list[tuple]:
    """Decode the records of one pdta sub-chunk (at least the terminal record)."""
    if kind not in chunks:
        raise ValueError(f"no {kind.decode()!r} chunk in pdta")
    offset, size = chunks[kind]
    fmt = struct.Struct(_RECORDS[kind])
    if size % fmt.size or size < fmt.size:
        raise ValueError(
            f"{kind.decode()!r} chunk of {size} bytes is not whole {fmt.size}-byte records"
        )
    return list(fmt.iter_unpack(data[offset : offset + size]))


def read_hydra(data: bytes) -> Hydra:
    """Parse an SF2 file's bytes into its :class:`Hydra`.

    Raises:
        ValueError: not a RIFF ``sfbk`` form, a truncated chunk, a missing ``sdta``/``smpl``
            or ``pdta`` sub-chunk, or a sub-chunk that is not whole records.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError("not a RIFF sfbk (SoundFont 2) file")
    (size,) = struct.unpack_from("<I", data, 4)
    top = _chunks(data, 12, min(len(data), 8 + size), "the file")
    for kind in (b"sdta", b"pdta"):
        if kind not in top:
            raise ValueError(f"no {kind.decode()!r} list in the file")
    sdta = _chunks(data, top[b"sdta"][0], sum(top[b"sdta"]), "sdta")
    if b"smpl" not in sdta:
        raise ValueError("no 'smpl' chunk (sample data) in sdta")
    pdta = _chunks(data, top[b"pdta"][0], sum(top[b"pdta"]), "pdta")
    phdr = _array(data, pdta, b"phdr")
    inst = _array(data, pdta, b"inst")
    shdr = _array(data, pdta, b"shdr")
    return Hydra(
        presets=[PresetHeader(r[0], r[1], r[2], r[3]) for r in phdr],
        preset_bags=[Bag(r[0]) for r in _array(data, pdta, b"pbag")],
        preset_gens=[Generator(*r) for r in _array(data, pdta, b"pgen")],
        instruments=[InstrumentHeader(*r) for r in inst],
        instrument_bags=[Bag(r[0]) for r in _array(data, pdta, b"ibag")],
        instrument_gens=[Generator(*r) for r in _array(data, pdta, b"igen")],
        samples=[
            SampleRecord(cstr(r[0]), *r[1:8], r[9]) for r in shdr
        ],  # r[8]: the stereo link, unused
        smpl_offset=sdta[b"smpl"][0],
        smpl_size=sdta[b"smpl"][1],
    )
