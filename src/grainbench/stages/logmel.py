"""Log-mel power spectrogram inverted by Griffin-Lim, and MFCC over its rows."""

from __future__ import annotations

import math
from typing import Any

import torch

from grainbench.stages.base import Stage
from grainbench.stages.framing import tight_window, window
from grainbench.stages.melscale import triangular_filterbank
from grainbench.stages.stft import istft, stft
from grainbench.stages.transforms import dct2_ortho, idct2_ortho


class LogMel(Stage):
    """Log-mel power spectrogram ``(B, Ch, 1, n_mels, N/hop)``, inverted by Griffin-Lim (lossy).

    Power |X|² of the circular STFT (periodic Hann, Parseval-normalised), averaged by the
    mel triangles of :func:`triangular_filterbank`, in dB, mapped so that the fitted peak
    is +1 and ``range_db`` below it is −1 (quieter values are clipped to −1). Decoding:
    dB → mel power → linear bins (see :meth:`magnitude`) → magnitude → ``n_iter``
    iterations of fast Griffin-Lim (momentum 0.99) from a fixed random phase drawn from
    ``seed``. Phase is lost: expect the waveform SNR near 0 dB;
    the floor is in the magnitude (spectral convergence).
    """

    linear = False
    lossless = False

    def __init__(
        self,
        n_fft: int,
        hop: int,
        n_mels: int,
        sample_rate: int,
        *,
        range_db: float = 80.0,
        n_iter: int = 32,
        mel_iter: int = 50,
        momentum: float = 0.99,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.n_fft, self.hop, self.n_mels = int(n_fft), int(hop), int(n_mels)
        self.mel_iter = int(mel_iter)
        self.range_db, self.n_iter, self.momentum, self.seed = (
            float(range_db),
            int(n_iter),
            float(momentum),
            int(seed),
        )
        w = tight_window(window("hann", self.n_fft), self.hop)
        bank = triangular_filterbank(self.n_fft // 2 + 1, self.n_mels, sample_rate)
        self.register_buffer("win", torch.tensor(w, dtype=torch.float32), persistent=False)
        self.register_buffer("bank", torch.tensor(bank, dtype=torch.float32), persistent=False)
        spread = torch.tensor(bank / bank.sum(axis=0, keepdims=True), dtype=torch.float32)
        self.register_buffer("spread", spread, persistent=False)
        self.register_buffer("peak_db", torch.tensor(0.0))

    def _mel_db(self, x: torch.Tensor) -> torch.Tensor:
        power = stft(x, self.win, self.hop).abs() ** 2
        mel = torch.einsum("mf,...ft->...mt", self.bank, power)
        return 10.0 * torch.log10(mel.clamp_min(1e-30))

    def fit(self, x: torch.Tensor) -> None:
        """Set the peak level (dB) from training audio."""
        self.peak_db.fill_(float(self._mel_db(x).max()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio → normalised log-mel."""
        y = (self._mel_db(x) - self.peak_db) / self.range_db * 2.0 + 1.0
        return y.clamp_min(-1.0).unsqueeze(2)

    def magnitude(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``(B, Ch, 1, n_mels, T)`` → linear STFT magnitude estimate.

        The mel power is spread back onto the bins (each bin the weighted mean of the bands
        that cover it), then refined by ``mel_iter`` multiplicative (Richardson–Lucy)
        updates, which keep the power non-negative and move it towards one whose mel
        bands match; the filterbank's pseudo-inverse would be exact for exact mel values
        but amplifies any image error without bound (the bank is rank-deficient).
        """
        db = (y.squeeze(2) - 1.0) * 0.5 * self.range_db + self.peak_db
        mel = 10.0 ** (db / 10.0)
        power = torch.einsum("mf,...mt->...ft", self.spread, mel)
        norm = self.bank.sum(dim=0).unsqueeze(-1)
        for _ in range(self.mel_iter):
            ratio = mel / torch.einsum("mf,...ft->...mt", self.bank, power).clamp_min(1e-30)
            power = power * torch.einsum("mf,...mt->...ft", self.bank, ratio) / norm
        return power.sqrt()

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel → audio by fast Griffin-Lim."""
        mag = self.magnitude(y)
        gen = torch.Generator().manual_seed(self.seed)
        phase0 = torch.rand(mag.shape[-2:], generator=gen, dtype=torch.float64) * 2 * math.pi
        unit = torch.polar(torch.ones_like(phase0), phase0).to(torch.complex64).to(y.device)
        spec = mag * unit
        prev = spec
        for _ in range(self.n_iter):
            proj = stft(istft(spec, self.win, self.hop), self.win, self.hop)
            cur = mag * proj / proj.abs().clamp_min(1e-12)
            spec = cur + self.momentum * (cur - prev)
            prev = cur
        return istft(prev, self.win, self.hop)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {
            "stage": "LogMel",
            "n_fft": self.n_fft,
            "hop": self.hop,
            "n_mels": self.n_mels,
            "range_db": self.range_db,
            "mel_inversion_iterations": self.mel_iter,
            "griffin_lim_iterations": self.n_iter,
            "momentum": self.momentum,
            "seed": self.seed,
            "peak_db": float(self.peak_db),
        }


class MFCC(Stage):
    """Orthonormal DCT-II along the frequency rows of ``(B, Ch, P, F, T)``, every row kept.

    Coefficient 0 is divided by √F, its bound when the rows are in [−1, 1] (as a
    normalised log-mel is); the others share one scale, their largest absolute value in
    the fitted data (one scale for all: per-coefficient peaks of a few training clips
    under-estimate unseen clips'). Exact and linear by itself; after :class:`LogMel` the
    representation is lossy because of the mel step.
    """

    def __init__(self, n_coeffs: int) -> None:
        super().__init__()
        self.n_coeffs = int(n_coeffs)
        scale = torch.ones(self.n_coeffs, 1)
        scale[0] = math.sqrt(self.n_coeffs)
        self.register_buffer("scale", scale)

    def _cepstrum(self, x: torch.Tensor) -> torch.Tensor:
        return dct2_ortho(x.transpose(-1, -2)).transpose(-1, -2)

    def fit(self, x: torch.Tensor) -> None:
        """Set the shared scale of coefficients 1… to their largest absolute value in ``x``."""
        peak = float(self._cepstrum(x)[..., 1:, :].abs().max())
        self.scale[1:] = peak if peak > 0 else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows → scaled cepstral coefficients."""
        return self._cepstrum(x) / self.scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Scaled cepstral coefficients → rows."""
        return idct2_ortho((y * self.scale).transpose(-1, -2)).transpose(-1, -2)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "MFCC", "coefficients": self.n_coeffs}
