"""Neighbour locality of the image layout (SPEC 4.3).

Each pixel's *atom* is its one-pixel error at δ = 2/255 on the mean training image
(:class:`grainbench.tasks.perturbation.PixelErrors`: exact, closed form for DCT atoms).
Its place in sound is its time centroid (s) and its ERB-rate centroid. The ERB-rate
centroid is that of its spectrogram (the masking model's,
:class:`grainbench.metrics.masking.MaskingModel`), as SPEC 4.3 says; the time centroid is
that of its energy ``e[n]²`` instead, because the spectrogram's frames (≈ 20 ms, hop 10 ms)
blur and bias the time of short atoms by milliseconds — the scale being measured (two
adjacent samples could come out up to ~3 ms apart). For long atoms the two agree. Image neighbours —
right, down, and the next image channel when C > 1 — are compared by
``d = sqrt((Δt / 10 ms)² + (Δf / 1 ERB)²)``: per direction the median d and the share of
pairs with d ≤ 1. Atom compactness is ``4π·σt·σf`` on the atoms themselves
(:func:`grainbench.metrics.grain.atom_moments`), for a seeded subset of atoms. From data:
per training image, the Pearson correlation of every pixel with its neighbour, averaged
over images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.errors import UserError
from grainbench.metrics.erb import hz_to_erb_rate
from grainbench.metrics.grain import atom_moments, bootstrap_percentile
from grainbench.metrics.phase import phase_wrap_shares
from grainbench.metrics.stats import bootstrap_ci
from grainbench.registry import TASKS
from grainbench.tasks import plots
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskResult
from grainbench.tasks.params import MAX_BOOT, Int, Ratio, Real
from grainbench.tasks.perturbation import (
    CHUNK_SAMPLES,
    COSINE_CHUNK,
    ErrorAnalyser,
    PixelErrors,
    chunks,
    parse_delta,
    region_map,
    sample_pixels,
    to_map,
)

DIRECTIONS = {"right": (0, 0, 1), "down": (0, 1, 0), "channel": (1, 0, 0)}
"""Offsets (channel, row, column) of each neighbour direction."""


def neighbours(
    pixels: np.ndarray, shape: tuple[int, int, int], direction: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(anchors, their neighbours)``: flat indices of the pixels that have one in ``direction``."""
    c, h, w = shape
    dc, dh, dw = DIRECTIONS[direction]
    ch, rem = np.divmod(pixels, h * w)
    row, col = np.divmod(rem, w)
    ok = (ch + dc < c) & (row + dh < h) & (col + dw < w)
    anchors = pixels[ok]
    return anchors, anchors + dc * h * w + dh * w + dw


def image_correlations(images: torch.Tensor, direction: str) -> np.ndarray:
    """Per image, the Pearson correlation of each pixel with its neighbour in ``direction``.

    ``images (B, C, H, W)``; NaN for an image where either side has no variance.
    """
    dc, dh, dw = DIRECTIONS[direction]
    _, c, h, w = images.shape
    a = images[:, : c - dc, : h - dh, : w - dw].reshape(images.shape[0], -1).double()
    b = images[:, dc:, dh:, dw:].reshape(images.shape[0], -1).double()
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean(-1, keepdim=True)
    den = (a.pow(2).sum(-1) * b.pow(2).sum(-1)).sqrt()
    r = (a * b).sum(-1) / den
    return torch.where(den > 0, r, torch.full_like(r, math.nan)).cpu().numpy()


def picture_pixels(shape: tuple[int, int, int]) -> np.ndarray:
    """A few pixels spread over channel 0 (rows at 1/8, 1/2, 7/8; columns at 1/4, 3/4)."""
    _, h, w = shape
    rows = sorted({min(h - 1, int(h * f)) for f in (0.125, 0.5, 0.875)})
    cols = sorted({min(w - 1, int(w * f)) for f in (0.25, 0.75)})
    return np.array([r * w + q for r in rows for q in cols], dtype=np.int64)


class LocalityTask:
    """Where neighbouring pixels' atoms sit in time and frequency (SPEC 4.3)."""

    name = "locality"
    in_default_run = True
    #: the board's sort key and columns (see grainbench.leaderboard): the vertical
    #: neighbour is the one a row-major fold breaks
    headline = "neighbour_distance[direction=down]"
    key_metrics = [
        "neighbour_distance[direction=down]",
        "neighbour_distance[direction=right]",
        "neighbour_correlation[direction=down]",
        "neighbour_correlation[direction=right]",
        "local_fraction[direction=down]",
        "gabor_ratio[stat=median]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Anchor pixels (count or ``"all"``), δ, distance scales, Gabor subset, batches."""
        return {
            "n_pixels": 1024,
            "delta": "2/255",
            "time_scale_s": 0.010,
            "freq_scale_erb": 1.0,
            "n_gabor": 256,
            "n_boot": 1000,
            "batch_size": 32,
        }

    param_schema = {
        "n_pixels": Int(1, words=("all",)),
        "delta": Ratio(),
        "time_scale_s": Real(0, low_open=True),
        "freq_scale_erb": Real(0, low_open=True),
        "n_gabor": Int(1),
        "n_boot": Int(1, MAX_BOOT),
        "batch_size": Int(1),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Atom centroids of anchors and neighbours, distances, Gabor ratios, correlations."""
        rep = ctx.rep
        shape = tuple(rep.image_shape)
        label, delta = parse_delta(params["delta"])
        tau, phi = float(params["time_scale_s"]), float(params["freq_scale_erb"])
        if not (tau > 0 and phi > 0):
            raise UserError("locality time_scale_s and freq_scale_erb must be positive")
        n_boot = int(params["n_boot"])
        mean_image, correlations = self._from_training(ctx, int(params["batch_size"]))
        with torch.no_grad():
            base_audio = rep.decode(mean_image)
        anchors, strata, complete = sample_pixels(shape, params["n_pixels"], ctx.seed)
        extra = picture_pixels(shape)
        pairs = {}
        for direction in ("right", "down", "channel"):
            a, b = neighbours(np.unique(np.concatenate([anchors, extra])), shape, direction)
            if len(a):
                pairs[direction] = (a, b)
        needed = np.unique(np.concatenate([anchors, extra, *[b for _, b in pairs.values()]]))
        errors = PixelErrors(rep, ctx.device)
        analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples, ctx.device)
        t_c, f_c = self._centroids(ctx, errors, analyser, mean_image, base_audio, needed, delta)
        result = TaskResult()
        result.data = {
            "method": errors.mode,
            "delta": label,
            "n_anchors": int(len(anchors)),
            "all_pixels": complete,
            "time_scale_s": tau,
            "freq_scale_erb": phi,
            "directions": {},
        }
        for direction, (a, b) in pairs.items():
            ia, ib = np.searchsorted(needed, a), np.searchsorted(needed, b)
            dt, df = t_c[ib] - t_c[ia], f_c[ib] - f_c[ia]
            d = np.sqrt((dt / tau) ** 2 + (df / phi) ** 2)
            in_sample = np.isin(a, anchors)
            d, dt, df = d[in_sample], dt[in_sample], df[in_sample]
            pair_strata = strata[np.searchsorted(anchors, a[in_sample])]
            cond = {"direction": direction}
            if complete:
                med = float(np.nanmedian(d))
                local = float(np.nanmean(d <= 1.0))
                result.metrics.append(MetricValue("neighbour_distance", med, None, None, cond))
                result.metrics.append(MetricValue("local_fraction", local, None, None, cond))
            else:
                med, lo, hi = bootstrap_percentile(
                    d, 50.0, strata=pair_strata, seed=ctx.seed, n_boot=n_boot
                )
                result.metrics.append(MetricValue("neighbour_distance", med, lo, hi, cond))
                finite = np.isfinite(d)
                local, lo, hi = bootstrap_ci(
                    (d[finite] <= 1.0).astype(float), seed=ctx.seed, n_boot=n_boot
                )
                result.metrics.append(MetricValue("local_fraction", local, lo, hi, cond))
            r_mean, r_lo, r_hi = bootstrap_ci(correlations[direction], seed=ctx.seed, n_boot=n_boot)
            if math.isfinite(r_mean):
                result.metrics.append(
                    MetricValue("neighbour_correlation", r_mean, r_lo, r_hi, cond)
                )
            result.data["directions"][direction] = {
                "n_pairs": int(len(d)),
                "median_distance": med,
                "local_fraction": local,
                "median_abs_dt_s": float(np.nanmedian(np.abs(dt))),
                "median_abs_df_erb": float(np.nanmedian(np.abs(df))),
                "neighbour_correlation": r_mean,
            }
        self._gabor(
            ctx,
            result,
            errors,
            mean_image,
            base_audio,
            anchors,
            delta,
            int(params["n_gabor"]),
            n_boot,
        )
        self._pictures(
            ctx,
            result,
            shape,
            needed,
            t_c,
            f_c,
            anchors,
            strata,
            complete,
            pairs,
            extra,
            (tau, phi),
        )
        # wrap edges of phase parts (grainbench.metrics.phase), per training clip
        batch = int(params["batch_size"])
        for (part, direction), shares in phase_wrap_shares(
            rep, ctx.dataset.train, ctx.device, batch
        ).items():
            share, lo, hi = bootstrap_ci(shares, seed=ctx.seed, n_boot=n_boot)
            cond = {"direction": direction, "part": part}
            result.metrics.append(MetricValue("wrap_fraction", share, lo, hi, cond))
        return result

    @staticmethod
    def _from_training(
        ctx: RunContext, batch_size: int
    ) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        """The mean training image and per-image neighbour correlations, in batches."""
        train = ctx.dataset.train
        total = None
        corr: dict[str, list[np.ndarray]] = {d: [] for d in DIRECTIONS}
        c = ctx.rep.image_shape[0]
        for sl in chunks(len(train), max(1, batch_size)):
            with torch.no_grad():
                images = ctx.rep.encode(torch.from_numpy(train[sl]).to(ctx.device)).double()
            total = images.sum(0) if total is None else total + images.sum(0)
            for direction in DIRECTIONS:
                if direction != "channel" or c > 1:
                    corr[direction].append(image_correlations(images, direction))
        mean = (total / len(train)).float()[None]
        return mean, {d: np.concatenate(v) if v else np.array([]) for d, v in corr.items()}

    @staticmethod
    def _centroids(
        ctx: RunContext,
        errors: PixelErrors,
        analyser: ErrorAnalyser,
        base: torch.Tensor,
        base_audio: torch.Tensor,
        pixels: np.ndarray,
        delta: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Spectrogram time and ERB-rate centroids of the atoms of ``pixels`` (NaN: no atom)."""
        pix = torch.from_numpy(pixels)
        t_out, f_out = np.full(len(pixels), np.nan), np.full(len(pixels), np.nan)
        n_ch = int(base_audio.shape[1])
        closed = errors.cosines(pix[:1]) is not None and analyser.model.supports_cosines(
            analyser.n_samples
        )
        size = COSINE_CHUNK if closed else max(1, CHUNK_SAMPLES // (analyser.n_samples * n_ch))
        for sl in ctx.progress(list(chunks(len(pixels), size)), desc="locality atoms"):
            t, f = analyser.centroids_of_pixels(errors, pix[sl], base, base_audio, delta)
            t_out[sl], f_out[sl] = t.numpy(), f.numpy()
        return t_out, f_out

    @staticmethod
    def _gabor(
        ctx: RunContext,
        result: TaskResult,
        errors: PixelErrors,
        base: torch.Tensor,
        base_audio: torch.Tensor,
        anchors: np.ndarray,
        delta: float,
        n_gabor: int,
        n_boot: int,
    ) -> None:
        """σt, σf and the Gabor ratio of a seeded subset of the anchors' atoms."""
        rng = np.random.default_rng(ctx.seed)
        subset = np.sort(
            rng.choice(anchors, size=min(max(1, n_gabor), len(anchors)), replace=False)
        )
        rows = []
        n = ctx.rep.n_samples * ctx.rep.n_channels
        for sl in chunks(len(subset), max(1, CHUNK_SAMPLES // (4 * n))):
            idx = torch.from_numpy(subset[sl])
            if errors.factorised:
                signals = errors.atoms(idx)
            else:
                signals = errors.decoded_errors(base[0], base_audio[0], idx, torch.tensor([delta]))[
                    :, 0
                ]
            m = atom_moments(signals, ctx.rep.sample_rate)
            rows.append(
                torch.stack([m["sigma_t"], m["sigma_f"], m["gabor_ratio"]], -1).cpu().numpy()
            )
        table = np.concatenate(rows)
        ratio = table[:, 2]
        med, lo, hi = bootstrap_percentile(ratio, 50.0, seed=ctx.seed, n_boot=n_boot)
        if math.isfinite(med):
            result.metrics.append(MetricValue("gabor_ratio", med, lo, hi, {"stat": "median"}))
        result.data["atoms"] = {
            "n_gabor": int(len(subset)),
            "median_sigma_t_s": float(np.nanmedian(table[:, 0])),
            "median_sigma_f_hz": float(np.nanmedian(table[:, 1])),
            "median_gabor_ratio": med,
        }

    @staticmethod
    def _pictures(
        ctx: RunContext,
        result: TaskResult,
        shape: tuple[int, int, int],
        pixels: np.ndarray,
        t_c: np.ndarray,
        f_c: np.ndarray,
        anchors: np.ndarray,
        strata: np.ndarray,
        complete: bool,
        pairs: dict[str, tuple[np.ndarray, np.ndarray]],
        extra: np.ndarray,
        scales: tuple[float, float],
    ) -> None:
        """Centroid maps (.npy and heatmap) and the neighbour-arrow picture."""
        name = ctx.rep.name
        panels = []
        for key, unit, values in (("time_centroid", "s", t_c), ("freq_centroid", "ERB", f_c)):
            full = to_map(values, pixels, shape)
            path = ctx.out_dir / f"{key}.npy"
            np.save(path, full)
            result.artifacts.append(
                Artifact(
                    ctx.relpath(path),
                    "npy",
                    f"atom {key.replace('_', ' ')} per pixel ({unit}), NaN = not measured",
                )
            )
            at = np.searchsorted(pixels, anchors)
            shown = full if complete else region_map(values[at], strata, shape)
            panels.append((key.replace("_", " "), unit, shown))
        path = plots.heatmaps(
            ctx.out_dir / "centroids.png",
            panels,
            f"{name}: where each pixel's atom sits",
            cmap="viridis",
        )
        result.artifacts.append(
            Artifact(ctx.relpath(path), "png", "atom time and ERB-rate centroid per pixel")
        )
        where = {p: i for i, p in enumerate(pixels)}
        marks, arrows = [], []
        w = shape[2]
        for p in extra:
            i = where[p]
            if not (math.isfinite(t_c[i]) and math.isfinite(f_c[i])):
                continue
            marks.append((f"({p // w}, {p % w})", float(t_c[i]), float(f_c[i])))
            for direction, (a, b) in pairs.items():
                hit = np.flatnonzero(a == p)
                if hit.size:
                    j = where[b[hit[0]]]
                    if math.isfinite(t_c[j]) and math.isfinite(f_c[j]):
                        arrows.append((len(marks) - 1, direction, float(t_c[j]), float(f_c[j])))
        rep = ctx.rep
        limits = (rep.n_samples / rep.sample_rate, float(hz_to_erb_rate(rep.sample_rate / 2)))
        path = plots.atom_positions(
            ctx.out_dir / "neighbours.png",
            marks,
            arrows,
            f"{name}: atoms of pixels (row, col) and their neighbours",
            limits,
            scales,
        )
        result.artifacts.append(
            Artifact(
                ctx.relpath(path), "png", "atoms of a few pixels and their right/down neighbours"
            )
        )


TASKS.register(
    "locality",
    LocalityTask(),
    "neighbour locality: time/ERB distance of neighbouring pixels' atoms, Gabor ratio, correlation",
)
