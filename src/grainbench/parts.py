"""Named parts of a representation's image (magnitude and phase, real and imaginary, …).

A representation may declare (SPEC 4.4: errors "applied to one channel or region at a
time"):

    def image_parts(self):   # -> {name: bool mask (C, H, W)}, disjoint, none empty
    def phase_parts(self):   # -> names among image_parts whose values are angles/π

Built-in representations derive both from their stages
(:meth:`grainbench.stages.StagedRepresentation.image_parts`); a plugin may declare them
itself. Without ``image_parts`` a representation has no parts, and the tasks report no
per-part rows. This module reads and checks the declarations, and finds the rectangle a
part occupies in each image channel (where blur and shifts can act within the part).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from grainbench.errors import UserError


def _plugin(rep: Any) -> Any:
    """The object that declares parts: the plugin inside a validated representation."""
    return getattr(rep, "plugin", rep)


def _call(rep: Any, hook: str) -> Any:
    method = getattr(_plugin(rep), hook, None)
    if not callable(method):
        return None
    try:
        return method()
    except Exception as exc:  # noqa: BLE001 - someone else's code: report, don't crash
        name = getattr(rep, "name", type(rep).__name__)
        raise UserError(f"representation {name}: {hook}() raised {type(exc).__name__}") from None


def image_parts(rep: Any) -> dict[str, torch.Tensor]:
    """The representation's parts as bool masks ``(C, H, W)`` on the CPU; ``{}`` when none.

    Raises ``UserError`` when a declaration is not a dict of disjoint, non-empty masks of
    the image's shape.
    """
    declared = _call(rep, "image_parts")
    if not declared:
        return {}
    name = getattr(rep, "name", type(rep).__name__)
    if not isinstance(declared, dict):
        raise UserError(f"representation {name}: image_parts() must return a dict")
    shape = tuple(rep.image_shape)
    parts: dict[str, torch.Tensor] = {}
    taken = torch.zeros(shape, dtype=torch.bool)
    for part, mask in declared.items():
        m = torch.as_tensor(np.asarray(mask)).to(torch.bool)
        if tuple(m.shape) != shape:
            raise UserError(
                f"representation {name}: part {part!r} has shape {tuple(m.shape)}, "
                f"expected the image's {shape}"
            )
        if not bool(m.any()) or bool((m & taken).any()):
            raise UserError(f"representation {name}: part {part!r} is empty or overlaps another")
        taken |= m
        parts[str(part)] = m
    return parts


def phase_parts(rep: Any) -> tuple[str, ...]:
    """Names of the parts whose values are angles/π (wrapping at ±1); ``()`` when none."""
    declared = _call(rep, "phase_parts")
    if not declared:
        return ()
    known = image_parts(rep)
    names = tuple(str(p) for p in declared)
    unknown = sorted(set(names) - set(known))
    if unknown:
        name = getattr(rep, "name", type(rep).__name__)
        raise UserError(f"representation {name}: phase parts {unknown} are not image parts")
    return names


@dataclass(frozen=True)
class Box:
    """The rectangle a part fills: the same rows and columns in each of its channels."""

    channels: tuple[int, ...]
    rows: slice
    cols: slice

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        """The part of images ``(B, C, H, W)``: ``(B, len(channels), h, w)`` (a copy)."""
        return images[:, list(self.channels), self.rows, self.cols]

    def paste(self, images: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
        """A copy of ``images`` with the part replaced by ``part`` (as :meth:`crop` gives)."""
        out = images.clone()
        for i, c in enumerate(self.channels):
            out[:, c, self.rows, self.cols] = part[:, i].to(out.dtype)
        return out


def part_box(mask: torch.Tensor) -> Box | None:
    """The :class:`Box` of a bool mask ``(C, H, W)``, or ``None`` when the part is not one
    rectangle, the same in every channel it occupies."""
    channels = tuple(int(c) for c in torch.nonzero(mask.flatten(1).any(1)).flatten())
    if not channels:
        return None
    where = torch.nonzero(mask[channels[0]])
    r0, c0 = (int(v) for v in where.min(0).values)
    r1, c1 = (int(v) + 1 for v in where.max(0).values)
    box = Box(channels, slice(r0, r1), slice(c0, c1))
    full = torch.zeros_like(mask)
    for c in channels:
        full[c, box.rows, box.cols] = True
    return box if torch.equal(full, mask) else None
