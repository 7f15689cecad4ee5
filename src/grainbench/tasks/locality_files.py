"""What the locality task writes besides its metrics: the per-band table and its picture,
centroid maps and the neighbour-arrow picture (:mod:`grainbench.tasks.locality`)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np

from grainbench import results
from grainbench.analysis.pixels import region_map, to_map
from grainbench.metrics.erb import hz_to_erb_rate
from grainbench.tasks import plots
from grainbench.tasks.base import Artifact, RunContext, TaskResult, save_array


def write_bands(
    ctx: RunContext, result: TaskResult, rows: list[dict[str, Any]], width: float
) -> None:
    """The per-band table as JSON and CSV, and its picture."""
    if not rows:
        return
    path = ctx.out_dir / "bands.json"
    results.write_json(path, {"band_width_erb": width, "rows": rows})
    result.artifacts.append(
        Artifact(ctx.relpath(path), "json", "locality per ERB-rate band of the anchor")
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = ctx.out_dir / "bands.csv"
    results.atomic_write_text(path, buf.getvalue())
    result.artifacts.append(
        Artifact(ctx.relpath(path), "csv", "locality per ERB-rate band of the anchor")
    )
    path = plots.band_locality(
        ctx.out_dir / "bands.png", rows, f"{ctx.rep.name}: neighbour distance per band"
    )
    result.artifacts.append(
        Artifact(ctx.relpath(path), "png", "neighbour distance against band centre")
    )


def write_pictures(
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
        caption = f"atom {key.replace('_', ' ')} per pixel ({unit}), NaN = not measured"
        save_array(ctx, result, f"{key}.npy", full, caption)
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
        Artifact(ctx.relpath(path), "png", "atoms of a few pixels and their right/down neighbours")
    )
