"""Image codecs (SPEC section 3): how a generator's images are stored between tasks.

``float`` keeps the images as they are. ``png16`` and ``png8`` write each image to a real PNG
file with :mod:`grainbench.pngio` and read it back. Before quantising, values are clipped to
[-1, 1] (NaN is stored as 0); the clipped values are counted per image. The mapping, with
``L = 2**bits - 1``::

    q = round((clip(v, -1, 1) + 1) / 2 * L)      # round half to even, computed in float64
    v' = q / L * 2 - 1

so the error inside [-1, 1] is at most 1/L (half a step of 2/L). For 8 bits ``q / 255 * 2 - 1``
equals ``q / 127.5 - 1``, exactly how stylegan2-ada-pytorch's training loader turns its
uint8 dataset back into [-1, 1] (its image saver writes ``floor(v * 127.5 + 128)``, which is
the same rounding except that exact ties go up).

Channels map to PNG colour types: C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA (alpha is stored
as data, not premultiplied, so it round-trips like any channel). An image with C > 4
channels is stored as one grey PNG of size (C * H, W): the C channel planes stacked
vertically as tiles, channel 0 at the top.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grainbench.errors import UserError
from grainbench.pngio import read_png, write_png

__all__ = ["CODECS", "Codec", "get_codec"]

CODECS = ("float", "png16", "png8")

_BITS = {"float": None, "png16": 16, "png8": 8}


def _check_images(images: torch.Tensor) -> None:
    """Raise ValueError unless ``images`` is a floating (B, C, H, W) tensor."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
        raise ValueError(f"a codec needs a floating tensor of shape (B, C, H, W), got {shape}")


def _to_png_layout(codes: np.ndarray) -> np.ndarray:
    """One image's codes (C, H, W) to the array ``write_png`` takes (see the module doc)."""
    channels, height, width = codes.shape
    if channels == 1:
        return codes[0]
    if channels <= 4:
        return np.ascontiguousarray(codes.transpose(1, 2, 0))
    return codes.reshape(channels * height, width)


def _from_png_layout(array: np.ndarray, shape: tuple[int, int, int], where: Path) -> np.ndarray:
    """Undo :func:`_to_png_layout`; ``shape`` is the image's (C, H, W)."""
    channels, height, width = shape
    if channels <= 4:
        expected = (height, width) if channels == 1 else (height, width, channels)
        if array.shape != expected:
            raise ValueError(f"{where}: read shape {array.shape}, expected {expected}")
        return array.reshape(height, width, channels).transpose(2, 0, 1)
    if array.shape != (channels * height, width):
        raise ValueError(
            f"{where}: read shape {array.shape}, expected {(channels * height, width)}"
        )
    return array.reshape(channels, height, width)


@contextlib.contextmanager
def _folder(workdir: Path | None) -> Iterator[Path]:
    """``workdir`` (created if missing), or a temporary folder removed afterwards."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="grainbench-codec-") as tmp:
            yield Path(tmp)
    else:
        folder = Path(workdir)
        folder.mkdir(parents=True, exist_ok=True)
        yield folder


@dataclass(frozen=True)
class Codec:
    """An image codec: ``float`` (identity) or a PNG codec of ``bits`` bits per sample.

    Attributes:
        name: one of :data:`CODECS`.
        bits: 8 or 16 for the PNG codecs, ``None`` for ``float``.
    """

    name: str
    bits: int | None

    def _codes(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer codes (int32, same shape) and per-image clipped counts (int64, (B,))."""
        assert self.bits is not None
        work_device = torch.device("cpu") if images.device.type == "mps" else images.device
        values = images.detach().to(work_device, torch.float64)
        nan = torch.isnan(values)
        clipped = ((values < -1) | (values > 1) | nan).flatten(1).sum(dim=1)
        values = torch.where(nan, torch.zeros_like(values), values).clamp(-1.0, 1.0)
        levels = 2**self.bits - 1
        codes = torch.round((values + 1.0) / 2.0 * levels).to(torch.int32)
        return codes, clipped.to(images.device)

    def _decode(self, codes: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Codes back to values in [-1, 1], with ``like``'s dtype and device."""
        assert self.bits is not None
        levels = 2**self.bits - 1
        values = codes.to(torch.float64) / levels * 2.0 - 1.0
        return values.to(device=like.device, dtype=like.dtype)

    def quantise(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Apply the codec's value mapping without writing files (a fast path).

        Gives exactly what :meth:`roundtrip` gives, for the same input.

        Args:
            images: floating tensor (B, C, H, W), nominally in [-1, 1].

        Returns:
            (decoded images with the input's dtype and device, per-image count of clipped
            values as int64 (B,) on the input's device). A value counts once per channel:
            the count is of tensor elements outside [-1, 1] or NaN. ``float`` clips
            nothing and returns a copy of the input and zeros.
        """
        _check_images(images)
        if self.bits is None:
            zeros = torch.zeros(images.shape[0], dtype=torch.int64, device=images.device)
            return images.clone(), zeros
        codes, clipped = self._codes(images)
        return self._decode(codes, images), clipped

    def roundtrip(
        self, images: torch.Tensor, workdir: Path | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store every image under the codec and load it back.

        PNG codecs write one PNG file per image, ``{name}_{index:06d}.png`` in ``workdir``
        (created if missing, files kept and overwritten by a later call), or in a temporary
        folder removed afterwards when ``workdir`` is None, then read each file back with
        grainbench's own PNG reader.

        Args:
            images: floating tensor (B, C, H, W), nominally in [-1, 1].
            workdir: folder for the PNG files, or None.

        Returns:
            As :meth:`quantise`: (decoded images, same dtype and device as the input;
            per-image count of clipped values, int64 (B,)).
        """
        _check_images(images)
        if self.bits is None:
            return self.quantise(images)
        codes, clipped = self._codes(images)
        dtype = np.uint8 if self.bits == 8 else np.uint16
        codes_np = codes.cpu().numpy().astype(dtype)
        back = np.empty_like(codes_np)
        with _folder(workdir) as folder:
            for index, image in enumerate(codes_np):
                path = folder / f"{self.name}_{index:06d}.png"
                write_png(path, _to_png_layout(image))
                back[index] = _from_png_layout(read_png(path), image.shape, path)
        return self._decode(torch.from_numpy(back.astype(np.int32)), images), clipped


def get_codec(name: str) -> Codec:
    """The codec called ``name`` (one of :data:`CODECS`).

    Raises:
        UserError: for an unknown name.
    """
    if name not in _BITS:
        raise UserError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}")
    return Codec(name, _BITS[name])
