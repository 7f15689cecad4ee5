"""Log-mel power spectrogram inverted by Griffin-Lim, and MFCC over its rows."""

from __future__ import annotations

import math
from typing import Any

import torch

from grainbench.stages.base import Stage
from grainbench.stages.framing import SQRT2, clips_per_pass, tight_window, window
from grainbench.stages.maps import differentiating
from grainbench.stages.melscale import triangular_filterbank
from grainbench.stages.stft import stft, windowed_irfft, windowed_rfft
from grainbench.stages.transforms import dct2_ortho, idct2_ortho
from grainbench.threads import map_on_workers

Block = tuple[int, int, int, int]
"""Rows ``r0:r1`` and columns ``c0:c1`` of a matrix: a block that holds all its rows' nonzeros."""

N_BLOCKS = 8
"""Dense blocks of the mel filterbank (and of its transpose) in :func:`band_blocks`."""


def band_blocks(matrix: torch.Tensor, n_blocks: int = N_BLOCKS) -> list[Block]:
    """Split a banded ``(R, C)`` matrix into ``n_blocks`` runs of consecutive rows, each with
    the span of columns where those rows are nonzero (every row needs one nonzero)."""
    nonzero = (matrix != 0).cpu()
    cols = torch.arange(matrix.shape[1])
    rows = -(-matrix.shape[0] // n_blocks)
    out = []
    for r0 in range(0, matrix.shape[0], rows):
        used = cols[nonzero[r0 : r0 + rows].any(dim=0)]
        out.append((r0, min(r0 + rows, matrix.shape[0]), int(used[0]), int(used[-1]) + 1))
    return out


def banded_matmul(matrix: torch.Tensor, x: torch.Tensor, blocks: list[Block]) -> torch.Tensor:
    """``matrix (R, C) @ x (…, C, T)`` → ``(…, R, T)`` over the ``blocks`` of
    :func:`band_blocks` only: the same products as the dense one, without its zeros (a
    mel filterbank is 98 % zeros at 44.1 kHz); equal to it up to float rounding."""
    parts = [matrix[r0:r1, c0:c1] @ x[..., c0:c1, :] for r0, r1, c0, c1 in blocks]
    return torch.cat(parts, dim=-2)


class LogMel(Stage):
    """Log-mel power spectrogram ``(B, Ch, 1, n_mels, N/hop)``, inverted by Griffin-Lim (lossy).

    Power |X|² of the circular STFT (periodic Hann, Parseval-normalised), averaged by the
    mel triangles of :func:`triangular_filterbank`, in dB, mapped so that the fitted peak
    is +1 and ``range_db`` below it is −1 (quieter values are clipped to −1). Decoding:
    dB → mel power → linear bins (see :meth:`magnitude`) → magnitude → ``n_iter``
    iterations of fast Griffin-Lim (momentum 0.99) from a fixed random phase drawn from
    ``seed``. Phase is lost: expect the waveform SNR near 0 dB;
    the floor is in the magnitude (spectral convergence).

    The decode works a few clips at a time (a clip's frames stay in cache through every
    iteration, and the groups run on parallel threads: :meth:`inverse`), frame-major, and
    multiplies by the filterbank's nonzero blocks only (:func:`banded_matmul`). A clip's
    decode is the same alone or anywhere in a batch, with any number of threads.
    """

    linear = False
    lossless = False
    exact_errors = "grainbench.analysis.griffinlim_errors:GriffinLimErrors"

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
        self.bank_blocks = band_blocks(self.bank)
        self.bank_t_blocks = band_blocks(self.bank.T)

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
        power = banded_matmul(self.spread.T, mel, self.bank_t_blocks)
        norm = self.bank.sum(dim=0).unsqueeze(-1)
        for _ in range(self.mel_iter):
            ratio = mel / banded_matmul(self.bank, power, self.bank_blocks).clamp_min(1e-30)
            power = power * banded_matmul(self.bank.T, ratio, self.bank_t_blocks) / norm
        return power.sqrt()

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``(…, 1, n_mels, T)`` → audio ``(…, T·hop)`` by fast Griffin-Lim.

        The clips are decoded :func:`~grainbench.stages.framing.clips_per_pass` at a time; on
        a CPU, when nothing needs derivatives (:func:`~grainbench.stages.maps.differentiating`),
        those groups run on as many worker threads as torch has threads, each with one
        intra-op thread (:func:`~grainbench.threads.map_on_workers`): the small operations
        of one clip scale badly over threads (2–3× slower with 2 threads on a busy 2-core
        machine), whole clips well. Every clip's arithmetic is the same for any thread
        count, so the audio is identical to the bit.
        """
        lead = y.shape[:-3]
        clips = y.reshape(-1, *y.shape[-3:])
        step = clips_per_pass(clips.shape[0], y.shape[-1] * self.n_fft, y.device)
        groups = [clips[i : i + step] for i in range(0, clips.shape[0], step)]
        # autograd, forward-mode tangents and torch.func transforms are thread-local: calls
        # that need derivatives stay on this thread; the others record nothing anywhere
        if y.device.type != "cpu" or differentiating(y):
            parts = [self._decode_clips(g) for g in groups]
        else:
            parts = map_on_workers(self._decode_clips, groups)
        out = torch.cat(parts)
        return out.reshape(*lead, out.shape[-1])

    def _decode_clips(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``(c, 1, n_mels, T)`` → audio ``(c, T·hop)``."""
        mag = self.magnitude(y)
        gen = torch.Generator().manual_seed(self.seed)
        phase0 = torch.rand(mag.shape[-2:], generator=gen, dtype=torch.float64) * 2 * math.pi
        unit = torch.polar(torch.ones_like(phase0), phase0).to(torch.complex64).to(y.device)
        # frame-major (c, T, F) magnitudes on the scale of windowed_rfft, whose DC and Nyquist
        # bins are √2 too large (irfft reads only their real parts)
        edges = torch.ones(mag.shape[-2], device=mag.device)
        edges[[0, -1]] = SQRT2
        target = (mag.transpose(-1, -2) * edges).contiguous()
        return self._griffin_lim(target, unit.transpose(-1, -2))

    def _griffin_lim(self, target: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """Fast Griffin-Lim: magnitudes ``(c, T, F)`` (see :meth:`inverse`), initial phase
        factors ``(T, F)`` → audio ``(c, T·hop)``."""
        spec = target * start
        prev = spec
        for _ in range(self.n_iter):
            spec, prev = self.griffin_lim_step(spec, prev, target)
        return windowed_irfft(prev, self.win, self.hop)

    def griffin_lim_step(
        self, spec: torch.Tensor, prev: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One fast Griffin-Lim iteration on frame-major spectra ``(…, T, F)``: the next
        iteration's input and this one's projected spectrum (the next ``prev``)."""
        cur = windowed_rfft(windowed_irfft(spec, self.win, self.hop), self.win, self.hop)
        cur = self.project(cur, target)
        return self.accelerate(cur, prev), cur

    @staticmethod
    def project(cur: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Spectrum ``cur`` with its magnitudes replaced by ``target`` (phases kept)."""
        return cur * (target / cur.abs().clamp_min(1e-12))

    def accelerate(self, cur: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """The momentum step from the previous projected spectrum ``prev`` to ``cur``."""
        return cur + self.momentum * (cur - prev)

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

    frame_local = True

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
