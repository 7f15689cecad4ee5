"""Wrap edges of phase images: where neighbouring phase pixels jump across ±π.

A phase part stores angles divided by π, in (−1, 1]. Two neighbouring pixels whose values
differ by more than 1 (π rad) are closer going the other way round the circle: the image
has a *wrap edge* there, a jump of nearly 2 between angles that are nearly equal. A
convolution sees the jump, not the circle, and an image error that smooths across it (a
blur, an interpolating generator) turns two nearly equal angles into their mean, half a
turn away from both: a phase error near π at full amplitude. The share of wrap edges
among a phase part's neighbour pairs is a locality statistic of the layout (SPEC 4.3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grainbench.parts import image_parts, phase_parts

#: neighbour offsets (row, column) inside one image channel
DIRECTIONS = {"right": (0, 1), "down": (1, 0)}


def wrap_share(images: torch.Tensor, mask: torch.Tensor, direction: str) -> torch.Tensor:
    """Per image, the share of neighbour pairs inside ``mask`` that are wrap edges.

    ``images (B, C, H, W)`` hold angles/π in the part; ``mask`` (bool ``(C, H, W)``) is the
    part. A pair is a pixel and its neighbour in ``direction`` (``right`` or ``down``, same
    channel), both in the part; it is a wrap edge when their values differ by more than 1.
    Returns float64 ``(B,)``; NaN when the part has no such pair.
    """
    dh, dw = DIRECTIONS[direction]
    _, _, h, w = images.shape
    a = images[:, :, : h - dh, : w - dw].double()
    b = images[:, :, dh:, dw:].double()
    m = mask.to(images.device)
    pairs = m[:, : h - dh, : w - dw] & m[:, dh:, dw:]
    n_pairs = int(pairs.sum())
    if n_pairs == 0:
        return torch.full((images.shape[0],), float("nan"), dtype=torch.float64)
    wraps = (((a - b).abs() > 1.0) & pairs).flatten(1).sum(1)
    return (wraps.double() / n_pairs).cpu()


class WrapShares:
    """Accumulates wrap-edge shares of every phase part of ``rep``'s images, batch by batch
    (so a task that already encodes the training set counts them in the same pass)."""

    def __init__(self, rep: Any) -> None:
        names = phase_parts(rep)
        self.masks = {p: m for p, m in image_parts(rep).items() if p in names} if names else {}
        self._shares: dict[tuple[str, str], list[np.ndarray]] = {
            (p, d): [] for p in self.masks for d in DIRECTIONS
        }

    def add(self, images: torch.Tensor) -> None:
        """Count the wrap edges of one batch of encoded images ``(B, C, H, W)``."""
        for part, direction in self._shares:
            self._shares[part, direction].append(
                wrap_share(images, self.masks[part], direction).numpy()
            )

    def result(self) -> dict[tuple[str, str], np.ndarray]:
        """``{(part, direction): per-image shares (N,)}``; ``{}`` without phase parts."""
        return {key: np.concatenate(v) for key, v in self._shares.items() if v}


def phase_wrap_shares(
    rep: Any, audio: np.ndarray, device: torch.device, batch_size: int = 32
) -> dict[tuple[str, str], np.ndarray]:
    """Wrap-edge shares of every phase part of ``rep``'s images of ``audio`` ``(N, ch, n)``.

    Returns ``{(part, direction): per-clip shares (N,)}`` for each part the representation
    declares as a phase part (:func:`grainbench.parts.phase_parts`); ``{}`` when none.
    Clips are encoded ``batch_size`` at a time.
    """
    shares = WrapShares(rep)
    if not shares.masks:
        return {}
    for start in range(0, len(audio), max(1, batch_size)):
        with torch.no_grad():
            shares.add(rep.encode(torch.from_numpy(audio[start : start + batch_size]).to(device)))
    return shares.result()
