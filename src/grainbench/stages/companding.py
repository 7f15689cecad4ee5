"""Element-wise companding: scale coefficients into [-1, 1] and shape their distribution.

The scale is fitted on training clips (the largest absolute coefficient), as in Ki's
"scaled by the largest coefficient". Companding may apply to some planes only (e.g. the
magnitude plane of a polar FFT, leaving phase/π as it is).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from grainbench.stages.base import Stage
from grainbench.stages.maps import (
    Map,
    differentiating,
    elementwise_map,
    elementwise_passes,
    empty,
    linear_map,
    tracing,
)

Step = tuple[str, float | None]


def _odd_curve(
    x: torch.Tensor, steps: Sequence[Step], out: torch.Tensor | None = None
) -> torch.Tensor:
    """``sign(x)·f(|x|)`` element-wise, f the ``steps`` in order: ``(name, argument)`` of
    a function :func:`~grainbench.stages.maps.elementwise_passes` offers (``multiply``,
    ``divide``, ``pow`` take an argument, ``log1p`` and ``expm1`` None); into ``out`` when
    given (see :func:`~grainbench.stages.maps.elementwise_passes`)."""

    def passes(lib: Any, a: Any, out: Any) -> None:
        lib.abs(a, out=out)
        for name, arg in steps:
            args = (out,) if arg is None else (out, arg)
            getattr(lib, name)(*args, out=out)
        lib.copysign(out, a, out=out)

    return elementwise_passes(x, passes, out)


#: a curve: values → new values, or written into ``out`` when given
Curve = Callable[..., torch.Tensor]


class Compand(Stage):
    """Scale by a fitted constant, then compand: ``linear``, ``sqrt``/``power`` or ``mulaw``.

    - ``linear``: y = x / s
    - ``power``: y = sign(u)·|u|^p with u = x / s (``sqrt`` is p = 1/2)
    - ``mulaw``: y = sign(u)·ln(1 + μ|u|) / ln(1 + μ)

    ``planes`` picks the planes (axis 2) it applies to; ``None`` means all. ``scale`` fixes
    the scale instead of fitting it. Inputs with ``|x| > s`` map beyond ±1 and are clipped by
    image codecs, which report the count.
    """

    elementwise = True

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

    def fit(self, x: torch.Tensor) -> None:
        """Set the scale to the largest absolute value in the selected planes."""
        if not self.fixed_scale:
            part = x if self.planes is None else x[:, :, self.planes]
            peak = part.abs().max()
            self.scale.fill_(float(peak) if float(peak) > 0 else 1.0)

    def _per_plane(self, x: torch.Tensor, curve: Curve, mapped: Map) -> torch.Tensor:
        """``curve`` on the selected planes of ``x`` (axis 2), the others as they are.

        ``mapped`` is ``curve`` with its derivative (see :mod:`~grainbench.stages.maps`);
        when none is needed, ``curve`` writes each selected plane straight into the output
        (no concatenation).
        """
        if self.planes is None:
            return mapped(x)
        parts = [x[:, :, p : p + 1] for p in range(x.shape[2])]
        if tracing() or differentiating(x):
            return torch.cat(
                [mapped(v) if p in self.planes else v for p, v in enumerate(parts)], dim=2
            )
        out = empty(x.shape, x)
        for p, v in enumerate(parts):
            if p in self.planes:
                curve(v, out=out[:, :, p : p + 1])
            else:
                out[:, :, p : p + 1] = v
        return out

    # each curve is computed on |x| in one fresh buffer, in place, and given x's sign at the
    # end (``copysign``: equal to sign(u)·f(|u|) bit for bit since s > 0), block by block
    # (see ``elementwise_passes``); its derivative is stated (see ``elementwise_map``): the
    # chain through |x| and copysign would give 0 at x = 0

    def _shrink(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        scale = float(self.scale)
        return elementwise_passes(x, lambda lib, a, o: lib.divide(a, scale, out=o), out)

    def _grow(self, y: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        scale = float(self.scale)
        return elementwise_passes(y, lambda lib, a, o: lib.multiply(a, scale, out=o), out)

    def _mulaw(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        # μ/s in one multiply (a float64 scalar, so float64 inputs keep full precision)
        gain, norm = self.mu / float(self.scale), 1.0 / math.log1p(self.mu)
        return _odd_curve(x, [("multiply", gain), ("log1p", None), ("multiply", norm)], out)

    def _mulaw_slope(self, x: torch.Tensor) -> torch.Tensor:
        gain = self.mu / float(self.scale)
        return gain / math.log1p(self.mu) / (1.0 + gain * x.abs())

    def _unmulaw(self, y: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        log_mu, gain = math.log1p(self.mu), float(self.scale) / self.mu
        return _odd_curve(y, [("multiply", log_mu), ("expm1", None), ("multiply", gain)], out)

    def _unmulaw_slope(self, y: torch.Tensor) -> torch.Tensor:
        log_mu = math.log1p(self.mu)
        return float(self.scale) / self.mu * log_mu * torch.exp(log_mu * y.abs())

    def _power(self, x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        return _odd_curve(x, [("divide", float(self.scale)), ("pow", self.power)], out)

    def _power_slope(self, x: torch.Tensor) -> torch.Tensor:
        return self.power / self.scale * (x.abs() / self.scale) ** (self.power - 1.0)

    def _unpower(self, y: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        steps = [("pow", 1.0 / self.power), ("multiply", float(self.scale))]
        return _odd_curve(y, steps, out)

    def _unpower_slope(self, y: torch.Tensor) -> torch.Tensor:
        return self.scale / self.power * y.abs() ** (1.0 / self.power - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Coefficients → companded values (nominally in [-1, 1])."""
        if self.kind == "linear":
            shrink = self._shrink
            return self._per_plane(x, shrink, lambda v: linear_map(v, shrink, shrink))
        f, df = (
            (self._power, self._power_slope)
            if self.kind == "power"
            else (self._mulaw, self._mulaw_slope)
        )
        return self._per_plane(x, f, lambda v: elementwise_map(v, f, df))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Companded values → coefficients."""
        if self.kind == "linear":
            grow = self._grow
            return self._per_plane(y, grow, lambda v: linear_map(v, grow, grow))
        if self.kind == "power":
            f, df = self._unpower, self._unpower_slope
        else:
            f, df = self._unmulaw, self._unmulaw_slope
        return self._per_plane(y, f, lambda v: elementwise_map(v, f, df))

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
