"""Our own PNG writer and reader (NumPy + zlib; no imaging library in the code path).

The image codecs (``grainbench.codecs``) store a generator's images as real PNG files, so
the bytes that a downstream tool sees are exactly the bytes grainbench measured.

Supported: non-interlaced PNGs of colour type 0 (grey), 4 (grey + alpha), 2 (RGB) and
6 (RGBA) at bit depth 8 or 16 (16-bit samples are big-endian in the file, as PNG requires).
The reader undoes all five PNG row filters (None, Sub, Up, Average, Paeth), so such files
from other tools read too; it checks every chunk's CRC and raises ``ValueError`` with a
one-line reason for a corrupt, truncated or unsupported file. The writer chooses, per row,
the cheapest of the None, Sub and Up filters (smallest sum of absolute filtered bytes, the
usual libpng heuristic); those three undo quickly in NumPy on read.
"""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_png", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# PNG colour type for each number of channels, and back.
_COLOUR_TYPE_OF_CHANNELS = {1: 0, 2: 4, 3: 2, 4: 6}
_CHANNELS_OF_COLOUR_TYPE = {ct: c for c, ct in _COLOUR_TYPE_OF_CHANNELS.items()}
_KNOWN_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC-32 of type + body."""
    crc = zlib.crc32(body, zlib.crc32(kind))
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _filter_rows(raw: np.ndarray, bpp: int) -> np.ndarray:
    """Filter each row of ``raw`` (H, stride) uint8 with the cheapest of None, Sub and Up.

    Returns the (H, 1 + stride) uint8 array of filter-type bytes followed by filtered rows.
    """
    height, stride = raw.shape
    sub = raw.copy()
    sub[:, bpp:] -= raw[:, :-bpp]  # uint8 arithmetic wraps modulo 256, as PNG requires
    up = raw.copy()
    up[1:] -= raw[:-1]
    candidates = np.stack([raw, sub, up])  # filter types 0, 1, 2
    cost = np.abs(candidates.view(np.int8).astype(np.int32)).sum(axis=2)
    choice = np.argmin(cost, axis=0)
    out = np.empty((height, 1 + stride), dtype=np.uint8)
    out[:, 0] = choice
    out[:, 1:] = candidates[choice, np.arange(height)]
    return out


def write_png(path: str | os.PathLike[str], array: np.ndarray, *, compress_level: int = 6) -> None:
    """Write ``array`` to ``path`` as a PNG file, atomically (temp file + ``os.replace``).

    Args:
        path: destination file; its folder must exist. An existing file is replaced.
        array: ``uint8`` or ``uint16`` array of shape (H, W) or (H, W, C) with C in 1..4:
            grey, grey + alpha, RGB, RGBA (PNG colour types 0, 4, 2, 6). The bit depth is 8
            for ``uint8`` and 16 for ``uint16`` (stored big-endian). Alpha is stored as given,
            not premultiplied, so every channel round-trips exactly.
        compress_level: zlib level, 0 (store) to 9.

    Raises:
        ValueError: for an unsupported dtype, shape or an empty image.
    """
    arr = np.asarray(array)
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_png needs a uint8 or uint16 array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in _COLOUR_TYPE_OF_CHANNELS:
        raise ValueError(
            f"write_png needs shape (H, W) or (H, W, C) with C in 1..4, got {np.shape(array)}"
        )
    height, width, channels = arr.shape
    if height == 0 or width == 0 or height >= 2**31 or width >= 2**31:
        raise ValueError(f"PNG width and height must be in 1..2**31-1, got {width}x{height}")
    bit_depth = 8 * arr.dtype.itemsize
    bpp = channels * arr.dtype.itemsize  # bytes per pixel, the filters' left distance
    raw = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder(">")).view(np.uint8)
    filtered = _filter_rows(raw.reshape(height, width * bpp), bpp)
    header = struct.pack(
        ">IIBBBBB", width, height, bit_depth, _COLOUR_TYPE_OF_CHANNELS[channels], 0, 0, 0
    )
    blob = b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(filtered.tobytes(), compress_level)),
            _chunk(b"IEND", b""),
        ]
    )
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(blob)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _unfilter_average(line: bytes, prior: bytes, bpp: int) -> bytearray:
    """Undo the Average filter (type 3) on one row, given the reconstructed row above."""
    cur = bytearray(line)
    for i in range(len(cur)):
        left = cur[i - bpp] if i >= bpp else 0
        cur[i] = (cur[i] + ((left + prior[i]) >> 1)) & 0xFF
    return cur


def _unfilter_paeth(line: bytes, prior: bytes, bpp: int) -> bytearray:
    """Undo the Paeth filter (type 4) on one row, given the reconstructed row above."""
    cur = bytearray(line)
    for i in range(len(cur)):
        if i >= bpp:
            a, c = cur[i - bpp], prior[i - bpp]
        else:
            a = c = 0
        b = prior[i]
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        if pa <= pb and pa <= pc:
            pred = a
        elif pb <= pc:
            pred = b
        else:
            pred = c
        cur[i] = (cur[i] + pred) & 0xFF
    return cur


def _unfilter(data: bytes, height: int, stride: int, bpp: int, where: str) -> np.ndarray:
    """Undo the per-row filters of decompressed image data; returns (H, stride) uint8."""
    rows = np.frombuffer(data, dtype=np.uint8).reshape(height, 1 + stride)
    out = np.empty((height, stride), dtype=np.uint8)
    prior = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind = int(rows[y, 0])
        line = rows[y, 1:]
        if kind == 0:
            cur = line
        elif kind == 1:
            # Sub: a running sum along each byte lane of the pixel; uint8 cumsum wraps mod 256.
            cur = line.reshape(-1, bpp).cumsum(axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            cur = line + prior
        elif kind == 3:
            cur = np.frombuffer(_unfilter_average(line.tobytes(), prior.tobytes(), bpp), np.uint8)
        elif kind == 4:
            cur = np.frombuffer(_unfilter_paeth(line.tobytes(), prior.tobytes(), bpp), np.uint8)
        else:
            raise ValueError(f"{where}: corrupt PNG: row {y} has unknown filter type {kind}")
        out[y] = cur
        prior = out[y]
    return out


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG file into a NumPy array.

    Reads every file :func:`write_png` makes, and any non-interlaced PNG of colour type 0, 4,
    2 or 6 (grey, grey + alpha, RGB, RGBA) at bit depth 8 or 16 with any of the five row
    filters. Ancillary chunks are skipped (gamma, colour profiles and the like are not
    applied: the samples are returned as stored).

    Returns:
        ``uint8`` or ``uint16`` (native byte order) array of shape (H, W) for grey, else
        (H, W, C) with C = 2, 3 or 4.

    Raises:
        ValueError: the file is not a PNG, is corrupt (bad CRC, truncated, bad zlib data,
            wrong data length) or uses a feature outside the list above (palette, bit
            depths below 8, interlacing); the message names the file and the reason.
    """
    where = os.fspath(path)
    data = Path(path).read_bytes()
    if data[:8] != _SIGNATURE:
        raise ValueError(f"{where}: not a PNG file (bad signature)")
    pos = 8
    header: tuple[int, ...] | None = None
    idat: list[bytes] = []
    while True:
        if pos + 12 > len(data):
            raise ValueError(f"{where}: corrupt PNG: truncated (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ValueError(f"{where}: corrupt PNG: truncated {kind!r} chunk at byte {pos}")
        body = data[pos + 8 : end]
        (crc,) = struct.unpack(">I", data[end : end + 4])
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            raise ValueError(f"{where}: corrupt PNG: CRC mismatch in {kind!r} chunk at byte {pos}")
        if header is None and kind != b"IHDR":
            raise ValueError(f"{where}: corrupt PNG: first chunk is {kind!r}, not IHDR")
        if kind == b"IHDR":
            if header is not None or length != 13:
                raise ValueError(f"{where}: corrupt PNG: bad IHDR chunk")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        elif kind not in _KNOWN_CRITICAL and not kind[0] & 0x20:
            raise ValueError(f"{where}: unsupported PNG: unknown critical chunk {kind!r}")
        pos = end + 4

    width, height, bit_depth, colour_type, compression, filter_method, interlace = header
    if colour_type not in _CHANNELS_OF_COLOUR_TYPE:
        raise ValueError(
            f"{where}: unsupported PNG colour type {colour_type} (palette or unknown); "
            "supported: 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA"
        )
    if bit_depth not in (8, 16):
        raise ValueError(f"{where}: unsupported PNG bit depth {bit_depth}; supported: 8, 16")
    if compression != 0 or filter_method != 0:
        raise ValueError(f"{where}: corrupt PNG: unknown compression or filter method")
    if interlace != 0:
        raise ValueError(f"{where}: unsupported PNG: interlaced (Adam7) images are not read")
    if width == 0 or height == 0:
        raise ValueError(f"{where}: corrupt PNG: zero width or height")
    if not idat:
        raise ValueError(f"{where}: corrupt PNG: no IDAT chunk")

    channels = _CHANNELS_OF_COLOUR_TYPE[colour_type]
    itemsize = bit_depth // 8
    bpp = channels * itemsize
    stride = width * bpp
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ValueError(f"{where}: corrupt PNG: bad zlib data ({exc})") from exc
    if not inflater.eof:
        raise ValueError(f"{where}: corrupt PNG: image data stream is truncated")
    if len(raw) != height * (1 + stride):
        raise ValueError(
            f"{where}: corrupt PNG: image data has {len(raw)} bytes, "
            f"expected {height * (1 + stride)}"
        )
    pixels = _unfilter(raw, height, stride, bpp, where)
    dtype = np.dtype(np.uint8) if itemsize == 1 else np.dtype(">u2")
    image = pixels.view(dtype).reshape(height, width, channels).astype(dtype.newbyteorder("="))
    return image[:, :, 0] if channels == 1 else image
