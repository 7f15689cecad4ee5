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


def save_image_picture(path: Path, image: np.ndarray, title: str) -> Path:
    """A picture of an encoded image (C, H, W): one panel per channel, values in [-1, 1]."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.asarray(image)
    c, h, w = image.shape
    aspect = "auto" if max(h, w) / max(1, min(h, w)) > 8 else "equal"
    fig, axes = plt.subplots(1, c, figsize=(4.2 * c, 4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        im = ax.imshow(
            image[i], cmap="RdBu_r", vmin=-1, vmax=1, aspect=aspect, interpolation="nearest"
        )
        ax.set_xlabel("image column (pixel)")
        ax.set_ylabel("image row (pixel)")
        ax.set_title(f"channel {i}" if c > 1 else "image")
        fig.colorbar(im, ax=ax, fraction=0.046, label="pixel value")
    fig.suptitle(title)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
