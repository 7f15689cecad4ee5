"""A DDSP-spirit harmonic-plus-noise parametric stage (lossy by nature).

Per frame (frame t centred on sample t·hop): the fundamental f0, the amplitudes of the
first K harmonics (k·f0), and the energies of J mel-spaced bands of the noise that is left
when the harmonics are taken out. Resynthesis is an additive oscillator bank driven by the
interpolated f0 and amplitudes, plus seeded noise shaped band by band in the STFT domain.
The original phases are not kept, so the waveform does not come back (SNR near 0 dB); what
comes back is the magnitude spectrum, up to what the model cannot express (inharmonic
partials, transients, anything above the K-th harmonic).

The f0 estimator is pluggable: any callable ``f0(audio (B, N), sample_rate, hop) → (B,
N/hop)`` in Hz. :func:`yin_f0` is a simple one of our own; :func:`crepe_f0` uses CREPE's
weights through :mod:`grainbench.metrics.crepe`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from grainbench.stages.base import FIT_CHUNK, Stage
from grainbench.stages.framing import tight_window, window
from grainbench.stages.melscale import triangular_filterbank
from grainbench.stages.stft import istft, stft

F0Estimator = Callable[[torch.Tensor, int, int], torch.Tensor]
"""``f0(audio (B, N), sample_rate, hop) → (B, N // hop)`` Hz, frame t centred on t·hop."""

PIANO_LOW_HZ = 27.5
PIANO_HIGH_HZ = 4186.0


def _centred_frames(x: torch.Tensor, size: int, hop: int) -> torch.Tensor:
    """``(B, N)`` → ``(B, N/hop, size)``, frame t centred on sample t·hop, zeros outside."""
    padded = F.pad(x, (size // 2, size // 2))
    return padded.unfold(-1, size, hop)[:, : x.shape[-1] // hop]


def yin_f0(
    audio: torch.Tensor,
    sample_rate: int,
    hop: int,
    *,
    fmin: float = 40.0,
    fmax: float = 2000.0,
    threshold: float = 0.15,
) -> torch.Tensor:
    """Per-frame f0 (Hz) by YIN (de Cheveigné & Kawahara 2002): ``(B, N)`` → ``(B, N/hop)``.

    The difference function over an integration window of ⌈sr/fmin⌉ samples, its
    cumulative-mean normalisation, the first lag under ``threshold`` followed down to its
    local minimum (the global minimum if none is under it), and a parabolic refinement.
    """
    tau_max = int(math.ceil(sample_rate / fmin)) + 1
    tau_min = max(2, int(math.floor(sample_rate / fmax)))
    frames = _centred_frames(audio.double(), 2 * tau_max, hop)
    head = frames[..., :tau_max]
    n_fft = 1 << int(math.ceil(math.log2(3 * tau_max)))
    # r(τ) = Σ_j head[j]·frames[j + τ], a cross-correlation without wrap-around
    spec = torch.fft.rfft(head, n_fft).conj() * torch.fft.rfft(frames, n_fft)
    r = torch.fft.irfft(spec, n_fft)[..., :tau_max]
    sq = torch.cumsum(F.pad(frames**2, (1, 0)), dim=-1)
    lags = torch.arange(tau_max, device=audio.device)
    energy_lag = sq[..., lags + tau_max] - sq[..., lags]
    diff = (sq[..., tau_max : tau_max + 1] + energy_lag - 2.0 * r).clamp_min(0.0)
    cum = torch.cumsum(diff[..., 1:], dim=-1)
    cmnd = torch.ones_like(diff)
    cmnd[..., 1:] = diff[..., 1:] * lags[1:] / cum.clamp_min(1e-20)
    cmnd[..., :tau_min] = 2.0
    below = cmnd < threshold
    rising = torch.zeros_like(below)
    rising[..., :-1] = cmnd[..., 1:] >= cmnd[..., :-1]
    started = torch.cumsum(below.int(), dim=-1) > 0
    candidate = started & rising
    first = torch.argmax(candidate.int(), dim=-1)
    tau = torch.where(candidate.any(dim=-1), first, torch.argmin(cmnd, dim=-1))
    tau = tau.clamp(1, tau_max - 2)
    left = cmnd.gather(-1, (tau - 1).unsqueeze(-1)).squeeze(-1)
    mid = cmnd.gather(-1, tau.unsqueeze(-1)).squeeze(-1)
    right = cmnd.gather(-1, (tau + 1).unsqueeze(-1)).squeeze(-1)
    curve = left - 2.0 * mid + right
    shift = torch.where(curve > 0, 0.5 * (left - right) / curve.clamp_min(1e-20), 0.0)
    refined = tau.double() + shift.clamp(-1.0, 1.0)
    return (sample_rate / refined).clamp(fmin, fmax).to(audio.dtype)


def crepe_f0(
    audio: torch.Tensor, sample_rate: int, hop: int, *, model: str = "tiny"
) -> torch.Tensor:
    """Per-frame f0 (Hz) from CREPE (``grainbench.metrics.crepe``): ``(B, N)`` → ``(B, N/hop)``.

    CREPE runs at 16 kHz with a 10 ms hop; its pitch track (in cents) is linearly
    interpolated to this representation's frame centres t·hop/sample_rate seconds.
    """
    from grainbench.metrics import crepe

    analysis = crepe.analyse(audio.detach().cpu().float().numpy(), sample_rate, model=model)
    n_frames = audio.shape[-1] // hop
    times = np.arange(n_frames) * hop / sample_rate
    crepe_times = np.arange(analysis.cents.shape[-1]) * 160 / crepe.SAMPLE_RATE
    cents = np.stack([np.interp(times, crepe_times, row) for row in analysis.cents])
    return torch.tensor(crepe.cents_to_hz(cents), dtype=audio.dtype, device=audio.device)


def _interpolate_frames(values: torch.Tensor, hop: int, n: int) -> torch.Tensor:
    """Frame values ``(…, T)`` at samples t·hop → per-sample ``(…, n)`` (linear, held at ends)."""
    t = values.shape[-1]
    pos = torch.arange(n, device=values.device, dtype=torch.float64) / hop
    i0 = pos.floor().long().clamp(max=t - 1)
    i1 = (i0 + 1).clamp(max=t - 1)
    frac = (pos - i0).clamp(max=1.0).to(values.dtype)
    return values[..., i0] * (1.0 - frac) + values[..., i1] * frac


class HarmonicNoise(Stage):
    """Harmonic-plus-noise parameters as rows: ``(B, Ch, 1, 1 + K + J, N/hop)``.

    Row 0: f0 on a log scale, 27.5 Hz (A0) → −1 and 4186 Hz (C8) → +1. Rows 1…K: the
    amplitude of harmonic k (from a Hann-windowed spectrum of ``analysis_size`` samples
    at k·f0, see :meth:`_harmonic_amplitudes`; 0 at or above Nyquist). Rows K+1…K+J:
    the root-mean-square STFT magnitude of the residual (|X|² − |H|², H the resynthesised harmonic part) in J mel triangles.
    Amplitude rows are log-scaled as ``2·ln(1 + a/ε)/ln(1 + peak/ε) − 1`` with ``peak``
    fitted (harmonics and noise separately) and ε = peak·10^(−range_db/20).

    Decoding: oscillators with phase 2π·Σ f0/sr (float64) for each harmonic, amplitudes
    and f0 linearly interpolated between frames, harmonics muted at or above Nyquist; plus
    noise: a fixed complex Gaussian STFT (drawn from ``seed``) shaped by the band
    energies and inverted (Parseval-normalised circular STFT of 4·hop, Hann).
    """

    linear = False
    lossless = False
    exact_errors = "grainbench.analysis.harmonic_errors:HarmonicNoiseErrors"

    def __init__(
        self,
        sample_rate: int,
        hop: int,
        *,
        n_harmonics: int = 63,
        n_noise: int = 64,
        analysis_size: int | None = None,
        f0_estimator: F0Estimator | None = None,
        range_db: float = 80.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.sample_rate, self.hop = int(sample_rate), int(hop)
        self.n_harmonics, self.n_noise = int(n_harmonics), int(n_noise)
        default_size = 1 << int(round(math.log2(0.046 * self.sample_rate)))
        self.analysis_size = int(analysis_size or default_size)
        self.f0_estimator: F0Estimator = f0_estimator or yin_f0
        self.range_db, self.seed = float(range_db), int(seed)
        self.n_fft = 4 * self.hop
        w = tight_window(window("hann", self.n_fft), self.hop)
        bank = triangular_filterbank(self.n_fft // 2 + 1, self.n_noise, self.sample_rate)
        spread = bank / bank.sum(axis=0, keepdims=True)
        aw = np.hanning(self.analysis_size + 1)[:-1]
        self.register_buffer("win", torch.tensor(w, dtype=torch.float32), persistent=False)
        self.register_buffer("bank", torch.tensor(bank, dtype=torch.float32), persistent=False)
        self.register_buffer("spread", torch.tensor(spread, dtype=torch.float32), persistent=False)
        self.register_buffer(
            "analysis_window", torch.tensor(aw / aw.sum(), dtype=torch.float32), persistent=False
        )
        self.register_buffer("peaks", torch.ones(2))

    # -- analysis ----------------------------------------------------------------------------

    def _harmonic_amplitudes(self, x: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        """``x (B, N)``, ``f0 (B, T)`` → amplitudes ``(B, K, T)``.

        Twice the magnitude of the Hann-windowed (unit-sum window) frame's spectrum at
        k·f0: the amplitude of a sinusoid at that frequency. The spectrum is taken on a
        grid 8× finer than the frame's bins (zero padding) and interpolated linearly.
        """
        frames = _centred_frames(x, self.analysis_size, self.hop) * self.analysis_window
        n_fft = 8 * self.analysis_size
        mag = torch.fft.rfft(frames, n=n_fft).abs()
        k = torch.arange(1, self.n_harmonics + 1, device=x.device, dtype=x.dtype)
        pos = (f0.unsqueeze(-1) * k) * (n_fft / self.sample_rate)
        i0 = pos.floor().long().clamp(max=n_fft // 2 - 1)
        frac = (pos - i0).clamp(0.0, 1.0)
        amp = mag.gather(-1, i0) * (1.0 - frac) + mag.gather(-1, i0 + 1) * frac
        audible = pos < n_fft / 2
        return (2.0 * amp * audible).transpose(-1, -2)

    def _raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Audio ``(B, Ch, N)`` → f0 ``(B, Ch, T)``, amplitudes ``(…, K, T)``, noise ``(…, J, T)``."""
        b, ch, n = x.shape
        flat = x.reshape(b * ch, n)
        f0 = self.f0_estimator(flat, self.sample_rate, self.hop).to(x.dtype)
        f0 = f0.clamp(PIANO_LOW_HZ, PIANO_HIGH_HZ)
        amps = self._harmonic_amplitudes(flat, f0)
        harmonic = self._oscillators(f0, amps, n)
        residual = stft(flat, self.win, self.hop).abs() ** 2
        residual = (residual - stft(harmonic, self.win, self.hop).abs() ** 2).clamp_min(0.0)
        noise = torch.einsum("jf,bft->bjt", self.bank, residual).sqrt()
        t = f0.shape[-1]
        return (
            f0.reshape(b, ch, t),
            amps.reshape(b, ch, self.n_harmonics, t),
            noise.reshape(b, ch, self.n_noise, t),
        )

    # -- synthesis ---------------------------------------------------------------------------

    def _oscillators(self, f0: torch.Tensor, amps: torch.Tensor, n: int) -> torch.Tensor:
        """f0 ``(B, T)`` and amplitudes ``(B, K, T)`` → the additive harmonic signal ``(B, n)``.

        Harmonic k is cos(kΦ), Φ = 2π·Σ f0/sr, with kΦ reduced modulo 2π in float64
        (16 harmonics at a time).
        """
        f0_n = _interpolate_frames(f0, self.hop, n).double()
        phase = (2.0 * math.pi / self.sample_rate) * torch.cumsum(f0_n, -1)
        amps_n = _interpolate_frames(amps, self.hop, n)
        ks = torch.arange(1, self.n_harmonics + 1, device=f0.device, dtype=torch.float64)
        out = torch.zeros(f0.shape[0], n, dtype=amps.dtype, device=amps.device)
        for first in range(0, self.n_harmonics, 16):
            k = ks[first : first + 16, None]
            arg = torch.remainder(k * phase.unsqueeze(1), 2.0 * math.pi).to(amps.dtype)
            audible = (k * f0_n.unsqueeze(1) < 0.5 * self.sample_rate).to(amps.dtype)
            out = out + (amps_n[:, first : first + 16] * audible * torch.cos(arg)).sum(1)
        return out

    def _noise(self, bands: torch.Tensor, n: int) -> torch.Tensor:
        """Band magnitudes ``(B, J, T)`` → shaped noise ``(B, n)``."""
        gen = torch.Generator().manual_seed(self.seed)
        shape = (self.n_fft // 2 + 1, bands.shape[-1], 2)
        z = torch.randn(shape, generator=gen).to(bands.device) * math.sqrt(0.5)
        z = torch.complex(z[..., 0], z[..., 1])
        power = torch.einsum("jf,bjt->bft", self.spread, bands**2)
        redundancy = self.n_fft / self.hop
        # clamped so that silent bins have a zero (not an infinite) gradient
        gain = torch.sqrt((power * redundancy).clamp_min(1e-24))
        return istft(gain * z, self.win, self.hop)

    # -- the stage ---------------------------------------------------------------------------

    def _to_unit(self, a: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
        eps = peak * 10.0 ** (-self.range_db / 20.0)
        return 2.0 * torch.log1p(a / eps) / torch.log1p(peak / eps) - 1.0

    def _from_unit(self, y: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
        eps = peak * 10.0 ** (-self.range_db / 20.0)
        return eps * torch.expm1((y + 1.0) * 0.5 * torch.log1p(peak / eps))

    def fit(self, x: torch.Tensor) -> None:
        """Set the peak harmonic amplitude and peak noise magnitude from training audio."""
        self.fit_transform(x)

    def fit_transform(self, x: torch.Tensor) -> torch.Tensor:
        """Fit the peaks and return the parameter rows, analysing each clip once
        (``FIT_CHUNK`` clips at a time: the oscillator bank is large per clip)."""
        self._check_length(x)
        raw = [self._raw(x[j : j + FIT_CHUNK]) for j in range(0, x.shape[0], FIT_CHUNK)]
        for i in (0, 1):
            peak = max(float(r[1 + i].max()) for r in raw) if raw else 0.0
            self.peaks[i] = peak if peak > 0 else 1.0
        return torch.cat([self._rows(*r) for r in raw])

    def _check_length(self, x: torch.Tensor) -> None:
        if x.shape[-1] % self.hop:
            raise ValueError(f"{x.shape[-1]} samples are not a whole number of {self.hop}-hops")

    def _rows(self, f0: torch.Tensor, amps: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """f0, amplitudes and noise bands → the stage's rows (B, ch, 1, 1+K+J, T)."""
        span = math.log(PIANO_HIGH_HZ / PIANO_LOW_HZ)
        f0_row = 2.0 * torch.log(f0 / PIANO_LOW_HZ) / span - 1.0
        rows = [f0_row.unsqueeze(2), self._to_unit(amps, self.peaks[0])]
        rows.append(self._to_unit(noise, self.peaks[1]))
        return torch.cat(rows, dim=2).unsqueeze(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio → parameter rows."""
        self._check_length(x)
        return self._rows(*self._raw(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Parameter rows → audio by additive + filtered-noise synthesis."""
        rows = y.squeeze(2)
        b, ch, _, t = rows.shape
        n = t * self.hop
        span = math.log(PIANO_HIGH_HZ / PIANO_LOW_HZ)
        f0 = PIANO_LOW_HZ * torch.exp((rows[:, :, 0] + 1.0) * 0.5 * span)
        amps = self._from_unit(rows[:, :, 1 : 1 + self.n_harmonics], self.peaks[0])
        noise = self._from_unit(rows[:, :, 1 + self.n_harmonics :], self.peaks[1])
        flat_f0 = f0.reshape(b * ch, t)
        harmonic = self._oscillators(flat_f0, amps.reshape(b * ch, self.n_harmonics, t), n)
        shaped = self._noise(noise.reshape(b * ch, self.n_noise, t), n)
        return (harmonic + shaped).reshape(b, ch, n)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        name = getattr(self.f0_estimator, "__name__", type(self.f0_estimator).__name__)
        return {
            "stage": "HarmonicNoise",
            "hop": self.hop,
            "harmonics": self.n_harmonics,
            "noise_bands": self.n_noise,
            "analysis_size": self.analysis_size,
            "f0_estimator": name,
            "range_db": self.range_db,
            "seed": self.seed,
            "peaks": [float(p) for p in self.peaks],
        }
