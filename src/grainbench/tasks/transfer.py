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
from grainbench.parts import image_parts
from grainbench.tasks import listen, plots
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.params import MAX_BOOT, Bool, Choice, Int, ListOf, Real
from grainbench.tasks.transfer_errors import (
    MirrorBlur,
    add_noise,
    level_label,
    part_perturbations,
    psnr_db,
    shift,
)

KINDS = ("noise", "blur", "quant8", "shift-rows", "shift-cols")
TARGETED = ("noise", "blur")


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


class TransferTask(TaskDefaults):
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
            cond = {"error": kind} if level is None else {"error": kind, "psnr": level_label(level)}
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
        """Each error within one image part at a time (:func:`~grainbench.tasks.transfer_errors.part_perturbations`): rows
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
                tag = kind if level is None else f"{kind}_{level_label(level)}db"
                caption = EXAMPLE_CAPTIONS[kind].format(level=level_label(level or 0))
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
