import math

import torch


def crest_factor_db(x: torch.Tensor) -> torch.Tensor:
    """Peak-to-RMS ratio in dB of each clip: audio (B, ch, n) → float64 (B,)."""
    x = x.double().flatten(1)
    return 20.0 * torch.log10(x.abs().amax(1) / x.square().mean(1).sqrt())


def test_crest_factor_of_a_sine_is_3_db() -> None:  # checked against a closed form
    t = torch.arange(16000, dtype=torch.float64) / 16000
    sine = torch.sin(2 * math.pi * 100 * t).reshape(1, 1, -1)
    assert abs(float(crest_factor_db(sine)[0]) - 10 * math.log10(2)) < 1e-9
