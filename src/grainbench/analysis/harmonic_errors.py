"""Exact one-pixel errors of a harmonic-plus-noise image, decoding only what a pixel moves.

A :class:`~grainbench.stages.parametric.HarmonicNoise` stage decodes its rows (f0, K
harmonic amplitudes, J noise bands; one column per frame) to the sum of an oscillator bank
and shaped noise. Moving one pixel by s changes one part of that sum:

- amplitude of harmonic k at frame t: the oscillator bank is linear in its amplitudes, so
  the error is ``(a(y + s) − a(y))·λ_t·[k·f0 < sr/2]·cos(kΦ)``: the amplitude change
  (float64) times the frame's interpolation weights ``λ_t`` (two hops around it), the
  Nyquist mute and harmonic k's own oscillator — one harmonic, not the bank;
- noise band j at frame t: only the shaped noise changes, so the error is the stage's noise
  synthesis of the moved bands minus that of the base's (the oscillator bank is not run);
- f0 at frame t: every later phase of every harmonic moves: ``dense`` says so, and such
  pixels are decoded in full by the caller.

The numbers are the stage's own (its interpolation, amplitude map and noise synthesis are
called), which a test checks against decoding the moved image.
"""

from __future__ import annotations

import math

import torch

from grainbench.stages.parametric import (
    PIANO_HIGH_HZ,
    PIANO_LOW_HZ,
    HarmonicNoise,
    _interpolate_frames,
)

NOISE_BATCH = 4
"""Noise pixels synthesised together (each with every δ): bounds the spectra in memory."""


class HarmonicNoiseErrors:
    """Errors of single coefficients of a :class:`HarmonicNoise` stage's rows ``(Ch, 1, R, T)``."""

    mode = "harmonic"

    def __init__(self, stage: HarmonicNoise) -> None:
        self.stage = stage

    def dense(self, shape: tuple[int, ...], coeffs: torch.Tensor) -> torch.Tensor:
        """Which flat coefficient indices ``coeffs`` of rows ``shape`` are f0 (decode them)."""
        rows, frames = int(shape[-2]), int(shape[-1])
        return (coeffs % (rows * frames)) // frames == 0

    def errors(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """``decode(planes + s·1_k) − decode(planes)`` ``(P, D, Ch, n)`` for flat indices
        ``coeffs (P,)`` of amplitude and noise coefficients of ``planes (Ch, 1, R, T)`` and
        every ``s`` in ``deltas (D,)``."""
        st = self.stage
        y = planes[:, 0]  # (Ch, R, T)
        ch, rows, t = y.shape
        n = t * st.hop
        dev = y.device
        deltas = deltas.to(dev, torch.float64)
        c, rest = coeffs // (rows * t), coeffs % (rows * t)
        r, col = rest // t, rest % t
        if bool((r == 0).any()):
            raise ValueError("f0 coefficients have no partial error; decode them")
        out = torch.zeros(len(coeffs), len(deltas), ch, n, device=dev)
        amp = ((r >= 1) & (r <= st.n_harmonics)).nonzero()[:, 0]
        if len(amp):
            out[amp] = self._amplitudes(y, c[amp], r[amp], col[amp], deltas)
        noise = (r > st.n_harmonics).nonzero()[:, 0]
        for first in range(0, len(noise), NOISE_BATCH):
            k = noise[first : first + NOISE_BATCH]
            out[k] = self._noise(y, c[k], r[k] - 1 - st.n_harmonics, col[k], deltas)
        return out

    def _amplitudes(
        self,
        y: torch.Tensor,
        c: torch.Tensor,
        k: torch.Tensor,
        col: torch.Tensor,
        deltas: torch.Tensor,
    ) -> torch.Tensor:
        """Errors ``(Q, D, Ch, n)`` of the amplitude of harmonic ``k`` at frame ``col``."""
        st = self.stage
        ch, _, t = y.shape
        n = t * st.hop
        span = math.log(PIANO_HIGH_HZ / PIANO_LOW_HZ)
        f0 = PIANO_LOW_HZ * torch.exp((y[:, 0] + 1.0) * 0.5 * span)  # (Ch, T), as decoded
        f0_n = _interpolate_frames(f0, st.hop, n).double()
        phase = (2.0 * math.pi / st.sample_rate) * torch.cumsum(f0_n, -1)  # (Ch, n)
        v = y[c, k, col].double()[:, None]
        gain = st._from_unit(v + deltas, st.peaks[0]) - st._from_unit(v, st.peaks[0])  # (Q, D)
        onehot = torch.zeros(len(k), t, device=y.device)
        onehot[torch.arange(len(k)), col] = 1.0
        weight = _interpolate_frames(onehot, st.hop, n)  # (Q, n)
        kk = k.double()[:, None]
        arg = torch.remainder(kk * phase[c], 2.0 * math.pi).to(y.dtype)
        audible = (kk * f0_n[c] < 0.5 * st.sample_rate).to(y.dtype)
        atom = weight * audible * torch.cos(arg)  # (Q, n)
        out = torch.zeros(len(k), len(deltas), ch, n, device=y.device)
        out[torch.arange(len(k)), :, c] = gain.to(y.dtype)[:, :, None] * atom[:, None]
        return out

    def _noise(
        self,
        y: torch.Tensor,
        c: torch.Tensor,
        j: torch.Tensor,
        col: torch.Tensor,
        deltas: torch.Tensor,
    ) -> torch.Tensor:
        """Errors ``(Q, D, Ch, n)`` of noise band ``j`` at frame ``col``: the stage's noise
        synthesis of the moved bands minus that of the base's bands."""
        st = self.stage
        ch, _, t = y.shape
        n = t * st.hop
        rows = y[c, 1 + st.n_harmonics :]  # (Q, J, T)
        moved = rows[:, None].repeat(1, len(deltas) + 1, 1, 1)  # (Q, 1 + D, J, T)
        q = torch.arange(len(j), device=y.device)
        moved[q, 1:, j, col] = (rows[q, j, col][:, None] + deltas).to(y.dtype)
        bands = st._from_unit(moved, st.peaks[1]).flatten(0, 1)
        shaped = st._noise(bands, n).unflatten(0, (len(j), len(deltas) + 1))  # (Q, 1 + D, n)
        out = torch.zeros(len(j), len(deltas), ch, n, device=y.device)
        out[q, :, c] = shaped[:, 1:] - shaped[:, :1]
        return out
