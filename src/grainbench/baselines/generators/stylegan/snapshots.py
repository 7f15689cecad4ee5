"""What a training run writes at every snapshot: sample pictures, sounds and progress metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.baselines.generators.stylegan.train import Trainer, sample_images


def image_grid(images: torch.Tensor, columns: int | None = None) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] → one uint8 picture, 1-pixel gaps.

    Three channels become RGB; any other channel count is shown as grey tiles, the channels
    of one image side by side.
    """
    x = images.detach().float().cpu().clamp(-1, 1)
    n, c, h, w = x.shape
    rgb = c == 3
    tiles = x if rgb else x.permute(0, 2, 1, 3).reshape(n, 1, h, c * w)
    th, tw = tiles.shape[2], tiles.shape[3]
    cols = columns or max(1, min(n, int(math.ceil(math.sqrt(n * th / max(tw, 1))))))
    rows = int(math.ceil(n / cols))
    ch = 3 if rgb else 1
    canvas = np.full((rows * (th + 1) - 1, cols * (tw + 1) - 1, ch), 0, dtype=np.uint8)
    pix = ((tiles + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, cc = divmod(i, cols)
        canvas[r * (th + 1) : r * (th + 1) + th, cc * (tw + 1) : cc * (tw + 1) + tw] = pix[i]
    return canvas if rgb else canvas[:, :, 0]


class SnapshotWriter:
    """A :class:`Trainer` snapshot hook: PNG grid, WAVs and Fréchet distances per snapshot.

    Samples come from the EMA generator with fixed latents (``seed``), so snapshots show the
    same notes evolving; they are clipped to [-1, 1] before decoding, as the png codecs
    store them. ``decode`` maps images to audio (``None``: pictures only). ``embeddings`` maps a metric
    name (e.g. ``fd_crepe``) to a function audio → (N, d) embedding; ``reference_audio``
    (held-out clips) is embedded once and every snapshot's samples are compared with it by
    the Fréchet distance. Writes ``OUT/samples/<step>.png``, ``OUT/samples/<step>-<k>.wav``
    and appends ``OUT/metrics.jsonl``; ``echo`` receives a one-line summary.
    """

    def __init__(
        self,
        out_dir: str | Path,
        decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
        sample_rate: int | None = None,
        n_samples: int = 64,
        n_wavs: int = 4,
        seed: int = 0,
        labels: torch.Tensor | None = None,
        reference_audio: np.ndarray | None = None,
        embeddings: dict[str, Callable[[np.ndarray], np.ndarray]] | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.decode = decode
        self.sample_rate = sample_rate
        self.n_samples = int(n_samples)
        self.n_wavs = int(n_wavs)
        self.seed = int(seed)
        self.labels = labels
        self.reference_audio = reference_audio
        self.embeddings = dict(embeddings or {})
        self.echo = echo
        self._reference: dict[str, np.ndarray] = {}

    def __call__(self, trainer: Trainer) -> None:
        """Write this snapshot's files and metrics."""
        from grainbench.artifacts import save_wav
        from grainbench.metrics.distances import frechet_distance
        from grainbench.pngio import write_png

        samples_dir = self.out_dir / "samples"
        samples_dir.mkdir(parents=True, exist_ok=True)
        tag = f"{trainer.step:09d}"
        images = sample_images(trainer.G_ema, self.n_samples, self.seed, self.labels)
        write_png(samples_dir / f"{tag}.png", image_grid(images[:16]))
        record: dict[str, Any] = {"step": trainer.step, "kimg": trainer.nimg / 1000}
        if self.decode is not None and self.sample_rate:
            clipped = images.clamp(-1, 1)  # as the png codecs store them (SPEC section 3)
            with torch.no_grad():
                audio = torch.cat(
                    [self.decode(clipped[i : i + 16]) for i in range(0, len(clipped), 16)]
                )
            audio_np = audio.float().cpu().numpy()
            for k in range(min(self.n_wavs, len(audio_np))):
                save_wav(samples_dir / f"{tag}-{k}.wav", audio_np[k], self.sample_rate)
            record["peak"] = float(np.abs(audio_np).max())
            if self.reference_audio is not None:
                for name, embed in self.embeddings.items():
                    try:
                        if name not in self._reference:
                            self._reference[name] = embed(self.reference_audio)
                        record[name] = frechet_distance(embed(audio_np), self._reference[name])
                    except Exception as exc:  # noqa: BLE001 - a metric must not end the training run
                        record[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.echo is not None:
            parts = [
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}: {v}"
                for k, v in record.items()
                if k.startswith("fd_")
            ]
            self.echo(
                f"snapshot kimg {record['kimg']:.2f}: " + (", ".join(parts) or "samples written")
            )
