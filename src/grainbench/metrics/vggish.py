"""Our own VGGish network (Hershey et al. 2017), its log-mel front end and a safe weights loader.

The weights are the user's (:class:`grainbench.metrics.embeddings.VGGishEmbedding` loads
them); nothing here downloads anything.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from grainbench.errors import UserError
from grainbench.metrics.melspec import mel_filterbank


class VGGish(nn.Module):
    """The VGGish network (Hershey et al. 2017): log-mel examples ``(B, 1, 96, 64)`` → 128-d.

    Four VGG blocks (64, 128, 2×256, 2×512 channels of 3×3 convolutions with ReLU, each
    followed by 2×2 max-pooling), flattened in height-width-channel order as the original
    TensorFlow model, then fully connected 4096 → 4096 → 128 (the last without activation).
    Parameter names follow the common PyTorch port (``features.N``, ``embeddings.N``).
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for block in ((64,), (128,), (256, 256), (512, 512)):
            for c_out in block:
                layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
                c_in = c_out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, 128),
        )

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        """Log-mel examples ``(B, 1, 96, 64)`` → embeddings ``(B, 128)``."""
        x = self.features(examples)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.embeddings(x)


VGGISH_RATE = 16000


def vggish_examples(audio16k: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Mono 16 kHz clips ``(N, n)`` → VGGish input examples ``(N·E, 1, 96, 64)`` and E.

    VGGish's front end: 25 ms periodic-Hann frames every 10 ms (512-point FFT), 64 HTK-mel
    bands from 125 to 7500 Hz, log(mel + 0.01), cut into E non-overlapping examples of 96
    frames (0.96 s); a clip shorter than one example is zero-padded to one.
    """
    win, hop, n_fft = 400, 160, 512
    min_len = win + 95 * hop
    if audio16k.shape[-1] < min_len:
        audio16k = F.pad(audio16k, (0, min_len - audio16k.shape[-1]))
    frames = audio16k.unfold(-1, win, hop)  # (N, T, 400)
    window = torch.hann_window(win, periodic=True, dtype=audio16k.dtype)
    mag = torch.fft.rfft(frames * window, n=n_fft).abs()  # (N, T, 257)
    bank = mel_filterbank(n_fft, VGGISH_RATE, 64, 125.0, 7500.0).to(audio16k.dtype)
    logmel = torch.log(mag @ bank.T + 0.01)  # (N, T, 64)
    n_examples = logmel.shape[1] // 96
    ex = logmel[:, : n_examples * 96].reshape(-1, 1, 96, 64)
    return ex, n_examples


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a torch file (``weights_only``); a file
    that does not load that way is a :class:`UserError`."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a weights-only unpickling refusal, or a damaged file
        first = (str(exc).strip().splitlines() or [""])[0]
        raise UserError(f"{path} cannot be loaded safely as weights: {first[:200]}") from None
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state dict")
    return state
