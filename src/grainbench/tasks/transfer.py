"""Error transfer (SPEC 4.4): what a generator's typical image errors do to the sound.

Encoded test images get, at image PSNR 30, 40 and 50 dB (peak = 2, the range of [-1, 1];
``PSNR = 10·log10(4 / MSE)``):

- ``noise``: white Gaussian noise (seeded), scaled per image to exactly that PSNR;
- ``blur``: a Gaussian blur along both image axes whose σ (pixels) is found per image by
  bisection to hit the PSNR. The blur multiplies the spectrum of the mirror-extended image
  by ``exp(−2π²σ²ν²)`` (ν in cycles per pixel): mirror boundaries, any σ; the MSE it causes
  is computed exactly in the frequency domain during the bisection;

and, at their own PSNR: ``quant8`` (the ``png8`` codec's 8-bit quantisation) and one-pixel
shifts ``shift-rows`` (down) and ``shift-cols`` (right), repeating the first row/column.

Representations whose image holds different quantities in named parts (magnitude and
phase, real and imaginary parts: :mod:`grainbench.parts`) also get every error within one
part at a time (:func:`part_perturbations`, rows with ``part=NAME``): noise and blur at the
same *whole-image* PSNR as above (``match=psnr``), blur of a fixed width σ = 1 pixel inside
the part (``match=width``), and quantisation and shifts of the part alone. The protocol
and what it found are in docs/metrics/transfer.md.

Each perturbed image is decoded and compared with the decoded clean image ``x̂``: ESR,
multi-resolution STFT distance, audibility (worst-frame NMR against ``x̂``) and pitch
deviation (|cents| between YIN f0s, on clips where both are confident). The grain curve is
ESR against image PSNR; ``grain_slope`` and ``grain_level`` (ESR at 40 dB) are fitted per
clip on the noise points.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from grainbench.artifacts import save_wav
from grainbench.codecs import get_codec
from grainbench.errors import UserError
from grainbench.metrics import audio as am
from grainbench.metrics.f0 import cents, clip_f0
from grainbench.metrics.grain import esr_db
from grainbench.metrics.masking import MaskingModel
from grainbench.metrics.stats import bootstrap_ci
from grainbench.parts import image_parts, part_box
from grainbench.tasks import listen, plots
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskResult
from grainbench.tasks.params import MAX_BOOT, Bool, Choice, Int, ListOf, Real

KINDS = ("noise", "blur", "quant8", "shift-rows", "shift-cols")
TARGETED = ("noise", "blur")
PEAK = 2.0


def psnr_db(reference: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Image PSNR per image (dB, peak 2): ``10·log10(4 / MSE)``; ``(B,)`` float64."""
    mse = (images.double() - reference.double()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(PEAK**2 / mse)


def _label(level: float) -> int | float:
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
                cond = {"error": kind, "psnr": _label(level), "match": "psnr"}
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
                cond = {"error": kind, "psnr": _label(level), "match": "psnr"}
                yield cond, box.paste(images, blur.blur(sigma)), sigma.tolist()
            if sigma_px > 0:
                sigma = torch.full((len(images),), float(sigma_px), dtype=torch.float64)
                cond = {"error": kind, "match": "width", "sigma": _label(sigma_px)}
                yield cond, box.paste(images, blur.blur(sigma)), sigma.tolist()
        elif kind in ("shift-rows", "shift-cols"):
            axis = -2 if kind == "shift-rows" else -1
            crop = box.crop(images)
            if crop.shape[axis] > 1:
                yield {"error": kind}, box.paste(images, shift(crop, axis)), None


class Scorer:
    """Decode perturbed images and score their sound errors against the clean decode.

    ``__call__`` returns the decoded audio and, per clip, ``psnr`` (image, dB), ``esr``
    (dB), ``mrstft``, ``audibility`` (worst-frame NMR against the clean decode ``x̂``, dB)
    and ``pitch_deviation`` (|cents| between YIN f0s; NaN unless both are confident).
    """

    def __init__(self, rep: Any, images: torch.Tensor, device: torch.device) -> None:
        self.rep, self.images = rep, images
        with torch.no_grad():
            self.clean = rep.decode(images)
        self.model = MaskingModel(rep.sample_rate, device)
        self.masks = self.model.mask(self.clean)
        self.f0, self.conf = clip_f0(self.clean.mean(1), rep.sample_rate)

    def __call__(self, perturbed: torch.Tensor) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        """Decoded audio ``(B, ch, n)`` and the per-clip values ``(B,)`` of each metric."""
        model, clean = self.model, self.clean
        with torch.no_grad():
            decoded = self.rep.decode(perturbed)
        err = decoded - clean
        values = {
            "psnr": psnr_db(self.images, perturbed).cpu().numpy(),
            "esr": esr_db(err, clean).cpu().numpy(),
            "mrstft": am.mrstft_distance(clean, decoded).cpu().numpy(),
            "audibility": model.nmr_db(
                model.band_energies(model.power_spectrogram(err)), self.masks
            )
            .amax(-1)
            .double()
            .cpu()
            .numpy(),
        }
        f0, conf = clip_f0(decoded.mean(1), self.rep.sample_rate)
        both = (conf & self.conf).cpu().numpy()
        dev = cents(f0, self.f0).abs().cpu().numpy()
        values["pitch_deviation"] = np.where(both, dev, np.nan)
        return decoded, values


def _add_point(
    curves: dict[str, dict[str, list[float]]], kind: str, values: dict[str, np.ndarray]
) -> None:
    """Append the clip means of ``values`` to the curve of ``kind``."""
    curve = curves.setdefault(
        kind, {"psnr": [], "esr": [], "audibility": [], "mrstft": [], "pitch_deviation": []}
    )
    for key in curve:
        finite = values[key][np.isfinite(values[key])]
        curve[key].append(float(finite.mean()) if finite.size else math.nan)


class TransferTask:
    """Grain curves: sound error against image error for typical generator errors."""

    name = "transfer"
    in_default_run = True
    #: the board's sort key and columns (see grainbench.leaderboard): the grain curve's
    #: level, then single points of it
    headline = "grain_level[error=noise]"
    key_metrics = [
        "grain_level[error=noise]",
        "grain_slope[error=noise]",
        "audibility[error=noise,psnr=40]",
        "esr[error=quant8]",
        "pitch_deviation[error=shift-rows]",
        "pitch_deviation[error=shift-cols]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Clips, PSNR levels, error kinds, bootstrap resamples, WAV examples, per-part errors."""
        return {
            "n_clips": 8,
            "psnr": [30, 40, 50],
            "kinds": list(KINDS),
            "n_boot": 1000,
            "n_examples": 1,
            "parts": True,
            "part_sigma_px": 1.0,
        }

    param_schema = {
        "n_clips": Int(1),
        "psnr": ListOf(Real(0, 200)),
        "kinds": ListOf(Choice(*KINDS)),
        "n_boot": Int(1, MAX_BOOT),
        "n_examples": Int(0),
        "parts": Bool(),
        "part_sigma_px": Real(0, 64, low_open=True),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Perturb, decode, score; write the grain curve pictures, curves and WAV examples."""
        rep = ctx.rep
        kinds = [str(k) for k in params["kinds"]]
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise UserError(f"transfer kinds {unknown} unknown; choose from {list(KINDS)}")
        levels = [float(p) for p in params["psnr"]]
        n_clips = int(params["n_clips"])
        if n_clips < 1 or not levels:
            raise UserError("transfer needs n_clips ≥ 1 and at least one psnr level")
        n_boot = int(params["n_boot"])
        test = torch.from_numpy(ctx.dataset.test[:n_clips]).to(ctx.device)
        with torch.no_grad():
            images = rep.encode(test)
        score = Scorer(rep, images, ctx.device)
        result = TaskResult()
        result.data = {"n_clips": int(len(test)), "curves": {}, "notes": []}
        per_clip: dict[str, dict[str, Any]] = {}
        examples: dict[str, tuple[float | None, torch.Tensor]] = {}
        for kind, level, perturbed in self._perturbations(images, kinds, levels, ctx.seed, result):
            decoded, values = score(perturbed)
            cond = {"error": kind} if level is None else {"error": kind, "psnr": _label(level)}
            self._rows(result, values, cond, ctx.seed, n_boot)
            _add_point(result.data["curves"], kind, values)
            per_clip[f"{kind}@{level}"] = values
            if level is None or level == min(levels, key=lambda lv: abs(lv - 40.0)):
                examples[kind] = (level, decoded)
        self._grain_fit(result, per_clip, levels, ctx.seed, n_boot)
        path = plots.grain_curves(
            ctx.out_dir / "grain_curve.png",
            result.data["curves"],
            f"{rep.name}: grain curves ({len(test)} clips)",
        )
        result.artifacts.append(
            Artifact(ctx.relpath(path), "png", "sound ESR and audibility against image PSNR")
        )
        if params["parts"]:
            self._parts(ctx, result, score, kinds, levels, float(params["part_sigma_px"]), n_boot)
        self._wavs(ctx, result, score.clean, examples, int(params["n_examples"]))
        return result

    def _parts(
        self,
        ctx: RunContext,
        result: TaskResult,
        score: Scorer,
        kinds: list[str],
        levels: list[float],
        sigma_px: float,
        n_boot: int,
    ) -> None:
        """Each error within one image part at a time (:func:`part_perturbations`): rows
        with ``part=NAME``, per-part curves in ``data["parts"]`` and their picture."""
        parts = image_parts(ctx.rep)
        if not parts:
            return
        result.data["parts"] = {}
        shown: dict[str, dict[str, list[float]]] = {}
        for part, mask in parts.items():
            notes: list[str] = []
            entry: dict[str, Any] = {"pixels": int(mask.sum()), "curves": {}, "blur_sigma_px": {}}
            for cond, perturbed, sigma in part_perturbations(
                score.images, mask, kinds, levels, ctx.seed, sigma_px, notes
            ):
                _, values = score(perturbed)
                self._rows(result, values, {**cond, "part": part}, ctx.seed, n_boot)
                kind = "blur-width" if cond.get("match") == "width" else cond["error"]
                _add_point(entry["curves"], kind, values)
                if kind == "blur":
                    entry["blur_sigma_px"][str(float(cond["psnr"]))] = sigma
                if kind in ("noise", "blur", "blur-width"):
                    _add_point(shown, f"{kind} ({part})", values)
            entry["notes"] = sorted(set(notes))
            result.data["parts"][part] = entry
        path = plots.grain_curves(
            ctx.out_dir / "grain_curve_parts.png",
            shown,
            f"{ctx.rep.name}: errors in one image part at a time ({result.data['n_clips']} clips)",
        )
        result.artifacts.append(
            Artifact(
                ctx.relpath(path),
                "png",
                "per image part: sound ESR and audibility against whole-image PSNR",
            )
        )

    @staticmethod
    def _perturbations(
        images: torch.Tensor, kinds: list[str], levels: list[float], seed: int, result: TaskResult
    ) -> Iterator[tuple[str, float | None, torch.Tensor]]:
        """Yield ``(kind, target PSNR or None, perturbed images)``."""
        blur = MirrorBlur(images) if "blur" in kinds else None
        for kind in kinds:
            if kind == "noise":
                for i, level in enumerate(levels):
                    yield kind, level, add_noise(images, level, seed + i)
            elif kind == "blur":
                assert blur is not None
                for level in levels:
                    sigma = blur.sigma_for_psnr(level)
                    if bool(torch.isnan(sigma).any()):
                        result.data["notes"].append(
                            f"blur cannot reach {level} dB on every image; skipped"
                        )
                        continue
                    result.data.setdefault("blur_sigma_px", {})[str(level)] = sigma.tolist()
                    yield kind, level, blur.blur(sigma).to(images.dtype)
            elif kind == "quant8":
                yield kind, None, get_codec("png8").quantise(images)[0]
            elif kind == "shift-rows" and images.shape[-2] > 1:
                yield kind, None, shift(images, -2)
            elif kind == "shift-cols" and images.shape[-1] > 1:
                yield kind, None, shift(images, -1)

    @staticmethod
    def _rows(
        result: TaskResult,
        values: dict[str, np.ndarray],
        cond: dict[str, Any],
        seed: int,
        n_boot: int,
    ) -> None:
        for name in ("esr", "mrstft", "audibility", "pitch_deviation"):
            mean, lo, hi = bootstrap_ci(values[name], seed=seed, n_boot=n_boot)
            if math.isfinite(mean):
                result.metrics.append(MetricValue(name, mean, lo, hi, dict(cond)))

    @staticmethod
    def _grain_fit(
        result: TaskResult,
        per_clip: dict[str, dict[str, Any]],
        levels: list[float],
        seed: int,
        n_boot: int,
    ) -> None:
        """Per clip, a line of ESR (dB) against measured PSNR over the noise points."""
        points = [per_clip[f"noise@{lv}"] for lv in levels if f"noise@{lv}" in per_clip]
        if len(points) < 2:
            return
        x = np.stack([p["psnr"] for p in points], axis=1)  # (clips, levels)
        y = np.stack([p["esr"] for p in points], axis=1)
        xc = x - x.mean(1, keepdims=True)
        slope = (xc * (y - y.mean(1, keepdims=True))).sum(1) / (xc**2).sum(1)
        level40 = y.mean(1) + slope * (40.0 - x.mean(1))
        for name, values in (("grain_slope", slope), ("grain_level", level40)):
            mean, lo, hi = bootstrap_ci(values, seed=seed, n_boot=n_boot)
            result.metrics.append(MetricValue(name, mean, lo, hi, {"error": "noise"}))
        result.data["grain"] = {
            "slope": float(np.mean(slope)),
            "level_at_40db": float(np.mean(level40)),
        }

    @staticmethod
    def _wavs(
        ctx: RunContext,
        result: TaskResult,
        clean: torch.Tensor,
        examples: dict[str, tuple[float | None, torch.Tensor]],
        n: int,
    ) -> None:
        """Per example clip: the clean decode, each error's decode (targeted errors at the
        level nearest 40 dB) and each error alone, level-normalised, with listen rows
        (:mod:`grainbench.tasks.listen`)."""
        sr = ctx.rep.sample_rate
        for i in range(min(n, len(clean))):
            audio = clean[i].cpu().numpy()
            path = save_wav(ctx.out_dir / f"clip{i}_clean.wav", audio, sr)
            clean_path = ctx.relpath(path)
            result.artifacts.append(Artifact(clean_path, "wav", f"clip {i}: decoded clean image"))
            grainy = {}
            for kind, (level, decoded) in examples.items():
                tag = kind if level is None else f"{kind}_{_label(level)}db"
                caption = EXAMPLE_CAPTIONS[kind].format(level=_label(level or 0))
                audio = decoded[i].cpu().numpy()
                path = save_wav(ctx.out_dir / f"clip{i}_{tag}.wav", audio, sr)
                result.artifacts.append(Artifact(ctx.relpath(path), "wav", f"clip {i}: {caption}"))
                grainy[tag] = (caption, ctx.relpath(path), audio)
            listen.grain_rows(ctx, result, i, (clean_path, clean[i].cpu().numpy()), grainy)


EXAMPLE_CAPTIONS = {
    "noise": "white noise at image PSNR {level} dB",
    "blur": "Gaussian blur at image PSNR {level} dB",
    "quant8": "8-bit quantised image",
    "shift-rows": "image shifted down by one pixel",
    "shift-cols": "image shifted right by one pixel",
}
