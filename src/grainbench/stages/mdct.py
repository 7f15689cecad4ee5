"""Circular MDCT (modulated lapped transform), critically sampled and orthogonal."""

from __future__ import annotations

import math
from typing import Any

import torch

from grainbench.stages.base import Stage
from grainbench.stages.framing import (
    check_circular,
    circular_frames,
    in_chunks,
    overlap_add_circular,
    tight_window,
    window,
)


class MDCT(Stage):
    """Circular MDCT (modulated lapped transform): ``(B, Ch, 1, M, N/M)``, critically sampled.

    Frame t covers samples ``(t−1)·M … (t+1)·M − 1`` (mod N), windowed by a Princen–Bradley
    window w (sine or KBD) of 2M samples, and gives M coefficients

        X[k, t] = √(2/M) Σₙ w[n]·x[(t−1)M + n]·cos(π/M·(n + ½ + M/2)·(k + ½)).

    With the periodic extension the N/M frames give exactly N coefficients, the basis is
    orthonormal, and the inverse (windowed IMDCT with overlap-add) cancels the time-domain
    aliasing exactly, at the clip's ends too.
    """

    def __init__(self, m: int, window_name: str = "sine") -> None:
        super().__init__()
        if window_name not in ("sine", "kbd"):
            raise ValueError("an MDCT window must be sine or kbd")
        self.m, self.window_name = int(m), window_name
        w = tight_window(window(window_name, 2 * self.m), self.m)
        n = torch.arange(2 * self.m, dtype=torch.float64)
        k = torch.arange(self.m, dtype=torch.float64)
        n0 = 0.5 + self.m / 2.0
        self.register_buffer("win", torch.tensor(w, dtype=torch.float32), persistent=False)
        pre = torch.polar(torch.ones_like(n), -math.pi * n / (2 * self.m))
        post = torch.polar(torch.ones_like(k), -math.pi * n0 * (k + 0.5) / self.m)
        ipre = torch.polar(torch.ones_like(k), math.pi * n0 * k / self.m)
        ipost = torch.polar(torch.ones_like(n), math.pi * (n + n0) / (2 * self.m))
        for name, value in (("pre", pre), ("post", post), ("ipre", ipre), ("ipost", ipost)):
            self.register_buffer(name, value.to(torch.complex64), persistent=False)

    def _analysis(self, x: torch.Tensor) -> torch.Tensor:
        """``(…, N)`` → ``(…, M, N/M)``."""
        frames = circular_frames(x, 2 * self.m, self.m) * self.win
        spec = torch.fft.fft(frames * self.pre, dim=-1)[..., : self.m]
        coeffs = (spec * self.post).real * math.sqrt(2.0 / self.m)
        return coeffs.transpose(-1, -2)

    def _synthesis(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(…, M, T)`` → ``(…, M·T)``."""
        spec = torch.fft.ifft(coeffs.transpose(-1, -2) * self.ipre, n=2 * self.m, dim=-1)
        frames = (spec * self.ipost).real * (2 * self.m * math.sqrt(2.0 / self.m))
        return overlap_add_circular(frames * self.win, self.m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio ``(…, N)`` → MDCT coefficients ``(…, 1, M, N/M)`` (frequency rows, frame
        columns)."""
        n = x.shape[-1]
        check_circular(n, 2 * self.m, self.m)
        return in_chunks(self._analysis, x, 1, 2 * n).unsqueeze(-3)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Coefficients → audio (IMDCT, window, overlap-add)."""
        return in_chunks(self._synthesis, y.squeeze(-3), 2, 2 * y.shape[-2] * y.shape[-1])

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "MDCT", "m": self.m, "window": self.window_name}
