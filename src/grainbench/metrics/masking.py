"""A small, documented simultaneous-masking model on 1-ERB bands and short frames.

It answers "would this error be heard next to this signal?" with a noise-to-mask ratio
(NMR, dB; > 0 means audible). Every constant is below, with where it comes from.

1. **Frames.** Hann frames (periodic) of ``L`` samples, the smallest power of two of at
   least :data:`FRAME_SECONDS` (20 ms: 512 at 16 kHz, 1024 at 44.1 kHz), hop ``L/2``, centred
   at ``m·L/2`` for ``m = 0 … n//(L/2)`` with zeros outside the clip (so every sample is
   seen by two frames and edge samples are not lost).
2. **Power.** Per frame, the one-sided power spectrum normalised so that it sums to the
   frame's windowed mean square, ``Σ(w·x)² / Σw²`` (Parseval): a sinusoid of amplitude
   ``A`` has power ``A²/2`` wherever it lies.
3. **Bands.** Each rfft bin is summed into the 1-ERB band ``[b, b+1)`` of ERB-rate that
   holds its centre frequency (:mod:`grainbench.metrics.erb`).
4. **Spreading.** A masker's band energy ``E_j`` spreads to band ``i`` with a triangular
   (in dB) function of ``Δ = i − j`` ERB: ``−`` :data:`SLOPE_ABOVE_DB` ``·Δ`` above the
   masker (upward spread of masking) and ``−`` :data:`SLOPE_BELOW_DB` ``·|Δ|`` below it;
   these are the classic 10 and 27 dB/Bark slopes (Schroeder et al. 1979) at ≈ 1.5 ERB
   per Bark. Contributions add in power.
5. **Offset.** The spread energy is lowered by :data:`MASK_OFFSET_DB` (10 dB, between the
   ≈ 5.5 dB of noise maskers and the ≈ 14.5 dB of tonal maskers in Johnston 1988).
6. **Threshold in quiet.** Terhardt's (1979) absolute threshold, in dB SPL at the band's
   centre frequency (not below 20 Hz), is added in power; a full-scale sinusoid
   (amplitude 1, power 1/2) is taken to be :data:`FULL_SCALE_SPL_DB` (96 dB SPL, the usual
   16-bit calibration).
7. **NMR.** Per frame and band, noise energy / mask; a frame's NMR is its largest band ratio;
   the reported audibility is the worst frame's, in dB. No temporal (forward/backward)
   masking is modelled.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from grainbench.metrics.erb import erb_band_centres_hz, erb_band_count, erb_band_matrix

FRAME_SECONDS = 0.020
SLOPE_ABOVE_DB = 7.0
SLOPE_BELOW_DB = 18.0
MASK_OFFSET_DB = 10.0
FULL_SCALE_SPL_DB = 96.0
ATH_MIN_HZ = 20.0


def frame_length(sample_rate: int) -> int:
    """Analysis frame length: the smallest power of two of at least 20 ms."""
    return 1 << int(math.ceil(math.log2(FRAME_SECONDS * sample_rate)))


def absolute_threshold_db_spl(freq_hz: np.ndarray) -> np.ndarray:
    """Terhardt's threshold in quiet (dB SPL) at ``freq_hz`` (clamped to at least 20 Hz).

    ``3.64·f^−0.8 − 6.5·exp(−0.6·(f − 3.3)²) + 10⁻³·f⁴`` with ``f`` in kHz.
    """
    f = np.maximum(np.asarray(freq_hz, dtype=np.float64), ATH_MIN_HZ) / 1000.0
    return 3.64 * f**-0.8 - 6.5 * np.exp(-0.6 * (f - 3.3) ** 2) + 1e-3 * f**4


def spl_to_power(level_db_spl: np.ndarray) -> np.ndarray:
    """Signal power (mean square, full scale = amplitude 1) of a level in dB SPL."""
    return 0.5 * 10.0 ** ((np.asarray(level_db_spl, dtype=np.float64) - FULL_SCALE_SPL_DB) / 10.0)


def spreading_matrix(n_bands: int) -> torch.Tensor:
    """``S[j, i]``: the power fraction of masker band ``j`` that masks band ``i``."""
    d = np.arange(n_bands)[None, :] - np.arange(n_bands)[:, None]  # maskee − masker
    att_db = np.where(d >= 0, -SLOPE_ABOVE_DB * d, SLOPE_BELOW_DB * d)
    return torch.from_numpy(10.0 ** (att_db / 10.0)).float()


class MaskingModel:
    """The model for one sample rate: spectrogram, band energies, mask and NMR (batched torch).

    All functions take audio ``(..., n)`` and keep the leading axes.
    """

    def __init__(self, sample_rate: int, device: torch.device | str = "cpu") -> None:
        self.sample_rate = int(sample_rate)
        self.device = torch.device(device)
        self.n_fft = frame_length(self.sample_rate)
        self.hop = self.n_fft // 2
        self.n_bands = erb_band_count(self.sample_rate)
        self.window = torch.hann_window(self.n_fft, periodic=True, device=self.device)
        weights = torch.full((self.n_fft // 2 + 1,), 2.0, dtype=torch.float64, device=self.device)
        weights[0] = 1.0
        weights[-1] = 1.0
        hann = torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64, device=self.device)
        self.bin_weights64 = weights / (self.n_fft * float((hann**2).sum()))
        self.bin_weights = self.bin_weights64.float()
        self.band_matrix = erb_band_matrix(self.n_fft, self.sample_rate).to(self.device)
        self.spread = spreading_matrix(self.n_bands).to(self.device)
        centres = erb_band_centres_hz(self.sample_rate)
        self.quiet = torch.from_numpy(spl_to_power(absolute_threshold_db_spl(centres))).float()
        self.quiet = self.quiet.to(self.device)
        self.offset = 10.0 ** (-MASK_OFFSET_DB / 10.0)

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for a clip of ``n_samples``."""
        return n_samples // self.hop + 1

    def frame_times(self, n_samples: int) -> torch.Tensor:
        """Frame centres (s)."""
        return torch.arange(self.n_frames(n_samples), device=self.device) * (
            self.hop / self.sample_rate
        )

    def bin_freqs(self) -> torch.Tensor:
        """rfft bin centre frequencies (Hz)."""
        return torch.arange(self.n_fft // 2 + 1, device=self.device) * (
            self.sample_rate / self.n_fft
        )

    def power_spectrogram(self, audio: torch.Tensor) -> torch.Tensor:
        """Power per frame and bin, ``(..., frames, bins)``, in mean-square units (Parseval)."""
        lead = audio.shape[:-1]
        flat = audio.reshape(-1, audio.shape[-1]).to(self.device, torch.float32)
        spec = torch.stft(
            flat,
            self.n_fft,
            hop_length=self.hop,
            window=self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        power = (spec.real**2 + spec.imag**2) * self.bin_weights[:, None]
        return power.transpose(-1, -2).reshape(*lead, power.shape[-1], power.shape[-2])

    def band_energies(self, power: torch.Tensor) -> torch.Tensor:
        """Sum a power spectrogram ``(..., frames, bins)`` into 1-ERB bands ``(..., frames, bands)``."""
        return power @ self.band_matrix

    def threshold(self, masker_bands: torch.Tensor) -> torch.Tensor:
        """Masking threshold ``(..., bands)`` of a masker's band energies ``(..., bands)``.

        Spread energy × offset + threshold in quiet (steps 4–6 of the module doc).
        """
        return (masker_bands @ self.spread) * self.offset + self.quiet

    def mask(self, masker: torch.Tensor) -> torch.Tensor:
        """Masking threshold per frame and band, ``(..., frames, bands)``, of masker audio."""
        return self.threshold(self.band_energies(self.power_spectrogram(masker)))

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
        """Whether :meth:`cosine_analysis` applies: the hop divides the clip, frames fit it."""
        return n_samples % self.hop == 0 and n_samples >= self.n_fft

    def _window_parts(self, v: torch.Tensor, n_samples: int) -> tuple[torch.Tensor, ...]:
        """Real pieces of the Hann window's partial DTFTs at ``ω = π·v/n`` (see below).

        With ``cot_s = cot((ω + s)/2)`` for the shifts ``s = 0, −2π/L, +2π/L`` (0 where
        ``ω + s`` is a whole turn, flagged ``z_s``) and weights ``c = (½, −¼, −¼)``:
        ``R = Σ c_s·cot_s``, ``S = Σ c_s·ε_s·cot_s`` (``ε = (1, −1, −1)``), ``Z = Σ c_s·z_s``.
        """
        two_n = 2.0 * n_samples
        shift = two_n / self.n_fft
        r = torch.zeros_like(v)
        s = torch.zeros_like(v)
        z = torch.zeros_like(v)
        for c, eps, d in ((0.5, 1.0, 0.0), (-0.25, -1.0, -shift), (-0.25, -1.0, shift)):
            w = torch.remainder(v + d + n_samples, two_n) - n_samples  # in [−n, n)
            whole = w.abs() < 1e-9
            cot = 1.0 / torch.tan(math.pi * torch.where(whole, torch.ones_like(w), w) / two_n)
            cot = torch.where(whole, torch.zeros_like(cot), cot)
            r += c * cot
            s += c * eps * cot
            z += c * whole.double()
        return r, s, z

    def cosine_analysis(
        self, alpha: torch.Tensor, u: torch.Tensor, phase: torch.Tensor, n_samples: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Closed-form spectrogram of cosine atoms ``α·cos(θn + φ)``, ``0 ≤ n < n_samples``.

        ``θ = π·u/n_samples``; ``alpha``, ``u``, ``phase`` are ``(P,)``. Returns band energies
        per frame ``(P, frames, bands)`` and the per-bin energy summed over frames
        ``(P, bins)``: equal (to float64 rounding) to :meth:`band_energies` of
        :meth:`power_spectrogram` of the sampled atoms, with no FFT. Needs
        :meth:`supports_cosines`.

        Frame ``m`` starts at ``n₀ = m·L/2 − L/2``; with ``ψ = θn₀ + φ`` its bin ``k`` is
        ``X = α/2·(e^{iψ}G(ω_k − θ) + e^{−iψ}G(ω_k + θ))``, ``G(ω) = Σ_{j∈J} w[j]e^{−iωj}``
        over the frame's samples inside the clip: all of it (interior frames), its second
        half (first frame) or its first half (last frame). Writing the Hann window as three
        exponentials and each geometric sum with ``1/(1 − e^{−iω}) = ½ − (i/2)·cot(ω/2)``,
        and using ``e^{−iω_kL} = 1``: ``G_full = −(i/2)(1 − C)R + L·Z``,
        ``G_first = −(i/2)R − B(½ − (i/2)S) + (L/2)Z``,
        ``G_second = B(½ − (i/2)S) + (i/2)C·R + (L/2)Z`` with ``B = e^{−iωL/2}``,
        ``C = e^{−iωL}`` (:meth:`_window_parts` for R, S, Z). Interior frames share ``G``,
        so their band energies are ``α²/4·(P_b + 2·Re(e^{2iψ}Q_b))`` with
        ``P_b = Σ_b c_k(|G₋|² + |G₊|²)`` and ``Q_b = Σ_b c_k·G₋·conj(G₊)``.
        """
        parts, psi, scale = self._cosine_parts(alpha, u, phase, n_samples)
        band = self.band_matrix.double()
        p_k, q_re, q_im = self._full_frame_terms(parts)
        # interior frames: α²/4·(P_b + 2·cos 2ψ·Re Q_b − 2·sin 2ψ·Im Q_b), one batched product
        inner = 2.0 * psi[:, 1:-1]
        left = torch.stack([torch.ones_like(inner), torch.cos(inner), -torch.sin(inner)], dim=-1)
        right = torch.stack([p_k @ band, 2.0 * (q_re @ band), 2.0 * (q_im @ band)], dim=1)
        interior = torch.bmm(left, right * scale[:, :, None])
        marginal = self._interior_marginal(p_k, q_re, q_im, left, scale)
        (_, first), (_, last) = self._edge_powers(parts, psi, scale)
        marginal += first + last
        bands = torch.cat([(first @ band)[:, None], interior, (last @ band)[:, None]], dim=1)
        return bands, marginal

    def cosine_marginal(
        self, alpha: torch.Tensor, u: torch.Tensor, phase: torch.Tensor, n_samples: int
    ) -> torch.Tensor:
        """Only the per-bin energy summed over frames of :meth:`cosine_analysis`, ``(P, bins)``."""
        parts, psi, scale = self._cosine_parts(alpha, u, phase, n_samples)
        p_k, q_re, q_im = self._full_frame_terms(parts)
        inner = 2.0 * psi[:, 1:-1]
        left = torch.stack([torch.ones_like(inner), torch.cos(inner), -torch.sin(inner)], dim=-1)
        marginal = self._interior_marginal(p_k, q_re, q_im, left, scale)
        for _, power in self._edge_powers(parts, psi, scale):
            marginal += power
        return marginal

    def _full_frame_terms(
        self, parts: dict[float, tuple[torch.Tensor, ...]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``P_k = c_k(|G₋|² + |G₊|²)`` and ``Q_k = c_k·G₋·conj(G₊)`` (real, imaginary)."""
        w = self.bin_weights64
        mr, mi = parts[-1.0][0:2]
        pr, pi = parts[1.0][0:2]
        p_k = w * (mr * mr + mi * mi + pr * pr + pi * pi)
        return p_k, w * (mr * pr + mi * pi), w * (mi * pr - mr * pi)

    @staticmethod
    def _interior_marginal(
        p_k: torch.Tensor,
        q_re: torch.Tensor,
        q_im: torch.Tensor,
        left: torch.Tensor,
        scale: torch.Tensor,
    ) -> torch.Tensor:
        """Per-bin energy of the interior frames: ``α²/4·Σ_m (P_k + 2·Re(e^{2iψ_m}·Q_k))``."""
        sums = left.sum(1)  # (P, 3): frames, Σ cos 2ψ, −Σ sin 2ψ
        return scale * (sums[:, :1] * p_k + 2.0 * (sums[:, 1:2] * q_re + sums[:, 2:3] * q_im))

    def _edge_powers(
        self, parts: dict[float, tuple[torch.Tensor, ...]], psi: torch.Tensor, scale: torch.Tensor
    ) -> list[tuple[int, torch.Tensor]]:
        """Per-bin power of the first frame (second half of the window inside the clip) and
        of the last (first half inside): ``|e^{iψ}G₋ + e^{−iψ}G₊|²``."""
        out = []
        last = psi.shape[1] - 1
        for m, which in ((0, 4), (last, 2)):
            er, ei = torch.cos(psi[:, m : m + 1]), torch.sin(psi[:, m : m + 1])
            mr, mi = parts[-1.0][which : which + 2]
            pr, pi = parts[1.0][which : which + 2]
            xr = er * (mr + pr) - ei * (mi - pi)
            xi = er * (mi + pi) + ei * (mr - pr)
            out.append((m, scale * self.bin_weights64 * (xr * xr + xi * xi)))
        return out

    def _cosine_parts(
        self, alpha: torch.Tensor, u: torch.Tensor, phase: torch.Tensor, n_samples: int
    ) -> tuple[dict[float, tuple[torch.Tensor, ...]], torch.Tensor, torch.Tensor]:
        """Real and imaginary parts of ``G_full, G_first, G_second`` at ``ω_k ∓ θ`` (keys
        −1, +1; six ``(P, bins)`` tensors each), ``ψ`` per frame ``(P, frames)``, ``α²/4``.

        With ``C = e^{−iωL} = c_r + i·c_i`` and ``B = (−1)^k·e^{−iσθL/2} = (−1)^k(b_r + i·b_i)``
        (σ = ∓1), and ``H = B·(½ − (i/2)S)``: ``G_full = (−½c_i·R + L·Z) + i·½(c_r − 1)·R``,
        ``G_first = −H − (i/2)R + (L/2)Z``, ``G_second = H + (i/2)C·R + (L/2)Z``.
        """
        if not self.supports_cosines(n_samples):
            raise ValueError(f"cosine analysis needs a clip of whole hops, at least {self.n_fft}")
        dev = self.device
        alpha, u, phase = (t.to(dev, torch.float64) for t in (alpha, u, phase))
        size, bins = self.n_fft, self.n_fft // 2 + 1
        k = torch.arange(bins, device=dev, dtype=torch.float64)
        u_k = k * (2.0 * n_samples / size)
        theta = (math.pi * u / n_samples)[:, None]
        sign_k = 1.0 - 2.0 * torch.remainder(k, 2.0)  # (−1)^k
        parts = {}
        for sigma in (-1.0, 1.0):  # ω_k − θ, then ω_k + θ
            r, s, z = self._window_parts(u_k[None, :] + sigma * u[:, None], n_samples)
            cr, ci = torch.cos(sigma * theta * size), -torch.sin(sigma * theta * size)
            br, bi = torch.cos(sigma * theta * size / 2), -torch.sin(sigma * theta * size / 2)
            hr = sign_k * (0.5 * br + 0.5 * bi * s)
            hi = sign_k * (0.5 * bi - 0.5 * br * s)
            zl = size * z
            parts[sigma] = (
                -0.5 * ci * r + zl,  # whole frame
                0.5 * (cr - 1.0) * r,
                -hr + 0.5 * zl,  # first half (the last frame)
                -hi - 0.5 * r,
                hr - 0.5 * ci * r + 0.5 * zl,  # second half (the first frame)
                hi + 0.5 * cr * r,
            )
        starts = torch.arange(self.n_frames(n_samples), device=dev, dtype=torch.float64)
        starts = starts * self.hop - size // 2
        psi = theta * starts[None, :] + phase[:, None]  # (P, frames)
        return parts, psi, (alpha**2 / 4.0)[:, None]


def noise_to_mask_ratio(
    noise: torch.Tensor, masker: torch.Tensor, sample_rate: int
) -> torch.Tensor:
    """Worst-frame noise-to-mask ratio (dB, > 0 audible) of ``noise`` against ``masker``.

    Both are audio ``(..., n)``; the result has the leading shape. See the module doc for
    the model.
    """
    return MaskingModel(sample_rate, noise.device).noise_to_mask_ratio(noise, masker)
