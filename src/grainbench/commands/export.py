"""``grainbench export``: a trained StyleGAN as one TorchScript module (latent → waveform)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from grainbench.errors import UserError
from grainbench.runfolder import check_writable

NAME = "export"
HELP = "export a trained StyleGAN checkpoint as a TorchScript module (latent, pitch → waveform)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench export``."""
    parser.add_argument(
        "checkpoint",
        type=Path,
        help="run folder of grainbench train (its last checkpoint) or a checkpoint folder",
    )
    parser.add_argument(
        "--format", default="torchscript", choices=["torchscript"], help="export format"
    )
    parser.add_argument("--out", type=Path, required=True, help="file to write (e.g. model.pt)")
    parser.add_argument(
        "--no-decode",
        action="store_true",
        help="export latent → image only (no representation decode)",
    )
    parser.add_argument(
        "--truncation-psi", type=float, default=1.0, help="truncation ψ baked into the module"
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip comparing the exported module with Python"
    )
    parser.add_argument(
        "--latency", action="store_true", help="also measure the per-note CPU latency"
    )


def decoder_for(metadata: dict[str, Any]) -> Any:
    """Rebuild the representation a run trained on (fitted as it was) as a decode module."""
    import numpy as np
    import torch

    from grainbench.baselines.generators.stylegan.adapters import ReshapeLayout
    from grainbench.baselines.generators.stylegan.export import DecodeModule
    from grainbench.data import load_dataset
    from grainbench.plugins import load_representation

    if not isinstance(metadata, dict) or not isinstance(metadata.get("rep"), str):
        raise UserError("the checkpoint does not name its representation; export with --no-decode")
    try:
        sample_rate, n_samples = int(metadata["sample_rate"]), int(metadata["n_samples"])
        fitted = bool(metadata.get("fitted"))
        data, split_seed = (
            (str(metadata["data"]), int(metadata["split_seed"])) if fitted else ("", 0)
        )
    except (KeyError, TypeError, ValueError):
        raise UserError(
            "the checkpoint's metadata lacks a valid sample_rate, n_samples, data or "
            "split_seed; export with --no-decode"
        ) from None
    rep = load_representation(metadata["rep"], sample_rate, n_samples)
    if fitted:
        ds = load_dataset(
            data, sample_rate=sample_rate, n_samples=n_samples, seed=split_seed, progress=False
        )
        if (
            metadata.get("dataset_fingerprint")
            and ds.fingerprint != metadata["dataset_fingerprint"]
        ):
            raise UserError(
                f"dataset {metadata['data']} changed since training (fingerprint differs)"
            )
        rep.fit(torch.from_numpy(np.ascontiguousarray(ds.train)))
    if metadata.get("shape"):
        return ReshapeLayout(rep.plugin, rep.image_shape, tuple(metadata["shape"]))
    return DecodeModule(rep.plugin)


def run(args: argparse.Namespace) -> int:
    """Trace, save, check and report."""
    from grainbench.baselines.generators.stylegan.checkpoint import read_checkpoint_meta
    from grainbench.baselines.generators.stylegan.export import export_torchscript, measure_latency

    if args.out.is_dir():
        raise UserError(f"--out {args.out} is a folder; give a file name such as model.pt")
    check_writable(args.out.parent)
    meta = read_checkpoint_meta(args.checkpoint)
    decode = None if args.no_decode else decoder_for(meta.get("metadata") or {})
    info = export_torchscript(
        args.checkpoint,
        args.out,
        decode,
        truncation_psi=args.truncation_psi,
        check=not args.no_check,
    )
    inputs = ", ".join(f"{k} {v['shape']}" for k, v in info["inputs"].items())
    print(f"wrote {args.out}: ({inputs}) → {info['output']['kind']} {info['output']['shape']}")
    if "check" in info:
        print(
            f"check: max |exported − python| = {info['check']['max_abs_diff']:.3g} (≤ {info['check']['atol']:.3g})"
        )
    if args.latency:
        lat = measure_latency(args.out)
        print(
            f"latency: {lat['median_s'] * 1000:.1f} ms per note on CPU (median of {lat['repeats']})"
        )
    return 0
