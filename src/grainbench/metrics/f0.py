"""A small YIN f0 estimator (de Cheveigné & Kawahara 2002) and pitch deviation in cents.

Per frame: the difference function ``d(τ) = Σ_j (x_j − x_{j+τ})²`` over an integration
window of ``W`` samples (computed with FFT cross-correlation), its cumulative-mean
normalisation ``d'(τ) = d(τ)·τ / Σ_{k≤τ} d(k)``, the first dip of ``d'`` below the
threshold (0.1) within ``[sr/fmax, sr/fmin]`` followed to its local minimum (the global
minimum when nothing dips), and parabolic interpolation around it (on ``d``, as in the paper). A frame is
*voiced* when its dip is below the threshold. A clip's f0 is the median over voiced frames
among those within 30 dB of the loudest frame; it is *confident* when at least half of
those frames are voiced.
"""

from __future__ import annotations

import math

import torch

YIN_THRESHOLD = 0.1
LOUD_FRAMES_DB = 30.0


def cents(f_a: torch.Tensor, f_b: torch.Tensor) -> torch.Tensor:
    """Interval from ``f_b`` to ``f_a`` in cents, ``1200·log2(f_a/f_b)``."""
    return 1200.0 * torch.log2(f_a.double() / f_b.double())


def _window_length(sample_rate: int, fmin: float) -> int:
    """Integration window: the smallest power of two covering 2.5 periods of ``fmin``."""
    return 1 << int(math.ceil(math.log2(2.5 * sample_rate / fmin)))


def yin(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    fmin: float = 50.0,
    fmax: float = 2000.0,
    threshold: float = YIN_THRESHOLD,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frame-wise YIN on ``audio (..., n)``.

    Returns ``(f0 Hz, dip, energy)``, each ``(..., frames)``: the estimate, the value of
    ``d'`` at the chosen lag (aperiodicity; voiced when below ``threshold``) and the
    frame's energy over the integration window. Frames hop by half a window.
    """
    lead = audio.shape[:-1]
    x = audio.reshape(-1, audio.shape[-1]).double()
    win = _window_length(sample_rate, fmin)
    tau_max = int(math.ceil(sample_rate / fmin))
    tau_min = max(2, int(math.floor(sample_rate / fmax)))
    hop = win // 2
    span = win + tau_max + 1
    n = x.shape[-1]
    if n < span:
        x = torch.nn.functional.pad(x, (0, span - n))
    frames = x.unfold(-1, span, hop)  # (R, F, span)
    n_fft = 1 << int(math.ceil(math.log2(span + win)))
    head = frames[..., :win]
    spec_a = torch.fft.rfft(head, n=n_fft)
    spec_b = torch.fft.rfft(frames, n=n_fft)
    acf = torch.fft.irfft(spec_b * spec_a.conj(), n=n_fft)[..., : tau_max + 2]
    sq = torch.nn.functional.pad(torch.cumsum(frames * frames, dim=-1), (1, 0))
    taus = torch.arange(tau_max + 2, device=x.device)
    e0 = sq[..., win : win + 1]
    e_tau = sq[..., taus + win] - sq[..., taus]
    d = (e0 + e_tau - 2.0 * acf).clamp_min(0.0)
    cum = torch.cumsum(d[..., 1:], dim=-1)
    dn = torch.ones_like(d)
    dn[..., 1:] = d[..., 1:] * taus[1:] / torch.where(cum > 0, cum, 1.0)
    dn[..., 1:] = torch.where(cum > 0, dn[..., 1:], 1.0)
    valid = (taus >= tau_min) & (taus <= tau_max)
    below = (dn < threshold) & valid
    has_dip = below.any(-1)
    first = torch.where(
        has_dip, below.float().argmax(-1), torch.zeros_like(has_dip, dtype=torch.long)
    )
    # the run of "below" starting at the first dip, then its minimum
    after = taus >= first[..., None]
    run = torch.cumprod((below | ~after).to(torch.int8), dim=-1).bool() & after
    masked = torch.where(run, dn, math.inf)
    masked_all = torch.where(valid, dn, math.inf)
    tau = torch.where(has_dip, masked.argmin(-1), masked_all.argmin(-1))
    tau = tau.clamp(1, tau_max)
    y0 = torch.gather(d, -1, (tau - 1)[..., None])[..., 0]
    y1 = torch.gather(d, -1, tau[..., None])[..., 0]
    y2 = torch.gather(d, -1, (tau + 1)[..., None])[..., 0]
    curv = y0 - 2.0 * y1 + y2
    shift = torch.where(curv > 0, 0.5 * (y0 - y2) / torch.where(curv > 0, curv, 1.0), 0.0)
    f0 = sample_rate / (tau.double() + shift.clamp(-1.0, 1.0))
    energy = e0[..., 0]
    dip = torch.gather(dn, -1, tau[..., None])[..., 0]
    shape = (*lead, f0.shape[-1])
    return f0.reshape(shape), dip.reshape(shape), energy.reshape(shape)


def clip_f0(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    fmin: float = 50.0,
    fmax: float = 2000.0,
    threshold: float = YIN_THRESHOLD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One f0 (Hz) per clip of ``audio (..., n)`` and whether it is confident.

    The median of voiced frames among the loud ones (within 30 dB of the loudest); NaN
    and not confident when no loud frame is voiced.
    """
    f0, dip, energy = yin(audio, sample_rate, fmin=fmin, fmax=fmax, threshold=threshold)
    loud = energy >= energy.amax(-1, keepdim=True) * 10.0 ** (-LOUD_FRAMES_DB / 10.0)
    loud = loud & (energy > 0)
    voiced = loud & (dip < threshold)
    n_loud = loud.sum(-1)
    n_voiced = voiced.sum(-1)
    est = torch.where(voiced, f0, torch.full_like(f0, math.nan)).nanmedian(dim=-1).values
    confident = (n_voiced > 0) & (2 * n_voiced >= n_loud)
    return est, confident
