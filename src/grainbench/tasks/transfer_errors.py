"""The image errors of the transfer task (:mod:`grainbench.tasks.transfer`, SPEC 4.4):
noise and blur matched to an image PSNR, one-pixel shifts, and the same errors confined to
one image part; also used by ``grainbench apply`` (:mod:`grainbench.imageerrors`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from grainbench.codecs import get_codec
from grainbench.parts import part_box

PEAK = 2.0
"""Peak-to-peak range of image values ([-1, 1]): the PSNR's peak."""


def psnr_db(reference: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Image PSNR per image (dB, peak 2): ``10·log10(4 / MSE)``; ``(B,)`` float64."""
    mse = (images.double() - reference.double()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(PEAK**2 / mse)


def level_label(level: float) -> int | float:
    """A level as it appears in a condition: an int when whole (``40``), else a float."""
    return int(level) if float(level).is_integer() else float(level)


def _mse_for_psnr(psnr: float) -> float:
    return PEAK**2 * 10.0 ** (-psnr / 10.0)


def add_noise(
    images: torch.Tensor, psnr: float, seed: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """White Gaussian noise scaled per image to an MSE of exactly ``4·10^(−PSNR/10)``.

    With ``mask`` (bool ``(C, H, W)``) the noise is only where the mask is true, and still
    scaled to that MSE over the whole image (so it is larger per pixel of the part).
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    noise = torch.randn(images.shape, generator=gen, dtype=torch.float64)
    if mask is not None:
        noise = noise * mask.to(torch.float64)
    rms = noise.pow(2).flatten(1).mean(1).sqrt()[:, None, None, None]
    noise = noise / rms * math.sqrt(_mse_for_psnr(psnr))
    return (images.double() + noise.to(images.device)).to(images.dtype)


class MirrorBlur:
    """Gaussian blur of images ``(B, C, H, W)`` in the frequency domain with mirror edges.

    The image is mirrored to ``2H × 2W`` (an even extension, so the blurred extension stays
    mirror-symmetric) and its DFT multiplied by ``exp(−2π²σ²(ν_h² + ν_w²))``. The error
    energy is the same on the extension as on the image, which makes the MSE of any σ a
    sum over the kept spectrum.
    """

    def __init__(self, images: torch.Tensor) -> None:
        x = images.double()
        self.shape = x.shape
        ext = torch.cat([x, x.flip(-2)], dim=-2)
        ext = torch.cat([ext, ext.flip(-1)], dim=-1)
        self.spec = torch.fft.fft2(ext)
        self.power = (self.spec.real**2 + self.spec.imag**2).sum(1)
        self.total = self.power.flatten(1).sum(1)
        h2, w2 = ext.shape[-2:]
        self.nu_h = torch.fft.fftfreq(h2, dtype=torch.float64, device=x.device)
        self.nu_w = torch.fft.fftfreq(w2, dtype=torch.float64, device=x.device)
        self.size = h2 * w2

    def _responses(self, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The separable response ``exp(−2π²σ²ν²)`` along rows and columns, ``(B, 2H)``, ``(B, 2W)``."""
        a = -2.0 * math.pi**2 * sigma.double().to(self.nu_h.device)[:, None] ** 2
        return torch.exp(a * self.nu_h**2), torch.exp(a * self.nu_w**2)

    def mse(self, sigma: torch.Tensor) -> torch.Tensor:
        """MSE per image caused by blurs of ``sigma (B,)`` pixels (Parseval, no inverse FFT).

        ``Σ P·(1 − r_h r_w)² = ΣP − 2·r_hᵀ P r_w + (r_h²)ᵀ P (r_w²)`` with ``P`` the power
        spectrum summed over channels.
        """
        rh, rw = self._responses(sigma)
        both = torch.stack([rw, rw**2], dim=-1)  # (B, 2W, 2): one batched product for both
        inner = torch.bmm(self.power, both)  # (B, 2H, 2)
        once = (inner[..., 0] * rh).sum(-1)
        twice = (inner[..., 1] * rh**2).sum(-1)
        return (self.total - 2.0 * once + twice).clamp_min(0.0) / (self.size**2 * self.shape[1])

    def blur(self, sigma: torch.Tensor) -> torch.Tensor:
        """The blurred images for ``sigma (B,)`` pixels."""
        rh, rw = self._responses(sigma)
        out = torch.fft.ifft2(self.spec * (rh[:, None, :, None] * rw[:, None, None, :])).real
        return out[..., : self.shape[-2], : self.shape[-1]]

    def sigma_for_psnr(self, psnr: float, iterations: int = 50) -> torch.Tensor:
        """Per image, the σ whose blur has image PSNR ``psnr`` (bisection on log σ).

        NaN where even the widest blur (σ = 4·max(H, W)) stays above that PSNR.
        """
        target = _mse_for_psnr(psnr)
        b = self.shape[0]
        lo = torch.full((b,), math.log(1e-4), dtype=torch.float64)
        hi = torch.full((b,), math.log(4.0 * max(self.shape[-2:])), dtype=torch.float64)
        reachable = self.mse(hi.exp()) >= target
        for _ in range(iterations):
            mid = (lo + hi) / 2
            above = (self.mse(mid.exp()) < target).cpu()
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        sigma = ((lo + hi) / 2).exp()
        return torch.where(reachable.cpu(), sigma, torch.full_like(sigma, math.nan))


def shift(images: torch.Tensor, axis: int) -> torch.Tensor:
    """Shift by one pixel along ``axis`` (−2 rows: down, −1 columns: right), edge repeated."""
    n = images.shape[axis]
    index = torch.clamp(torch.arange(n, device=images.device) - 1, min=0)
    return images.index_select(axis, index)


def part_perturbations(
    images: torch.Tensor,
    mask: torch.Tensor,
    kinds: list[str],
    levels: list[float],
    seed: int,
    sigma_px: float,
    notes: list[str],
) -> Iterator[tuple[dict[str, Any], torch.Tensor, list[float] | None]]:
    """Errors confined to one image part: yield ``(condition, perturbed images, σ)``.

    ``mask`` is the part (bool ``(C, H, W)``). Everything outside it is left exactly as it
    was. ``match=psnr`` rows hit the target PSNR over the *whole* image (the part's own
    pixels change more); noise and 8-bit quantisation act on the part's pixels wherever
    they are. Blur and shifts need the part to be one rectangle (the same in each of its
    channels, :func:`grainbench.parts.part_box`) and act inside it with mirror or repeated
    edges, so nothing bleeds across the part's boundary; ``blur`` at ``match=width`` has
    σ = ``sigma_px`` pixels (skipped when ``sigma_px`` ≤ 0). What cannot be done is said in
    ``notes``. σ is the blur's width per image (pixels), ``None`` for other errors.
    """
    box = part_box(mask)
    for kind in kinds:
        if kind == "noise":
            for i, level in enumerate(levels):
                cond = {"error": kind, "psnr": level_label(level), "match": "psnr"}
                yield cond, add_noise(images, level, seed + i, mask), None
        elif kind == "quant8":
            quantised = get_codec("png8").quantise(images)[0]
            yield {"error": kind}, torch.where(mask.to(images.device), quantised, images), None
        elif box is None:
            notes.append(f"{kind} needs a rectangular part; skipped")
        elif kind == "blur":
            crop = box.crop(images)
            blur = MirrorBlur(crop)
            # the MSE over the whole image is the crop's MSE times its share of the pixels
            offset = 10.0 * math.log10(images[0].numel() / crop[0].numel())
            for level in levels:
                sigma = blur.sigma_for_psnr(level - offset)
                if bool(torch.isnan(sigma).any()):
                    notes.append(f"blur cannot reach {level} dB on every image; skipped")
                    continue
                cond = {"error": kind, "psnr": level_label(level), "match": "psnr"}
                yield cond, box.paste(images, blur.blur(sigma)), sigma.tolist()
            if sigma_px > 0:
                sigma = torch.full((len(images),), float(sigma_px), dtype=torch.float64)
                cond = {"error": kind, "match": "width", "sigma": level_label(sigma_px)}
                yield cond, box.paste(images, blur.blur(sigma)), sigma.tolist()
        elif kind in ("shift-rows", "shift-cols"):
            axis = -2 if kind == "shift-rows" else -1
            crop = box.crop(images)
            if crop.shape[axis] > 1:
                yield {"error": kind}, box.paste(images, shift(crop, axis)), None
