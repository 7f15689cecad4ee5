"""Layouts: where each coefficient goes in the image. Every layout is an exact permutation.

``Fold`` turns a 1-D coefficient axis ``(B, Ch, P, K)`` into a grid ``(B, Ch, P, h, w)``
along a space-filling order; ``Arrange`` turns audio channels and planes into image
channels, extra rows or extra columns, giving ``(B, C, H, W)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.stages.base import Stage

ORDERS = ("row", "snake", "hilbert", "morton")


def _hilbert_d2xy(side: int, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (x, y) of curve indices ``d`` on a ``side``×``side`` Hilbert curve."""
    x = np.zeros_like(d)
    y = np.zeros_like(d)
    t = d.copy()
    s = 1
    while s < side:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        # rotate the quadrant
        flip = (ry == 0) & (rx == 1)
        x = np.where(flip, s - 1 - x, x)
        y = np.where(flip, s - 1 - y, y)
        swap = ry == 0
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        x = x + s * rx
        y = y + s * ry
        t = t // 4
        s *= 2
    return x, y


def _morton_d2xy(h: int, w: int, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of Z-order indices ``d``: bits interleaved while both axes have bits left."""
    bx, by = int(np.log2(w)), int(np.log2(h))
    x = np.zeros_like(d)
    y = np.zeros_like(d)
    bit = 0
    xi = yi = 0
    while xi < bx or yi < by:
        if xi < bx:
            x |= ((d >> bit) & 1) << xi
            xi += 1
            bit += 1
        if yi < by:
            y |= ((d >> bit) & 1) << yi
            yi += 1
            bit += 1
    return x, y


def fold_order(h: int, w: int, order: str) -> np.ndarray:
    """``idx`` with ``image.flat[j] = coeffs[idx[j]]`` for a ``h``×``w`` fold in ``order``.

    - ``row``: row-major (coefficient k at row k // w, column k % w);
    - ``snake``: row-major with every odd row reversed (boustrophedon), so that the end of a
      row touches the start of the next;
    - ``hilbert``: the Hilbert curve (square grids of a power-of-two side; rectangles
      w = m·h are tiled with m Hilbert squares side by side, tall ones h = m·w with m
      transposed squares stacked, so consecutive indices stay 4-neighbours throughout);
    - ``morton``: Z order, bits of k interleaved between column and row (powers of two).
    """
    k = np.arange(h * w, dtype=np.int64)
    if order == "row":
        return k
    if order == "snake":
        grid = k.reshape(h, w).copy()
        grid[1::2] = grid[1::2, ::-1]
        return grid.reshape(-1)
    pow2 = h > 0 and w > 0 and (h & (h - 1)) == 0 and (w & (w - 1)) == 0
    if not pow2:
        raise ValueError(f"{order} layout needs power-of-two sides, got {h}×{w}")
    if order == "morton":
        x, y = _morton_d2xy(h, w, k)
    elif order == "hilbert":
        side = min(h, w)
        tile, within = np.divmod(k, side * side)
        x, y = _hilbert_d2xy(side, within)
        if w >= h:
            x = x + tile * side
        else:  # transposed tiles run top to bottom, so each tile ends where the next begins
            x, y = y, x + tile * side
    else:
        raise ValueError(f"unknown fold order {order!r}; choose one of {ORDERS}")
    idx = np.empty(h * w, dtype=np.int64)
    idx[y * w + x] = k
    return idx


class Fold(Stage):
    """Fold a 1-D coefficient axis of length h·w into an ``h``×``w`` grid along ``order``."""

    permutes = True

    def __init__(self, h: int, w: int, order: str = "row") -> None:
        super().__init__()
        self.h, self.w, self.order = int(h), int(w), order
        idx = torch.from_numpy(fold_order(self.h, self.w, order))
        self.register_buffer("idx", idx, persistent=False)
        self.register_buffer("inv_idx", torch.argsort(idx), persistent=False)

    @staticmethod
    def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """``x[..., idx]`` as one ``index_select`` on a 2-D view: several times faster than
        advanced indexing on the last axis of a 4-D batch."""
        flat = x.reshape(-1, x.shape[-1])
        return torch.index_select(flat, 1, idx).reshape(x.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(…, h·w)`` → ``(…, h, w)``."""
        if self.order != "row":
            x = self._gather(x, self.idx)
        return x.reshape(*x.shape[:-1], self.h, self.w)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``(…, h, w)`` → ``(…, h·w)``."""
        flat = y.reshape(*y.shape[:-2], self.h * self.w)
        return flat if self.order == "row" else self._gather(flat, self.inv_idx)

    def carry_parts(self, masks: torch.Tensor) -> torch.Tensor:
        """A permutation: each element's part moves with it."""
        return self(masks)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "Fold", "h": self.h, "w": self.w, "order": self.order}


class Arrange(Stage):
    """Place audio channels and planes of ``(B, Ch, P, h, w)`` in an image ``(B, C, H, W)``.

    ``channels`` and ``planes`` each say where that axis goes: ``"channels"`` (image
    channels), ``"rows"`` (stacked vertically, first on top) or ``"cols"`` (side by side).
    When both go to the same place, audio channels are the outer index.
    """

    PLACES = ("channels", "rows", "cols")
    permutes = True

    def __init__(
        self, n_channels: int, n_planes: int, channels: str = "channels", planes: str = "channels"
    ) -> None:
        super().__init__()
        self.n_channels, self.n_planes = int(n_channels), int(n_planes)
        if channels not in self.PLACES or planes not in self.PLACES:
            raise ValueError(f"places must be among {self.PLACES}")
        self.channels, self.planes = channels, planes
        roles = {1: channels, 2: planes}
        self._c_axes = [a for a in (1, 2) if roles[a] == "channels"]
        self._r_axes = [a for a in (1, 2) if roles[a] == "rows"]
        self._w_axes = [a for a in (1, 2) if roles[a] == "cols"]
        self._perm = [0, *self._c_axes, *self._r_axes, 3, *self._w_axes, 4]
        self._inv = sorted(range(5), key=self._perm.__getitem__)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Ch, P, h, w)`` → ``(B, C, H, W)``."""
        b, h, w = x.shape[0], x.shape[3], x.shape[4]
        sizes = {a: x.shape[a] for a in (1, 2)}
        c = math.prod(sizes[a] for a in self._c_axes)
        rows = math.prod(sizes[a] for a in self._r_axes)
        cols = math.prod(sizes[a] for a in self._w_axes)
        return x.permute(*self._perm).reshape(b, c, rows * h, cols * w)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` → ``(B, Ch, P, h, w)``."""
        size = {1: self.n_channels, 2: self.n_planes}
        b, _, hh, ww = y.shape
        rows = math.prod(size[a] for a in self._r_axes)
        cols = math.prod(size[a] for a in self._w_axes)
        h, w = hh // rows, ww // cols
        shape = [b, *[size[a] for a in self._c_axes], *[size[a] for a in self._r_axes], h]
        shape += [*[size[a] for a in self._w_axes], w]
        return y.reshape(shape).permute(*self._inv)

    def carry_parts(self, masks: torch.Tensor) -> torch.Tensor:
        """A permutation: each element's part moves with it."""
        return self(masks)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "Arrange", "channels": self.channels, "planes": self.planes}
