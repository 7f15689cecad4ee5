"""Physical axes of an image: which image axis runs along frequency or time, and where.

Along two parallel lines of pixels per image axis (for the rows: the columns at 1/2 and 1/4
of the width; for the columns: the rows at 1/2 and 1/4 of the height; channel 0; at most
:data:`PER_LINE` pixels each, evenly spaced) the atoms' time centroids (s) and ERB-rate
centroids are measured (:meth:`grainbench.analysis.shape.ErrorAnalyser.centroids_of_pixels`).
An image axis *runs along* a quantity when, on both lines, at least 80 % of the pixels have
a centroid, the quantity is monotonic along the line (Spearman |ρ| ≥ 0.95) and spans at
least a quarter of its range in the clip (the clip's duration, or the ERB-rate of the
Nyquist frequency), and the two lines agree (median difference at most a tenth of that
span: the axis means the same thing everywhere in the image). Each line is cleaned first:
gaps interpolated, a lone point against the line's direction replaced (an edge frame's
atom). The
axis's scale is the two lines' mean, made monotonic and interpolated between the measured
pixels (frequency on the ERB-rate scale). A time-frequency image (STFT, CQT, mel)
gets frequency along its rows and time along its columns; a folded DCT gets frequency
along its rows only; a space-filling curve gets neither, and keeps pixel axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.metrics.erb import erb_rate_to_hz, hz_to_erb_rate

MIN_RHO = 0.95
MIN_SPAN = 0.25
MIN_FINITE = 0.8
MAX_DISAGREEMENT = 0.1
PER_LINE = 24
CHUNK = 64


@dataclass(frozen=True)
class Axis:
    """An image axis that runs along a physical quantity: ``quantity`` is ``"frequency"``
    (``values`` in Hz) or ``"time"`` (s), one value per pixel index along the axis."""

    quantity: str
    values: np.ndarray

    @property
    def label(self) -> str:
        """The axis label, e.g. ``"frequency (Hz, atom centroid)"``."""
        unit = "Hz" if self.quantity == "frequency" else "s"
        return f"{self.quantity} ({unit}, atom centroid)"


@dataclass(frozen=True)
class ImageAxes:
    """The physical axis of image rows and of image columns (None where there is none)."""

    rows: Axis | None
    cols: Axis | None


def _clean(series: np.ndarray) -> np.ndarray:
    """Gaps filled by linear interpolation; then a lone point against the series' direction
    (an edge frame's atom) is replaced: at an end, a step backwards by the line through the
    next two points; inside, a local extreme by the median of it and its neighbours."""
    finite = np.isfinite(series)
    if finite.sum() < 3:
        return series
    idx = np.arange(len(series))
    x = np.interp(idx, idx[finite], series[finite])
    sign = np.sign(np.median(np.diff(x))) or 1.0
    if (x[1] - x[0]) * sign < 0:
        x[0] = 2 * x[1] - x[2]
    if (x[-1] - x[-2]) * sign < 0:
        x[-1] = 2 * x[-2] - x[-3]
    out = x.copy()
    step = np.diff(x)
    extreme = np.flatnonzero(step[:-1] * step[1:] < 0) + 1
    out[extreme] = np.median(np.stack([x[extreme - 1], x[extreme], x[extreme + 1]]), axis=0)
    return out


def _monotonic(series: np.ndarray, span: float) -> bool:
    if np.isfinite(series).mean() < MIN_FINITE or np.isfinite(series).sum() < 3:
        return False
    values = _clean(series)
    if np.ptp(values) < MIN_SPAN * span:
        return False
    rho = spearmanr(np.arange(len(values)), values).statistic
    return bool(np.isfinite(rho) and abs(rho) >= MIN_RHO)


def _runs_along(lines: tuple[np.ndarray, np.ndarray], span: float) -> bool:
    """Monotonic and wide on both lines, and the same on both (see the module docstring)."""
    a, b = lines
    if not (_monotonic(a, span) and _monotonic(b, span)):
        return False
    return bool(np.median(np.abs(_clean(a) - _clean(b))) <= MAX_DISAGREEMENT * span)


def _scale(
    quantity: str, index: np.ndarray, lines: tuple[np.ndarray, np.ndarray], length: int
) -> np.ndarray:
    """Time (s) or frequency (Hz) at every index ``0 … length − 1``: the two lines' cleaned
    mean at the measured ``index``, made monotonic, interpolated between (frequency on the
    ERB-rate scale)."""
    mean = (_clean(lines[0]) + _clean(lines[1])) / 2.0
    if mean[-1] >= mean[0]:
        mono = np.maximum.accumulate(mean)
    else:
        mono = np.minimum.accumulate(mean)
    values = np.interp(np.arange(length), index, mono)
    return np.asarray(erb_rate_to_hz(values)) if quantity == "frequency" else values


def _line_pixels(length: int) -> np.ndarray:
    return np.unique(np.linspace(0, length - 1, min(length, PER_LINE)).round().astype(np.int64))


def image_axes(
    errors: PixelErrors,
    analyser: ErrorAnalyser,
    image: torch.Tensor,
    decoded: torch.Tensor,
    delta: float,
) -> ImageAxes:
    """The physical axes of a representation's images, measured on one base ``image
    (1, C, H, W)`` with its decode ``decoded (1, ch, n)`` at one-pixel change ``delta``."""
    _, h, w = errors.image_shape
    rows, cols = _line_pixels(h), _line_pixels(w)
    lines = {  # flat pixel indices of the two parallel lines along each image axis
        "rows": (rows * w + w // 2, rows * w + w // 4),
        "cols": ((h // 2) * w + cols, (h // 4) * w + cols),
    }
    spans = {
        "time": analyser.n_samples / analyser.sample_rate,
        "frequency": float(hz_to_erb_rate(analyser.sample_rate / 2)),
    }
    found: dict[str, Axis | None] = {}
    for name, pair in lines.items():
        index, length = (rows, h) if name == "rows" else (cols, w)
        measured = [_centroids(errors, analyser, image, decoded, delta, p) for p in pair]
        found[name] = None
        for quantity, k in (("frequency", 1), ("time", 0)):
            series = (measured[0][k], measured[1][k])
            if _runs_along(series, spans[quantity]):
                found[name] = Axis(quantity, _scale(quantity, index, series, length))
                break
    return ImageAxes(rows=found["rows"], cols=found["cols"])


def _centroids(
    errors: PixelErrors,
    analyser: ErrorAnalyser,
    image: torch.Tensor,
    decoded: torch.Tensor,
    delta: float,
    pixels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Time (s) and ERB-rate centroids of the atoms of ``pixels``, in chunks."""
    t_parts, f_parts = [], []
    for start in range(0, len(pixels), CHUNK):
        chunk = torch.from_numpy(pixels[start : start + CHUNK])
        t, f = analyser.centroids_of_pixels(errors, chunk, image, decoded, delta)
        t_parts.append(t.numpy())
        f_parts.append(f.numpy())
    return np.concatenate(t_parts), np.concatenate(f_parts)
