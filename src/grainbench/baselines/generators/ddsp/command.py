"""``grainbench train --gen ddsp``: features, training, the representation's peaks, evaluation.

The run folder holds ``checkpoints/`` (:mod:`.train`), ``log.jsonl`` (loss every
``checkpoint_every`` steps), ``training_curve.png``, ``eval.json`` (:mod:`.evaluate` on the
test clips), a few reconstructions as WAV beside their originals, and ``train.json`` (config,
variant, steps, wall times, machine, load). With ``--rep harmonic-noise`` the representation
is fitted on the training clips after training and its peaks are stored in the final
checkpoint, so that the checkpoint can draw that representation's images (cached:
:mod:`.peaks`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
import torch

from grainbench.baselines.generators.ddsp.configs import CONFIGS, feature_options, get_config
from grainbench.baselines.generators.ddsp.features import cached_features, frame_hop
from grainbench.errors import UserError

#: ``grainbench train`` options that only StyleGAN uses, with their defaults
STYLEGAN_ONLY = {
    "shape": None,
    "augment": None,
    "time_axis": "W",
    "eval": "crepe,spectral",
    "eval_samples": 64,
}


def _check_args(args: argparse.Namespace) -> None:
    """Refuse StyleGAN-only options and configs ddsp does not have."""
    if args.config not in CONFIGS:
        raise UserError(f"--config {args.config}: ddsp has {', '.join(CONFIGS)}")
    for name, default in STYLEGAN_ONLY.items():
        if getattr(args, name) != default:
            raise UserError(f"--{name.replace('_', '-')} is a StyleGAN option; ddsp has none")
    if args.device not in ("auto", "cpu"):
        raise UserError("ddsp trains on the CPU: leave --device at auto or cpu")
    if args.kimg is not None and args.kimg <= 0:
        raise UserError("--kimg must be positive")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise UserError("--max-seconds must be positive")


def _check_resume(out: Any, metadata: dict[str, Any]) -> None:
    """Refuse to resume a run made with other data, representation or setting."""
    from grainbench.baselines.generators.ddsp.train import read_checkpoint_meta
    from grainbench.baselines.generators.training import list_checkpoints

    if not list_checkpoints(out):
        return
    saved = read_checkpoint_meta(out).get("metadata", {})
    for key in ("rep", "data", "sample_rate", "n_samples", "split_seed"):
        if saved.get(key) != metadata.get(key):
            raise UserError(
                f"--resume: {out} was trained with {key}={saved.get(key)!r}, not {metadata.get(key)!r}"
            )


def _curve(path: Any, history: list[dict[str, Any]], title: str) -> None:
    """The loss against steps as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), layout="constrained")
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel("multi-scale spectral loss")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)


def run(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """Train (or resume), fit the representation's peaks, evaluate, write the run folder."""
    from tqdm.auto import tqdm

    from grainbench.artifacts import save_wav
    from grainbench.baselines.generators.ddsp.evaluate import evaluate
    from grainbench.baselines.generators.ddsp.peaks import fitted_peaks
    from grainbench.baselines.generators.ddsp.train import Trainer
    from grainbench.baselines.generators.training import data_metadata
    from grainbench.data import load_dataset
    from grainbench.plugins import load_representation
    from grainbench.results import machine_info, write_json

    _check_args(args)
    torch.set_num_threads(args.threads or 1)
    existing = (args.out / "checkpoints").is_dir() and any((args.out / "checkpoints").iterdir())
    if existing and not args.resume:
        raise UserError(
            f"{args.out} already holds checkpoints: add --resume to continue, or choose another --out"
        )
    progress = not args.no_progress and sys.stderr.isatty()
    echo = tqdm.write if progress else print
    base = get_config(args.config)
    if args.sample_rate:
        overrides.setdefault("sample_rate", args.sample_rate)
    if args.n_samples:
        overrides.setdefault("n_samples", args.n_samples)
    if args.kimg is not None:
        overrides["kimg"] = args.kimg
    cfg = get_config(args.config, **{**overrides})
    hop = frame_hop(cfg.sample_rate, cfg.frame_rate)
    if cfg.n_samples % hop:
        raise UserError(f"--n-samples {cfg.n_samples} is not a whole number of {hop}-sample frames")
    ds = load_dataset(
        args.data,
        sample_rate=cfg.sample_rate,
        n_samples=cfg.n_samples,
        seed=args.seed,
        progress=progress,
    )
    rep = load_representation(args.rep, ds.sample_rate, ds.n_samples)
    metadata = {**data_metadata(args, rep, ds), "base_config": base.name}
    if args.resume:
        _check_resume(args.out, metadata)
    args.out.mkdir(parents=True, exist_ok=True)
    train_audio = torch.from_numpy(np.ascontiguousarray(ds.train))
    test_audio = torch.from_numpy(np.ascontiguousarray(ds.test))
    echo(
        f"train: ddsp/{cfg.name} ({cfg.variant()}) on {len(train_audio)} clips of {ds.name}, "
        f"{ds.sample_rate} Hz × {ds.n_samples}, {hop}-sample frames, "
        f"{torch.get_num_threads()} thread(s); load {os.getloadavg()[0]:.1f}"
    )
    t0 = time.perf_counter()
    options = feature_options(cfg)
    feats = cached_features(train_audio, cfg.sample_rate, hop, options, progress=progress)
    test_feats = cached_features(test_audio, cfg.sample_rate, hop, options, progress=progress)
    features_s = time.perf_counter() - t0
    trainer = Trainer(
        cfg,
        train_audio.mean(1),
        feats,
        seed=args.seed,
        out_dir=args.out,
        progress=progress,
        metadata=metadata,
        echo=echo,
    )
    if args.resume:
        trainer.resume_latest()
    load_start = os.getloadavg()[0]
    t1 = time.perf_counter()
    trainer.train(time_limit_s=args.max_seconds)
    train_s = time.perf_counter() - t1
    load_end = os.getloadavg()[0]
    t2 = time.perf_counter()
    if rep.name == "harmonic-noise" and "image" not in trainer.metadata:
        peaks = fitted_peaks(rep, train_audio)
        trainer.metadata["image"] = {"representation": "harmonic-noise", "peaks": peaks}
        trainer.save_checkpoint()
    image_s = time.perf_counter() - t2
    t3 = time.perf_counter()
    floor = train_audio[: len(test_audio)].mean(1)
    numbers, recon = evaluate(trainer.model, test_audio.mean(1), test_feats, floor, args.seed)
    eval_s = time.perf_counter() - t3
    write_json(args.out / "eval.json", {"variant": cfg.variant(), "step": trainer.step, **numbers})
    for i in range(min(args.wavs, len(recon))):
        save_wav(args.out / f"recon_{i}.wav", recon[i : i + 1].numpy(), cfg.sample_rate)
        save_wav(args.out / f"original_{i}.wav", test_audio[i].numpy(), cfg.sample_rate)
    _curve(args.out / "training_curve.png", trainer.history, f"ddsp {cfg.name} {cfg.variant()}")
    write_json(
        args.out / "train.json",
        {
            "gen": "ddsp",
            "config": cfg.to_dict(),
            "variant": cfg.variant(),
            "step": trainer.step,
            "kimg": trainer.step * cfg.batch / 1000,
            "wall_s": {
                "features": features_s,
                "train": train_s,
                "image_peaks": image_s,
                "eval": eval_s,
            },
            "load_average": {"train_start": load_start, "train_end": load_end},
            "history": trainer.history,
            "eval": numbers,
            "metadata": trainer.metadata,
            "machine": machine_info(),
            "threads": torch.get_num_threads(),
        },
    )
    echo(
        f"done: {trainer.step} steps in {train_s:.0f} s (features {features_s:.0f} s); "
        f"test MR-STFT {numbers['mrstft']['mean']:.3f}, LSD {numbers['lsd']['mean']:.2f} dB; "
        f"results in {args.out}/"
    )
    return 0
