"""Measure every built-in representation and print the Markdown table of docs/representations.md.

For each registered representation: its image shape at the Ki setting (44,100 Hz, 65,536
samples) and at the test setting (16,000 Hz, 16,384 samples), whether it is lossless, and
its round trip on a dataset's test clips after fitting on its training clips — mean SNR
and spectral convergence (``grainbench.metrics.audio``) with no codec (float) and through
the png8 codec's value mapping (``grainbench.codecs``), plus the share of pixels png8
clipped. Representations with a fixed setting (the stereo Ki seeds) are measured at their
own clip length and channel count, at the dataset's sample rate.

    python scripts/representation_table.py --data synth-piano?n=24
    python scripts/representation_table.py --data piano-c3?n=40 --names mdct,cqt
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from grainbench.codecs import get_codec
from grainbench.data import load_dataset
from grainbench.metrics.audio import snr, spectral_convergence
from grainbench.registries import REPRESENTATIONS

SETTINGS = {"Ki": (44100, 65536), "test": (16000, 16384)}


def _shape(name: str, sample_rate: int, n_samples: int) -> str:
    rep = REPRESENTATIONS.get(name)(sample_rate, n_samples)
    return "×".join(str(d) for d in rep.image_shape)


def _round_trip(rep, clips: torch.Tensor) -> dict[str, float]:
    """Mean SNR / spectral convergence of the float and png8 round trips, and png8 clipping."""
    with torch.no_grad():
        images = rep.encode(clips)
        quantised, clipped = get_codec("png8").quantise(images)
        out: dict[str, float] = {}
        for label, imgs in (("float", images), ("png8", quantised)):
            back = rep.decode(imgs)
            out[f"snr_{label}"] = float(snr(clips, back).mean())
            out[f"sc_{label}"] = float(spectral_convergence(clips, back).mean())
    out["clipped"] = float(clipped.sum()) / images.numel()
    return out


def measure(spec: str, sample_rate: int | None, n_samples: int | None, names: list[str], seed: int):
    """Yield (name, shapes, lossless, round-trip numbers) for each representation."""
    cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    base = load_dataset(
        spec, sample_rate=sample_rate, n_samples=n_samples, seed=seed, progress=False
    )
    for name in names:
        rep = REPRESENTATIONS.get(name)(base.sample_rate, base.n_samples)
        key = (rep.n_samples, rep.n_channels)
        if key not in cache:
            data = load_dataset(
                spec,
                sample_rate=base.sample_rate,
                n_samples=rep.n_samples,
                n_channels=rep.n_channels,
                seed=seed,
                progress=False,
            )
            cache[key] = (torch.from_numpy(data.train), torch.from_numpy(data.test))
        train, test = cache[key]
        start = time.perf_counter()
        rep.fit(train)
        numbers = _round_trip(rep, test)
        numbers["seconds"] = time.perf_counter() - start
        shapes = {label: _shape(name, *setting) for label, setting in SETTINGS.items()}
        yield name, shapes, rep.lossless, numbers, base


def main(argv: list[str] | None = None) -> int:
    """Print the table for ``--data`` (default synth-piano) and the chosen representations."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="synth-piano?n=24", help="dataset spec")
    parser.add_argument("--sample-rate", type=int, default=None, help="default: the dataset's")
    parser.add_argument("--n-samples", type=int, default=None, help="default: the dataset's")
    parser.add_argument("--names", default="", help="comma-separated (default: every one)")
    parser.add_argument("--seed", type=int, default=0, help="train/test split seed")
    args = parser.parse_args(argv)
    names = [n for n in args.names.split(",") if n] or [e.name for e in REPRESENTATIONS.entries()]
    header = (
        "| representation | image (Ki) | image (test) | lossless | SNR float (dB) | SNR png8 (dB) "
        "| SC float (dB) | SC png8 (dB) | png8 clipped |"
    )
    printed = False
    for name, shapes, lossless, m, data in measure(
        args.data, args.sample_rate, args.n_samples, names, args.seed
    ):
        if not printed:
            print(
                f"Dataset {data.spec} ({data.sample_rate} Hz, {data.n_samples} samples; "
                f"fit on {len(data.train)} training clips, measured on {len(data.test)} test "
                f"clips; fingerprint {data.fingerprint[:12]})\n"
            )
            print(header)
            print("|" + "---|" * 9)
            printed = True
        cells = [
            f"`{name}`",
            shapes["Ki"],
            shapes["test"],
            "yes" if lossless else "no",
            *(f"{m[k]:.1f}" for k in ("snr_float", "snr_png8", "sc_float", "sc_png8")),
            f"{m['clipped']:.2e}" if m["clipped"] else "0",
        ]
        print("| " + " | ".join(cells) + " |", flush=True)
        print(f"{name}: {m['seconds']:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
