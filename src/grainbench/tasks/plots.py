"""Pictures of the grain tasks: per-pixel heatmaps, grain curves, atom-position arrows and
grain-colour curves.

Every picture is written with matplotlib's Agg backend, atomically (temporary file, then
rename), with axes labelled in their units: per-pixel maps in dB or on a log colour scale
with a colour bar, and in Hz and seconds where the image axes run along frequency and time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

if TYPE_CHECKING:
    from grainbench.tasks.image_axes import Axis, ImageAxes


def _save(fig: Any, path: Path, dpi: int = 90) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    tmp.replace(path)
    return path


def colour_norm(values: np.ndarray, unit: str) -> tuple[Normalize, str]:
    """The colour scale of one map and the note for its colour bar.

    Values in dB are already logarithmic: a linear scale of them. Positive values spanning
    a factor of 10 or more (spreads in s or ERB): a log scale. The range is the 1st to 99th
    percentile of the finite values (a ±1 % range around a nearly constant map).
    """
    finite = values[np.isfinite(values)]
    lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
    if unit != "dB" and finite.size and lo > 0 and hi / lo >= 10.0:
        return LogNorm(vmin=lo, vmax=hi), ", log scale"
    if hi - lo <= 1e-6 * max(1.0, abs(hi)):  # (nearly) constant: a readable ±1% range
        pad = max(0.01 * abs(hi), 1e-3)
        lo, hi = lo - pad, hi + pad
    return Normalize(vmin=lo, vmax=hi), ""


def _ticks(axis: Axis) -> tuple[np.ndarray, list[str]]:
    """Pixel positions and labels of round physical values along an image axis."""
    values = axis.values
    idx = np.arange(len(values), dtype=np.float64)
    if values[-1] < values[0]:
        values, idx = values[::-1], idx[::-1]
    values = np.maximum.accumulate(values)
    lo, hi = float(values[0]), float(values[-1])
    nice = np.array([])
    if axis.quantity == "frequency" and lo > 0:
        decades = 10.0 ** np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
        nice = np.array([m * d for d in decades for m in (1, 2, 5)])
        nice = nice[(nice >= lo) & (nice <= hi)]
    if nice.size < 3:
        nice = MaxNLocator(nbins=5).tick_values(lo, hi)
        nice = nice[(nice >= lo) & (nice <= hi)]
    positions = np.interp(nice, values, idx)
    keep: list[int] = []  # from the largest value down, ticks at least 1/12 of the axis apart
    for i in np.argsort(-nice):
        if all(abs(positions[i] - positions[j]) >= len(values) / 12 for j in keep):
            keep.append(int(i))
    keep.sort()
    nice, positions = nice[keep], positions[keep]
    if axis.quantity == "frequency":
        labels = [f"{v / 1000:g}k" if v >= 1000 else f"{v:g}" for v in nice]
    else:
        labels = [f"{v:g}" for v in nice]
    return positions, labels


def physical_axes(ax: Any, axes: ImageAxes | None) -> None:
    """Label an image panel's rows and columns by their physical quantity where they run
    along one (:mod:`grainbench.tasks.image_axes`), else by pixel index."""
    rows = axes.rows if axes is not None else None
    cols = axes.cols if axes is not None else None
    if rows is not None:
        ax.set_yticks(*_ticks(rows))
    ax.set_ylabel(rows.label if rows is not None else "image row (pixel)")
    if cols is not None:
        ax.set_xticks(*_ticks(cols))
    ax.set_xlabel(cols.label if cols is not None else "image column (pixel)")


def heatmaps(
    path: Path,
    maps: Sequence[tuple[str, str, np.ndarray]],
    title: str,
    cmap: str = "magma",
    axes: ImageAxes | None = None,
) -> Path:
    """One row of panels per image channel, one column per map.

    ``maps`` holds ``(name, unit, array (C, H, W))``; NaN pixels (not measured) are grey.
    Colours follow :func:`colour_norm` (dB linear, positive spreads on a log scale), with a
    colour bar per panel. With ``axes`` the image rows and columns are labelled in Hz or
    seconds where they run along frequency or time (:func:`physical_axes`). Very wide or
    tall images are drawn with a free aspect ratio so that they stay readable.
    """
    c, h, w = maps[0][2].shape
    aspect = "auto" if max(h, w) / max(1, min(h, w)) > 8 else "equal"
    fig, grid = plt.subplots(c, len(maps), figsize=(3.8 * len(maps), 3.4 * c + 0.6), squeeze=False)
    for col, (name, unit, arr) in enumerate(maps):
        norm, note = colour_norm(arr, unit)
        for ch in range(c):
            ax = grid[ch][col]
            cm = plt.get_cmap(cmap).with_extremes(bad="0.8")
            im = ax.imshow(
                np.ma.masked_invalid(arr[ch]),
                cmap=cm,
                norm=norm,
                aspect=aspect,
                interpolation="nearest",
            )
            physical_axes(ax, axes)
            ax.set_title(name if c == 1 else f"{name}, channel {ch}", fontsize=9)
            label = f"{name} ({unit}{note})" if unit else f"{name}{' (log scale)' if note else ''}"
            fig.colorbar(im, ax=ax, fraction=0.046, label=label)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def grain_curves(
    path: Path,
    curves: dict[str, dict[str, list[float]]],
    title: str,
    background: dict[str, dict[str, list[float]]] | None = None,
    size: tuple[float, float] = (10.0, 4.0),
) -> Path:
    """Sound error against image PSNR, one line (or point) per error kind.

    ``curves[kind]`` holds lists ``psnr`` (dB), ``esr`` (dB) and ``audibility`` (dB); the left
    panel shows ESR, the right one the worst-frame noise-to-mask ratio with the 0 dB line
    (above it the error is audible). ``background`` (label → curve of the same form, e.g.
    the noise curves of other representations) is drawn faintly behind, in grey.
    ``size`` is the figure size in inches.
    """
    fig, (ax_esr, ax_nmr) = plt.subplots(1, 2, figsize=size)
    for i, c in enumerate((background or {}).values()):
        style = dict(color="0.6", lw=1.0, alpha=0.45, zorder=1)
        style["label"] = None if i else "other representations (noise)"
        for ax, key in ((ax_esr, "esr"), (ax_nmr, "audibility")):
            x, y = _sorted_points(c, key)
            ax.plot(x, y, **style)
    markers = "osD^v<>p*h"
    for i, (kind, c) in enumerate(curves.items()):
        style = dict(marker=markers[i % len(markers)], label=kind, zorder=3)
        ax_esr.plot(*_sorted_points(c, "esr"), **style)
        ax_nmr.plot(*_sorted_points(c, "audibility"), **style)
    ax_nmr.axhline(0.0, color="0.5", lw=0.8, ls="--")
    for ax, label in ((ax_esr, "sound ESR (dB)"), (ax_nmr, "worst-frame NMR (dB)")):
        ax.set_xlabel("image PSNR (dB, peak = 2)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_esr.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def grain_colour(path: Path, curves: dict[str, dict[str, Any]], title: str) -> Path:
    """Residual-to-signal ratio (dB) per 1-ERB band, one line with its interval per residual.

    ``curves[label]`` is a :func:`grainbench.metrics.colour.colour_curve` result; the lower
    panel shows where the signal's power lies (share per band, the first curve's).
    """
    fig, (ax, ax_share) = plt.subplots(
        2, 1, figsize=(8, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for label, c in curves.items():
        hz = np.asarray(c["band_hz"], dtype=float)
        as_float = lambda v: np.array([np.nan if x is None else x for x in v], dtype=float)  # noqa: E731
        ratio, low, high = as_float(c["ratio_db"]), as_float(c["low"]), as_float(c["high"])
        (line,) = ax.plot(hz, ratio, marker="o", ms=3, label=label)
        ax.fill_between(hz, low, high, color=line.get_color(), alpha=0.2, lw=0)
    first = next(iter(curves.values()))
    ax_share.bar(
        first["band_hz"],
        100.0 * np.asarray(first["signal_share"]),
        width=np.diff(first["band_hz"], prepend=0.0) * 0.8,
        align="center",
        color="0.5",
    )
    ax.set_xscale("log")
    ax.set_ylabel("residual-to-signal ratio (dB)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax_share.set_xlabel("1-ERB band centre (Hz)")
    ax_share.set_ylabel("signal power (%)")
    ax_share.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _sorted_points(curve: dict[str, list[float]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """``(psnr, curve[key])`` sorted by PSNR, as float arrays (None → NaN)."""
    psnr = np.asarray(curve["psnr"], dtype=float)
    order = np.argsort(psnr)
    return psnr[order], np.asarray(curve[key], dtype=float)[order]


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

    ``rows`` are :func:`grainbench.tasks.neighbours.band_rows`' rows. Left: the median
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


def save_image_grid(path: Path, images: np.ndarray) -> Path:
    """A grid picture of images ``(n, C, H, W)`` (channel 0), colour scale fixed to [-1, 1]."""
    n, _, h, w = images.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    aspect = "auto" if max(h, w) / max(1, min(h, w)) > 8 else "equal"
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.8 * cols + 1.0, 2.7 * rows), squeeze=False, layout="constrained"
    )
    im = None
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        im = ax.imshow(
            images[i, 0], cmap="RdBu_r", vmin=-1, vmax=1, aspect=aspect, interpolation="nearest"
        )
        ax.set_title(f"sample {i}", fontsize=8)
        ax.set_xlabel("column (pixel)", fontsize=7)
        ax.set_ylabel("row (pixel)", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, label="pixel value")
    return _save(fig, path, dpi=80)
