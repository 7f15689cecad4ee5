"""Pictures of the grain tasks: per-pixel heatmaps, grain curves and atom-position arrows.

Every picture is written with matplotlib's Agg backend, atomically (temporary file, then
rename), with axes labelled in their units.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path


def heatmaps(
    path: Path,
    maps: Sequence[tuple[str, str, np.ndarray]],
    title: str,
    cmap: str = "magma",
) -> Path:
    """One row of panels per image channel, one column per map.

    ``maps`` holds ``(name, unit, array (C, H, W))``; NaN pixels (not measured) are grey.
    Very wide or tall images are drawn with a free aspect ratio so that they stay readable.
    """
    c, h, w = maps[0][2].shape
    aspect = "auto" if max(h, w) / max(1, min(h, w)) > 8 else "equal"
    fig, axes = plt.subplots(c, len(maps), figsize=(3.6 * len(maps), 3.3 * c + 0.6), squeeze=False)
    for col, (name, unit, arr) in enumerate(maps):
        finite = arr[np.isfinite(arr)]
        lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
        if hi - lo <= 1e-6 * max(1.0, abs(hi)):  # (nearly) constant: a readable ±1% range
            pad = max(0.01 * abs(hi), 1e-3)
            lo, hi = lo - pad, hi + pad
        for ch in range(c):
            ax = axes[ch][col]
            cm = plt.get_cmap(cmap).with_extremes(bad="0.8")
            im = ax.imshow(
                np.ma.masked_invalid(arr[ch]),
                cmap=cm,
                vmin=lo,
                vmax=hi,
                aspect=aspect,
                interpolation="nearest",
            )
            ax.set_xlabel("image column (pixel)")
            ax.set_ylabel("image row (pixel)")
            ax.set_title(name if c == 1 else f"{name}, channel {ch}", fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046, label=f"{name} ({unit})" if unit else name)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def grain_curves(path: Path, curves: dict[str, dict[str, list[float]]], title: str) -> Path:
    """Sound error against image PSNR, one line (or point) per error kind.

    ``curves[kind]`` holds lists ``psnr`` (dB), ``esr`` (dB) and ``audibility`` (dB); the left
    panel shows ESR, the right one the worst-frame noise-to-mask ratio with the 0 dB line
    (above it the error is audible).
    """
    fig, (ax_esr, ax_nmr) = plt.subplots(1, 2, figsize=(10, 4))
    markers = "osD^v<>p*h"
    for i, (kind, c) in enumerate(curves.items()):
        psnr = np.asarray(c["psnr"], dtype=float)
        order = np.argsort(psnr)
        style = dict(marker=markers[i % len(markers)], label=kind)
        ax_esr.plot(psnr[order], np.asarray(c["esr"], dtype=float)[order], **style)
        ax_nmr.plot(psnr[order], np.asarray(c["audibility"], dtype=float)[order], **style)
    ax_nmr.axhline(0.0, color="0.5", lw=0.8, ls="--")
    for ax, label in ((ax_esr, "sound ESR (dB)"), (ax_nmr, "worst-frame NMR (dB)")):
        ax.set_xlabel("image PSNR (dB, peak = 2)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_esr.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def atom_positions(
    path: Path,
    anchors: Sequence[tuple[str, float, float]],
    neighbours: Sequence[tuple[int, str, float, float]],
    title: str,
    limits: tuple[float, float],
    scales: tuple[float, float],
) -> Path:
    """Atoms of a few pixels and their neighbours in the time × ERB-rate plane.

    ``anchors`` holds ``(label, time s, ERB-rate)``; ``neighbours`` holds ``(anchor index,
    direction, time s, ERB-rate)``; an arrow joins each anchor to each of its neighbours,
    coloured by direction. The axes span the clip (``limits``: duration in s, top ERB-rate);
    around each anchor a dashed ellipse of half-axes ``scales`` (s, ERB) marks distance 1,
    inside which a neighbour counts as local.
    """
    colours = {"right": "tab:blue", "down": "tab:red", "channel": "tab:green"}
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for label, t, f in anchors:
        ax.add_patch(
            Ellipse((t, f), 2 * scales[0], 2 * scales[1], fill=False, ls="--", lw=0.8, color="0.4")
        )
        ax.plot(t, f, "ko", ms=5)
        ax.annotate(label, (t, f), textcoords="offset points", xytext=(5, 5), fontsize=7)
    seen = set()
    for i, direction, t, f in neighbours:
        _, t0, f0 = anchors[i]
        colour = colours.get(direction, "tab:purple")
        ax.annotate(
            "", xy=(t, f), xytext=(t0, f0), arrowprops=dict(arrowstyle="->", color=colour, lw=1.2)
        )
        ax.plot(t, f, "o", color=colour, ms=3, label=None if direction in seen else direction)
        seen.add(direction)
    ax.set_xlim(0.0, limits[0])
    ax.set_ylim(0.0, limits[1])
    ax.set_xlabel("atom time centroid (s)")
    ax.set_ylabel("atom frequency centroid (ERB-rate, ERB)")
    ax.grid(alpha=0.3)
    if seen:
        ax.legend(title="neighbour", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def band_locality(path: Path, rows: Sequence[dict[str, Any]], title: str) -> Path:
    """Neighbour distance against band centre (Hz, log axis), one colour per direction.

    ``rows`` are :func:`grainbench.tasks.locality.band_rows`' rows. Left: the median
    distance, energy-weighted (solid) and unweighted (dashed), with the d = 1 line (below it
    neighbours are local). Right: each band's share of the direction's pair energy.
    """
    colours = {"right": "tab:blue", "down": "tab:red", "channel": "tab:green"}
    fig, (ax_d, ax_w) = plt.subplots(1, 2, figsize=(11, 4))
    for direction in dict.fromkeys(r["direction"] for r in rows):
        mine = [r for r in rows if r["direction"] == direction]
        hz = np.array([r["centre_hz"] for r in mine])
        colour = colours.get(direction, "tab:purple")
        for key, style, what in (
            ("distance_energy", "-o", "energy"),
            ("distance_none", "--", "none"),
        ):
            ax_d.plot(
                hz,
                [r[key] for r in mine],
                style,
                color=colour,
                ms=3,
                label=f"{direction}, weight={what}",
            )
        ax_w.plot(hz, [r["weight_share"] for r in mine], "-o", color=colour, ms=3, label=direction)
    ax_d.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax_d.set_yscale("log")
    ax_d.set_ylabel("median neighbour distance d")
    ax_w.set_ylabel("share of the pair energy")
    for ax in (ax_d, ax_w):
        ax.set_xscale("log")
        ax.set_xlabel("band centre (Hz; bands of equal ERB-rate width)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
