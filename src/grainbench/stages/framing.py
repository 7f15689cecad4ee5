"""Windows and circular framing for the framed time-frequency stages.

Those stages map audio ``(B, Ch, N)`` to planes ``(B, Ch, P, F, T)``: P planes (e.g. real
and imaginary parts), F frequency rows (lowest first), T time columns (earliest first).
The clip is treated as one period of a periodic signal (circular framing): ``N / hop``
frames cover it exactly, every sample is covered by the same number of frames, and the
inverses are exact at both ends with no padding. The price is that an atom near the end
of the clip wraps around to its start.

The linear transforms (:class:`~grainbench.stages.stft.STFT`,
:class:`~grainbench.stages.mdct.MDCT`, :class:`~grainbench.stages.cqt.CQT`) are Parseval
frames: the analysis is an isometry (``‖coefficients‖ = ‖x‖``) and the inverse is its
adjoint, so they are exact and a coefficient error of energy δ² gives a sound error of
energy at most δ² (MDCT, being critically sampled, is orthogonal: exactly δ²).
:class:`~grainbench.stages.magif.MagIF` is exact but nonlinear;
:class:`~grainbench.stages.logmel.LogMel` (with Griffin-Lim) and
:class:`~grainbench.stages.melscale.FreqWarp` with fewer independent rows than bins are
lossy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.stages.maps import empty


def window(name: str, size: int, *, alpha: float = 4.0) -> np.ndarray:
    """A float64 analysis window of ``size`` samples.

    - ``hann``: periodic Hann, 0.5 − 0.5·cos(2πm/size); its squares sum to a constant at
      hops of size/4 (and any size/(2q), q ≥ 2);
    - ``sine``: sin(π(m + ½)/size), the Princen–Bradley window at hop size/2;
    - ``kbd``: Kaiser–Bessel-derived with parameter ``alpha`` (Kaiser β = π·α), also
      Princen–Bradley at hop size/2.
    """
    m = np.arange(size, dtype=np.float64)
    if name == "hann":
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * m / size)
    if name == "sine":
        return np.sin(np.pi * (m + 0.5) / size)
    if name == "kbd":
        if size % 2:
            raise ValueError("a KBD window needs an even size")
        half = size // 2
        kaiser = np.kaiser(half + 1, np.pi * alpha)
        rising = np.sqrt(np.cumsum(kaiser[:half]) / kaiser.sum())
        return np.concatenate([rising, rising[::-1]])
    raise ValueError(f"unknown window {name!r}; choose hann, sine or kbd")


def tight_window(w: np.ndarray, hop: int) -> np.ndarray:
    """Scale ``w`` so that its squares, shifted by multiples of ``hop``, sum to exactly 1.

    That is the condition under which windowed analysis followed by windowed overlap-add
    is the identity (COLA for w², Princen–Bradley at 50 % overlap). Raises ``ValueError``
    when the shifted squares do not sum to a constant.
    """
    size = len(w)
    if size % hop or (size // hop) % 2:
        raise ValueError(f"window {size} must be an even multiple of the hop {hop}")
    total = (w**2).reshape(size // hop, hop).sum(axis=0)
    if np.ptp(total) > 1e-9 * total.max():
        raise ValueError(f"this window's squares do not overlap-add to a constant at hop {hop}")
    return w / math.sqrt(total.mean())


SQRT2 = math.sqrt(2.0)

#: on CPU the STFT and MDCT stages work through a batch a few clips at a time, about this
#: many frame samples per pass (2 MiB of float32 frames), so that a clip's frames and
#: spectrum are still in cache for the next step: 2–5× faster at batch 64
_CHUNK_FRAME_SAMPLES = 1 << 19


def clips_per_pass(n_clips: int, frame_samples: int, device: torch.device) -> int:
    """How many clips of ``frame_samples`` frame samples each to transform at a time."""
    if device.type != "cpu":
        return max(n_clips, 1)
    return max(1, _CHUNK_FRAME_SAMPLES // max(frame_samples, 1))


def in_chunks(fn: Any, x: torch.Tensor, event_dims: int, frame_samples: int) -> torch.Tensor:
    """``fn`` over the clips of ``x`` (its last ``event_dims`` dimensions; the others are
    flattened), :func:`clips_per_pass` clips at a time, gathered into one contiguous output."""
    lead, event = x.shape[: x.dim() - event_dims], x.shape[x.dim() - event_dims :]
    clips = x.reshape(-1, *event)
    step = clips_per_pass(clips.shape[0], frame_samples, x.device)
    if step >= clips.shape[0]:
        out = fn(clips)
    else:
        first = fn(clips[:step])
        out = empty((clips.shape[0], *first.shape[1:]), first)
        out[:step] = first
        for i in range(step, clips.shape[0], step):
            out[i : i + step] = fn(clips[i : i + step])
    return out.reshape(*lead, *out.shape[1:])


def circular_frames(x: torch.Tensor, size: int, hop: int) -> torch.Tensor:
    """The frames of :func:`frame_circular` as overlapping views of one circularly padded copy."""
    n, half = x.shape[-1], size // 2
    padded = torch.cat([x[..., n - half :], x, x[..., : half - hop]], dim=-1)
    return padded.unfold(-1, size, hop)


def check_circular(n: int, size: int, hop: int) -> None:
    """Raise ``ValueError`` unless N samples can be framed circularly at ``size`` / ``hop``."""
    if n % hop or size % hop or (size // hop) % 2 or size > n:
        raise ValueError(f"cannot frame {n} samples with frames of {size} at hop {hop}")


def frame_circular(x: torch.Tensor, size: int, hop: int) -> torch.Tensor:
    """``(…, N)`` → ``(…, N/hop, size)``: frame t holds samples ``t·hop − size/2 + m`` (mod N).

    ``size`` must be an even multiple of ``hop`` and ``hop`` must divide N. Returns a new
    tensor; the transforms here window the overlapping views of :func:`circular_frames`
    instead, which saves a copy.
    """
    check_circular(x.shape[-1], size, hop)
    return circular_frames(x, size, hop).contiguous()


def overlap_add_circular(frames: Any, hop: int) -> Any:
    """Adjoint of :func:`frame_circular`: ``(…, T, size)`` → ``(…, T·hop)`` by overlap-add
    (a tensor, or a NumPy array for a stage's NumPy route)."""
    t, size = frames.shape[-2], frames.shape[-1]
    r = size // hop
    chunks = frames.reshape(*frames.shape[:-1], r, hop)
    # hop-sized piece j of frame t lands on block t + j − r/2 (mod T)
    out = chunks[..., r // 2, :] * 1  # a new contiguous tensor or array, the same values
    for j in range(r):
        s = (j - r // 2) % t
        if s == 0:
            continue
        out[..., s:, :] += chunks[..., : t - s, j, :]
        out[..., :s, :] += chunks[..., t - s :, j, :]
    return out.reshape(*frames.shape[:-2], t * hop)


def rfft_isometric(frames: torch.Tensor) -> torch.Tensor:
    """Orthonormal real FFT along the last axis with interior bins scaled by √2.

    For real input of even length L the result (L/2 + 1 bins, DC and Nyquist real) has
    the same energy as the input.
    """
    spec = torch.fft.rfft(frames, dim=-1, norm="ortho") * SQRT2
    spec[..., 0] /= SQRT2
    spec[..., -1] /= SQRT2
    return spec


def irfft_isometric(spec: torch.Tensor, size: int) -> torch.Tensor:
    """Adjoint (and inverse on its range) of :func:`rfft_isometric`.

    The imaginary parts of the DC and Nyquist bins are orthogonal to every real signal's
    spectrum and are dropped, which is what the adjoint does.
    """
    scaled = spec / SQRT2
    scaled[..., 0] = spec[..., 0].real
    scaled[..., -1] = spec[..., -1].real
    return torch.fft.irfft(scaled, n=size, dim=-1, norm="ortho")
