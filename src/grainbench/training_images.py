"""The training clips' images, encoded once per run and shared by the tasks that read them
all (the perturbation's pixel energies, the locality's mean image and correlations)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

KEEP_BYTES = 1 << 30
"""Encoded training images kept in memory for the next task, at most (else re-encoded)."""


class TrainingImages:
    """``rep``'s images of the clips ``audio (N, ch, n)``, in batches, encoded on first use.

    Every pass encodes the same batches the same way, so a task reading the kept images
    gets the numbers it would have got by encoding them itself; a representation whose
    encode is slow (harmonic-noise: CREPE f0 and an oscillator bank per clip) is encoded
    once per run instead of once per task."""

    def __init__(
        self,
        rep: Any,
        audio: np.ndarray,
        device: torch.device | str = "cpu",
        images: torch.Tensor | None = None,
    ) -> None:
        """``images``: every clip's image ``(N, C, H, W)`` already, as the representation's
        fit returned them (:meth:`grainbench.representation.Representation.fit`)."""
        self.rep, self.audio, self.device = rep, audio, torch.device(device)
        self.images = images
        self._kept: tuple[int, list[torch.Tensor]] | None = None

    def batches(self, batch_size: int) -> Iterator[tuple[slice, torch.Tensor]]:
        """``(clips, images (B, C, H, W))`` for consecutive slices of ``batch_size`` clips."""
        size = max(1, int(batch_size))
        slices = [slice(i, min(i + size, len(self.audio))) for i in range(0, len(self.audio), size)]
        if self.images is not None:
            yield from ((sl, self.images[sl].to(self.device)) for sl in slices)
            return
        if self._kept is not None and self._kept[0] == size:
            yield from zip(slices, self._kept[1], strict=True)
            return
        kept: list[torch.Tensor] | None = []
        total = 0
        for sl in slices:
            with torch.no_grad():
                images = self.rep.encode(torch.from_numpy(self.audio[sl]).to(self.device))
            total += images.numel() * images.element_size()
            kept = kept if kept is not None and total <= KEEP_BYTES else None
            if kept is not None:
                kept.append(images)
            yield sl, images
        if kept is not None:
            self._kept = (size, kept)
