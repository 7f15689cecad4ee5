"""Exact one-pixel errors of a magnitude / instantaneous-frequency image, without decoding.

A :class:`~grainbench.stages.magif.MagIF` stage decodes its planes (log-magnitude ``y₀``,
IF/π ``y₁``) to the complex spectrum ``Z = m·e^{iφ}`` — ``m = a·expm1((y₀ + 1)·L/2)`` with
``a = peak·10^(−range/20)`` and ``L = ln(1 + peak/a)``, ``φ = π·Σ_{t' ≤ t} y₁`` along
time — and inverts its STFT, which is linear (real-linear in ``Z``). Moving one pixel by s
changes ``Z`` in one place or one row:

- log-magnitude pixel (f, t): ``ΔZ = (m(y₀ + s) − m(y₀))·e^{iφ}`` at (f, t) alone, so the
  error is ``g(s)·A`` with the scalar ``g`` (float64, no cancellation) and the atom
  ``A = STFT⁻¹(e^{iφ}·1_{f,t})``;
- IF pixel (f, t): every later phase of row f turns by πs, ``ΔZ = Z·(e^{iπs} − 1)`` on
  ``t' ≥ t``, so the error is ``(cos πs − 1)·U + sin(πs)·V`` with ``U = STFT⁻¹(Z_tail)`` and
  ``V = STFT⁻¹(i·Z_tail)``.

One or two inverse STFTs per pixel and base give the error at every δ and multiplier —
the same numbers as decoding ``image + s·1_p`` (which a test checks), without the float32
cancellation of ``decode(image + s·1_p) − decode(image)`` for quiet pixels.
"""

from __future__ import annotations

import math

import torch

from grainbench.stages.magif import MagIF


class MagIFErrors:
    """Errors of single coefficients of a :class:`MagIF` stage's planes ``(Ch, 2, F, T)``."""

    mode = "magif"

    def __init__(self, stage: MagIF) -> None:
        self.stage = stage

    def dense(self, shape: tuple[int, ...], coeffs: torch.Tensor) -> torch.Tensor:
        """Which of ``coeffs`` must be decoded in full: none."""
        return torch.zeros(len(coeffs), dtype=torch.bool, device=coeffs.device)

    def _magnitude(self, y0: torch.Tensor) -> torch.Tensor:
        """Log-magnitude plane values → magnitudes, float64 (as ``MagIF`` decodes them)."""
        peak = self.stage.peak.double()
        floor = peak * 10.0 ** (-self.stage.range_db / 20.0)
        return floor * torch.expm1((y0.double() + 1.0) * 0.5 * torch.log1p(peak / floor))

    def errors(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """``decode(planes + s·1_k) − decode(planes)`` ``(P, D, Ch, n)`` for flat coefficient
        indices ``coeffs (P,)`` of ``planes (Ch, 2, F, T)`` and every ``s`` in ``deltas (D,)``."""
        ch, _, f, t = planes.shape
        dev = planes.device
        deltas = deltas.to(dev, torch.float64)
        c, rest = coeffs // (2 * f * t), coeffs % (2 * f * t)
        plane, rest = rest // (f * t), rest % (f * t)
        row, col = rest // t, rest % t
        phase = torch.cumsum(planes[:, 1].double() * math.pi, dim=-1)  # (Ch, F, T)
        out = torch.empty(len(coeffs), len(deltas), ch, t * self.stage.stft.hop, device=dev)
        amp = (plane == 0).nonzero()[:, 0]
        if len(amp):
            ck, rk, tk = c[amp], row[amp], col[amp]
            v = planes[ck, 0, rk, tk, None].double()
            gain = self._magnitude(v + deltas) - self._magnitude(v)  # (K, D)
            unit = torch.zeros(len(amp), ch, 2, f, t, device=dev)
            k = torch.arange(len(amp), device=dev)
            unit[k, ck, 0, rk, tk] = torch.cos(phase[ck, rk, tk]).float()
            unit[k, ck, 1, rk, tk] = torch.sin(phase[ck, rk, tk]).float()
            atoms = self.stage.stft.inverse(unit)  # (K, Ch, n)
            out[amp] = gain.float()[:, :, None, None] * atoms[:, None]
        turn = (plane == 1).nonzero()[:, 0]
        if len(turn):
            ck, rk, tk = c[turn], row[turn], col[turn]
            z = torch.polar(self._magnitude(planes[ck, 0, rk]), phase[ck, rk])  # (K, T)
            z = z * (torch.arange(t, device=dev)[None, :] >= tk[:, None])
            tails = torch.zeros(2, len(turn), ch, 2, f, t, device=dev)
            k = torch.arange(len(turn), device=dev)
            tails[0, k, ck, 0, rk], tails[0, k, ck, 1, rk] = z.real.float(), z.imag.float()
            tails[1, k, ck, 0, rk], tails[1, k, ck, 1, rk] = -z.imag.float(), z.real.float()
            u, v = self.stage.stft.inverse(tails.flatten(0, 1)).unflatten(0, (2, len(turn)))
            cos = (torch.cos(math.pi * deltas) - 1.0).float()[None, :, None, None]
            sin = torch.sin(math.pi * deltas).float()[None, :, None, None]
            out[turn] = cos * u[:, None] + sin * v[:, None]
        return out
