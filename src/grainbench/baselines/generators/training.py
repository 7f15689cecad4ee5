"""What the StyleGAN and DDSP trainers share: per-step random generators, checkpoints and
the training-data metadata a checkpoint records.

**Randomness.** :func:`step_generator` seeds a ``torch.Generator`` from ``(seed, step,
stream)`` through NumPy's ``SeedSequence``, so that a training run is a pure function of its
seed, config and data, and resuming needs only the step counter.

**Checkpoints** are folders ``OUT/checkpoints/<step>/`` holding :data:`STATE_FILE` (every
tensor of the training state, safetensors, tagged with the model's format) and
:data:`META_FILE` (JSON: step, config, the caller's metadata…). :func:`write_checkpoint`
writes the folder under a temporary name and renames it, so a killed run leaves either a
complete checkpoint or none. No pickle anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from grainbench.errors import UserError

STATE_FILE = "state.safetensors"
META_FILE = "checkpoint.json"


def step_generator(
    seed: int, step: int, stream: int, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``(seed, step, stream)``."""
    words = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(step), int(stream)]).generate_state(
        2
    )
    g = torch.Generator(device=device)
    g.manual_seed((int(words[0]) << 31) ^ int(words[1]))
    return g


def state_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """``module``'s state dict as CPU copies keyed ``<prefix>/<name>``."""
    return {
        f"{prefix}/{k}": v.detach().cpu().contiguous().clone()
        for k, v in module.state_dict().items()
    }


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """``opt``'s per-parameter state as CPU tensors keyed ``<prefix>/<index>/<name>``."""
    out = {}
    for idx, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            out[f"{prefix}/{idx}/{key}"] = t.detach().cpu().contiguous().clone()
    return out


def load_module(module: nn.Module, prefix: str, tensors: dict[str, torch.Tensor]) -> None:
    """Load the ``<prefix>/…`` tensors of :func:`state_tensors` into ``module`` (strictly)."""
    sd = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + "/")}
    module.load_state_dict(sd, strict=True)


def load_optimizer(
    opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor]
) -> None:
    """Load the ``<prefix>/…`` tensors of :func:`optimizer_tensors` into ``opt``'s state."""
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith(prefix + "/"):
            idx, key = k[len(prefix) + 1 :].split("/", 1)
            state.setdefault(int(idx), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)


def list_checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoint folders under ``out_dir/checkpoints``, oldest first."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [
        p for p in root.iterdir() if p.is_dir() and p.name.isdigit() and (p / META_FILE).is_file()
    ]
    return sorted(found, key=lambda p: int(p.name))


def write_checkpoint(
    out_dir: Path,
    step: int,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    fmt: str,
    keep: int,
) -> Path:
    """Write ``out_dir/checkpoints/<step>/`` (``STATE_FILE`` of ``tensors`` tagged ``fmt``,
    ``META_FILE`` of ``meta``) under a temporary name, rename it, keep the newest ``keep``."""
    root = Path(out_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{step:09d}"
    tmp = root / f".{step:09d}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    save_file(tensors, str(tmp / STATE_FILE), metadata={"format": fmt})
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(out_dir)[: -max(1, keep)]:
        shutil.rmtree(old)
    return final


def check_same_config(
    ckpt: Path, saved: dict[str, Any], mine: dict[str, Any], ignore: set[str], what: str
) -> None:
    """Raise :class:`UserError` naming the fields (other than ``ignore``) in which a
    checkpoint's saved config differs from the one a resumed run was given."""
    saved = {k: v for k, v in saved.items() if k not in ignore}
    mine = {k: v for k, v in mine.items() if k not in ignore}
    if saved != mine:
        diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        raise UserError(f"{ckpt}: made with a different {what} config ({', '.join(diff)} differ)")


def resolve_checkpoint(path: str | os.PathLike[str], kind: str) -> Path:
    """A checkpoint folder from a run folder (its latest), a checkpoint folder or its JSON
    (``kind`` names the model in the error)."""
    p = Path(path)
    if p.is_file() and p.name == META_FILE:
        p = p.parent
    if (p / META_FILE).is_file() and (p / STATE_FILE).is_file():
        return p
    found = list_checkpoints(p)
    if found:
        return found[-1]
    raise UserError(f"no {kind} checkpoint in {p} (expected {META_FILE} and {STATE_FILE})")


def read_checkpoint_meta(path: str | os.PathLike[str], fmt: str, kind: str) -> dict[str, Any]:
    """The JSON half of a checkpoint, which must be of format ``fmt`` (``kind`` names the
    model in errors)."""
    ckpt = resolve_checkpoint(path, kind)
    try:
        meta = json.loads((ckpt / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{ckpt / META_FILE}: damaged checkpoint ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise UserError(f"{ckpt}: not a {fmt} checkpoint")
    return meta


def data_metadata(args: argparse.Namespace, rep: Any, ds: Any) -> dict[str, Any]:
    """What a checkpoint records of its training data and representation (resume checks)."""
    return {
        "rep": args.rep,
        "rep_name": rep.name,
        "data": args.data,
        "dataset_fingerprint": ds.fingerprint,
        "sample_rate": ds.sample_rate,
        "n_samples": ds.n_samples,
        "n_channels": ds.n_channels,
        "split_seed": args.seed,
    }
