"""PNG files for the image codecs, through pypng (pure Python; 8- and 16-bit, 1-4 channels).

The image codecs (``grainbench.codecs``) store a generator's images as real PNG files, so
the bytes that a downstream tool sees are exactly the bytes grainbench measured. Pillow
cannot hold 16-bit grey + alpha or 16-bit colour, which two-plane representations need at
``png16``, so the files go through pypng, which reads and writes every non-palette colour
type at bit depth 8 and 16 and checks each chunk's CRC.

Supported: colour types 0 (grey), 4 (grey + alpha), 2 (RGB) and 6 (RGBA) at bit depth 8 or
16; samples are returned as stored (no gamma or colour profile is applied).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
import png

__all__ = ["read_png", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_png(path: str | os.PathLike[str], array: np.ndarray, *, compress_level: int = 6) -> None:
    """Write ``array`` to ``path`` as a PNG file, atomically (temp file + ``os.replace``).

    Args:
        path: destination file; its folder must exist. An existing file is replaced.
        array: ``uint8`` or ``uint16`` array of shape (H, W) or (H, W, C) with C in 1..4:
            grey, grey + alpha, RGB, RGBA (PNG colour types 0, 4, 2, 6). The bit depth is 8
            for ``uint8`` and 16 for ``uint16``. Alpha is stored as given, not premultiplied,
            so every channel round-trips exactly.
        compress_level: zlib level, 0 (store) to 9.

    Raises:
        ValueError: for an unsupported dtype, shape or an empty image.
    """
    arr = np.asarray(array)
    if arr.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"write_png needs a uint8 or uint16 array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or not 1 <= arr.shape[2] <= 4:
        raise ValueError(
            f"write_png needs shape (H, W) or (H, W, C) with C in 1..4, got {np.shape(array)}"
        )
    height, width, channels = arr.shape
    if height == 0 or width == 0 or height >= 2**31 or width >= 2**31:
        raise ValueError(f"PNG width and height must be in 1..2**31-1, got {width}x{height}")
    writer = png.Writer(
        width=width,
        height=height,
        greyscale=channels <= 2,
        alpha=channels in (2, 4),
        bitdepth=8 * arr.dtype.itemsize,
        compression=compress_level,
    )
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            writer.write_array(handle, arr.reshape(-1))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _reason(error: Exception) -> str:
    """One line for a pypng error, led by the words the callers' messages promise."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    lowered = text.lower()
    if "checksum" in lowered:
        return f"corrupt PNG: CRC mismatch ({text})"
    if isinstance(error, EOFError) or any(w in lowered for w in ("short", "eof", "end of file")):
        return f"corrupt PNG: truncated ({text})"
    return f"unsupported or corrupt PNG: {text}"


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG file into a NumPy array.

    Reads every file :func:`write_png` makes, and any PNG of colour type 0, 4, 2 or 6 (grey,
    grey + alpha, RGB, RGBA) at bit depth 8 or 16, with any row filter or interlacing.
    Ancillary chunks are skipped (gamma, colour profiles and the like are not applied: the
    samples are returned as stored).

    Returns:
        ``uint8`` or ``uint16`` (native byte order) array of shape (H, W) for grey, else
        (H, W, C) with C = 2, 3 or 4.

    Raises:
        ValueError: the file is not a PNG, is corrupt (bad CRC, truncated, bad zlib data) or
            uses a palette or a bit depth below 8; the message names the file and the reason.
    """
    where = os.fspath(path)
    data = Path(path).read_bytes()
    if data[:8] != _SIGNATURE:
        raise ValueError(f"{where}: not a PNG file (bad signature)")
    try:
        reader = png.Reader(bytes=data)
        reader.preamble()
        if reader.colormap:
            raise ValueError(f"{where}: unsupported PNG: palette images are not read")
        if reader.bitdepth not in (8, 16):
            raise ValueError(
                f"{where}: unsupported PNG bit depth {reader.bitdepth}; supported: 8, 16"
            )
        width, height, rows, info = reader.read_flat()
    except (png.Error, EOFError, ValueError) as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: {_reason(exc)}") from exc
    dtype = np.uint8 if info["bitdepth"] == 8 else np.uint16
    channels = info["planes"]
    image = np.asarray(rows, dtype=dtype).reshape(height, width, channels)
    return image[:, :, 0] if channels == 1 else image
