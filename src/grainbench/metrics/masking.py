"""A small, documented simultaneous-masking model on roex auditory filters and 20 ms frames.

It answers "would this error be heard next to this signal?" with a noise-to-mask ratio
(NMR, dB). Every constant is below, with where it comes from; ``docs/metrics/masking.md``
has the long form and the measured invariances.

1. **Frames.** Periodic Hann frames of ``L`` samples, the even count nearest to
   :data:`FRAME_SECONDS` (20 ms: 320 at 16 kHz, 882 at 44.1 kHz), so a frame lasts the same
   time at every rate. ``M = ⌊4n/L⌋ + 1`` frame centres are spread evenly from the first
   sample to the end of the clip (``c_m = m·n/(M − 1)``, a hop of about ``L/4`` = 5 ms,
   :data:`HOPS_PER_FRAME`), each frame starting at ``round(c_m − L/2)``.
2. **Edges.** The clip is extended by half-sample symmetric reflection (``x[−1−j] = x[j]``,
   ``x[n+j] = x[n−1−j]``), never by zeros: a frame that reaches past an edge sees the
   signal's own level there, not silence and not the splatter of a step. Such a frame's
   power is weighted by ``ρ_m``, the share of its window energy (``Σw²``) inside the clip,
   and its mask is computed from the unweighted (reflected) power. So the mask is the
   masker's local level, while an error heard in a partly outside frame counts with the
   part of it that exists: a burst at the very start is judged as it is in the middle (it
   and its mirror image, times ``ρ = ½``), a steady error no louder than in the frames
   inside (its ``ρ``-weighted copy is smaller). Where an error and its mirror image overlap
   they interfere: a click on the first or last two samples is low-passed by its neighbouring
   image (at 16 kHz it can read up to 13 dB low when its worst filter is near Nyquist).
3. **Power.** Each frame is zero-padded to ``2L`` (:data:`FFT_PADDING`; bins every 25 Hz at
   every rate) and its one-sided power spectrum normalised so that it sums to the frame's
   windowed mean square ``Σ(w·x)²/Σw²`` (Parseval): a sinusoid of amplitude ``A`` has power
   ``A²/2`` whatever the rate and frame length.
4. **Filters.** Rounded-exponential roex(p) filters (Glasberg & Moore 1990,
   :func:`grainbench.metrics.erb.roex_weight`) every 1/:data:`FILTERS_PER_ERB` ERB of
   ERB-rate from 1/3 ERB to Nyquist, evaluated on the bins. Each filter is scaled so that
   a sinusoid at its centre reads its own power: where the filter is narrower than the
   20 ms window's spectral main lobe (below ≈ 500 Hz), the analysis is the window's, not the
   ear's, and this calibration keeps tones at the level the threshold in quiet expects.
   Band energies therefore vary smoothly with frequency (no band edges).
5. **Spreading.** A masker's filter energy ``E_j`` spreads to filter ``i`` with a triangular
   (in dB) function of ``Δ = z_i − z_j`` ERB: ``−`` :data:`SLOPE_ABOVE_DB` ``·Δ`` above the
   masker (upward spread of masking) and ``−`` :data:`SLOPE_BELOW_DB` ``·|Δ|`` below it, the
   classic 10 and 27 dB/Bark slopes (Schroeder et al. 1979) at ≈ 1.5 ERB per Bark. Each
   maskee's weights are normalised to sum to one (as the spreading-function normalisation
   of ISO/IEC 11172-3 psychoacoustic model 2), so the result does not depend on the filter
   spacing and a flat excitation masks at its own level.
6. **Offset.** The spread energy is lowered by :data:`MASK_OFFSET_DB` (10 dB, between the
   ≈ 5.5 dB of noise maskers and the ≈ 14.5 dB of tonal maskers in Johnston 1988).
7. **Threshold in quiet.** Terhardt's (1979) absolute threshold, in dB SPL at the filter's
   centre frequency (not below 20 Hz), is added in power; a full-scale sinusoid
   (amplitude 1, power 1/2) is taken to be :data:`FULL_SCALE_SPL_DB` (96 dB SPL, the usual
   16-bit calibration).
8. **NMR.** Per frame and filter, noise energy / mask; a frame's NMR is its largest ratio;
   the reported audibility is the worst frame's, in dB: > 0 dB means the model expects the
   error to be heard in that frame and filter. No temporal (forward/backward) masking is
   modelled, nor level-dependent filter shapes, nor binaural effects.

Measured (tests/test_masking.py, a steady C3 masker): a probe tone moved by 10 Hz changes
its NMR by at most 0.7 dB (200 Hz–1 kHz; 0.2 dB at 3–3.7 kHz); the same clip and error at 16
and 44.1 kHz agree within 0.05 dB; a 5 ms burst in the first or last 10 ms is judged within
1 dB of the range of the same burst in the middle, which varies by 1.4 dB with its position
against the frames.

The closed form :meth:`MaskingModel.cosine_analysis` gives the band energies of cosine atoms
(whole-clip DCT and FFT pixels) without synthesising them, equal to the sampled analysis to
float rounding (computed in float64, stored in float32).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.errors import UserError
from grainbench.metrics.erb import erb_filter_centres_hz, hz_to_erb_rate, roex_weight

FRAME_SECONDS = 0.020
HOPS_PER_FRAME = 4
FFT_PADDING = 2
FILTERS_PER_ERB = 3
SLOPE_ABOVE_DB = 7.0
SLOPE_BELOW_DB = 18.0
MASK_OFFSET_DB = 10.0
FULL_SCALE_SPL_DB = 96.0
ATH_MIN_HZ = 20.0

_FRAME_BLOCK = 16
"""Frames combined at once in float64 by :meth:`MaskingModel.cosine_analysis`."""

_HANN = ((0, 0.5), (-1, -0.25), (1, -0.25))
"""The periodic Hann window as exponentials: ``w[j] = Σ c·e^(−2πi·s·j/L)`` over ``(s, c)``."""


def frame_length(sample_rate: int, frame_seconds: float = FRAME_SECONDS) -> int:
    """Analysis frame length (samples): the even count nearest to ``frame_seconds·sr``."""
    return max(2, 2 * int(math.floor(frame_seconds * sample_rate / 2.0 + 0.5)))


def frame_starts(n_samples: int, length: int) -> np.ndarray:
    """First sample of each frame ``(M,)``: centres ``m·n/I``, ``I = ⌊4n/L⌋`` hops.

    The first frame is centred on sample 0 and the last on ``n`` (half outside the clip); a
    hop is at least ``L/4`` (so only the first two and the last two frames reach past an edge)
    and at most ``L/4·(1 + 1/I)``.
    """
    if n_samples < length:
        raise UserError(
            f"the masking model needs clips of at least one {length}-sample frame, "
            f"got {n_samples} samples"
        )
    intervals = HOPS_PER_FRAME * n_samples // length
    m = np.arange(intervals + 1, dtype=np.int64)
    # floor(m·n/I − L/2 + 1/2) in integers
    return (2 * m * n_samples - intervals * (length - 1)) // (2 * intervals)


def absolute_threshold_db_spl(freq_hz: np.ndarray) -> np.ndarray:
    """Terhardt's threshold in quiet (dB SPL) at ``freq_hz`` (clamped to at least 20 Hz).

    ``3.64·f^−0.8 − 6.5·exp(−0.6·(f − 3.3)²) + 10⁻³·f⁴`` with ``f`` in kHz.
    """
    f = np.maximum(np.asarray(freq_hz, dtype=np.float64), ATH_MIN_HZ) / 1000.0
    return 3.64 * f**-0.8 - 6.5 * np.exp(-0.6 * (f - 3.3) ** 2) + 1e-3 * f**4


def spl_to_power(level_db_spl: np.ndarray) -> np.ndarray:
    """Signal power (mean square, full scale = amplitude 1) of a level in dB SPL."""
    return 0.5 * 10.0 ** ((np.asarray(level_db_spl, dtype=np.float64) - FULL_SCALE_SPL_DB) / 10.0)


def spreading_matrix(centres_erb: np.ndarray) -> torch.Tensor:
    """``S[j, i]``: the share of masker filter ``j``'s energy that masks filter ``i``.

    ``10^(−SLOPE_ABOVE·Δ/10)`` for ``Δ = z_i − z_j ≥ 0`` ERB, ``10^(SLOPE_BELOW·Δ/10)``
    below; each column (maskee) normalised to sum to one.
    """
    z = np.asarray(centres_erb, dtype=np.float64)
    d = z[None, :] - z[:, None]  # maskee − masker
    att_db = np.where(d >= 0, -SLOPE_ABOVE_DB * d, SLOPE_BELOW_DB * d)
    spread = 10.0 ** (att_db / 10.0)
    return torch.from_numpy(spread / spread.sum(0, keepdims=True))


def _hann_amplitude(turns: torch.Tensor, turn: float, size: int) -> torch.Tensor:
    """``D(ν)`` with ``Σ_{j<L} w[j]·e^(−iνj) = D(ν)·e^(−iνL/2)``: the periodic Hann window's
    DTFT is real but for a linear phase (``L`` even).

    ``ν = 2π·turns/turn`` with ``turns`` reduced to ``[−turn/2, turn/2)`` (exact where it is
    an integer, so whole turns are found exactly). With ``w[j] = Σ c_s·e^(−2πi·s·j/L)``
    (:data:`_HANN`) and ``μ_s = ν + 2πs/L``, each geometric sum is
    ``(1 − e^(−iμ_s·L))·(½ − (i/2)·cot(μ_s/2))``, and as ``e^(−iμ_s·L) = e^(−iνL)`` and
    ``Σ c_s = 0`` the whole is ``D = sin(νL/2)·Σ c_s·cot(μ_s/2)``; where some ``μ_s`` is a
    whole turn every other term vanishes and the sum is ``L·c_s``, so
    ``D = L·c_s·cos(νL/2)``.
    """
    cot_sum = torch.zeros_like(turns)
    whole_sum = torch.zeros_like(turns)
    shift = turn / size
    for s, c in _HANN:
        r = turns + s * shift  # within (−turn, turn): a whole turn only at 0; cot has period π
        whole_sum += c * (r.abs() < 1e-6 * shift).to(turns.dtype)
        cot_sum += c / torch.tan((math.pi / turn) * r)  # ±inf on a whole turn: not selected
    half = (math.pi * size / turn) * turns  # νL/2
    return torch.where(
        whole_sum != 0, size * whole_sum * torch.cos(half), cot_sum * torch.sin(half)
    )


class MaskingModel:
    """The model for one sample rate: spectrogram, band energies, mask and NMR (batched torch).

    All functions take audio ``(..., n)`` and keep the leading axes; "bands" are the roex
    filters (``n_bands`` of them, centres ``centres_hz``).
    """

    def __init__(
        self,
        sample_rate: int,
        device: torch.device | str = "cpu",
        frame_seconds: float = FRAME_SECONDS,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.device = torch.device(device)
        self.frame_length = frame_length(self.sample_rate, frame_seconds)
        self.n_fft = FFT_PADDING * self.frame_length
        size = self.frame_length
        window = torch.hann_window(size, periodic=True, dtype=torch.float64)
        self.window64 = window.to(self.device)
        self.window = self.window64.float()
        self._energy_cumsum = np.concatenate([[0.0], np.cumsum(window.numpy() ** 2)])
        weights = torch.full((self.n_fft // 2 + 1,), 2.0, dtype=torch.float64)
        weights[0] = 1.0
        weights[-1] = 1.0
        self.bin_weights64 = (weights / (self.n_fft * float((window**2).sum()))).to(self.device)
        self.bin_weights = self.bin_weights64.float()
        self.centres_hz = erb_filter_centres_hz(self.sample_rate / 2.0, FILTERS_PER_ERB)
        self.n_bands = len(self.centres_hz)
        self.band_matrix64 = self._filter_matrix().to(self.device)
        self.band_matrix = self.band_matrix64.float()
        self.spread = spreading_matrix(hz_to_erb_rate(self.centres_hz)).float().to(self.device)
        quiet = spl_to_power(absolute_threshold_db_spl(self.centres_hz))
        self.quiet = torch.from_numpy(quiet).float().to(self.device)
        self.offset = 10.0 ** (-MASK_OFFSET_DB / 10.0)

    def describe(self) -> dict[str, Any]:
        """The model's settings, for results: frame, hop, FFT size and filters."""
        return {
            "frame_s": self.frame_length / self.sample_rate,
            "frame_length": self.frame_length,
            "hop_s": self.frame_length / HOPS_PER_FRAME / self.sample_rate,  # at least
            "fft_size": self.n_fft,
            "filters": self.n_bands,
            "filters_per_erb": FILTERS_PER_ERB,
            "edges": "symmetric reflection, noise weighted by the window share inside",
        }

    def _filter_matrix(self) -> torch.Tensor:
        """Calibrated roex weights ``(bins, filters)``: a unit-power sinusoid at a filter's
        centre reads 1 there (its positive-frequency image; exact away from 0 Hz)."""
        freqs = self.bin_freqs().double().cpu()
        roex = torch.from_numpy(roex_weight(freqs.numpy()[:, None], self.centres_hz[None, :]))
        # ν = ω_k − θ_b in turns of sr: (f_k − f_b)/sr
        turns = (freqs[:, None] - torch.from_numpy(self.centres_hz)[None, :]) / self.sample_rate
        turns = torch.remainder(turns + 0.5, 1.0) - 0.5
        amplitude = _hann_amplitude(turns, 1.0, self.frame_length)
        tone = 0.5 * amplitude**2 * self.bin_weights64.cpu()[:, None]
        return roex / (roex * tone).sum(0, keepdim=True)

    def frame_starts(self, n_samples: int) -> np.ndarray:
        """First sample of each frame (see :func:`frame_starts`); negative: reaches before 0."""
        return frame_starts(n_samples, self.frame_length)

    def edge_weights(self, n_samples: int) -> torch.Tensor:
        """``ρ_m (frames,)``: each frame's share of window energy ``Σw²`` inside the clip."""
        starts = self.frame_starts(n_samples)
        lo = np.clip(-starts, 0, self.frame_length)
        hi = np.clip(n_samples - starts, 0, self.frame_length)
        cum = self._energy_cumsum
        return torch.from_numpy((cum[hi] - cum[lo]) / cum[-1]).to(self.device)

    def bin_freqs(self) -> torch.Tensor:
        """rfft bin centre frequencies (Hz), every ``sr/(2L)`` (25 Hz)."""
        return torch.arange(self.n_fft // 2 + 1, device=self.device) * (
            self.sample_rate / self.n_fft
        )

    def power_spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """Power per frame and bin, ``(..., frames, bins)``, in mean-square units (Parseval),
        frames reaching past an edge weighted by ``ρ`` (module doc, steps 1–3)."""
        rows, signal, frame = self.live_power(audio)
        n_frames = len(self.frame_starts(audio.shape[-1]))
        power = torch.zeros(audio.shape[:-1].numel(), n_frames, rows.shape[-1], device=self.device)
        power[signal, frame] = rows
        return power.reshape(*audio.shape[:-1], *power.shape[-2:])

    def live_power(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows of :meth:`power_spectrogram` that can be nonzero: power ``(Q, bins)`` of
        every frame holding a nonzero sample of a signal of ``audio (..., n)`` (the others
        are zero), with each row's signal (flat over the leading axes) and frame ``(Q,)``."""
        n, half = audio.shape[-1], self.frame_length // 2
        starts = torch.from_numpy(self.frame_starts(n) + half).to(self.device)
        flat = audio.reshape(-1, n).to(self.device, torch.float32)
        padded = torch.cat([flat[:, :half].flip(-1), flat, flat[:, n - half :].flip(-1)], dim=-1)
        count = torch.nn.functional.pad((padded != 0).to(torch.int32).cumsum(-1), (1, 0))
        live = (count[:, starts + self.frame_length] - count[:, starts]) > 0  # (S, frames)
        signal, frame = live.nonzero(as_tuple=True)
        frames = padded.unfold(1, self.frame_length, 1)[signal, starts[frame]]  # (Q, L)
        if not len(frames):  # MKL's FFT refuses an empty batch
            return frames.new_zeros(0, self.n_fft // 2 + 1), signal, frame
        spec = torch.fft.rfft(frames * self.window, n=self.n_fft)
        rho = self.edge_weights(n).float()
        rows = (spec.real**2 + spec.imag**2) * self.bin_weights * rho[frame, None]
        return rows, signal, frame

    def band_energies(self, power: torch.Tensor) -> torch.Tensor:
        """Filter a power spectrogram ``(..., frames, bins)`` into ``(..., frames, bands)``."""
        return power @ self.band_matrix

    def threshold(self, masker_bands: torch.Tensor) -> torch.Tensor:
        """Masking threshold ``(..., bands)`` of a masker's band energies ``(..., bands)``.

        Spread energy × offset + threshold in quiet (steps 5–7 of the module doc).
        """
        return (masker_bands @ self.spread) * self.offset + self.quiet

    def mask(self, masker: torch.Tensor) -> torch.Tensor:
        """Masking threshold per frame and band, ``(..., frames, bands)``, of masker audio.

        Computed from the frames' unweighted power (the masker's level at the edges), to be
        compared with the ``ρ``-weighted band energies of an error.
        """
        rho = self.edge_weights(masker.shape[-1]).float()
        return self.threshold(self.band_energies(self.power_spectrogram(masker)) / rho[:, None])

    def nmr_db(self, noise_bands: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Worst-frame NMR (dB) from noise band energies and a mask, both ``(..., frames, bands)``.

        The last two axes are reduced (max over bands, then over frames).
        """
        ratio = (noise_bands / mask).amax(dim=(-1, -2))
        return 10.0 * torch.log10(ratio)

    def noise_to_mask_ratio(self, noise: torch.Tensor, masker: torch.Tensor) -> torch.Tensor:
        """Worst-frame NMR (dB) of ``noise`` heard next to ``masker``; both ``(..., n)``."""
        noise_bands = self.band_energies(self.power_spectrogram(noise))
        return self.nmr_db(noise_bands, self.mask(masker))

    def supports_cosines(self, n_samples: int) -> bool:
        """Whether :meth:`cosine_analysis` applies: the clip holds at least one frame."""
        return n_samples >= self.frame_length

    def cosine_analysis(
        self, alpha: torch.Tensor, u: torch.Tensor, phase: torch.Tensor, n_samples: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Closed-form spectrogram of cosine atoms ``α·cos(θn + φ)``, ``0 ≤ n < n_samples``.

        ``θ = π·u/n_samples``; ``alpha``, ``u``, ``phase`` are ``(P,)``. Returns band energies
        per frame ``(P, frames, bands)`` (computed in float64, stored in float32) and the
        per-bin energy summed over frames ``(P, bins)`` (float64): equal (to that rounding)
        to :meth:`band_energies` of :meth:`power_spectrogram` of the sampled atoms, without
        synthesising them. Needs :meth:`supports_cosines`.

        A frame starting at ``s`` inside the clip holds ``α·cos(θj + ψ)`` at its sample ``j``
        with ``ψ = θs + φ``, so its bin ``k`` (``ω_k = πk/L``) is
        ``X = α/2·(e^{iψ}G(ω_k − θ) + e^{−iψ}G(ω_k + θ))``, ``G`` the Hann window's DTFT,
        ``G(ν) = D(ν)·e^(−iνL/2)`` with a real ``D`` (:func:`_hann_amplitude`: three
        geometric sums). So ``|X|² = α²/4·(D₋² + D₊² + 2·D₋D₊·cos(2ψ + θL))`` and a frame's
        band energies are ``α²/4·(P_b + 2·R_b·cos(2ψ + θL))`` with ``P_b = Σ_b c_k(D₋² + D₊²)``
        and ``R_b = Σ_b c_k·D₋D₊``: one spectrum per atom serves every frame inside. The few
        frames that reach past an edge (two at each end) are synthesised from the reflected
        cosine and transformed in float64, which is exact.
        """
        cos = _Cosines(self, alpha, u, phase, n_samples)
        band = self.band_matrix64
        p_k, r_k = cos.full_frame_terms()
        right = torch.stack([p_k @ band, 2.0 * (r_k @ band)], 1) * cos.scale[:, :, None]
        wave = cos.interior_cosines()
        bands = torch.empty(len(wave), len(cos.starts), self.n_bands, device=self.device)
        for lo in range(0, wave.shape[1], _FRAME_BLOCK):  # float64 in blocks, stored as float32
            block = wave[:, lo : lo + _FRAME_BLOCK, None]
            start = cos.first + lo
            bands[:, start : start + block.shape[1]] = torch.addcmul(
                right[:, None, 0], block, right[:, None, 1]
            )
        edges = cos.edge_powers()
        bands[:, cos.edge_frames()] = (edges @ band).float()
        return bands, cos.interior_marginal(p_k, r_k, wave) + edges.sum(1)

    def cosine_marginal(
        self, alpha: torch.Tensor, u: torch.Tensor, phase: torch.Tensor, n_samples: int
    ) -> torch.Tensor:
        """Only the per-bin energy summed over frames of :meth:`cosine_analysis`, ``(P, bins)``."""
        cos = _Cosines(self, alpha, u, phase, n_samples)
        p_k, r_k = cos.full_frame_terms()
        return cos.interior_marginal(p_k, r_k, cos.interior_cosines()) + cos.edge_powers().sum(1)


class _Cosines:
    """The pieces of :meth:`MaskingModel.cosine_analysis` for atoms ``α·cos(θn + φ)``.

    ``psi (P, frames)``: the phase ``θs + φ`` at each frame's start ``s``; ``scale``:
    ``α²/4 (P, 1)``; frames ``[first, stop)`` lie inside the clip.
    """

    def __init__(
        self,
        model: MaskingModel,
        alpha: torch.Tensor,
        u: torch.Tensor,
        phase: torch.Tensor,
        n_samples: int,
    ) -> None:
        if not model.supports_cosines(n_samples):
            raise ValueError(f"cosine analysis needs a clip of at least {model.frame_length}")
        dev = model.device
        self.alpha, self.u, self.phase = (t.to(dev, torch.float64) for t in (alpha, u, phase))
        self.model, self.n = model, int(n_samples)
        self.starts = model.frame_starts(self.n)
        self.first = int((self.starts < 0).sum())
        self.stop = len(self.starts) - int((self.starts + model.frame_length > self.n).sum())
        starts = torch.from_numpy(self.starts).to(dev, torch.float64)
        self.psi = (math.pi * self.u / self.n)[:, None] * starts[None, :] + self.phase[:, None]
        self.scale = (self.alpha**2 / 4.0)[:, None]

    def full_frame_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``P_k = c_k(D₋² + D₊²)`` and ``R_k = c_k·D₋D₊``, ``(P, bins)``.

        ``ν/2π = (2kn + σ·2uL)/(4nL)`` at ``ν = ω_k + σθ`` (σ = ∓1): an integer numerator for
        whole or half-integer ``u``, reduced to a turn exactly.
        """
        size, n, dev = self.model.frame_length, self.n, self.model.device
        k = torch.arange(self.model.n_fft // 2 + 1, device=dev, dtype=torch.float64)
        turn = 4.0 * n * size
        amplitudes = []
        for sigma in (-1.0, 1.0):
            num = 2.0 * n * k[None, :] + sigma * 2.0 * size * self.u[:, None]
            turns = torch.remainder(num + turn / 2, turn) - turn / 2
            amplitudes.append(_hann_amplitude(turns, turn, size))
        d_minus, d_plus = amplitudes
        w = self.model.bin_weights64
        return w * (d_minus**2 + d_plus**2), w * d_minus * d_plus

    def interior_cosines(self) -> torch.Tensor:
        """``cos(2ψ_m + θL)`` of the frames inside the clip, ``(P, inside frames)``."""
        shift = math.pi * self.u / self.n * self.model.frame_length
        return torch.cos(2.0 * self.psi[:, self.first : self.stop] + shift[:, None])

    def interior_marginal(
        self, p_k: torch.Tensor, r_k: torch.Tensor, wave: torch.Tensor
    ) -> torch.Tensor:
        """Per-bin energy of the frames inside: ``α²/4·Σ_m (P_k + 2·R_k·cos(2ψ_m + θL))``."""
        return self.scale * (wave.shape[1] * p_k + 2.0 * wave.sum(1, keepdim=True) * r_k)

    def edge_frames(self) -> np.ndarray:
        """Indices of the frames that reach past an edge (before ``first``, from ``stop``)."""
        return np.r_[0 : self.first, self.stop : len(self.starts)]

    def edge_powers(self) -> torch.Tensor:
        """``ρ``-weighted per-bin power ``(P, frames past an edge, bins)`` of the frames before
        ``first`` and from ``stop`` (:meth:`edge_frames`): the reflected atom sampled and
        transformed in float64.

        The phase ``θ·i`` at a (reflected) sample ``i`` is taken as ``π·(2u·i mod 4n)/(2n)``,
        exact for whole or half-integer ``u``.
        """
        model, n, dev = self.model, self.n, self.model.device
        edge = self.edge_frames()
        index = self.starts[edge, None] + np.arange(model.frame_length)[None, :]
        index = np.where(index < 0, -1 - index, np.where(index >= n, 2 * n - 1 - index, index))
        index = torch.from_numpy(index).to(dev, torch.float64)
        turns = torch.remainder(2.0 * self.u[:, None, None] * index[None], 4.0 * n)
        x = torch.cos(math.pi * turns / (2.0 * n) + self.phase[:, None, None])
        spec = torch.fft.rfft(x * (self.alpha[:, None, None] * model.window64), n=model.n_fft)
        rho = model.edge_weights(n)[torch.from_numpy(edge).to(dev)]
        return (spec.real**2 + spec.imag**2) * model.bin_weights64 * rho[None, :, None]


def noise_to_mask_ratio(
    noise: torch.Tensor, masker: torch.Tensor, sample_rate: int
) -> torch.Tensor:
    """Worst-frame noise-to-mask ratio (dB, > 0 audible) of ``noise`` against ``masker``.

    Both are audio ``(..., n)``; the result has the leading shape. See the module doc for
    the model.
    """
    return MaskingModel(sample_rate, noise.device).noise_to_mask_ratio(noise, masker)
