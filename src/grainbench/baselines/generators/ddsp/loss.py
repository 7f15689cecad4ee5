"""The multi-scale spectral loss DDSP trains with.

For each FFT size s in ``sizes`` (2048 … 64 by default): magnitudes S = |STFT| with a
periodic Hann window of s samples, hop s/4 (75 % overlap), frames centred with zero padding
of s/2 at both ends. The loss is

    Σ_s  mean|S_s − Ŝ_s| + log_weight · mean|ln(S_s + eps) − ln(Ŝ_s + eps)|

(means over clips, frames and bins), the paper's L1 on linear and log magnitudes.
"""

from __future__ import annotations

import torch

DEFAULT_SIZES = (2048, 1024, 512, 256, 128, 64)


def stft_magnitude(audio: torch.Tensor, size: int) -> torch.Tensor:
    """``|STFT|`` of ``(B, N)`` audio: ``(B, size // 2 + 1, frames)`` (module doc's framing)."""
    win = torch.hann_window(size, periodic=True, dtype=audio.dtype, device=audio.device)
    spec = torch.stft(
        audio,
        size,
        size // 4,
        window=win,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    # |z| as sqrt(re² + im² + 1e-18): the same value, and a zero (not NaN) gradient at 0
    return (spec.real.square() + spec.imag.square() + 1e-18).sqrt()


def multiscale_spectral_loss(
    target: torch.Tensor,
    estimate: torch.Tensor,
    sizes: tuple[int, ...] = DEFAULT_SIZES,
    log_weight: float = 1.0,
    eps: float = 1e-7,
) -> torch.Tensor:
    """The loss (a scalar) between audio ``(B, N)`` clips (module doc)."""
    total = torch.zeros((), dtype=estimate.dtype, device=estimate.device)
    for size in sizes:
        ref = stft_magnitude(target, size)
        est = stft_magnitude(estimate, size)
        total = total + (ref - est).abs().mean()
        total = total + log_weight * (torch.log(ref + eps) - torch.log(est + eps)).abs().mean()
    return total
