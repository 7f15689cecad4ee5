"""A-weighted loudness per frame, in dB (the DDSP paper's loudness control).

Per frame t (centred on sample t·hop, zeros outside the clip), with a periodic Hann
window w of ``n_fft`` samples and X its DFT:

    P_A(t) = Σ_k R_A(f_k)² |X_k|² / (n_fft · Σ w²)      (k over the full spectrum)

the A-weighted mean power of the frame (Parseval: without the weighting it is the
window-weighted mean of x²), and loudness = 10·log10(max(P_A, 10^(−range_db/10))) dB. So a
sine of amplitude a at 1 kHz, where A-weighting is 0 dB, reads 10·log10(a²/2) dB (−3.01 dB
at full scale), and one at 100 Hz reads 19.1 dB less. R_A is the IEC 61672-1 A-weighting
curve (normalised to 0 dB at 1 kHz).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

RANGE_DB = 120.0
"""Loudness floor: digital silence reads −RANGE_DB dB."""

_A_POLES_HZ = (20.598997, 107.65265, 737.86223, 12194.217)


def a_weighting_db(freqs_hz: np.ndarray) -> np.ndarray:
    """IEC 61672-1 A-weighting gain (dB) at ``freqs_hz``: 0 dB at 1 kHz, −19.1 dB at 100 Hz.

    R_A(f) = f4² f⁴ / ((f² + f1²) √((f² + f2²)(f² + f3²)) (f² + f4²)), A = 20·log10 R_A + 2.00;
    −inf at 0 Hz.
    """
    f1, f2, f3, f4 = _A_POLES_HZ
    f2_ = np.asarray(freqs_hz, dtype=np.float64) ** 2
    with np.errstate(divide="ignore"):
        r = (f4**2 * f2_**2) / (
            (f2_ + f1**2) * np.sqrt((f2_ + f2**2) * (f2_ + f3**2)) * (f2_ + f4**2)
        )
        return 20.0 * np.log10(r) + 2.0


def loudness_window(sample_rate: int) -> int:
    """Analysis window (samples): the power of two nearest 32 ms (512 at 16 kHz)."""
    return 1 << int(round(math.log2(0.032 * sample_rate)))


def a_weighted_loudness(
    audio: torch.Tensor, sample_rate: int, hop: int, n_fft: int | None = None
) -> torch.Tensor:
    """A-weighted loudness (dB) of mono clips ``(B, N)`` → ``(B, N // hop)`` (module doc)."""
    n_fft = int(n_fft or loudness_window(sample_rate))
    x = audio.float()
    padded = F.pad(x, (n_fft // 2, n_fft // 2))
    frames = padded.unfold(-1, n_fft, hop)[:, : x.shape[-1] // hop]
    win = torch.hann_window(n_fft, periodic=True, dtype=x.dtype, device=x.device)
    power = torch.fft.rfft(frames * win, dim=-1).abs().square()
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    gain = 10.0 ** (a_weighting_db(freqs) / 10.0)  # R_A², 0 at DC
    gain[1 : (n_fft + 1) // 2] *= 2.0  # the negative-frequency twins of the inner bins
    weight = torch.tensor(gain / (n_fft * float((win.double() ** 2).sum())), dtype=x.dtype)
    p_a = (power * weight.to(x.device)).sum(-1)
    return 10.0 * torch.log10(p_a.clamp_min(10.0 ** (-RANGE_DB / 10.0)))
