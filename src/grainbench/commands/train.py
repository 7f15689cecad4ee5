"""``grainbench train``: train a StyleGAN2/3 reference generator on a representation's images,
or DDSP on the clips themselves (``--gen ddsp``: :mod:`grainbench.baselines.generators.ddsp.command`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.baselines.generators.ddsp.configs import CONFIGS as DDSP_CONFIGS
from grainbench.baselines.generators.stylegan.configs import CLIP_SETTING, CONFIGS
from grainbench.baselines.generators.training import data_metadata
from grainbench.errors import UserError

NAME = "train"
HELP = "train a StyleGAN2/StyleGAN3 generator on a representation's images, or DDSP (checkpoints, resume)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench train``."""
    parser.add_argument(
        "--rep", required=True, help="representation: built-in name or path/to/file.py:Class"
    )
    parser.add_argument(
        "--gen",
        default="stylegan2",
        choices=["stylegan2", "stylegan3", "ddsp"],
        help="architecture",
    )
    parser.add_argument(
        "--config",
        default="cpu",
        choices=sorted(set(CONFIGS) | set(DDSP_CONFIGS)),
        help="named configuration (default: cpu; ddsp: tiny, cpu, paper)",
    )
    parser.add_argument(
        "--shape", default=None, metavar="HxW", help="lay the images out as H×W (e.g. 2x131072)"
    )
    parser.add_argument("--data", default="piano-c3", help="dataset spec (default: piano-c3)")
    parser.add_argument(
        "--kimg", type=float, default=None, help="train until this many thousand images (total)"
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="stop training after this many wall seconds, short of --kimg (one process only)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="run folder: checkpoints, samples, logs"
    )
    parser.add_argument("--seed", type=int, default=0, help="one seed fixes every number on CPU")
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in --out"
    )
    parser.add_argument(
        "--device", default="auto", help="auto, cpu, cuda (with torchrun: one GPU per process)"
    )
    parser.add_argument(
        "--sample-rate", type=int, default=None, help="clip sample rate (default: per config)"
    )
    parser.add_argument(
        "--n-samples", type=int, default=None, help="clip length in samples (default: per config)"
    )
    parser.add_argument(
        "--augment",
        default=None,
        metavar="OPS",
        help="ADA ops, comma-separated (gain,noise,sign,time_shift,time_mask,freq_mask) or none; "
        "default: gain,noise (+sign for linear representations)",
    )
    parser.add_argument(
        "--time-axis",
        choices=["H", "W"],
        default="W",
        help="image axis that is time (for time ops)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field (repeatable)",
    )
    parser.add_argument(
        "--eval",
        default="crepe,spectral",
        help="Fréchet distances at every snapshot: crepe, spectral (comma-separated) or none",
    )
    parser.add_argument(
        "--eval-samples", type=int, default=64, help="generated clips per snapshot evaluation"
    )
    parser.add_argument("--wavs", type=int, default=4, help="WAV files written per snapshot")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; ddsp: 1)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _embeddings(names: str, sample_rate: int, device: str) -> dict[str, Any]:
    """Embedding functions (audio → (N, d)) for the requested snapshot metrics."""
    from grainbench.metrics.embeddings import CrepeEmbedding, SpectralStatsEmbedding

    out: dict[str, Any] = {}
    for name in [n.strip() for n in names.split(",") if n.strip() and n.strip() != "none"]:
        if name == "crepe":
            emb = CrepeEmbedding("tiny", device=device)
            out["fd_crepe"] = lambda a, e=emb: e.embed(a, sample_rate)
        elif name == "spectral":
            emb2 = SpectralStatsEmbedding()
            out["fd_spectral"] = lambda a, e=emb2: e.embed(a, sample_rate)
        else:
            raise UserError(f"--eval {name!r}: choose crepe, spectral or none")
    return out


def _check_resume(out: Path, metadata: dict[str, Any]) -> None:
    """Refuse to resume a run made with other data, representation, layout or seed."""
    from grainbench.baselines.generators.stylegan.checkpoint import read_checkpoint_meta
    from grainbench.baselines.generators.training import list_checkpoints

    if not list_checkpoints(out):
        return
    saved = read_checkpoint_meta(out).get("metadata", {})
    for key in ("rep", "data", "sample_rate", "n_samples", "shape", "split_seed", "arch", "config"):
        if saved.get(key) != metadata.get(key):
            raise UserError(
                f"--resume: {out} was trained with {key}={saved.get(key)!r}, not {metadata.get(key)!r}"
            )


def run(args: argparse.Namespace) -> int:
    """Load data, encode, train (resuming if asked), and write the run folder."""
    if args.gen == "ddsp":
        from grainbench.baselines.generators.ddsp import command

        return command.run(args, _overrides(args.set))
    from grainbench.baselines.generators.stylegan.adapters import ReshapeLayout, parse_shape
    from grainbench.baselines.generators.stylegan.augment import ops_for_representation, parse_ops
    from grainbench.baselines.generators.stylegan.ddp import barrier, cleanup, init_distributed
    from grainbench.baselines.generators.stylegan.generator import (
        DEFAULT_KIMG,
        StyleGANGenerator,
        pitch_classes,
        to_class_indices,
    )
    from grainbench.baselines.generators.stylegan.snapshots import SnapshotWriter
    from grainbench.data import dataset_defaults, load_dataset
    from grainbench.plugins import load_representation
    from grainbench.results import machine_info, write_json

    if args.config not in CONFIGS:
        raise UserError(f"--config {args.config}: {args.gen} has {', '.join(CONFIGS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.kimg is not None and args.kimg <= 0:
        raise UserError("--kimg must be positive")
    info = init_distributed(None if args.device == "auto" else args.device)
    try:
        existing = (args.out / "checkpoints").is_dir() and any((args.out / "checkpoints").iterdir())
        barrier(info)  # every rank looks before rank 0 writes its first checkpoint
        if not args.resume and existing:
            raise UserError(
                f"{args.out} already holds checkpoints: add --resume to continue, or choose another --out"
            )
        if info.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        progress = not args.no_progress and info.is_main and sys.stderr.isatty()
        sr_default, n_default = CLIP_SETTING[args.config]
        own_sr, own_n, _ = dataset_defaults(args.data)
        rep = load_representation(
            args.rep,
            args.sample_rate or sr_default or own_sr,
            args.n_samples or n_default or own_n,
        )
        # the data at the representation's setting (a fixed one, such as dct-2x131072's
        # stereo 131,072 samples, wins over the config's), as `grainbench run` loads it
        ds = load_dataset(
            args.data,
            sample_rate=rep.sample_rate,
            n_samples=rep.n_samples,
            n_channels=rep.n_channels,
            seed=args.seed,
            progress=progress,
        )
        train_audio = torch.from_numpy(np.ascontiguousarray(ds.train))
        rep.fit(train_audio)
        encoder: Any = rep
        shape = parse_shape(args.shape) if args.shape else None
        if shape is not None:
            encoder = ReshapeLayout(rep, rep.image_shape, shape)
        images = torch.cat(
            [encoder.encode(train_audio[i : i + 64]) for i in range(0, len(train_audio), 64)]
        )
        image_shape = tuple(images.shape[1:])
        outside = float((images.abs() > 1).float().mean())

        ops = parse_ops(args.augment) if args.augment is not None else ops_for_representation(rep)
        overrides = _overrides(args.set)
        overrides.setdefault("augment_ops", list(ops))
        overrides.setdefault("augment_time_axis", 3 if args.time_axis == "W" else 2)
        metadata = {
            **data_metadata(args, rep, ds),
            "rep_image_shape": list(rep.image_shape),
            "shape": list(shape) if shape else None,
            "fitted": callable(getattr(rep.plugin, "fit", None)),
            "arch": args.gen,
            "config": args.config,
        }
        if args.resume:
            _check_resume(args.out, metadata)
        classes = pitch_classes(ds.train_labels)
        hook = None
        if info.is_main:
            args.out.mkdir(parents=True, exist_ok=True)
            from tqdm.auto import tqdm

            labels = None
            if classes:
                known = [p for p in ds.test_labels.tolist() if p in classes] or classes
                labels = to_class_indices(
                    [known[i % len(known)] for i in range(args.eval_samples)], classes
                )
            hook = SnapshotWriter(
                args.out,
                decode=encoder.decode,
                sample_rate=ds.sample_rate,
                n_samples=args.eval_samples,
                n_wavs=args.wavs,
                seed=args.seed + 1,
                labels=labels,
                reference_audio=np.ascontiguousarray(ds.test),
                embeddings=_embeddings(args.eval, ds.sample_rate, "cpu"),
                echo=tqdm.write if progress else print,
            )
            print(
                f"train: {args.gen}/{args.config} on {rep.name} {image_shape[0]}×{image_shape[1]}×{image_shape[2]} "
                f"images ({len(images)} clips of {ds.name}, {ds.sample_rate} Hz × {ds.n_samples}), "
                f"{info.world_size} process(es) on {info.device}; augment: {','.join(ops) or 'none'}"
            )
            if outside > 0:
                print(f"note: {outside:.2%} of the training pixels lie outside [-1, 1]")
        gen = StyleGANGenerator(
            image_shape,
            arch=args.gen,
            config=args.config,
            kimg=args.kimg,
            seed=args.seed,
            dist=info,
            out_dir=args.out,
            resume=args.resume,
            progress=progress,
            metadata=metadata,
            max_seconds=args.max_seconds,
            snapshot_hook=hook,
            **overrides,
        )
        t0 = time.perf_counter()
        gen.fit(images, ds.train_labels)
        wall = time.perf_counter() - t0
        if info.is_main:
            trainer = gen.trainer
            assert trainer is not None
            summary = {
                "arch": args.gen,
                "config": gen.cfg.to_dict(),
                "kimg": trainer.nimg / 1000,
                "target_kimg": gen.kimg if args.kimg is None else args.kimg,
                "default_kimg": DEFAULT_KIMG[(args.config, args.gen)],
                "max_seconds": args.max_seconds,
                "stopped_at_time_limit": trainer.stopped_at_time_limit,
                "step": trainer.step,
                "wall_s": wall,
                "last_stats": trainer.stats,
                "image_shape": list(image_shape),
                "metadata": metadata,
                "machine": machine_info(),
                "threads": torch.get_num_threads(),
                "world_size": info.world_size,
            }
            write_json(args.out / "train.json", summary)
            print(
                f"done: {trainer.nimg / 1000:.2f} kimg in {wall:.0f} s "
                f"({trainer.stats.get('img_per_s', float('nan')):.1f} img/s); checkpoints and samples in {args.out}/"
            )
    finally:
        cleanup()
    return 0
