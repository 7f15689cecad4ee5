"""Constant-Q (non-stationary Gabor) transform, rasterised on a band × slot grid."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.stages.base import Stage
from grainbench.stages.framing import irfft_isometric, rfft_isometric


def cq_centres(
    n_bands: int, fmin: float, nyquist: float, spacing_hz: float
) -> tuple[np.ndarray, float]:
    """Band centres (Hz) of :class:`CQT` and the resulting bins per octave.

    Centres 1 … n_bands − 1 are equally spaced on z(f) = B·log2(f/fmin) + (f − fmin)/s
    (s = ``spacing_hz``) from ``fmin`` to Nyquist; centre 0 is 0 Hz. B is solved so that
    the last centre is Nyquist. Below about B·s/ln 2 Hz the spacing is constant-Q (B bins
    an octave); above, it tends to s Hz, which bounds every band's width.
    """
    octaves = math.log2(nyquist / fmin)
    bpo = (n_bands - 2 - (nyquist - fmin) / spacing_hz) / octaves
    if bpo <= 0:
        raise ValueError(f"{n_bands} bands cannot span {fmin} Hz to {nyquist} Hz at this width")
    targets = np.arange(n_bands - 1, dtype=np.float64)
    lo, hi = np.full_like(targets, fmin), np.full_like(targets, nyquist)
    for _ in range(200):  # bisection on the increasing map z
        mid = 0.5 * (lo + hi)
        z = bpo * np.log2(mid / fmin) + (mid - fmin) / spacing_hz
        below = z < targets
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    centres = np.concatenate([[0.0], 0.5 * (lo + hi)])
    centres[1], centres[-1] = fmin, nyquist
    return centres, bpo


def cq_windows(centres_bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Frequency windows ``(n_bands, n_bins)`` on FFT bins, a smooth partition of unity in power.

    Band k rises from centre k−1 to centre k as sin(π/2·sin²(πu/2)) and falls to centre k+1
    as cos(π/2·sin²(πu/2)) (u ∈ [0, 1] the position between centres), so Σₖ gₖ² = 1 at
    every bin. Band 0 is 1 at DC, the last band 1 at Nyquist.
    """
    j = np.arange(n_bins, dtype=np.float64)
    n_bands = len(centres_bins)
    g = np.zeros((n_bands, n_bins))
    for k in range(n_bands):
        c = centres_bins[k]
        if k > 0:
            lo = centres_bins[k - 1]
            u = (j - lo) / (c - lo)
            sel = (j > lo) & (j <= c)
            g[k, sel] = np.sin(0.5 * np.pi * np.sin(0.5 * np.pi * u[sel]) ** 2)
        if k < n_bands - 1:
            hi = centres_bins[k + 1]
            u = (j - c) / (hi - c)
            sel = (j >= c) & (j < hi)
            g[k, sel] = np.cos(0.5 * np.pi * np.sin(0.5 * np.pi * u[sel]) ** 2)
    return g


class CQT(Stage):
    """Constant-Q non-stationary Gabor transform, rasterised: ``(B, Ch, 2, F, T)``.

    The clip's spectrum (orthonormal real FFT, interior bins ×√2) is cut into F bands by
    the windows of :func:`cq_windows` on the centres of :func:`cq_centres`; each band is
    shifted to baseband at its centre bin and brought back to time by an orthonormal
    inverse FFT of T points, so every band has T complex samples (planes: real, imaginary).
    Every band is at most T bins wide ("painless" case) and Σ gₖ² = 1, so the transform is
    a Parseval frame of redundancy 2FT/N and the inverse (FFT of each band, window, sum,
    inverse real FFT) is exact. Bands are constant-Q (B per octave, reported by
    ``describe``) from ``fmin`` up to a few kHz and tend to a constant width above, so
    that the highest band still fits in T bins.
    """

    plane_names = ("real", "imag")

    def __init__(
        self, n_samples: int, sample_rate: int, n_bands: int, n_slots: int, fmin: float = 32.7
    ) -> None:
        super().__init__()
        self.n_samples, self.sample_rate = int(n_samples), int(sample_rate)
        self.n_bands, self.n_slots, self.fmin = int(n_bands), int(n_slots), float(fmin)
        n_bins = self.n_samples // 2 + 1
        bin_hz = self.sample_rate / self.n_samples
        spacing = (self.n_slots // 2 - 1) * bin_hz
        centres, self.bins_per_octave = cq_centres(
            self.n_bands, self.fmin, self.sample_rate / 2.0, spacing
        )
        self.centres_hz = centres
        centre_bins = centres / bin_hz
        g = cq_windows(centre_bins, n_bins)
        base = np.rint(centre_bins).astype(np.int64)
        offsets = (np.arange(self.n_slots) + self.n_slots // 2) % self.n_slots - self.n_slots // 2
        idx = base[:, None] + offsets[None, :]
        valid = (idx >= 0) & (idx < n_bins)
        idx = np.where(valid, idx, 0)
        weights = np.where(valid, g[np.arange(self.n_bands)[:, None], idx], 0.0)
        if not np.allclose(weights.sum(), g.sum()):
            raise ValueError("a constant-Q band is wider than the number of time slots")
        self.register_buffer("idx", torch.tensor(idx), persistent=False)
        self.register_buffer(
            "weights", torch.tensor(weights, dtype=torch.float32), persistent=False
        )

    def frequency_windows(self) -> np.ndarray:
        """The band windows on the clip's FFT bins, ``(F, N/2 + 1)`` float64."""
        bin_hz = self.sample_rate / self.n_samples
        return cq_windows(self.centres_hz / bin_hz, self.n_samples // 2 + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio → (real, imaginary) planes of the band signals."""
        if x.shape[-1] != self.n_samples:
            raise ValueError(f"this CQT is built for {self.n_samples} samples")
        spec = rfft_isometric(x)
        bands = spec[..., self.idx] * self.weights
        coeffs = torch.fft.ifft(bands, dim=-1, norm="ortho")
        return torch.stack([coeffs.real, coeffs.imag], dim=2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes → audio (the adjoint, which is the inverse of a Parseval frame)."""
        bands = torch.fft.fft(torch.complex(y[:, :, 0], y[:, :, 1]), dim=-1, norm="ortho")
        bands = bands * self.weights
        lead = bands.shape[:-2]
        spec = torch.zeros(*lead, self.n_samples // 2 + 1, dtype=bands.dtype, device=y.device)
        spec = spec.index_add(-1, self.idx.reshape(-1), bands.reshape(*lead, -1))
        return irfft_isometric(spec, self.n_samples)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {
            "stage": "CQT",
            "bands": self.n_bands,
            "slots": self.n_slots,
            "fmin": self.fmin,
            "bins_per_octave": round(self.bins_per_octave, 3),
        }
