"""Per-clip round-trip metrics (SPEC section 4.1), batched in torch.

Every function takes the reference ``x`` and the estimate ``x_hat`` as float tensors of shape
(B, channels, n_samples) and returns a float64 tensor of shape (B,) with one value per clip,
on the inputs' device. Sample-domain metrics are computed in float64, so float32 round-trip
errors (about 1e-7 of full scale) are measured, not drowned in the metric's own rounding;
spectrograms are taken in float32 (for speed) and summed in float64.

Channels are pooled: a clip's channels count as one signal. The sample-domain metrics
(SNR, SI-SDR, max |error|) are computed on the clip's flattened channels; the spectral ones
take one STFT per channel and pool every channel's frames and bins (norms and means run
over all of them), which is the same as flattening except that no frame straddles two
channels.

Ratios in dB are capped at ``±DB_CAP`` (200 dB): the error energy is clamped from below at
``10**(-DB_CAP / 10)`` times the signal energy, so a perfect reconstruction gives exactly
+200 dB rather than inf, and every value below the cap is exact. A metric that is undefined
for a clip (a ratio against a silent reference) is NaN; ``grainbench.metrics.stats`` drops
NaNs, so callers should count them if they matter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "DB_CAP",
    "LSD_FLOOR",
    "MRSTFT_CONFIG",
    "STFT_HOP",
    "STFT_N_FFT",
    "log_spectral_distance",
    "max_abs_error",
    "mrstft_distance",
    "si_sdr",
    "snr",
    "spectral_convergence",
]

DB_CAP = 200.0
"""Largest |value| in dB of the ratio metrics (SNR, SI-SDR, spectral convergence)."""

LSD_FLOOR = 1e-10
"""Power floor of the log-spectral distance, relative to the reference clip's largest bin."""

STFT_N_FFT = 2048
"""FFT size (and Hann window length) of the log-spectral distance and spectral convergence."""

STFT_HOP = 512
"""Hop of the log-spectral distance and spectral convergence STFT."""

MRSTFT_CONFIG: dict[str, Any] = {
    "definition": "auraloss.freq.MultiResolutionSTFTLoss (computed batched, checked against it)",
    "fft_sizes": [1024, 2048, 512],
    "hop_sizes": [120, 240, 50],
    "win_lengths": [600, 1200, 240],
    "window": "hann_window",
    "w_sc": 1.0,
    "w_log_mag": 1.0,
    "w_lin_mag": 0.0,
    "w_phs": 0.0,
    "eps": 1e-8,
    "reduction": "mean",
    "equivalent_call": "auraloss loss(input=x_hat, target=x), once per clip",
}
"""The exact multi-resolution STFT configuration of :func:`mrstft_distance` (auraloss's
defaults, spelled out). auraloss itself is a test dependency only: the tests check this
function against it (and against a NumPy re-derivation)."""

# Keep the spectral tensors of one chunk of clips to about this many input samples.
_CHUNK_SAMPLES = 1 << 20


def _prepare(x: torch.Tensor, x_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes and return detached float64 copies (on CPU when the device is MPS)."""
    if x.ndim != 3 or x.shape != x_hat.shape or x.shape[-1] == 0:
        raise ValueError(
            "audio metrics need x and x_hat of the same shape (B, channels, n_samples), "
            f"got {tuple(x.shape)} and {tuple(x_hat.shape)}"
        )
    device = torch.device("cpu") if x.device.type == "mps" else x.device
    return (
        x.detach().to(device, torch.float64),
        x_hat.detach().to(device, torch.float64),
    )


def _ratio_db(signal: torch.Tensor, error: torch.Tensor, defined: torch.Tensor) -> torch.Tensor:
    """``10 log10(signal / error)`` of energies, capped at ±DB_CAP; NaN where not ``defined``.

    The error energy is clamped below at ``signal * 10**(-DB_CAP/10)``; a zero signal
    energy (nothing of the reference left) gives -DB_CAP.
    """
    floor = signal * 10.0 ** (-DB_CAP / 10.0)
    value = 10.0 * torch.log10(signal / torch.maximum(error, floor))
    value = torch.where(signal > 0, value, torch.full_like(value, -DB_CAP))
    value = value.clamp(-DB_CAP, DB_CAP)
    return torch.where(defined, value, torch.full_like(value, float("nan")))


def _by_chunks(
    fn: Callable[..., torch.Tensor], x: torch.Tensor, x_hat: torch.Tensor, *per_clip: torch.Tensor
) -> torch.Tensor:
    """Apply a per-clip ``fn`` to chunks of clips, bounding the memory of spectrograms.

    ``per_clip`` tensors (first dimension B) are sliced along with the clips.
    """
    per_clip_samples = x.shape[1] * x.shape[2]
    step = max(1, _CHUNK_SAMPLES // per_clip_samples)
    return torch.cat(
        [
            fn(x[i : i + step], x_hat[i : i + step], *(t[i : i + step] for t in per_clip))
            for i in range(0, len(x), step)
        ]
    )


def _magnitudes(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """|STFT| per channel, (B, ch, n_fft // 2 + 1, frames), periodic Hann window of n_fft.

    Frames are centred on multiples of ``hop`` with the signal zero-padded by n_fft // 2 on
    both sides (scipy.signal.stft's ``boundary="zeros"``), so the edges are measured too.
    """
    batch, channels, n = x.shape
    window = torch.hann_window(n_fft, dtype=torch.float32, device=x.device)
    spec = torch.stft(
        x.reshape(batch * channels, n).float(),
        n_fft,
        hop_length=hop,
        win_length=n_fft,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.abs().double().reshape(batch, channels, *spec.shape[-2:])


def snr(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio in dB: ``10 log10(‖x‖² / ‖x − x̂‖²)`` per clip.

    No mean is removed (a DC error counts as noise). Capped at ±DB_CAP (a perfect
    reconstruction gives +200); NaN for a silent reference. This is torchmetrics'
    ``signal_noise_ratio(zero_mean=False)`` without its absolute epsilon (``finfo.eps`` added
    to both energies, which in float32 caps a clip of energy 1 at about 69 dB and gives 0 dB for
    a silent reference).

    ``x`` (reference) and ``x_hat`` (estimate): audio (B, channels, n_samples) → float64 (B,).
    """
    x, x_hat = _prepare(x, x_hat)
    signal = x.square().flatten(1).sum(1)
    error = (x - x_hat).square().flatten(1).sum(1)
    return _ratio_db(signal, error, signal > 0)


def si_sdr(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Scale-invariant signal-to-distortion ratio in dB per clip.

    With ``α = <x̂, x> / ‖x‖²``: ``10 log10(‖αx‖² / ‖αx − x̂‖²)`` (Le Roux et al. 2019), on the
    raw waveforms (no mean removed, as torchmetrics' ``scale_invariant_signal_distortion_ratio``
    with its default ``zero_mean=False``; computed here without its absolute epsilon, see
    :func:`snr`). Capped at ±DB_CAP: a perfect (or rescaled) reconstruction gives +200, an
    all-zero or orthogonal estimate -200; NaN for a silent reference.

    ``x`` (reference) and ``x_hat`` (estimate): audio (B, channels, n_samples) → float64 (B,).
    """
    x, x_hat = _prepare(x, x_hat)
    ref = x.flatten(1)
    est = x_hat.flatten(1)
    energy = ref.square().sum(1)
    alpha = (est * ref).sum(1) / torch.where(energy > 0, energy, torch.ones_like(energy))
    target = alpha[:, None] * ref
    signal = target.square().sum(1)
    error = (target - est).square().sum(1)
    return _ratio_db(signal, error, energy > 0)


def _band_bins(
    max_hz: float | Sequence[float] | np.ndarray | torch.Tensor | None,
    batch: int,
    sample_rate: int,
    n_fft: int,
) -> torch.Tensor:
    """Per clip, how many STFT bins (from 0 Hz) lie at or below its limit: int64 ``(B,)``.

    Bin k sits at k·sample_rate/n_fft Hz; a NaN or None limit keeps every bin to Nyquist.
    """
    n_bins = n_fft // 2 + 1
    if max_hz is None:
        return torch.full((batch,), n_bins, dtype=torch.int64)
    limits = torch.as_tensor(np.asarray(max_hz, dtype=np.float64)).reshape(-1)
    if limits.numel() == 1:
        limits = limits.expand(batch)
    if limits.numel() != batch:
        raise ValueError(f"max_hz needs one limit or one per clip ({batch}), got {limits.numel()}")
    if bool((limits[~limits.isnan()] <= 0).any()):
        raise ValueError("log_spectral_distance needs max_hz > 0 (NaN: up to Nyquist)")
    counts = torch.floor(limits * n_fft / sample_rate).to(torch.float64) + 1
    counts = torch.where(limits.isnan(), torch.full_like(counts, n_bins), counts)
    return counts.clamp(1, n_bins).to(torch.int64)


def log_spectral_distance(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    sample_rate: int,
    n_fft: int = STFT_N_FFT,
    hop: int = STFT_HOP,
    max_hz: float | Sequence[float] | np.ndarray | torch.Tensor | None = None,
) -> torch.Tensor:
    """Log-spectral distance in dB per clip, optionally up to each clip's band limit.

    With P and P̂ the STFT power (periodic Hann window of ``n_fft``, hop ``hop``, frames
    centred, zero-padded edges) over the bins k with k·sample_rate/n_fft ≤ the clip's limit,
    and ``eps = LSD_FLOOR · max P`` (1e-10 of the reference clip's largest bin in that band,
    i.e. a floor 100 dB below its peak, applied to both):
    per frame ``sqrt(mean over bins of (10 log10(P + eps) − 10 log10(P̂ + eps))²)``, then
    the mean over frames (and channels). NaN for a reference silent in the band.

    ``x`` (reference) and ``x_hat`` (estimate): audio (B, channels, n_samples) → float64 (B,).

    Args:
        sample_rate: sampling rate in Hz; places the bins for ``max_hz``.
        n_fft: FFT size and window length.
        hop: hop between frames in samples.
        max_hz: the band limit in Hz: one for every clip, or one per clip (a sequence,
            array or tensor of B values, e.g. a dataset's ``test_band_limits``); NaN or
            None counts every bin up to Nyquist.
    """
    if sample_rate <= 0 or n_fft < 2 or hop < 1:
        raise ValueError(
            f"log_spectral_distance needs sample_rate > 0, n_fft >= 2, hop >= 1; "
            f"got {sample_rate}, {n_fft}, {hop}"
        )
    x, x_hat = _prepare(x, x_hat)
    counts = _band_bins(max_hz, x.shape[0], sample_rate, n_fft).to(x.device)
    top = int(counts.max())

    def chunk(ref: torch.Tensor, est: torch.Tensor, n_bins: torch.Tensor) -> torch.Tensor:
        power = _magnitudes(ref, n_fft, hop)[:, :, :top].square()
        power_hat = _magnitudes(est, n_fft, hop)[:, :, :top].square()
        inside = (torch.arange(top, device=ref.device)[None, :] < n_bins[:, None])[
            :, None, :, None
        ]  # (b, 1, bins, 1)
        peak = torch.where(inside, power, 0.0).flatten(1).amax(1)
        eps = (LSD_FLOOR * peak)[:, None, None, None]
        diff = 10.0 * torch.log10(power + eps) - 10.0 * torch.log10(power_hat + eps)
        sq = torch.where(inside, diff.square(), 0.0)
        per_frame = (sq.sum(dim=2) / n_bins[:, None, None]).sqrt()  # (b, ch, frames)
        value = per_frame.flatten(1).mean(1)
        return torch.where(peak > 0, value, torch.full_like(value, float("nan")))

    return _by_chunks(chunk, x, x_hat, counts)


def spectral_convergence(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Spectral convergence in dB per clip: ``20 log10(‖|S|‖_F / ‖|S| − |Ŝ|‖_F)``.

    S and Ŝ are the STFTs of x and x̂ (n_fft STFT_N_FFT = 2048, hop STFT_HOP = 512, periodic
    Hann window, frames centred, zero-padded edges). Higher is better (the reciprocal of
    auraloss's linear spectral-convergence loss, in dB). Capped at ±DB_CAP; NaN for a
    silent reference.

    ``x`` (reference) and ``x_hat`` (estimate): audio (B, channels, n_samples) → float64 (B,).
    """
    x, x_hat = _prepare(x, x_hat)

    def chunk(ref: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
        mag = _magnitudes(ref, STFT_N_FFT, STFT_HOP)
        mag_hat = _magnitudes(est, STFT_N_FFT, STFT_HOP)
        signal = mag.square().flatten(1).sum(1)
        error = (mag - mag_hat).square().flatten(1).sum(1)
        return _ratio_db(signal, error, signal > 0)

    return _by_chunks(chunk, x, x_hat)


def _mrstft_magnitudes(x: torch.Tensor, fft: int, hop: int, win: int) -> torch.Tensor:
    """auraloss's magnitudes ``sqrt(max(|STFT|², eps))`` of (B·ch, n) float32 signals."""
    window = torch.hann_window(win, dtype=torch.float32, device=x.device)
    spec = torch.stft(
        x, fft, hop, win, window, center=True, pad_mode="reflect", return_complex=True
    )
    return (spec.real.square() + spec.imag.square()).clamp_min(MRSTFT_CONFIG["eps"]).sqrt()


def mrstft_distance(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT distance per clip: auraloss's definition (MRSTFT_CONFIG), batched.

    For each resolution, with magnitudes ``M = sqrt(max(|STFT|², 1e-8))`` (periodic Hann
    window of ``win_length`` centred in ``fft_size``, frames centred with reflect padding):
    spectral convergence ``‖M_x − M_x̂‖_F / ‖M_x‖_F`` plus the mean absolute difference of
    ``ln M``; the distance is the mean over the three resolutions. Lower is better; 0 for a
    perfect reconstruction.

    auraloss's ``MultiResolutionSTFTLoss`` pools its spectral-convergence norm over the whole
    batch and fails with ``reduction="none"``, so calling it per clip is the only way to get
    per-clip values from it — and that costs minutes on a 100-clip round trip. This function
    computes the same quantity for all clips at once (spectrograms and their reductions in float32
    with pairwise summation, ratios in float64); the tests check it against auraloss called clip by clip.

    ``x`` (reference) and ``x_hat`` (estimate): audio (B, channels, n_samples) with
    n_samples > 1024 (the largest FFT's reflect padding) → float64 (B,).
    """
    if x.ndim != 3 or x.shape != x_hat.shape:
        raise ValueError(
            f"mrstft_distance needs equal (B, ch, n) shapes, got {tuple(x.shape)}, {tuple(x_hat.shape)}"
        )
    pad = max(MRSTFT_CONFIG["fft_sizes"]) // 2
    if x.shape[-1] <= pad:
        raise ValueError(f"mrstft_distance needs clips longer than {pad} samples")
    batch = x.shape[0]
    ref = x.detach().float().reshape(-1, x.shape[-1])
    est = x_hat.detach().float().reshape(-1, x.shape[-1])
    total = torch.zeros(batch, dtype=torch.float64, device=x.device)
    for fft, hop, win in zip(
        MRSTFT_CONFIG["fft_sizes"],
        MRSTFT_CONFIG["hop_sizes"],
        MRSTFT_CONFIG["win_lengths"],
        strict=True,
    ):
        m_ref = _mrstft_magnitudes(ref, fft, hop, win).reshape(batch, -1)
        m_est = _mrstft_magnitudes(est, fft, hop, win).reshape(batch, -1)
        sc = (m_ref - m_est).norm(dim=1).double() / m_ref.norm(dim=1).double()
        log_l1 = (m_ref.log() - m_est.log()).abs().mean(dim=1, dtype=torch.float64)
        total += sc + log_l1
    return total / len(MRSTFT_CONFIG["fft_sizes"])


def max_abs_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Largest absolute sample error ``max |x − x̂|`` over a clip's channels and samples.

    ``x`` (reference) and ``x_hat`` (estimate): audio (B, channels, n_samples) → float64 (B,).
    """
    x, x_hat = _prepare(x, x_hat)
    return (x - x_hat).abs().flatten(1).amax(1)
