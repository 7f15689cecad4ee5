"""Writing the pictures and sounds a person looks at and listens to."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402


def save_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``audio`` (channels, samples) in [-1, 1] as a 16-bit PCM WAV (plays in browsers).

    Values beyond ±1 are clipped for the file only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0).T
    tmp = path.with_name(f".{path.name}.tmp")
    sf.write(tmp, data, int(sample_rate), subtype="PCM_16", format="WAV")
    tmp.replace(path)
    return path


IMAGE_DB_RANGE = 100.0
"""The widest range (dB) an encoded-image picture shows below its loudest pixel."""


def image_db(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``20·log10|x|`` of an image (dB re 1; ``−inf`` for 0) and the colour range shown:
    from the 1st percentile of the non-zero pixels (at most :data:`IMAGE_DB_RANGE` below the
    loudest) to the loudest."""
    magnitude = np.abs(np.asarray(image, dtype=np.float64))
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(magnitude)
    finite = db[np.isfinite(db)]
    if not finite.size:
        return db, -1.0, 0.0
    hi = float(finite.max())
    lo = max(float(np.percentile(finite, 1)), hi - IMAGE_DB_RANGE)
    return db, (lo if lo < hi else hi - 1.0), hi


def save_image_picture(path: Path, image: np.ndarray, title: str) -> Path:
    """A picture of an encoded image (C, H, W): one panel per channel, the magnitude of each
    pixel in dB (:func:`image_db`), so that a sparse image (a DCT's few loud coefficients)
    shows its quiet structure too; zero pixels are grey."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db, lo, hi = image_db(image)
    c, h, w = db.shape
    aspect = "auto" if max(h, w) / max(1, min(h, w)) > 8 else "equal"
    fig, axes = plt.subplots(1, c, figsize=(4.2 * c, 4), squeeze=False)
    cmap = plt.get_cmap("magma").with_extremes(bad="0.8")
    for i, ax in enumerate(axes[0]):
        im = ax.imshow(
            np.ma.masked_invalid(db[i]),
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            aspect=aspect,
            interpolation="nearest",
        )
        ax.set_xlabel("image column (pixel)")
        ax.set_ylabel("image row (pixel)")
        ax.set_title(f"channel {i}" if c > 1 else "image")
        fig.colorbar(im, ax=ax, fraction=0.046, label="|pixel value| (dB re 1)")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
