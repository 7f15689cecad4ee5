"""Where the perturbation task's worst frames lie: the share at the clip's edges.

For a representation on piano-c3 (its own setting), the pixels the perturbation task samples
(1,024, seed 0) and the first ``--clips`` test clips as bases, find for every (pixel, clip)
the frame where the error's noise-to-mask ratio peaks (the frame that sets the pixel's
audibility) and count how many are the first or last frame, or any frame that reaches past an
edge of the clip. Issue 14 (item 5) found 45 % of dct-square's worst frames at the first or
last frame of the former zero-padded framing.

usage: python scripts/masking-edge-probe.py [--rep dct-square] [--clips 8]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from grainbench.analysis.maps import COSINE_CHUNK
from grainbench.analysis.pixel_errors import PixelErrors, chunks
from grainbench.analysis.pixels import sample_pixels
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.runner import RunSpec, prepare


def worst_frames(
    rep: object, clips: torch.Tensor, pixels: np.ndarray, edge: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Frame index of the largest band/mask ratio ``(pixels, clips)``, and how much larger
    (dB) that ratio is than the largest over the frames wholly inside (not ``edge``)."""
    images = rep.encode(clips)
    analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples)
    inv = 1.0 / analyser.masks(rep.decode(images))  # (B, ch, frames, bands)
    errors = PixelErrors(rep)
    pix = torch.from_numpy(pixels)
    inside = torch.from_numpy(~edge)
    frames, excess = [], []
    for sl in chunks(len(pix), COSINE_CHUNK):
        bands = analyser.shape_of_pixels(errors, pix[sl], int(clips.shape[1])).bands
        ratio = torch.stack([(bands * m).amax(dim=(1, 3)) for m in inv], 1).double()
        frames.append(ratio.argmax(-1))  # (P, B): ratio is (P, B, frames)
        excess.append(10 * torch.log10(ratio.amax(-1) / ratio[..., inside].amax(-1)))
    return torch.cat(frames).numpy(), torch.cat(excess).numpy()


def main() -> None:
    """Print the shares of worst frames at the edges."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rep", default="dct-square")
    parser.add_argument("--clips", type=int, default=8)
    args = parser.parse_args()
    rep, dataset = prepare(RunSpec(rep=args.rep, progress=False))
    clips = torch.from_numpy(dataset.test[: args.clips])
    pixels = sample_pixels(tuple(rep.image_shape), 1024, 0)[0]
    model = ErrorAnalyser(rep.sample_rate, rep.n_samples).model
    n_frames = model.power_spectrogram(torch.zeros(rep.n_samples)).shape[0]
    edge = model.edge_weights(rep.n_samples).numpy() < 1.0
    with torch.no_grad():
        frames, excess = worst_frames(rep, clips, pixels, edge)
    ends = np.isin(frames, [0, n_frames - 1])
    past = edge[frames]
    print(f"{args.rep}: {frames.size} (pixel, clip) pairs, {n_frames} frames")
    print(f"  worst frame is the first or last: {ends.mean():.1%}")
    print(f"  worst frame reaches past an edge ({edge.sum()} such frames): {past.mean():.1%}")
    print(
        "  worst NMR above that of the frames inside, dB: median "
        f"{np.median(excess):.2f}, 90th percentile {np.percentile(excess, 90):.2f}, "
        f"max {excess.max():.2f}; above 1 dB for {(excess > 1.0).mean():.1%} of pairs"
    )


if __name__ == "__main__":
    main()
