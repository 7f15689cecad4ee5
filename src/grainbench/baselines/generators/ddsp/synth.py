"""DDSP's differentiable synthesiser: harmonic oscillators, filtered noise, learned reverb.

Controls arrive per frame (frame t centred on sample t·hop) and become per-sample signals
by linear interpolation between frame centres (held after the last frame). Shapes: ``B``
clips, ``T`` frames, ``K`` harmonics, ``J`` noise bands, ``N = T·hop`` samples.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def exp_sigmoid(x: torch.Tensor, exponent: float = 10.0, max_value: float = 2.0) -> torch.Tensor:
    """``max_value · sigmoid(x)^ln(exponent) + 1e-7``: the paper's positive output
    nonlinearity (a scaled sigmoid on a log scale, never exactly zero)."""
    return max_value * torch.sigmoid(x) ** math.log(exponent) + 1e-7


def frames_to_samples(x: torch.Tensor, hop: int) -> torch.Tensor:
    """Frame values ``(…, T)`` → per-sample ``(…, T·hop)``: sample n = t·hop + r is
    ``x[t]·(1 − r/hop) + x[t+1]·r/hop`` (``x[T]`` := ``x[T−1]``)."""
    right = torch.cat([x[..., 1:], x[..., -1:]], dim=-1)
    frac = torch.arange(hop, dtype=x.dtype, device=x.device) / hop
    out = x.unsqueeze(-1) * (1.0 - frac) + right.unsqueeze(-1) * frac
    return out.flatten(-2)


@torch.no_grad()
def harmonic_waves(
    f0_hz: torch.Tensor, n_harmonics: int, sample_rate: int, hop: int
) -> torch.Tensor:
    """Unit oscillators ``sin(k·φ(n))`` for k = 1…K, zero where k·f0(n) ≥ sr/2: ``(B, K, N)``.

    φ(n) = 2π Σ_{m<n} f0(m)/sr with f0 interpolated per sample (float64), so φ(0) = 0 and a
    constant f0 gives exactly sin(2π k f0 n / sr). e^{ikφ} is built by repeated complex
    multiplication by e^{iφ} (complex64; the phase error after K steps is about K·1e-7 rad),
    far cheaper than K sines.
    """
    f0_n = frames_to_samples(f0_hz.double(), hop)
    step = f0_n / sample_rate
    phase = 2.0 * math.pi * torch.remainder(torch.cumsum(step, -1) - step, 1.0)
    unit = torch.polar(torch.ones_like(phase), phase).to(torch.complex64)
    out = torch.empty(f0_n.shape[0], n_harmonics, f0_n.shape[-1], device=f0_hz.device)
    rotor = unit
    for k in range(1, n_harmonics + 1):
        if k > 1:
            rotor = rotor * unit
        out[:, k - 1] = rotor.imag * (k * f0_n < 0.5 * sample_rate)
    return out


def harmonic_synth(
    f0_hz: torch.Tensor,
    amplitudes: torch.Tensor,
    sample_rate: int,
    hop: int,
) -> torch.Tensor:
    """Additive harmonic oscillators: ``Σ_k a_k(n) · sin(k·φ(n))`` → ``(B, N)``.

    Args:
        f0_hz: fundamental per frame ``(B, T)``, Hz (not differentiated through).
        amplitudes: amplitude of harmonic k = 1…K per frame ``(B, K, T)``, linear.
        sample_rate: Hz.
        hop: samples per frame.

    The oscillators are :func:`harmonic_waves` (anti-aliased: harmonic k is silent at
    every sample where k·f0(n) ≥ sr/2, so nothing folds back below Nyquist); a_k(n) is
    interpolated linearly between frames, computed as two small matrix products per frame
    (the frame's and the next frame's amplitudes against the ramped oscillators) so that
    the per-sample amplitudes are never stored.
    """
    b, k, t = amplitudes.shape
    waves = harmonic_waves(f0_hz, k, sample_rate, hop)
    waves = waves.reshape(b, k, t, hop).permute(0, 2, 1, 3)  # (B, T, K, hop)
    ramp = torch.arange(hop, dtype=waves.dtype, device=waves.device) / hop
    here = amplitudes.transpose(1, 2).unsqueeze(2)  # (B, T, 1, K)
    after = torch.cat([here[:, 1:], here[:, -1:]], dim=1)
    out = torch.matmul(here, waves * (1.0 - ramp)) + torch.matmul(after, waves * ramp)
    return out.reshape(b, t * hop)


def harmonic_amplitudes(
    f0_hz: torch.Tensor,
    amplitude: torch.Tensor,
    distribution: torch.Tensor,
    sample_rate: int,
) -> torch.Tensor:
    """Per-harmonic amplitudes ``(B, K, T)`` from an overall amplitude ``(B, T)`` and a
    positive distribution ``(B, K, T)``: harmonics at or above Nyquist (k·f0 ≥ sr/2) are
    removed and the rest renormalised to sum to 1, then scaled by the amplitude."""
    k = torch.arange(1, distribution.shape[1] + 1, dtype=f0_hz.dtype, device=f0_hz.device)
    audible = (k[None, :, None] * f0_hz.unsqueeze(1) < 0.5 * sample_rate).to(distribution.dtype)
    dist = distribution * audible
    dist = dist / dist.sum(1, keepdim=True).clamp_min(1e-7)
    return amplitude.unsqueeze(1) * dist


def noise_filter_ir(magnitudes: torch.Tensor) -> torch.Tensor:
    """Linear-phase FIR filters by frequency sampling: band magnitudes ``(…, J)`` → ``(…, 2(J−1))``.

    Band j is the response at j/(J−1) of Nyquist. The zero-phase impulse response
    (inverse real FFT of the magnitudes) is rotated to be centred (a delay of J−1
    samples) and multiplied by a periodic Hann window, which smooths the sampled response
    so that it holds between the bands instead of ringing.
    """
    size = 2 * (magnitudes.shape[-1] - 1)
    ir = torch.fft.irfft(magnitudes.to(torch.complex64), n=size)
    ir = torch.roll(ir, size // 2, dims=-1)
    return ir * torch.hann_window(size, periodic=True, dtype=ir.dtype, device=ir.device)


def filtered_noise(magnitudes: torch.Tensor, excitation: torch.Tensor, hop: int) -> torch.Tensor:
    """Excitation ``(B, N)`` filtered frame by frame: ``(B, J, T)`` band magnitudes → ``(B, N)``.

    Block t (samples t·hop … t·hop + hop − 1) is convolved with frame t's filter
    (:func:`noise_filter_ir`), the blocks overlap-added, and the filter's delay of J − 1
    samples removed, so a constant filter acts as that linear-phase FIR, zero-delay.
    """
    b, _, t = magnitudes.shape
    ir = noise_filter_ir(magnitudes.transpose(1, 2))  # (B, T, L)
    size = ir.shape[-1]
    n_fft = 1 << math.ceil(math.log2(hop + size - 1))
    blocks = excitation.reshape(b, t, hop)
    conv = torch.fft.irfft(torch.fft.rfft(blocks, n_fft) * torch.fft.rfft(ir, n_fft), n_fft)
    total = (t - 1) * hop + n_fft
    out = F.fold(
        conv.transpose(1, 2), output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop)
    ).reshape(b, total)
    delay = size // 2
    return out[:, delay : delay + t * hop]


class Reverb(nn.Module):
    """A learned room: ``y = x + x ∗ h`` with a learned impulse response h of ``n_taps``.

    h starts as Gaussian noise under an exponential decay (60 dB over ``n_taps``, peak
    ``init_gain``, seeded), so the dry signal dominates at first; the direct path is the
    fixed identity, h starts one sample later. Convolution by FFT, truncated to the input.
    """

    def __init__(self, n_taps: int, init_gain: float = 1e-3, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        decay = torch.exp(-math.log(1000.0) * torch.arange(n_taps) / n_taps)
        self.ir = nn.Parameter(init_gain * torch.randn(n_taps, generator=gen) * decay)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio ``(B, N)`` → reverberated ``(B, N)``."""
        n = audio.shape[-1]
        h = F.pad(self.ir, (1, 0))
        n_fft = 1 << math.ceil(math.log2(n + h.shape[-1] - 1))
        wet = torch.fft.irfft(torch.fft.rfft(audio, n_fft) * torch.fft.rfft(h, n_fft), n_fft)
        return audio + wet[..., :n]
