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

from grainbench.stages.framing import overlap_add_circular
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
        basis, coef = self.factored(planes, coeffs, deltas)
        return combine(basis, coef)

    def factored(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`errors` as ``Σ_r c[p, d, r]·basis[p, r]`` (:func:`combine`): ``basis
        (P, 2, Ch, n)`` float32 — a log-magnitude pixel's atom ``A`` (and zeros), an IF
        pixel's ``U`` and ``V`` — and ``c (P, D, 2)`` float64: ``g(s)`` (and 0), or
        ``cos πs − 1`` and ``sin πs``."""
        ch, _, f, t = planes.shape
        dev = planes.device
        deltas = deltas.to(dev, torch.float64)
        c, rest = coeffs // (2 * f * t), coeffs % (2 * f * t)
        plane, rest = rest // (f * t), rest % (f * t)
        row, col = rest // t, rest % t
        phase = torch.cumsum(planes[:, 1].double() * math.pi, dim=-1)  # (Ch, F, T)
        hop, size = self.stage.stft.hop, self.stage.stft.n_fft
        basis = torch.zeros(len(coeffs), 2, ch, t * hop, device=dev)
        coef = torch.zeros(len(coeffs), len(deltas), 2, dtype=torch.float64, device=dev)
        amp = (plane == 0).nonzero()[:, 0]
        if len(amp):
            ck, rk, tk = c[amp], row[amp], col[amp]
            v = planes[ck, 0, rk, tk, None].double()
            coef[amp, :, 0] = self._magnitude(v + deltas) - self._magnitude(v)  # (K, D)
            turned = torch.polar(torch.ones_like(v), phase[ck, rk, tk, None])  # (K, 1)
            frame = self._row_frames(turned, rk).real[:, 0]  # (K, L): frame tk alone
            at = (tk[:, None] * hop - size // 2 + torch.arange(size, device=dev)) % (t * hop)
            basis[amp, 0, ck] = torch.zeros_like(basis[amp, 0, ck]).scatter_(1, at, frame)
        turn = (plane == 1).nonzero()[:, 0]
        if len(turn):
            ck, rk, tk = c[turn], row[turn], col[turn]
            z = torch.polar(self._magnitude(planes[ck, 0, rk]), phase[ck, rk])  # (K, T)
            z = z * (torch.arange(t, device=dev)[None, :] >= tk[:, None])
            frames = self._row_frames(z, rk)  # U = STFT⁻¹(Z_tail): real; V = STFT⁻¹(i·Z_tail)
            basis[turn, 0, ck] = overlap_add_circular(frames.real, hop)
            basis[turn, 1, ck] = overlap_add_circular(-frames.imag, hop)
            coef[turn, :, 0] = torch.cos(math.pi * deltas) - 1.0
            coef[turn, :, 1] = torch.sin(math.pi * deltas)
        return basis, coef

    def _row_frames(self, x: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        """The stage's inverse-STFT frames of spectra that are zero but in one row: row
        ``row[k]`` holding ``x[k] (T,)`` complex → ``(K, T, L)`` complex64 whose real part is
        the windowed frames and whose imaginary part is minus those of ``i·x``.

        One bin's inverse FFT in closed form: row r ≥ 1 (bin r) gives
        ``√2·Re(x·e^{2πi·r·m/L})·w[m]/√L``; row 0 (DC real part, Nyquist imaginary part)
        ``(Re x + (−1)^m·Im x)·w[m]/√L = Re(x·(1 − i(−1)^m))·w[m]/√L``.
        """
        size = self.stage.stft.n_fft
        m = torch.arange(size, device=x.device, dtype=torch.float64)
        carrier = math.sqrt(2.0) * torch.polar(
            torch.ones(len(row), size, dtype=torch.float64, device=x.device),
            2.0 * math.pi * row[:, None].double() * m / size,
        )
        alternate = torch.complex(torch.ones_like(m), 2.0 * (m % 2) - 1.0)  # 1 − i(−1)^m
        carrier = torch.where((row == 0)[:, None], alternate, carrier)
        weight = (self.stage.stft.win.double() / math.sqrt(size)).to(x.device)
        kernel = (carrier * weight).to(torch.complex64)  # (K, L)
        return x.to(torch.complex64)[:, :, None] * kernel[:, None, :]


def combine(basis: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Errors ``(P, D, Ch, n)`` float32 from factors ``basis (P, R, Ch, n)`` and ``coef
    (P, D, R)``: ``Σ_r coef[p, d, r]·basis[p, r]`` (each product in float32)."""
    return (coef.float()[..., None, None] * basis[:, None]).sum(2)
