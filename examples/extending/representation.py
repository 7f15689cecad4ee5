import torch


class Waveform128:
    """The raw waveform folded row-major into a 128×128 image (synth-piano's setting)."""

    name, sample_rate, n_samples, n_channels = "waveform-128", 16000, 16384, 1

    def encode(self, audio: torch.Tensor) -> torch.Tensor:  # (B, 1, 16384) → (B, 1, 128, 128)
        return audio.reshape(-1, 1, 128, 128)

    def decode(self, image: torch.Tensor) -> torch.Tensor:  # (B, 1, 128, 128) → (B, 1, 16384)
        return image.reshape(-1, 1, 16384)
