"""GANSynth-style log-magnitude and instantaneous frequency over the circular STFT."""

from __future__ import annotations

import math
from typing import Any

import torch

from grainbench.stages.base import Stage
from grainbench.stages.framing import in_chunks
from grainbench.stages.maps import differentiating, empty, tracing
from grainbench.stages.stft import STFT
from grainbench.stages.transforms import magnitude_phase


def phase_steps(phase: torch.Tensor) -> torch.Tensor:
    """Instantaneous frequency / π of phases ``(…, T)`` in radians: the time difference,
    wrapped to [−π, π), divided by π (column 0 holds the phase itself).

    The difference and the wrap are float64 (the float32 difference and wrap would add
    2 ulp to the IF, which decoding integrates over every frame); the wrap subtracts
    2π·⌊(step + π)/2π⌋, which is ``torch.remainder(step + π, 2π) − π`` at a fifth of the cost.
    """
    p = phase.double()
    step = torch.diff(p, dim=-1, prepend=torch.zeros_like(p[..., :1]))
    # in place on fresh tensors: none of these operations needs its output for derivatives
    turns = torch.add(step, math.pi).div_(2.0 * math.pi).floor_()
    return turns.mul_(-2.0 * math.pi).add_(step).div_(math.pi).to(phase.dtype)


def integrated_phase(inst: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`phase_steps`: IF / π ``(…, T)`` → phases in [−π, π) radians.

    The running sum is float64, in units of π, and wrapped to [−1, 1) exactly (the sum
    minus an even integer) before it is rounded to ``inst``'s dtype, so the sines and
    cosines of the phase need no float64.
    """
    turns = torch.cumsum(inst.double(), dim=-1)
    wrapped = torch.add(turns, 1.0).mul_(0.5).floor_().mul_(-2.0).add_(turns)
    return wrapped.mul_(math.pi).to(inst.dtype)


class MagIF(Stage):
    """GANSynth-style log-magnitude and instantaneous frequency: ``(B, Ch, 2, L/2, N/hop)``.

    Plane 0 is the log-magnitude of the packed complex STFT (see :class:`STFT`), scaled so
    that 0 → −1 and the fitted peak → +1: ``2·ln(1 + |X|/a)/ln(1 + peak/a) − 1`` with
    ``a = peak·10^(−range_db/20)`` (logarithmic over the top ``range_db``, linear below). Plane 1 is the instantaneous frequency: the time
    difference of the unwrapped phase, wrapped to [−π, π) and divided by π (column 0 holds
    the phase itself). Decoding integrates the IF by a cumulative sum (float64) and
    inverts the STFT: exact in float, but nonlinear, and an IF error at one frame shifts
    the phase of every later frame of that bin.
    """

    linear = False
    plane_names = ("magnitude", "if")
    phase_planes = ("if",)
    family = "stft"
    exact_errors = "grainbench.analysis.magif_errors:MagIFErrors"

    def __init__(
        self, n_fft: int, hop: int, window_name: str = "hann", range_db: float = 80.0
    ) -> None:
        super().__init__()
        self.stft = STFT(n_fft, hop, window_name)
        self.range_db = float(range_db)
        self.register_buffer("peak", torch.tensor(1.0))

    def _floor(self) -> torch.Tensor:
        return self.peak * 10.0 ** (-self.range_db / 20.0)

    def _magnitude_phase(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        planes = self.stft(x)
        return magnitude_phase(planes[..., 0, :, :], planes[..., 1, :, :])

    def fit(self, x: torch.Tensor) -> None:
        """Set the peak magnitude from training audio."""
        peak = float(self._magnitude_phase(x)[0].max())
        self.peak.fill_(peak if peak > 0 else 1.0)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        a = self._floor()
        if tracing() or differentiating(x):
            mag, phase = self._magnitude_phase(x)
            logmag = torch.log1p(mag / a).mul_(2.0 / torch.log1p(self.peak / a)).sub_(1.0)
            return torch.stack([logmag, phase_steps(phase)], dim=-3)
        # the same values computed in the output's planes (no stacking copy)
        planes = self.stft(x)
        re, im = planes[..., 0, :, :], planes[..., 1, :, :]
        out = empty(planes.shape, planes)
        logmag = torch.hypot(re, im, out=out[..., 0, :, :]).div_(a).log1p_()
        logmag.mul_(2.0 / torch.log1p(self.peak / a)).sub_(1.0)
        out[..., 1, :, :] = phase_steps(torch.atan2(im, re))
        return out

    def _decode(self, y: torch.Tensor) -> torch.Tensor:
        a = self._floor()
        phase = integrated_phase(y[..., 1, :, :])
        if tracing() or differentiating(y):
            mag = a * torch.expm1((y[..., 0, :, :] + 1.0) * 0.5 * torch.log1p(self.peak / a))
            planes = torch.stack([mag * torch.cos(phase), mag * torch.sin(phase)], -3)
        else:  # the same values computed in place, the planes in one buffer
            mag = torch.add(y[..., 0, :, :], 1.0).mul_(0.5).mul_(torch.log1p(self.peak / a))
            mag.expm1_().mul_(a)
            planes = empty(y.shape, y)
            torch.cos(phase, out=planes[..., 0, :, :]).mul_(mag)
            torch.sin(phase, out=planes[..., 1, :, :]).mul_(mag)
        return self.stft.inverse(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio → (normalised log-magnitude, IF/π), a few clips at a time on the CPU."""
        return in_chunks(self._encode, x, 1, x.shape[-1] // self.stft.hop * self.stft.n_fft)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """(log-magnitude, IF/π) → audio: phase by cumulative sum, then the inverse STFT."""
        return in_chunks(self._decode, y, 3, y.shape[-1] * self.stft.n_fft)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        d = self.stft.describe()
        d.update(stage="MagIF", range_db=self.range_db, peak=float(self.peak))
        return d
