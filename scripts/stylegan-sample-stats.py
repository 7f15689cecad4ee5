"""What a StyleGAN checkpoint's samples get right and wrong on piano-c3 at the small setting.

For the real training clips and for 64 samples of each checkpoint given (EMA generator,
the seed the training snapshots use), prints: the Fréchet CREPE-tiny distance to the 100
test clips (as the snapshots measure it), the same distance after flipping every pixel's
sign at random (a phase-free version: what the magnitudes alone score), the share of
quiet pixels (|value| < 1e-3 in the representation's own units), the high-to-low band
ratio (mean |pixel| above 3 kHz over below 3 kHz, for a DCT layout whose pixel order is
frequency order) and the median RMS of each eighth of the clip relative to its loudest
eighth, in dB (the temporal envelope). With ``--ladder`` it first scores simple samplers
built from the training images (docs/stylegan.md, "Where a dct-square generator starts").

usage: python scripts/stylegan-sample-stats.py [--rep dct-square] [--ladder] [CKPT ...]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from grainbench.baselines.generators.stylegan.checkpoint import load_generator
from grainbench.baselines.generators.stylegan.train import sample_images
from grainbench.data import load_dataset
from grainbench.metrics.distances import frechet_distance
from grainbench.metrics.embeddings import CrepeEmbedding
from grainbench.plugins import load_representation

SAMPLE_RATE, N_SAMPLES, N = 16000, 16384, 64


def main() -> None:
    """Parse the arguments, print one line per sampler / checkpoint."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="*")
    ap.add_argument("--rep", default="dct-square")
    ap.add_argument("--ladder", action="store_true", help="also score simple samplers")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset("piano-c3", sample_rate=SAMPLE_RATE, n_samples=N_SAMPLES, seed=0)
    rep = load_representation(args.rep, SAMPLE_RATE, N_SAMPLES)
    train = torch.from_numpy(np.ascontiguousarray(ds.train))
    rep.fit(train)
    real = torch.cat([rep.encode(train[i : i + 64]) for i in range(0, len(train), 64)])
    crepe = CrepeEmbedding("tiny", device="cpu")
    reference = crepe.embed(np.ascontiguousarray(ds.test), SAMPLE_RATE)
    g = torch.Generator().manual_seed(3)

    def to_audio(images: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            parts = [rep.decode(images[i : i + 16].clamp(-1, 1)) for i in range(0, len(images), 16)]
        return torch.cat(parts).float().numpy()

    def fd(images: torch.Tensor) -> float:
        return frechet_distance(crepe.embed(to_audio(images), SAMPLE_RATE), reference)

    def report(name: str, images: torch.Tensor) -> None:
        audio = to_audio(images)
        sign = torch.randint(0, 2, images.shape, generator=g) * 2 - 1
        rms = np.sqrt((audio.reshape(len(audio), 8, -1) ** 2).mean(-1))
        env = np.median(20 * np.log10(rms / rms.max(1, keepdims=True) + 1e-9), 0)
        flat = images.reshape(len(images), -1).abs()
        bands = flat.reshape(len(images), 64, -1).mean(-1)  # 64 bands of 125 Hz
        hi_lo = float((bands[:, 24:].mean(1) / bands[:, :24].mean(1)).median())
        print(
            f"{name:28s} FD {frechet_distance(crepe.embed(audio, SAMPLE_RATE), reference):.3f}"
            f"  sign-scrambled {fd(images * sign):.3f}  quiet {float((flat < 1e-3).float().mean()):.3f}"
            f"  hi/lo {hi_lo:.3f}  envelope dB {' '.join(f'{v:.0f}' for v in env)}",
            flush=True,
        )

    report("real training clips", real[torch.randperm(len(real), generator=g)[:N]])
    if args.ladder:
        flat = real.reshape(len(real), -1)
        shape = (N, *real.shape[1:])
        gauss = flat.mean(0) + flat.std(0) * torch.randn(N, flat.shape[1], generator=g)
        print(f"{'per-pixel Gaussian':28s} FD {fd(gauss.reshape(shape)):.3f}")
        pick = torch.randint(0, len(real), (N, flat.shape[1]), generator=g)
        print(f"{'per-pixel marginals':28s} FD {fd(flat.gather(0, pick).reshape(shape)):.3f}")
    for path in args.checkpoints:
        G, _ = load_generator(path)
        report(path, sample_images(G, N, seed=1))


if __name__ == "__main__":
    main()
