"""Circular short-time Fourier transform: functions and the complex :class:`STFT` stage."""

from __future__ import annotations

from typing import Any

import torch

from grainbench.stages.base import Stage
from grainbench.stages.framing import (
    SQRT2,
    check_circular,
    circular_frames,
    clips_per_pass,
    overlap_add_circular,
    tight_window,
    window,
)
from grainbench.stages.maps import empty


def windowed_rfft(x: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """``(…, N)`` → ``(…, T, L/2 + 1)``: the orthonormal rfft of the frames times ``√2·win``.

    Bins 1 … L/2 − 1 are those of :func:`stft`; DC and Nyquist are √2 times too large.
    """
    return torch.fft.rfft(
        circular_frames(x, win.shape[-1], hop) * (win * SQRT2), dim=-1, norm="ortho"
    )


def windowed_irfft(spec: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """Adjoint of :func:`windowed_rfft` up to the DC and Nyquist scaling, for a contiguous
    ``(…, T, L/2 + 1)`` spectrum whose DC and Nyquist bins hold √2 times the real parts."""
    frames = torch.fft.irfft(spec, n=win.shape[-1], dim=-1, norm="ortho") * (win / SQRT2)
    return overlap_add_circular(frames, hop)


def stft(x: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """Circular STFT ``(…, N)`` → complex ``(…, L/2 + 1, N/hop)`` (frequency, time).

    ``win`` must be tight at ``hop`` (see :func:`tight_window`); then the transform is a
    Parseval frame and :func:`istft` is both its adjoint and its inverse. Frame t is
    centred on sample t·hop; bins are scaled as in :func:`rfft_isometric`.
    """
    check_circular(x.shape[-1], win.shape[-1], hop)
    spec = windowed_rfft(x, win, hop)
    spec[..., 0] /= SQRT2
    spec[..., -1] /= SQRT2
    return spec.transpose(-1, -2)


def istft(spec: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """Adjoint of :func:`stft`: complex ``(…, L/2 + 1, T)`` → real ``(…, T·hop)``."""
    rows = spec.transpose(-1, -2).clone(memory_format=torch.contiguous_format)
    rows[..., 0] = spec[..., 0, :].real * SQRT2
    rows[..., -1] = spec[..., -1, :].real * SQRT2
    return windowed_irfft(rows, win, hop)


class STFT(Stage):
    """Complex circular STFT as real and imaginary planes: ``(B, Ch, 2, L/2, N/hop)``.

    The window is normalised so that the transform is a Parseval frame (redundancy L/hop)
    and the inverse — windowed overlap-add — is exact. Row 0 packs the real DC bin and the
    real Nyquist bin as ``DC + i·Nyquist``; row k ≥ 1 is bin k (k·sr/L Hz).
    """

    plane_names = ("real", "imag")
    family = "stft"

    def __init__(self, n_fft: int, hop: int, window_name: str = "hann") -> None:
        super().__init__()
        self.n_fft, self.hop, self.window_name = int(n_fft), int(hop), window_name
        w = tight_window(window(window_name, self.n_fft), self.hop)
        self.register_buffer("win", torch.tensor(w, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio ``(…, N)`` → planes (real, imaginary) ``(…, 2, L/2, N/hop)``."""
        n, half = x.shape[-1], self.n_fft // 2
        check_circular(n, self.n_fft, self.hop)
        lead = x.shape[:-1]
        clips = x.reshape(-1, n)
        out = empty((clips.shape[0], 2, half, n // self.hop), x)
        step = clips_per_pass(clips.shape[0], n // self.hop * self.n_fft, x.device)
        for i in range(0, clips.shape[0], step):
            # one strided copy from the (frame, bin, re/im) spectrum to (re/im, bin, frame)
            # planes; the DC and Nyquist bins (√2 too large) share row 0
            spec = torch.view_as_real(windowed_rfft(clips[i : i + step], self.win, self.hop))
            planes = out[i : i + step]
            planes[:, :, 1:, :] = spec[:, :, 1:half, :].permute(0, 3, 2, 1)
            planes[:, 0, 0, :] = spec[:, :, 0, 0] / SQRT2
            planes[:, 1, 0, :] = spec[:, :, half, 0] / SQRT2
        return out.reshape(*lead, 2, half, n // self.hop)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes ``(…, 2, L/2, T)`` → audio ``(…, T·hop)`` by windowed overlap-add."""
        half, t = self.n_fft // 2, y.shape[-1]
        n = t * self.hop
        lead = y.shape[:-3]
        planes = y.reshape(-1, 2, half, t)
        out = y.new_empty(planes.shape[0], n)
        step = clips_per_pass(planes.shape[0], t * self.n_fft, y.device)
        for i in range(0, planes.shape[0], step):
            p = planes[i : i + step]
            # the (frame, bin, re/im) spectrum in one strided copy, DC and Nyquist ×√2
            spec = y.new_empty(p.shape[0], t, half + 1, 2)
            spec[:, :, 1:half, :] = p[:, :, 1:, :].permute(0, 3, 2, 1)
            spec[:, :, 0, 0] = p[:, 0, 0, :] * SQRT2
            spec[:, :, half, 0] = p[:, 1, 0, :] * SQRT2
            spec[:, :, 0, 1] = 0.0
            spec[:, :, half, 1] = 0.0
            out[i : i + step] = windowed_irfft(torch.view_as_complex(spec), self.win, self.hop)
        return out.reshape(*lead, n)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "STFT", "n_fft": self.n_fft, "hop": self.hop, "window": self.window_name}
