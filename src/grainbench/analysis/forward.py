"""Jacobian columns of a representation's decode by forward-mode automatic differentiation.

For a decode ``D`` and a base image ``x``, the column of pixel p is
``J_p = ∂D(x)/∂x_p``, an audio signal ``(ch, n)``: the limit of
``(D(x + δ·1_p) − D(x)) / δ`` as δ → 0. The columns of many pixels are computed in one
call: :func:`torch.func.vmap` over :func:`torch.func.jvp` with one-hot tangents, so the
decode itself (the primal) runs once and only the tangents carry the batch. Random draws
inside a decode (Griffin–Lim's initial phase, harmonic-noise's noise) are the same for every
column (``randomness="same"``), as they are for every image of a batch.

A decode that cannot be differentiated this way — NumPy inside, an operation without a
forward-mode formula, a tangent that comes back with the wrong shape or not finite —
raises :class:`NotDifferentiable`; the caller then decodes by brute force.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from grainbench import guard

Decode = Callable[[torch.Tensor], torch.Tensor]
"""A decode: images ``(B, C, H, W)`` → audio ``(B, ch, n)``."""


class NotDifferentiable(Exception):
    """The decode has no forward-mode derivative here (the message says why)."""


def raw_decode(rep: Any) -> Decode:
    """The decode to differentiate: a validated plugin's own ``decode`` (the checking
    wrapper of :class:`grainbench.representation.Representation` runs it under ``no_grad`` and
    rejects tensors it cannot inspect), else the representation's ``decode``; called through
    :func:`grainbench.guard.call`, so that whatever it throws (``SystemExit``, a time-out)
    is an ordinary error here, which :func:`jacobian_columns` turns into
    :class:`NotDifferentiable`."""
    plugin = getattr(rep, "plugin", rep)
    what = f"representation {getattr(rep, 'name', type(plugin).__name__)}: decode (forward mode)"

    def decode(images: torch.Tensor) -> torch.Tensor:
        return guard.call(what, plugin.decode, images)

    return decode


def jacobian_columns(
    decode: Decode, base: torch.Tensor, pixels: torch.Tensor, out_shape: tuple[int, int]
) -> torch.Tensor:
    """Columns ``∂decode(base)/∂base_p`` ``(P, ch, n)`` float32 for flat ``pixels (P,)``.

    ``base`` is one image ``(1, C, H, W)``; ``out_shape`` the decode's ``(ch, n)``. Raises
    :class:`NotDifferentiable` when forward mode fails or returns something unusable.
    """
    flat = base.numel()
    tangents = torch.zeros(len(pixels), flat, dtype=base.dtype, device=base.device)
    tangents[torch.arange(len(pixels), device=base.device), pixels.to(base.device)] = 1.0
    tangents = tangents.reshape(len(pixels), *base.shape)

    def column(tangent: torch.Tensor) -> torch.Tensor:
        return torch.func.jvp(decode, (base,), (tangent,))[1]

    try:
        with warnings.catch_warnings():  # torch.func's own use of torch.jit.script
            warnings.filterwarnings(
                "ignore", "`torch.jit.script` is deprecated", DeprecationWarning
            )
            out = torch.func.vmap(column, randomness="same")(tangents)
    except Exception as exc:  # noqa: BLE001 - any decode may fail under the transforms
        text = str(exc).strip().splitlines()
        raise NotDifferentiable(f"{type(exc).__name__}: {text[0] if text else ''}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(pixels), 1, *out_shape):
        raise NotDifferentiable("forward mode returned a tangent of the wrong shape")
    return out[:, 0].float()
