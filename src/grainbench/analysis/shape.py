"""Time/frequency shape of error signals and masks of decoded clips (:class:`ErrorAnalyser`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.metrics.grain import (
    cosine_block_energies,
    cosine_time_centroid,
    energy_time_centroid,
    erb_centroid,
    freq_spread_erb,
    shortest_interval,
    time_block,
    time_edges,
)
from grainbench.metrics.masking import MaskingModel


@dataclass
class ShapeStats:
    """Shape statistics of a batch of error signals ``(S, ch, n)``."""

    energy: torch.Tensor  # (S,) float64
    time_spread: torch.Tensor  # (S,) s
    freq_spread: torch.Tensor  # (S,) ERB
    bands: torch.Tensor  # (S, ch, frames, bands) band energies per frame
    time_centroid: torch.Tensor  # (S,) s, of the energy e[n]²


class ErrorAnalyser:
    """Time/frequency analysis of error signals and masks of decoded clips (batched)."""

    def __init__(
        self, sample_rate: int, n_samples: int, device: torch.device | str = "cpu"
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.model = MaskingModel(sample_rate, device)
        self.block = time_block(sample_rate)
        self.edges = time_edges(n_samples, sample_rate, self.block)

    def masks(self, audio: torch.Tensor) -> torch.Tensor:
        """Masking thresholds ``(B, ch, frames, bands)`` of decoded clips ``(B, ch, n)``."""
        return self.model.mask(audio)

    def shape(self, signals: torch.Tensor) -> ShapeStats:
        """Energy, time spread, frequency spread and band energies of ``signals (S, ch, n)``."""
        x = signals.float()
        energy = x.double().pow(2).sum(dim=(-1, -2))
        n = x.shape[-1]
        nb = len(self.edges) - 1
        sq = torch.nn.functional.pad(x.pow(2).sum(-2), (0, nb * self.block - n))
        blocks = sq.reshape(x.shape[0], nb, self.block).sum(-1)
        bands, marginal = self._bands_and_marginal(x)
        return ShapeStats(
            energy=energy,
            time_spread=shortest_interval(blocks, self.edges),
            freq_spread=freq_spread_erb(marginal, self.model.n_fft, self.sample_rate),
            bands=bands,
            time_centroid=energy_time_centroid(x, self.sample_rate),
        )

    def _bands_and_marginal(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Band energies ``(S, ch, frames, bands)`` of signals ``x (S, ch, n)`` and their power
        per bin ``(S, bins)``, channels and frames summed; from the frames holding a nonzero
        sample alone (a one-pixel error is often short: the others are zero)."""
        rows, signal, frame = self.model.live_power(x)
        n_frames = len(self.model.frame_starts(x.shape[-1]))
        bands = torch.zeros(x.shape[0] * x.shape[1], n_frames, self.model.n_bands, device=x.device)
        bands[signal, frame] = self.model.band_energies(rows)
        per_bin = torch.zeros(len(bands), rows.shape[-1], device=x.device)
        marginal = per_bin.index_add_(0, signal, rows).unflatten(0, x.shape[:2]).sum(1)
        return bands.unflatten(0, x.shape[:2]), marginal

    def shape_of_cosines(
        self,
        alpha: torch.Tensor,
        u: torch.Tensor,
        phase: torch.Tensor,
        channel: torch.Tensor,
        n_channels: int,
    ) -> ShapeStats:
        """:meth:`shape` of cosine atoms ``α·cos(πu·n/N + φ)`` in one ``channel``, in closed form.

        Uses :meth:`MaskingModel.cosine_analysis` and :func:`cosine_block_energies`: equal to
        :meth:`shape` of the sampled atoms to float rounding, without synthesising them.
        """
        blocks = cosine_block_energies(alpha, u, phase, self.n_samples, self.block)
        frames, marginal = self.model.cosine_analysis(alpha, u, phase, self.n_samples)
        bands = torch.zeros(len(u), n_channels, *frames.shape[1:], device=frames.device)
        bands[torch.arange(len(u), device=frames.device), channel.to(frames.device)] = (
            frames.float()
        )
        return ShapeStats(
            energy=blocks.sum(-1),
            time_spread=shortest_interval(blocks, self.edges),
            freq_spread=freq_spread_erb(marginal, self.model.n_fft, self.sample_rate),
            bands=bands,
            time_centroid=cosine_time_centroid(u, phase, self.n_samples, self.sample_rate),
        )

    def shape_of_pixels(
        self, errors: PixelErrors, pixels: torch.Tensor, n_channels: int
    ) -> ShapeStats:
        """:meth:`shape` of the atoms of ``pixels``: closed form for DCT atoms, else synthesised."""
        cos = errors.cosines(pixels)
        if cos is not None and self.model.supports_cosines(self.n_samples):
            return self.shape_of_cosines(*cos, n_channels)
        return self.shape(errors.atoms(pixels))

    def centroids_of_pixels(
        self,
        errors: PixelErrors,
        pixels: torch.Tensor,
        base: torch.Tensor,
        decoded: torch.Tensor,
        delta: float,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Time (s, of the energy) and ERB-rate (of the spectrogram) centroids of the errors
        of ``pixels`` at ``delta`` on one base image ``(1, C, H, W)``; NaN where it is zero."""
        d = torch.tensor([delta])
        cos = errors.cosines(pixels)
        exact = None if errors.factorised else errors.cosine_errors(base[0], pixels, d)
        if exact is not None and self.model.supports_cosines(self.n_samples):
            alpha, u, phase = exact[0][:, 0], exact[1], exact[2][:, 0]  # one cosine per error
            live = alpha != 0
            t = cosine_time_centroid(u, phase, self.n_samples, self.sample_rate)
            marginal = self.model.cosine_marginal(alpha, u, phase, self.n_samples)
        elif errors.factorised:
            live = errors.gains(base, pixels, d)[0, :, 0] != 0
            if cos is not None and self.model.supports_cosines(self.n_samples):
                alpha, u, phase, _ = cos
                t = cosine_time_centroid(u, phase, self.n_samples, self.sample_rate)
                marginal = self.model.cosine_marginal(alpha, u, phase, self.n_samples)
            else:
                atoms = errors.atoms(pixels)
                t = energy_time_centroid(atoms, self.sample_rate)
                marginal = self.model.power_spectrogram(atoms).sum(dim=(-3, -2))
        else:
            err = errors.decoded_errors(base[0], decoded[0], pixels, d)[:, 0]
            live = err.abs().amax(dim=(-1, -2)) > 0
            t = energy_time_centroid(err, self.sample_rate)
            marginal = self.model.power_spectrogram(err).sum(dim=(-3, -2))
        f = erb_centroid(marginal, self.model.bin_freqs())
        nan = torch.tensor(math.nan, dtype=torch.float64)
        return torch.where(live.cpu(), t.cpu(), nan), torch.where(live.cpu(), f.cpu(), nan)

    @staticmethod
    def worst_ratio(bands: torch.Tensor, inv_masks: torch.Tensor) -> torch.Tensor:
        """``max`` over channels, frames and bands of ``bands / mask``: ``(S, B)``.

        ``bands (S, ch, F, Bd)`` against every base's ``1/mask (B, ch, F, Bd)``.
        """
        out = torch.empty(
            bands.shape[0], inv_masks.shape[0], dtype=torch.float64, device=bands.device
        )
        for b in range(inv_masks.shape[0]):
            out[:, b] = (bands * inv_masks[b]).amax(dim=(-1, -2, -3)).double()
        return out
