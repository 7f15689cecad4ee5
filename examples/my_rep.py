"""A newcomer's representation, the one the README shows: the raw waveform folded
column-major into a 256×256 image (each column is 256 consecutive samples).

    grainbench run --rep examples/my_rep.py:MyRep
    grainbench compare leaderboards/entries/dct-square__piano-c3__seed0 runs/my-rep__piano-c3__seed0

A plugin needs no grainbench import: a few attributes and two functions on torch tensors.
"""

import torch


class MyRep:
    """Waveform, column-major in a square image."""

    name = "my-rep"
    sample_rate = 44100  # Hz
    n_samples = 65536  # samples per channel in one clip
    n_channels = 1

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """float32 (B, 1, 65536) in [-1, 1] → (B, 1, 256, 256)."""
        return audio.reshape(-1, 1, 256, 256).transpose(-1, -2)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 1, 256, 256) → (B, 1, 65536)."""
        return image.transpose(-1, -2).reshape(-1, 1, 65536)
