"""Anisotropic growth schedules: block resolutions and kernels for any power-of-two (H, W).

A StyleGAN2 generator starts from a small learned constant and doubles the resolution in each
block; its discriminator mirrors that. The official code fixes the start at 4×4 and doubles
both axes, so it only reaches square images. Here the start is ``(min(H, 4), min(W, 4))`` and
each block doubles the axis that still has the larger way to go (in octaves), or both when
they have the same way to go. So every intermediate resolution has (nearly) the target's
aspect ratio as soon as it can, and extreme targets are reached one axis at a time::

    256×256    : 4×4 → 8×8 → … → 256×256                          (6 blocks after the start)
    64×1024    : 4×4 → 4×8 → 4×16 → 4×32 → 4×64 → 8×128 → … → 64×1024
    2×131072   : 2×4 → 2×8 → … → 2×131072                         (15 width-only blocks)

Kernels fit each axis: 3 taps along an axis of two or more pixels, 1 tap along an axis of a
single pixel (a 3-tap kernel there would only ever see zero padding). An axis of exactly two
pixels keeps 3 taps with "same" padding, so its two rows (e.g. the two channels of a stereo
layout) still see each other.

Channels follow StyleGAN2's rule ``min(channel_base / res, channel_max)`` with ``res`` the
geometric mean ``sqrt(h·w)`` of the block's resolution (equal to the side for squares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grainbench.errors import UserError


@dataclass(frozen=True)
class Block:
    """One generator block: its output resolution, how it got there, kernel and channels."""

    height: int
    width: int
    up: tuple[int, int]
    kernel: tuple[int, int]
    channels: int

    @property
    def padding(self) -> tuple[int, int]:
        """'Same' padding of this block's convolution along (H, W)."""
        return ((self.kernel[0] - 1) // 2, (self.kernel[1] - 1) // 2)


def _is_pow2(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def axis_kernel(size: int) -> int:
    """Kernel taps along an axis of ``size`` pixels: 1 for a single pixel, 3 otherwise."""
    return 1 if size <= 1 else 3


def block_channels(height: int, width: int, channel_base: int, channel_max: int) -> int:
    """Feature maps of a block at ``height × width``: ``min(base / sqrt(h·w), max)``, ≥ 1."""
    return max(1, min(int(round(channel_base / math.sqrt(height * width))), channel_max))


def check_shape(height: int, width: int) -> None:
    """Raise :class:`UserError` unless both sides are powers of two."""
    if not (_is_pow2(height) and _is_pow2(width)):
        raise UserError(
            f"StyleGAN needs power-of-two image sides, got {height}×{width}; "
            "choose a representation layout (or --shape) with power-of-two sides"
        )


def growth_schedule(
    height: int,
    width: int,
    channel_base: int = 16384,
    channel_max: int = 512,
    start: int = 4,
) -> list[Block]:
    """The list of blocks from the start resolution to ``height × width``.

    The first block is the start (``up == (1, 1)``); every later block doubles one or both
    axes (``up`` is 1 or 2 per axis). See the module docstring for the rule.
    """
    check_shape(height, width)
    h, w = min(height, start), min(width, start)

    def make(h: int, w: int, up: tuple[int, int]) -> Block:
        return Block(
            h,
            w,
            up,
            (axis_kernel(h), axis_kernel(w)),
            block_channels(h, w, channel_base, channel_max),
        )

    blocks = [make(h, w, (1, 1))]
    while (h, w) != (height, width):
        gap_h = int(math.log2(height // h))
        gap_w = int(math.log2(width // w))
        uy = 2 if gap_h >= gap_w and gap_h > 0 else 1
        ux = 2 if gap_w >= gap_h and gap_w > 0 else 1
        h, w = h * uy, w * ux
        blocks.append(make(h, w, (uy, ux)))
    return blocks
