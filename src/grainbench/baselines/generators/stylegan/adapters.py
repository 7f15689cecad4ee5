"""Non-square adapter: lay a representation's image out as another (C, H, W) of the same size.

``--shape HxW`` reads the representation's image in row-major order (channel, row, column)
and reshapes it to ``(C', H, W)`` with ``C' = C·H₀·W₀ / (H·W)``. For a stereo DCT laid out as
two 512×512 channels, ``2x131072`` gives one grey image whose two rows are the two audio
channels' coefficients: the 2×131,072 image the Ki project asks about. The inverse reshapes
back before the representation's decode, so the round trip is exact.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from grainbench.errors import UserError


def parse_shape(text: str) -> tuple[int, int]:
    """``"2x131072"`` (or ``2×131072``) → ``(2, 131072)``."""
    m = re.fullmatch(r"\s*(\d+)\s*[x×X]\s*(\d+)\s*", text)
    if not m:
        raise UserError(f"--shape {text!r}: expected HxW, e.g. 2x131072")
    h, w = int(m.group(1)), int(m.group(2))
    if h < 1 or w < 1:
        raise UserError(f"--shape {text!r}: sides must be positive")
    return h, w


def reshaped_image_shape(
    inner: tuple[int, int, int], shape: tuple[int, int]
) -> tuple[int, int, int]:
    """``(C', H, W)`` holding exactly the pixels of an ``inner`` image."""
    total = inner[0] * inner[1] * inner[2]
    h, w = shape
    if total % (h * w):
        raise UserError(
            f"--shape {h}x{w} does not divide the representation's {inner[0]}×{inner[1]}×{inner[2]} "
            f"= {total} pixels"
        )
    return total // (h * w), h, w


class ReshapeLayout(nn.Module):
    """A representation whose images are ``inner``'s images reshaped to ``shape`` (H, W).

    ``inner`` is anything with ``encode``/``decode`` (and optionally ``fit``); its image shape
    is given explicitly as ``inner_shape`` because the plugin protocol does not require the
    attribute. Exposes the SPEC section 2 attributes of ``inner`` and ``image_shape``.
    """

    def __init__(
        self, inner: Any, inner_shape: tuple[int, int, int], shape: tuple[int, int]
    ) -> None:
        super().__init__()
        self.inner = inner
        self.inner_shape = tuple(int(s) for s in inner_shape)
        self.image_shape = reshaped_image_shape(self.inner_shape, shape)  # type: ignore[arg-type]
        self.name = f"{getattr(inner, 'name', type(inner).__name__)}@{shape[0]}x{shape[1]}"
        self.sample_rate = int(inner.sample_rate)
        self.n_samples = int(inner.n_samples)
        self.n_channels = int(inner.n_channels)
        self.linear = bool(getattr(inner, "linear", False))

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio → the inner image, reshaped to ``image_shape``."""
        img = self.inner.encode(audio)
        return img.reshape(img.shape[0], *self.image_shape)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        """Image of ``image_shape`` → audio, through the inner decode."""
        return self.inner.decode(image.reshape(image.shape[0], *self.inner_shape))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`decode` (so the adapter can be traced as a decoder)."""
        return self.decode(image)
