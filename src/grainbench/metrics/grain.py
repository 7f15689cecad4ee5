"""Grain metrics of an error signal ``e`` against a decoded signal ``x̂`` (batched torch).

Definitions (SPEC 4.2–4.4, with the exact choices made here):

- **ESR** ``10·log10(‖e‖² / ‖x̂‖²)`` dB, norms over all channels and samples.
- **Proportionality**: least-squares slope of ``log‖e‖`` against ``log δ``.
- **Time spread**: the shortest interval (s) holding 90% of ``e``'s energy. Energy is summed
  in blocks of :data:`TIME_RESOLUTION_S` (1 ms, at least one sample) and taken as uniform
  within a block, so the answer is continuous (a click gives 0.9 block).
- **Frequency spread**: the narrowest ERB-rate interval holding 90% of the spectral energy,
  where the spectrum is the frequency marginal of the masking model's power spectrogram
  (:class:`grainbench.metrics.masking.MaskingModel`: Hann frames of ≈ 20 ms) and each bin's
  energy is taken as uniform over its ERB-rate extent. Spreads below the window's
  resolution (≈ 2 bins) are not resolved.
- **Centroids**: the time centroid (s) of the energy ``e[n]²`` and the ERB-rate centroid of
  the same spectrogram's frequency marginal (SPEC 4.3; see :mod:`grainbench.tasks.locality`
  for why time is not taken from the spectrogram).
- **σt, σf and the Gabor ratio**, on the atom itself (not its spectrogram), through its
  analytic signal on a 4× zero-padded axis (:func:`atom_moments`); the ratio is
  ``σt·σf / (1/(4π))``: a Gaussian-windowed tone well inside (0, Nyquist) reaches 1, the
  Gabor limit, and hard-edged atoms (clip-long tones, clicks) are far above it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from grainbench.metrics.erb import hz_to_erb_rate

SPREAD_FRACTION = 0.9
TIME_RESOLUTION_S = 1e-3


def energy(x: torch.Tensor, dims: int = 2) -> torch.Tensor:
    """Sum of squares over the last ``dims`` axes (default: channels and samples)."""
    return x.double().pow(2).sum(dim=tuple(range(-dims, 0)))


def esr_db(error: torch.Tensor, reference: torch.Tensor, dims: int = 2) -> torch.Tensor:
    """Error-to-signal ratio ``10·log10(‖e‖²/‖x̂‖²)`` (dB) over the last ``dims`` axes."""
    return 10.0 * torch.log10(energy(error, dims) / energy(reference, dims))


def proportionality_slope(deltas: Sequence[float], norms: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of ``log norms`` against ``log deltas`` along the last axis.

    ``norms`` is ``(..., len(deltas))``; a result of 1 means the error grows in proportion
    to the pixel change. A zero norm gives NaN.
    """
    x = torch.log(torch.as_tensor(deltas, dtype=torch.float64, device=norms.device))
    x = x - x.mean()
    y = torch.log(norms.double())
    y = torch.where(torch.isfinite(y), y, torch.full_like(y, math.nan))
    return ((y - y.mean(dim=-1, keepdim=True)) * x).sum(-1) / (x * x).sum()


def shortest_interval(
    weights: torch.Tensor, edges: torch.Tensor, fraction: float = SPREAD_FRACTION
) -> torch.Tensor:
    """Length of the shortest interval holding ``fraction`` of a piecewise-uniform mass.

    ``weights (..., K)`` are non-negative masses of the pieces ``[edges[k], edges[k+1])``
    (``edges (K+1,)`` increasing); mass is uniform within a piece. One end of an optimal
    interval lies on an edge, so both families (start on an edge, end on an edge) are
    searched exactly. An all-zero row gives NaN.
    """
    w = weights.double()
    edges = edges.double().to(w.device)
    lead = w.shape[:-1]
    w = w.reshape(-1, w.shape[-1])
    zero = torch.zeros(w.shape[0], 1, dtype=w.dtype, device=w.device)
    cum = torch.cat([zero, torch.cumsum(w, dim=-1)], dim=-1)  # (R, K+1)
    total = cum[:, -1:]
    need = fraction * total
    lengths = edges[1:] - edges[:-1]
    n_pieces = w.shape[-1]

    def position(value: torch.Tensor, piece: torch.Tensor) -> torch.Tensor:
        piece = piece.clamp(0, n_pieces - 1)
        base = torch.gather(cum, 1, piece)
        mass = torch.gather(w, 1, piece)
        frac = torch.where(mass > 0, (value - base) / torch.where(mass > 0, mass, 1.0), 0.0)
        return edges[piece] + frac.clamp(0.0, 1.0) * lengths[piece]

    # start on an edge: end where the cumulative mass first reaches cum[i] + need
    target = cum + need
    j = torch.searchsorted(cum, target, right=False)
    end = position(target, j - 1)
    width_a = torch.where(target <= total * (1 + 1e-12), end - edges[None, :], math.inf)
    # end on an edge: start where the cumulative mass last equals cum[j] − need
    target = cum - need
    i = torch.searchsorted(cum, target, right=True)
    start = position(target, i - 1)
    width_b = torch.where(target >= -total * 1e-12, edges[None, :] - start, math.inf)
    width = torch.minimum(width_a.amin(-1), width_b.amin(-1))
    width = torch.where(total[:, 0] > 0, width, math.nan)
    return width.reshape(lead)


def block_energies(signal: torch.Tensor, block: int) -> torch.Tensor:
    """Energy of ``signal (..., n)`` summed over consecutive blocks of ``block`` samples."""
    n = signal.shape[-1]
    n_blocks = -(-n // block)
    sq = signal.float().pow(2)
    if n_blocks * block != n:
        sq = torch.nn.functional.pad(sq, (0, n_blocks * block - n))
    return sq.reshape(*sq.shape[:-1], n_blocks, block).sum(-1)


def cosine_block_energies(
    alpha: torch.Tensor, u: torch.Tensor, phase: torch.Tensor, n_samples: int, block: int
) -> torch.Tensor:
    """:func:`block_energies` of cosine atoms ``α·cos(θn + φ)``, ``θ = π·u/n``, in closed form.

    The energy of the first ``K`` samples is
    ``α²·(K/2 + sin(Kθ)·cos(2φ + (K−1)θ) / (2·sin θ))`` (``α²·K·cos²φ`` when ``sin θ = 0``);
    blocks are differences at the block edges. ``alpha``, ``u``, ``phase`` are ``(P,)``.
    """
    alpha, u, phase = (t.double() for t in (alpha, u, phase))
    theta = (math.pi * u / n_samples)[:, None]
    n_blocks = -(-n_samples // block)
    k = (torch.arange(n_blocks + 1, dtype=torch.float64, device=u.device) * block).clamp(
        max=n_samples
    )
    k = k[None, :]
    sin_t = torch.sin(theta)
    flat = sin_t.abs() < 1e-12
    ripple = torch.sin(k * theta) * torch.cos(2.0 * phase[:, None] + (k - 1.0) * theta)
    cum = torch.where(
        flat,
        k * torch.cos(phase[:, None]) ** 2,
        k / 2.0 + ripple / (2.0 * torch.where(flat, torch.ones_like(sin_t), sin_t)),
    )
    return (alpha[:, None] ** 2) * (cum[:, 1:] - cum[:, :-1])


def energy_time_centroid(signal: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Time (s) of the energy centroid of ``signal (..., ch, n)``: ``Σ (n/sr)·Σ_ch e[n]² / Σ e²``."""
    p = signal.double().pow(2).sum(-2)
    t = torch.arange(p.shape[-1], dtype=torch.float64, device=p.device) / sample_rate
    return (p * t).sum(-1) / p.sum(-1)


def cosine_time_centroid(
    u: torch.Tensor, phase: torch.Tensor, n_samples: int, sample_rate: int
) -> torch.Tensor:
    """:func:`energy_time_centroid` of cosine atoms ``cos(θn + φ)``, ``θ = π·u/n``, exactly.

    With ``z = e^{2iθ}``: ``Σ n·cos²(θn + φ) = ½·Σn + ½·Re(e^{2iφ}·Σ n·zⁿ)`` and
    ``Σ_{n<N} n·zⁿ = z·(1 − N·z^{N−1} + (N−1)·z^N) / (1 − z)²``; likewise
    ``Σ cos²(θn + φ) = N/2 + ½·Re(e^{2iφ}·(1 − z^N)/(1 − z))``. Where ``z = 1`` the
    sums are ``N(N−1)/2·cos²φ`` and ``N·cos²φ``.
    """
    u, phase = u.double(), phase.double()
    n = float(n_samples)
    ones = torch.ones_like(u)
    z = torch.polar(ones, 2.0 * math.pi * u / n_samples)
    rot = torch.polar(ones, 2.0 * phase)
    one = (z - 1.0).abs() < 1e-12
    den = torch.where(one, torch.ones_like(z), 1.0 - z)
    zn = torch.polar(ones, 2.0 * math.pi * u)
    zn1 = torch.polar(ones, 2.0 * math.pi * u * (n - 1.0) / n)
    first = z * (1.0 - n * zn1 + (n - 1.0) * zn) / den**2
    zeroth = (1.0 - zn) / den
    cos2 = torch.cos(phase) ** 2
    e1 = torch.where(
        one, n * (n - 1.0) / 2.0 * cos2, n * (n - 1.0) / 4.0 + 0.5 * (rot * first).real
    )
    e0 = torch.where(one, n * cos2, n / 2.0 + 0.5 * (rot * zeroth).real)
    return e1 / e0 / sample_rate


def time_block(sample_rate: int, resolution_s: float = TIME_RESOLUTION_S) -> int:
    """Block length (samples) of the time-spread analysis: ``resolution_s`` but ≥ 1 sample."""
    return max(1, int(round(resolution_s * sample_rate)))


def time_edges(n_samples: int, sample_rate: int, block: int) -> torch.Tensor:
    """Block edges (s) for :func:`block_energies` of a clip of ``n_samples``."""
    n_blocks = -(-n_samples // block)
    edges = torch.arange(n_blocks + 1, dtype=torch.float64) * block
    return edges.clamp(max=n_samples) / sample_rate


def time_spread(
    signal: torch.Tensor, sample_rate: int, resolution_s: float = TIME_RESOLUTION_S
) -> torch.Tensor:
    """Shortest duration (s) holding 90% of the energy of ``signal (..., ch, n)``.

    Channels are summed (a stereo error's energy is where either channel has it).
    """
    block = time_block(sample_rate, resolution_s)
    blocks = block_energies(signal, block).sum(-2)
    return shortest_interval(blocks, time_edges(signal.shape[-1], sample_rate, block))


def bin_erb_edges(n_fft: int, sample_rate: int) -> torch.Tensor:
    """ERB-rate edges of the rfft bins of ``n_fft``: bin k spans ``(k ± 1/2)·sr/n_fft``."""
    df = sample_rate / n_fft
    hz = np.concatenate([[0.0], (np.arange(n_fft // 2) + 0.5) * df, [sample_rate / 2.0]])
    return torch.from_numpy(np.asarray(hz_to_erb_rate(hz), dtype=np.float64))


def freq_spread_erb(marginal: torch.Tensor, n_fft: int, sample_rate: int) -> torch.Tensor:
    """Narrowest ERB-rate interval holding 90% of a power spectrum ``(..., n_fft//2+1)``."""
    return shortest_interval(marginal, bin_erb_edges(n_fft, sample_rate))


def erb_centroid(power: torch.Tensor, bin_freqs: torch.Tensor) -> torch.Tensor:
    """ERB-rate centroid of a power spectrum ``(..., bins)`` at ``bin_freqs`` (Hz):
    ``Σ E(f_k)·P_k / Σ P_k``."""
    p = power.double()
    erb = hz_to_erb_rate(bin_freqs.double().to(p.device))
    return (p * erb).sum(-1) / p.sum(-1)


def atom_moments(atom: torch.Tensor, sample_rate: int, pad: int = 4) -> dict[str, torch.Tensor]:
    """Time and frequency moments of atoms ``(..., ch, n)``, on the atoms themselves.

    The Gabor limit ``σt·σf ≥ 1/(4π)`` holds for any complex signal, so both moments are
    taken on the atom's *analytic signal* ``z`` (its one-sided spectrum): ``σt`` under
    ``Σ_ch |z(t)|²`` and ``σf`` (Hz) under ``Σ_ch |Z(f)|²``. To see an atom's continuous
    behaviour rather than the clip's period, the clip is zero-padded to ``pad·n`` samples
    (centred) before the FFT: hard edges (a clip-long tone, a click's Hilbert tails) then
    count as they do in continuous time. Returns ``t_mean`` (s from the clip start),
    ``sigma_t`` (s), ``f_mean``, ``sigma_f`` (Hz) and ``gabor_ratio = 4π·σt·σf`` (1 for a
    Gaussian-windowed tone, more for every other atom).
    """
    x = atom.double()
    n = x.shape[-1]
    size = pad * n
    before = (size - n) // 2
    spec = torch.fft.fft(torch.nn.functional.pad(x, (before, size - n - before)), dim=-1)
    keep = torch.zeros(size, dtype=torch.float64, device=x.device)
    keep[0] = 1.0
    keep[1 : (size + 1) // 2] = 2.0
    if size % 2 == 0:
        keep[size // 2] = 1.0
    z = torch.fft.ifft(spec * keep, dim=-1)
    t = (torch.arange(size, dtype=torch.float64, device=x.device) - before) / sample_rate
    pt = (z.real**2 + z.imag**2).sum(-2)
    et = pt.sum(-1)
    t_mean = (pt * t).sum(-1) / et
    sigma_t = (((t - t_mean[..., None]) ** 2 * pt).sum(-1) / et).sqrt()
    half = size // 2 + 1
    pf = ((spec.real**2 + spec.imag**2) * keep**2)[..., :half].sum(-2)
    f = torch.arange(half, dtype=torch.float64, device=x.device) * sample_rate / size
    ef = pf.sum(-1)
    f_mean = (pf * f).sum(-1) / ef
    sigma_f = (((f - f_mean[..., None]) ** 2 * pf).sum(-1) / ef).sqrt()
    return {
        "t_mean": t_mean,
        "sigma_t": sigma_t,
        "f_mean": f_mean,
        "sigma_f": sigma_f,
        "gabor_ratio": 4.0 * math.pi * sigma_t * sigma_f,
    }


def nan_percentiles(values: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Percentiles ``qs`` (0–100) of the finite entries of ``values`` (NaN when none)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.full(len(qs), math.nan)
    return np.percentile(v, list(qs))
