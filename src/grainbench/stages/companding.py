"""Element-wise companding: scale coefficients into [-1, 1] and shape their distribution.

The scale is fitted on training clips (the largest absolute coefficient), as in Ki's
"scaled by the largest coefficient". Companding may apply to some planes only (e.g. the
magnitude plane of a polar FFT, leaving phase/π as it is).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from grainbench.stages.base import Stage


class Compand(Stage):
    """Scale by a fitted constant, then compand: ``linear``, ``sqrt``/``power`` or ``mulaw``.

    - ``linear``: y = x / s
    - ``power``: y = sign(u)·|u|^p with u = x / s (``sqrt`` is p = 1/2)
    - ``mulaw``: y = sign(u)·ln(1 + μ|u|) / ln(1 + μ)

    ``planes`` picks the planes (axis 2) it applies to; ``None`` means all. ``scale`` fixes
    the scale instead of fitting it. Inputs with ``|x| > s`` map beyond ±1 and are clipped by
    image codecs, which report the count.
    """

    def __init__(
        self,
        kind: str = "mulaw",
        *,
        mu: float = 255.0,
        power: float = 0.5,
        planes: Sequence[int] | None = None,
        scale: float | None = None,
    ) -> None:
        super().__init__()
        if kind == "sqrt":
            kind, power = "power", 0.5
        if kind not in ("linear", "power", "mulaw"):
            raise ValueError(f"unknown companding {kind!r}")
        self.kind = kind
        self.mu = float(mu)
        self.power = float(power)
        self.planes = None if planes is None else list(planes)
        self.fixed_scale = scale is not None
        self.register_buffer("scale", torch.tensor(1.0 if scale is None else float(scale)))
        self.linear = kind == "linear"

    def _select(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.planes is None else x[:, :, self.planes]

    def _merge(self, x: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
        if self.planes is None:
            return part
        out = x.clone()
        out[:, :, self.planes] = part
        return out

    def fit(self, x: torch.Tensor) -> None:
        """Set the scale to the largest absolute value in the selected planes."""
        if not self.fixed_scale:
            peak = self._select(x).abs().max()
            self.scale.fill_(float(peak) if float(peak) > 0 else 1.0)

    @staticmethod
    def _chain(t: torch.Tensor, ops: list[tuple[Any, ...]]) -> torch.Tensor:
        """Apply ``ops`` (tensor method name, arguments…) to the fresh tensor ``t``.

        In place unless autograd is recording ``t``: the values are the same bit for bit,
        and a whole-clip batch is not allocated once per operation (on large batches the
        allocations cost more than the arithmetic).
        """
        in_place = not (torch.is_grad_enabled() and t.requires_grad)
        for name, *args in ops:
            t = getattr(t, f"{name}_" if in_place else name)(*args)
        return t

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Coefficients → companded values (nominally in [-1, 1]).

        Computed on |x| and given x's sign at the end (``copysign``), which equals
        ``sign(u)·f(|u|)`` bit for bit since s > 0.
        """
        v = self._select(x)
        if self.kind == "linear":
            return self._merge(x, v / self.scale)
        if self.kind == "power":
            ops: list[tuple[Any, ...]] = [("div", self.scale), ("pow", self.power)]
        else:
            # μ/s in one multiply: one pass fewer over the clip than dividing, then scaling
            # (a float64 scalar, so float64 inputs keep full precision)
            gain = self.mu / self.scale.double()
            ops = [("mul", gain), ("log1p",), ("mul", 1.0 / math.log1p(self.mu))]
        return self._merge(x, self._chain(v.abs(), [*ops, ("copysign", v)]))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Companded values → coefficients."""
        v = self._select(y)
        if self.kind == "linear":
            return self._merge(y, v * self.scale)
        if self.kind == "power":
            ops: list[tuple[Any, ...]] = [("pow", 1.0 / self.power), ("mul", self.scale)]
        else:
            ops = [("mul", math.log1p(self.mu)), ("expm1",), ("mul", self.scale.double() / self.mu)]
        return self._merge(y, self._chain(v.abs(), [*ops, ("copysign", v)]))

    def carry_parts(self, masks: torch.Tensor) -> torch.Tensor:
        """Element-wise: every part stays where it is."""
        return masks

    def describe(self) -> dict[str, Any]:
        """Parameters for results (including the fitted scale)."""
        d: dict[str, Any] = {"stage": "Compand", "kind": self.kind, "scale": float(self.scale)}
        if self.kind == "mulaw":
            d["mu"] = self.mu
        if self.kind == "power":
            d["power"] = self.power
        if self.planes is not None:
            d["planes"] = self.planes
        return d
