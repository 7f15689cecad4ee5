"""Framed time-frequency transforms: audio ``(B, Ch, N)`` → planes ``(B, Ch, P, F, T)``.

P planes (e.g. real and imaginary parts), F frequency rows (lowest first), T time columns
(earliest first). The clip is treated as one period of a periodic signal (circular framing):
``N / hop`` frames cover it exactly, every sample is covered by the same number of frames,
and the inverses are exact at both ends with no padding. The price is that an atom near the
end of the clip wraps around to its start.

The linear transforms here (``STFT``, ``MDCT``, ``CQT``) are Parseval frames: the analysis
is an isometry (``‖coefficients‖ = ‖x‖``) and the inverse is its adjoint, so they are
exact and a coefficient error of energy δ² gives a sound error of energy at most δ² (MDCT,
being critically sampled, is orthogonal: exactly δ²). ``MagIF`` is exact but nonlinear;
``LogMel`` (with Griffin-Lim) and ``FreqWarp`` with fewer independent rows than bins are
lossy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.stages.base import Stage
from grainbench.stages.maps import empty
from grainbench.stages.transforms import dct2_ortho, idct2_ortho, magnitude_phase

# ---------------------------------------------------------------------------------------------
# windows and circular framing


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


def _clips_per_pass(n_clips: int, frame_samples: int, device: torch.device) -> int:
    """How many clips of ``frame_samples`` frame samples each to transform at a time."""
    if device.type != "cpu":
        return max(n_clips, 1)
    return max(1, _CHUNK_FRAME_SAMPLES // max(frame_samples, 1))


def _in_chunks(fn: Any, x: torch.Tensor, event_dims: int, frame_samples: int) -> torch.Tensor:
    """``fn`` over the clips of ``x`` (its last ``event_dims`` dimensions; the others are
    flattened), :func:`_clips_per_pass` clips at a time, gathered into one contiguous output."""
    lead, event = x.shape[: x.dim() - event_dims], x.shape[x.dim() - event_dims :]
    clips = x.reshape(-1, *event)
    step = _clips_per_pass(clips.shape[0], frame_samples, x.device)
    if step >= clips.shape[0]:
        out = fn(clips)
    else:
        first = fn(clips[:step])
        out = empty((clips.shape[0], *first.shape[1:]), first)
        out[:step] = first
        for i in range(step, clips.shape[0], step):
            out[i : i + step] = fn(clips[i : i + step])
    return out.reshape(*lead, *out.shape[1:])


def _circular_frames(x: torch.Tensor, size: int, hop: int) -> torch.Tensor:
    """The frames of :func:`frame_circular` as overlapping views of one circularly padded copy."""
    n, half = x.shape[-1], size // 2
    padded = torch.cat([x[..., n - half :], x, x[..., : half - hop]], dim=-1)
    return padded.unfold(-1, size, hop)


def _check_circular(n: int, size: int, hop: int) -> None:
    if n % hop or size % hop or (size // hop) % 2 or size > n:
        raise ValueError(f"cannot frame {n} samples with frames of {size} at hop {hop}")


def frame_circular(x: torch.Tensor, size: int, hop: int) -> torch.Tensor:
    """``(…, N)`` → ``(…, N/hop, size)``: frame t holds samples ``t·hop − size/2 + m`` (mod N).

    ``size`` must be an even multiple of ``hop`` and ``hop`` must divide N. Returns a new
    tensor; the transforms here window the overlapping views of :func:`_circular_frames`
    instead, which saves a copy.
    """
    _check_circular(x.shape[-1], size, hop)
    return _circular_frames(x, size, hop).contiguous()


def overlap_add_circular(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Adjoint of :func:`frame_circular`: ``(…, T, size)`` → ``(…, T·hop)`` by overlap-add."""
    t, size = frames.shape[-2], frames.shape[-1]
    r = size // hop
    chunks = frames.reshape(*frames.shape[:-1], r, hop)
    # hop-sized piece j of frame t lands on block t + j − r/2 (mod T)
    out = chunks[..., r // 2, :].clone(memory_format=torch.contiguous_format)
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


def _windowed_rfft(x: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """``(…, N)`` → ``(…, T, L/2 + 1)``: the orthonormal rfft of the frames times ``√2·win``.

    Bins 1 … L/2 − 1 are those of :func:`stft`; DC and Nyquist are √2 times too large.
    """
    return torch.fft.rfft(
        _circular_frames(x, win.shape[-1], hop) * (win * SQRT2), dim=-1, norm="ortho"
    )


def _windowed_irfft(spec: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """Adjoint of :func:`_windowed_rfft` up to the DC and Nyquist scaling, for a contiguous
    ``(…, T, L/2 + 1)`` spectrum whose DC and Nyquist bins hold √2 times the real parts."""
    frames = torch.fft.irfft(spec, n=win.shape[-1], dim=-1, norm="ortho") * (win / SQRT2)
    return overlap_add_circular(frames, hop)


def stft(x: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """Circular STFT ``(…, N)`` → complex ``(…, L/2 + 1, N/hop)`` (frequency, time).

    ``win`` must be tight at ``hop`` (see :func:`tight_window`); then the transform is a
    Parseval frame and :func:`istft` is both its adjoint and its inverse. Frame t is
    centred on sample t·hop; bins are scaled as in :func:`rfft_isometric`.
    """
    _check_circular(x.shape[-1], win.shape[-1], hop)
    spec = _windowed_rfft(x, win, hop)
    spec[..., 0] /= SQRT2
    spec[..., -1] /= SQRT2
    return spec.transpose(-1, -2)


def istft(spec: torch.Tensor, win: torch.Tensor, hop: int) -> torch.Tensor:
    """Adjoint of :func:`stft`: complex ``(…, L/2 + 1, T)`` → real ``(…, T·hop)``."""
    rows = spec.transpose(-1, -2).clone(memory_format=torch.contiguous_format)
    rows[..., 0] = spec[..., 0, :].real * SQRT2
    rows[..., -1] = spec[..., -1, :].real * SQRT2
    return _windowed_irfft(rows, win, hop)


# ---------------------------------------------------------------------------------------------
# complex STFT and magnitude / instantaneous frequency


class STFT(Stage):
    """Complex circular STFT as real and imaginary planes: ``(B, Ch, 2, L/2, N/hop)``.

    The window is normalised so that the transform is a Parseval frame (redundancy L/hop)
    and the inverse — windowed overlap-add — is exact. Row 0 packs the real DC bin and the
    real Nyquist bin as ``DC + i·Nyquist``; row k ≥ 1 is bin k (k·sr/L Hz).
    """

    plane_names = ("real", "imag")
    family = "stft"

    def __init__(self, n_fft: int, hop: int, window_name: str = "hann") -> None:
        super().__init__()
        self.n_fft, self.hop, self.window_name = int(n_fft), int(hop), window_name
        w = tight_window(window(window_name, self.n_fft), self.hop)
        self.register_buffer("win", torch.tensor(w, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio ``(…, N)`` → planes (real, imaginary) ``(…, 2, L/2, N/hop)``."""
        n, half = x.shape[-1], self.n_fft // 2
        _check_circular(n, self.n_fft, self.hop)
        lead = x.shape[:-1]
        clips = x.reshape(-1, n)
        out = empty((clips.shape[0], 2, half, n // self.hop), x)
        step = _clips_per_pass(clips.shape[0], n // self.hop * self.n_fft, x.device)
        for i in range(0, clips.shape[0], step):
            # one strided copy from the (frame, bin, re/im) spectrum to (re/im, bin, frame)
            # planes; the DC and Nyquist bins (√2 too large) share row 0
            spec = torch.view_as_real(_windowed_rfft(clips[i : i + step], self.win, self.hop))
            planes = out[i : i + step]
            planes[:, :, 1:, :] = spec[:, :, 1:half, :].permute(0, 3, 2, 1)
            planes[:, 0, 0, :] = spec[:, :, 0, 0] / SQRT2
            planes[:, 1, 0, :] = spec[:, :, half, 0] / SQRT2
        return out.reshape(*lead, 2, half, n // self.hop)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes ``(…, 2, L/2, T)`` → audio ``(…, T·hop)`` by windowed overlap-add."""
        half, t = self.n_fft // 2, y.shape[-1]
        n = t * self.hop
        lead = y.shape[:-3]
        planes = y.reshape(-1, 2, half, t)
        out = y.new_empty(planes.shape[0], n)
        step = _clips_per_pass(planes.shape[0], t * self.n_fft, y.device)
        for i in range(0, planes.shape[0], step):
            p = planes[i : i + step]
            # the (frame, bin, re/im) spectrum in one strided copy, DC and Nyquist ×√2
            spec = y.new_empty(p.shape[0], t, half + 1, 2)
            spec[:, :, 1:half, :] = p[:, :, 1:, :].permute(0, 3, 2, 1)
            spec[:, :, 0, 0] = p[:, 0, 0, :] * SQRT2
            spec[:, :, half, 0] = p[:, 1, 0, :] * SQRT2
            spec[:, :, 0, 1] = 0.0
            spec[:, :, half, 1] = 0.0
            out[i : i + step] = _windowed_irfft(torch.view_as_complex(spec), self.win, self.hop)
        return out.reshape(*lead, n)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "STFT", "n_fft": self.n_fft, "hop": self.hop, "window": self.window_name}


def phase_steps(phase: torch.Tensor) -> torch.Tensor:
    """Instantaneous frequency / π of phases ``(…, T)`` in radians: the time difference,
    wrapped to [−π, π), divided by π (column 0 holds the phase itself).

    The difference and the wrap are float64 (the float32 difference and wrap would add
    2 ulp to the IF, which decoding integrates over every frame); the wrap subtracts
    2π·⌊(step + π)/2π⌋, which is ``torch.remainder(step + π, 2π) − π`` at a fifth of the cost.
    """
    p = phase.double()
    step = torch.diff(p, dim=-1, prepend=torch.zeros_like(p[..., :1]))
    # in place on fresh tensors: none of these operations needs its output for derivatives
    turns = torch.add(step, math.pi).div_(2.0 * math.pi).floor_()
    return turns.mul_(-2.0 * math.pi).add_(step).div_(math.pi).to(phase.dtype)


def integrated_phase(inst: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`phase_steps`: IF / π ``(…, T)`` → phases in [−π, π) radians.

    The running sum is float64, in units of π, and wrapped to [−1, 1) exactly (the sum
    minus an even integer) before it is rounded to ``inst``'s dtype, so the sines and
    cosines of the phase need no float64.
    """
    turns = torch.cumsum(inst.double(), dim=-1)
    wrapped = torch.add(turns, 1.0).mul_(0.5).floor_().mul_(-2.0).add_(turns)
    return wrapped.mul_(math.pi).to(inst.dtype)


class MagIF(Stage):
    """GANSynth-style log-magnitude and instantaneous frequency: ``(B, Ch, 2, L/2, N/hop)``.

    Plane 0 is the log-magnitude of the packed complex STFT (see :class:`STFT`), scaled so
    that 0 → −1 and the fitted peak → +1: ``2·ln(1 + |X|/a)/ln(1 + peak/a) − 1`` with
    ``a = peak·10^(−range_db/20)`` (logarithmic over the top ``range_db``, linear below). Plane 1 is the instantaneous frequency: the time
    difference of the unwrapped phase, wrapped to [−π, π) and divided by π (column 0 holds
    the phase itself). Decoding integrates the IF by a cumulative sum (float64) and
    inverts the STFT: exact in float, but nonlinear, and an IF error at one frame shifts
    the phase of every later frame of that bin.
    """

    linear = False
    plane_names = ("magnitude", "if")
    phase_planes = ("if",)
    family = "stft"
    exact_errors = "grainbench.analysis.magif_errors:MagIFErrors"

    def __init__(
        self, n_fft: int, hop: int, window_name: str = "hann", range_db: float = 80.0
    ) -> None:
        super().__init__()
        self.stft = STFT(n_fft, hop, window_name)
        self.range_db = float(range_db)
        self.register_buffer("peak", torch.tensor(1.0))

    def _floor(self) -> torch.Tensor:
        return self.peak * 10.0 ** (-self.range_db / 20.0)

    def _magnitude_phase(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        planes = self.stft(x)
        return magnitude_phase(planes[..., 0, :, :], planes[..., 1, :, :])

    def fit(self, x: torch.Tensor) -> None:
        """Set the peak magnitude from training audio."""
        peak = float(self._magnitude_phase(x)[0].max())
        self.peak.fill_(peak if peak > 0 else 1.0)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        mag, phase = self._magnitude_phase(x)
        a = self._floor()
        logmag = torch.log1p(mag / a).mul_(2.0 / torch.log1p(self.peak / a)).sub_(1.0)
        return torch.stack([logmag, phase_steps(phase)], dim=-3)

    def _decode(self, y: torch.Tensor) -> torch.Tensor:
        a = self._floor()
        mag = a * torch.expm1((y[..., 0, :, :] + 1.0) * 0.5 * torch.log1p(self.peak / a))
        phase = integrated_phase(y[..., 1, :, :])
        return self.stft.inverse(torch.stack([mag * torch.cos(phase), mag * torch.sin(phase)], -3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio → (normalised log-magnitude, IF/π), a few clips at a time on the CPU."""
        return _in_chunks(self._encode, x, 1, x.shape[-1] // self.stft.hop * self.stft.n_fft)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """(log-magnitude, IF/π) → audio: phase by cumulative sum, then the inverse STFT."""
        return _in_chunks(self._decode, y, 3, y.shape[-1] * self.stft.n_fft)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        d = self.stft.describe()
        d.update(stage="MagIF", range_db=self.range_db, peak=float(self.peak))
        return d


# ---------------------------------------------------------------------------------------------
# frequency scales and filterbanks


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: 2595·log10(1 + f/700)."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def triangular_filterbank(
    n_bins: int, n_bands: int, sample_rate: int, top_hz: float | None = None
) -> np.ndarray:
    """Mel-spaced triangles over ``n_bins`` linear bins: ``(n_bands, n_bins)``.

    Bins are equally spaced from 0 Hz to ``top_hz`` (default Nyquist), band centres equally
    spaced in mel over the same span. Each triangle reaches to its neighbours' centres,
    but never narrower than one bin on either side, so that no band is empty where bands
    are denser than bins (there it interpolates between the two nearest bins). Rows sum
    to 1: a band value is a weighted mean of bin values.
    """
    top = sample_rate / 2.0 if top_hz is None else float(top_hz)
    centres = mel_to_hz(np.linspace(0.0, hz_to_mel(top), n_bands)) / top * (n_bins - 1)
    gaps = np.diff(centres)
    lower = np.maximum(np.concatenate([[gaps[0]], gaps]), 1.0)
    upper = np.maximum(np.concatenate([gaps, [gaps[-1]]]), 1.0)
    bins = np.arange(n_bins, dtype=np.float64)
    d = bins[None, :] - centres[:, None]
    rise = 1.0 + d / lower[:, None]
    fall = 1.0 - d / upper[:, None]
    tri = np.clip(np.where(d < 0, rise, fall), 0.0, None)
    return tri / tri.sum(axis=1, keepdims=True)


class FreqWarp(Stage):
    """Resample the frequency rows of ``(B, Ch, P, F, T)`` with a fixed matrix ``(G, F)``.

    Forward multiplies by the matrix, inverse by its pseudo-inverse (singular values below
    ``rcond`` times the largest are dropped). Lossy unless the matrix has full column
    rank; ``lossless`` is set from the numerical rank.
    """

    def __init__(self, matrix: np.ndarray, name: str = "mel", rcond: float = 1e-3) -> None:
        super().__init__()
        self.name = name
        pinv = np.linalg.pinv(matrix, rcond=rcond)
        s = np.linalg.svd(matrix, compute_uv=False)
        self.rank = int((s > rcond * s[0]).sum())
        self.lossless = self.rank == matrix.shape[1]
        self.register_buffer("matrix", torch.tensor(matrix, dtype=torch.float32), persistent=False)
        self.register_buffer("pinv", torch.tensor(pinv, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows F → G."""
        return torch.einsum("gf,...ft->...gt", self.matrix, x)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Rows G → F by the pseudo-inverse."""
        return torch.einsum("fg,...gt->...ft", self.pinv, y)

    def carry_parts(self, masks: torch.Tensor) -> torch.Tensor:
        """Row g of a plane depends on the rows f of that plane where ``matrix[g, f] ≠ 0``."""
        weights = (self.matrix != 0).to(torch.float32)
        return torch.einsum("gf,...ft->...gt", weights, masks.to(torch.float32)) > 0

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        g, f = self.matrix.shape
        return {"stage": "FreqWarp", "scale": self.name, "rows": g, "bins": f, "rank": self.rank}


# ---------------------------------------------------------------------------------------------
# MDCT


class MDCT(Stage):
    """Circular MDCT (modulated lapped transform): ``(B, Ch, 1, M, N/M)``, critically sampled.

    Frame t covers samples ``(t−1)·M … (t+1)·M − 1`` (mod N), windowed by a Princen–Bradley
    window w (sine or KBD) of 2M samples, and gives M coefficients

        X[k, t] = √(2/M) Σₙ w[n]·x[(t−1)M + n]·cos(π/M·(n + ½ + M/2)·(k + ½)).

    With the periodic extension the N/M frames give exactly N coefficients, the basis is
    orthonormal, and the inverse (windowed IMDCT with overlap-add) cancels the time-domain
    aliasing exactly, at the clip's ends too.
    """

    def __init__(self, m: int, window_name: str = "sine") -> None:
        super().__init__()
        if window_name not in ("sine", "kbd"):
            raise ValueError("an MDCT window must be sine or kbd")
        self.m, self.window_name = int(m), window_name
        w = tight_window(window(window_name, 2 * self.m), self.m)
        n = torch.arange(2 * self.m, dtype=torch.float64)
        k = torch.arange(self.m, dtype=torch.float64)
        n0 = 0.5 + self.m / 2.0
        self.register_buffer("win", torch.tensor(w, dtype=torch.float32), persistent=False)
        pre = torch.polar(torch.ones_like(n), -math.pi * n / (2 * self.m))
        post = torch.polar(torch.ones_like(k), -math.pi * n0 * (k + 0.5) / self.m)
        ipre = torch.polar(torch.ones_like(k), math.pi * n0 * k / self.m)
        ipost = torch.polar(torch.ones_like(n), math.pi * (n + n0) / (2 * self.m))
        for name, value in (("pre", pre), ("post", post), ("ipre", ipre), ("ipost", ipost)):
            self.register_buffer(name, value.to(torch.complex64), persistent=False)

    def _analysis(self, x: torch.Tensor) -> torch.Tensor:
        """``(…, N)`` → ``(…, M, N/M)``."""
        frames = _circular_frames(x, 2 * self.m, self.m) * self.win
        spec = torch.fft.fft(frames * self.pre, dim=-1)[..., : self.m]
        coeffs = (spec * self.post).real * math.sqrt(2.0 / self.m)
        return coeffs.transpose(-1, -2)

    def _synthesis(self, coeffs: torch.Tensor) -> torch.Tensor:
        """``(…, M, T)`` → ``(…, M·T)``."""
        spec = torch.fft.ifft(coeffs.transpose(-1, -2) * self.ipre, n=2 * self.m, dim=-1)
        frames = (spec * self.ipost).real * (2 * self.m * math.sqrt(2.0 / self.m))
        return overlap_add_circular(frames * self.win, self.m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio ``(…, N)`` → MDCT coefficients ``(…, 1, M, N/M)`` (frequency rows, frame
        columns)."""
        n = x.shape[-1]
        _check_circular(n, 2 * self.m, self.m)
        return _in_chunks(self._analysis, x, 1, 2 * n).unsqueeze(-3)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Coefficients → audio (IMDCT, window, overlap-add)."""
        return _in_chunks(self._synthesis, y.squeeze(-3), 2, 2 * y.shape[-2] * y.shape[-1])

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "MDCT", "m": self.m, "window": self.window_name}


# ---------------------------------------------------------------------------------------------
# constant-Q (non-stationary Gabor) transform


def cq_centres(
    n_bands: int, fmin: float, nyquist: float, spacing_hz: float
) -> tuple[np.ndarray, float]:
    """Band centres (Hz) of :class:`CQT` and the resulting bins per octave.

    Centres 1 … n_bands − 1 are equally spaced on z(f) = B·log2(f/fmin) + (f − fmin)/s
    (s = ``spacing_hz``) from ``fmin`` to Nyquist; centre 0 is 0 Hz. B is solved so that
    the last centre is Nyquist. Below about B·s/ln 2 Hz the spacing is constant-Q (B bins
    an octave); above, it tends to s Hz, which bounds every band's width.
    """
    octaves = math.log2(nyquist / fmin)
    bpo = (n_bands - 2 - (nyquist - fmin) / spacing_hz) / octaves
    if bpo <= 0:
        raise ValueError(f"{n_bands} bands cannot span {fmin} Hz to {nyquist} Hz at this width")
    targets = np.arange(n_bands - 1, dtype=np.float64)
    lo, hi = np.full_like(targets, fmin), np.full_like(targets, nyquist)
    for _ in range(200):  # bisection on the increasing map z
        mid = 0.5 * (lo + hi)
        z = bpo * np.log2(mid / fmin) + (mid - fmin) / spacing_hz
        below = z < targets
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    centres = np.concatenate([[0.0], 0.5 * (lo + hi)])
    centres[1], centres[-1] = fmin, nyquist
    return centres, bpo


def cq_windows(centres_bins: np.ndarray, n_bins: int) -> np.ndarray:
    """Frequency windows ``(n_bands, n_bins)`` on FFT bins, a smooth partition of unity in power.

    Band k rises from centre k−1 to centre k as sin(π/2·sin²(πu/2)) and falls to centre k+1
    as cos(π/2·sin²(πu/2)) (u ∈ [0, 1] the position between centres), so Σₖ gₖ² = 1 at
    every bin. Band 0 is 1 at DC, the last band 1 at Nyquist.
    """
    j = np.arange(n_bins, dtype=np.float64)
    n_bands = len(centres_bins)
    g = np.zeros((n_bands, n_bins))
    for k in range(n_bands):
        c = centres_bins[k]
        if k > 0:
            lo = centres_bins[k - 1]
            u = (j - lo) / (c - lo)
            sel = (j > lo) & (j <= c)
            g[k, sel] = np.sin(0.5 * np.pi * np.sin(0.5 * np.pi * u[sel]) ** 2)
        if k < n_bands - 1:
            hi = centres_bins[k + 1]
            u = (j - c) / (hi - c)
            sel = (j >= c) & (j < hi)
            g[k, sel] = np.cos(0.5 * np.pi * np.sin(0.5 * np.pi * u[sel]) ** 2)
    return g


class CQT(Stage):
    """Constant-Q non-stationary Gabor transform, rasterised: ``(B, Ch, 2, F, T)``.

    The clip's spectrum (orthonormal real FFT, interior bins ×√2) is cut into F bands by
    the windows of :func:`cq_windows` on the centres of :func:`cq_centres`; each band is
    shifted to baseband at its centre bin and brought back to time by an orthonormal
    inverse FFT of T points, so every band has T complex samples (planes: real, imaginary).
    Every band is at most T bins wide ("painless" case) and Σ gₖ² = 1, so the transform is
    a Parseval frame of redundancy 2FT/N and the inverse (FFT of each band, window, sum,
    inverse real FFT) is exact. Bands are constant-Q (B per octave, reported by
    ``describe``) from ``fmin`` up to a few kHz and tend to a constant width above, so
    that the highest band still fits in T bins.
    """

    plane_names = ("real", "imag")

    def __init__(
        self, n_samples: int, sample_rate: int, n_bands: int, n_slots: int, fmin: float = 32.7
    ) -> None:
        super().__init__()
        self.n_samples, self.sample_rate = int(n_samples), int(sample_rate)
        self.n_bands, self.n_slots, self.fmin = int(n_bands), int(n_slots), float(fmin)
        n_bins = self.n_samples // 2 + 1
        bin_hz = self.sample_rate / self.n_samples
        spacing = (self.n_slots // 2 - 1) * bin_hz
        centres, self.bins_per_octave = cq_centres(
            self.n_bands, self.fmin, self.sample_rate / 2.0, spacing
        )
        self.centres_hz = centres
        centre_bins = centres / bin_hz
        g = cq_windows(centre_bins, n_bins)
        base = np.rint(centre_bins).astype(np.int64)
        offsets = (np.arange(self.n_slots) + self.n_slots // 2) % self.n_slots - self.n_slots // 2
        idx = base[:, None] + offsets[None, :]
        valid = (idx >= 0) & (idx < n_bins)
        idx = np.where(valid, idx, 0)
        weights = np.where(valid, g[np.arange(self.n_bands)[:, None], idx], 0.0)
        if not np.allclose(weights.sum(), g.sum()):
            raise ValueError("a constant-Q band is wider than the number of time slots")
        self.register_buffer("idx", torch.tensor(idx), persistent=False)
        self.register_buffer(
            "weights", torch.tensor(weights, dtype=torch.float32), persistent=False
        )

    def frequency_windows(self) -> np.ndarray:
        """The band windows on the clip's FFT bins, ``(F, N/2 + 1)`` float64."""
        bin_hz = self.sample_rate / self.n_samples
        return cq_windows(self.centres_hz / bin_hz, self.n_samples // 2 + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio → (real, imaginary) planes of the band signals."""
        if x.shape[-1] != self.n_samples:
            raise ValueError(f"this CQT is built for {self.n_samples} samples")
        spec = rfft_isometric(x)
        bands = spec[..., self.idx] * self.weights
        coeffs = torch.fft.ifft(bands, dim=-1, norm="ortho")
        return torch.stack([coeffs.real, coeffs.imag], dim=2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Planes → audio (the adjoint, which is the inverse of a Parseval frame)."""
        bands = torch.fft.fft(torch.complex(y[:, :, 0], y[:, :, 1]), dim=-1, norm="ortho")
        bands = bands * self.weights
        lead = bands.shape[:-2]
        spec = torch.zeros(*lead, self.n_samples // 2 + 1, dtype=bands.dtype, device=y.device)
        spec = spec.index_add(-1, self.idx.reshape(-1), bands.reshape(*lead, -1))
        return irfft_isometric(spec, self.n_samples)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {
            "stage": "CQT",
            "bands": self.n_bands,
            "slots": self.n_slots,
            "fmin": self.fmin,
            "bins_per_octave": round(self.bins_per_octave, 3),
        }


# ---------------------------------------------------------------------------------------------
# log-mel with Griffin-Lim, and MFCC


class LogMel(Stage):
    """Log-mel power spectrogram ``(B, Ch, 1, n_mels, N/hop)``, inverted by Griffin-Lim (lossy).

    Power |X|² of the circular STFT (periodic Hann, Parseval-normalised), averaged by the
    mel triangles of :func:`triangular_filterbank`, in dB, mapped so that the fitted peak
    is +1 and ``range_db`` below it is −1 (quieter values are clipped to −1). Decoding:
    dB → mel power → linear bins (see :meth:`magnitude`) → magnitude → ``n_iter``
    iterations of fast Griffin-Lim (momentum 0.99) from a fixed random phase drawn from
    ``seed``. Phase is lost: expect the waveform SNR near 0 dB;
    the floor is in the magnitude (spectral convergence).
    """

    linear = False
    lossless = False

    def __init__(
        self,
        n_fft: int,
        hop: int,
        n_mels: int,
        sample_rate: int,
        *,
        range_db: float = 80.0,
        n_iter: int = 32,
        mel_iter: int = 50,
        momentum: float = 0.99,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.n_fft, self.hop, self.n_mels = int(n_fft), int(hop), int(n_mels)
        self.mel_iter = int(mel_iter)
        self.range_db, self.n_iter, self.momentum, self.seed = (
            float(range_db),
            int(n_iter),
            float(momentum),
            int(seed),
        )
        w = tight_window(window("hann", self.n_fft), self.hop)
        bank = triangular_filterbank(self.n_fft // 2 + 1, self.n_mels, sample_rate)
        self.register_buffer("win", torch.tensor(w, dtype=torch.float32), persistent=False)
        self.register_buffer("bank", torch.tensor(bank, dtype=torch.float32), persistent=False)
        spread = torch.tensor(bank / bank.sum(axis=0, keepdims=True), dtype=torch.float32)
        self.register_buffer("spread", spread, persistent=False)
        self.register_buffer("peak_db", torch.tensor(0.0))

    def _mel_db(self, x: torch.Tensor) -> torch.Tensor:
        power = stft(x, self.win, self.hop).abs() ** 2
        mel = torch.einsum("mf,...ft->...mt", self.bank, power)
        return 10.0 * torch.log10(mel.clamp_min(1e-30))

    def fit(self, x: torch.Tensor) -> None:
        """Set the peak level (dB) from training audio."""
        self.peak_db.fill_(float(self._mel_db(x).max()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Audio → normalised log-mel."""
        y = (self._mel_db(x) - self.peak_db) / self.range_db * 2.0 + 1.0
        return y.clamp_min(-1.0).unsqueeze(2)

    def magnitude(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``(B, Ch, 1, n_mels, T)`` → linear STFT magnitude estimate.

        The mel power is spread back onto the bins (each bin the weighted mean of the bands
        that cover it), then refined by ``mel_iter`` multiplicative (Richardson–Lucy)
        updates, which keep the power non-negative and move it towards one whose mel
        bands match; the filterbank's pseudo-inverse would be exact for exact mel values
        but amplifies any image error without bound (the bank is rank-deficient).
        """
        db = (y.squeeze(2) - 1.0) * 0.5 * self.range_db + self.peak_db
        mel = 10.0 ** (db / 10.0)
        power = torch.einsum("mf,...mt->...ft", self.spread, mel)
        norm = self.bank.sum(dim=0).unsqueeze(-1)
        for _ in range(self.mel_iter):
            ratio = mel / torch.einsum("mf,...ft->...mt", self.bank, power).clamp_min(1e-30)
            power = power * torch.einsum("mf,...mt->...ft", self.bank, ratio) / norm
        return power.sqrt()

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel → audio by fast Griffin-Lim."""
        mag = self.magnitude(y)
        gen = torch.Generator().manual_seed(self.seed)
        phase0 = torch.rand(mag.shape[-2:], generator=gen, dtype=torch.float64) * 2 * math.pi
        unit = torch.polar(torch.ones_like(phase0), phase0).to(torch.complex64).to(y.device)
        spec = mag * unit
        prev = spec
        for _ in range(self.n_iter):
            proj = stft(istft(spec, self.win, self.hop), self.win, self.hop)
            cur = mag * proj / proj.abs().clamp_min(1e-12)
            spec = cur + self.momentum * (cur - prev)
            prev = cur
        return istft(prev, self.win, self.hop)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {
            "stage": "LogMel",
            "n_fft": self.n_fft,
            "hop": self.hop,
            "n_mels": self.n_mels,
            "range_db": self.range_db,
            "mel_inversion_iterations": self.mel_iter,
            "griffin_lim_iterations": self.n_iter,
            "momentum": self.momentum,
            "seed": self.seed,
            "peak_db": float(self.peak_db),
        }


class MFCC(Stage):
    """Orthonormal DCT-II along the frequency rows of ``(B, Ch, P, F, T)``, every row kept.

    Coefficient 0 is divided by √F, its bound when the rows are in [−1, 1] (as a
    normalised log-mel is); the others share one scale, their largest absolute value in
    the fitted data (one scale for all: per-coefficient peaks of a few training clips
    under-estimate unseen clips'). Exact and linear by itself; after :class:`LogMel` the
    representation is lossy because of the mel step.
    """

    def __init__(self, n_coeffs: int) -> None:
        super().__init__()
        self.n_coeffs = int(n_coeffs)
        scale = torch.ones(self.n_coeffs, 1)
        scale[0] = math.sqrt(self.n_coeffs)
        self.register_buffer("scale", scale)

    def _cepstrum(self, x: torch.Tensor) -> torch.Tensor:
        return dct2_ortho(x.transpose(-1, -2)).transpose(-1, -2)

    def fit(self, x: torch.Tensor) -> None:
        """Set the shared scale of coefficients 1… to their largest absolute value in ``x``."""
        peak = float(self._cepstrum(x)[..., 1:, :].abs().max())
        self.scale[1:] = peak if peak > 0 else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows → scaled cepstral coefficients."""
        return self._cepstrum(x) / self.scale

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Scaled cepstral coefficients → rows."""
        return idct2_ortho((y * self.scale).transpose(-1, -2)).transpose(-1, -2)

    def describe(self) -> dict[str, Any]:
        """Parameters for results."""
        return {"stage": "MFCC", "coefficients": self.n_coeffs}
