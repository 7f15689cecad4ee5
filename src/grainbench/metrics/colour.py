"""The colour of an error: its power relative to the signal's, band by band on the ERB scale.

A residual's *grain colour* is the curve of residual-to-signal power ratio (dB) over 1-ERB
bands (:mod:`grainbench.metrics.erb`: bands ``[b, b+1)`` of ERB-rate). Powers are whole-clip:
``|rfft(x)|²`` of each channel, summed over channels and over the rfft bins whose centre
frequency lies in the band. Over a set of clips the ratio is *pooled*: the residual power
summed over clips divided by the signal power summed over clips, so that a band in which
one clip is silent does not dominate; its interval is a percentile bootstrap over clips.
A flat curve is a white-like error relative to the signal (noise shaped like the sound);
a curve rising to the right puts the error where the signal is quiet (hiss above the
band limit); a dip is where the error hides under the signal.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch

from grainbench.metrics.erb import erb_band_centres_hz, erb_band_matrix


def erb_band_powers(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Whole-clip power per 1-ERB band, ``(B, n_bands)`` float64, of audio ``(B, ch, n)``.

    ``Σ_ch Σ_{k in band} |X_k|²`` with ``X`` the unnormalised rfft of each channel.
    """
    n = audio.shape[-1]
    spec = torch.fft.rfft(audio.double(), dim=-1)
    power = (spec.real**2 + spec.imag**2).sum(1)  # (B, bins)
    return power @ erb_band_matrix(n, sample_rate).to(power)


def _ratio_db(residual: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """``10·log10(Σ residual / Σ signal)`` over the first axis; NaN where undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(residual.sum(0) / signal.sum(0))
    return np.where(np.isfinite(out), out, np.nan)


def colour_curve(
    residual_bands: np.ndarray,
    signal_bands: np.ndarray,
    sample_rate: int,
    *,
    seed: int,
    n_boot: int = 1000,
    level: float = 0.95,
) -> dict[str, Any]:
    """The pooled residual-to-signal ratio per band with a bootstrap interval over clips.

    ``residual_bands`` and ``signal_bands`` are band powers ``(clips, bands)`` from
    :func:`erb_band_powers`. Returns JSON-able lists: ``band_hz`` (band centres), ``ratio_db``,
    ``low``, ``high`` (``None`` where a band holds no signal power), and
    ``signal_share`` (each band's share of the signal power).
    """
    res = np.asarray(residual_bands, dtype=np.float64)
    sig = np.asarray(signal_bands, dtype=np.float64)
    ratio = _ratio_db(res, sig)
    rng = np.random.default_rng(seed)
    n = res.shape[0]
    boot = np.stack([_ratio_db(res[idx], sig[idx]) for idx in rng.integers(0, n, (n_boot, n))])
    tail = (1.0 - level) / 2.0
    low, high = np.full_like(ratio, np.nan), np.full_like(ratio, np.nan)
    defined = np.isfinite(ratio)
    if defined.any():
        with warnings.catch_warnings():  # a resample without signal in a band: NaN, dropped
            warnings.simplefilter("ignore", RuntimeWarning)
            low[defined], high[defined] = np.nanquantile(
                boot[:, defined], [tail, 1.0 - tail], axis=0
            )
    total = sig.sum()
    share = sig.sum(0) / total if total > 0 else np.zeros(sig.shape[1])

    def clean(values: np.ndarray) -> list[float | None]:
        return [float(v) if math.isfinite(v) else None for v in values]

    return {
        "band_hz": [float(f) for f in erb_band_centres_hz(sample_rate)],
        "ratio_db": clean(ratio),
        "low": clean(low),
        "high": clean(high),
        "signal_share": [float(s) for s in share],
    }
