"""TorchScript export of a trained StyleGAN: latent (and pitch) → image, or → waveform.

The exported file is one traced module. ``forward(z)`` (unconditional) or
``forward(z, pitch)`` (pitch-conditional; ``pitch`` int64 MIDI numbers) returns the image
``(B, C, H, W)`` or, when a representation's decode is composed in, the waveform
``(B, n_channels, n_samples)``. Noise inputs use their constant values, so the output is a
deterministic function of the inputs. It loads with ``torch.jit.load`` in a process that has
only torch installed; a JSON file beside it (``FILE.json``) says what goes in and out.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from grainbench.baselines.generators.stylegan.checkpoint import load_generator
from grainbench.baselines.generators.stylegan.stylegan2 import Generator
from grainbench.errors import UserError


class DecodeModule(nn.Module):
    """Wrap any object with a torch ``decode(image)`` as a module (a representation's inverse)."""

    def __init__(self, rep: Any) -> None:
        super().__init__()
        self.rep = rep  # registered as a submodule when it is an nn.Module

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Image (B, C, H, W) → audio (B, n_channels, n_samples)."""
        return self.rep.decode(image)


class ExportableGenerator(nn.Module):
    """Latent (and MIDI pitch) → image, optionally followed by ``decode``.

    ``classes`` are the training pitches of a conditional generator: a 128-entry table maps a
    MIDI number to its class index (-1 for pitches the model never saw, which fails loudly).
    With a decoder the image is clipped to [-1, 1] first (``clip``), as the png codecs store
    it: a companding decode (μ-law) explodes on values beyond its range.
    """

    def __init__(
        self,
        G: Generator,
        classes: list[int] | None = None,
        decode: nn.Module | None = None,
        truncation_psi: float = 1.0,
        clip: bool = True,
    ) -> None:
        super().__init__()
        self.G = G.eval().requires_grad_(False)
        self.clip = bool(clip)
        self.conditional = bool(classes)
        table = torch.full((128,), -1, dtype=torch.long)
        for i, p in enumerate(classes or []):
            table[int(p)] = i
        self.register_buffer("pitch_to_class", table)
        self.decode = decode
        self.truncation_psi = float(truncation_psi)

    def forward(self, z: torch.Tensor, pitch: torch.Tensor | None = None) -> torch.Tensor:
        """``z`` (B, z_dim), ``pitch`` (B,) MIDI numbers → image or waveform."""
        c = self.pitch_to_class[pitch] if (self.conditional and pitch is not None) else None
        img = self.G(z, c, self.truncation_psi, noise_mode="const")
        if self.decode is None:
            return img
        return self.decode(img.clamp(-1.0, 1.0) if self.clip else img)


def example_inputs(
    module: ExportableGenerator, batch: int = 1, seed: int = 0
) -> tuple[torch.Tensor, ...]:
    """Latents (and pitches drawn from the training pitches) for tracing or checking."""
    g = torch.Generator().manual_seed(seed)
    device = module.pitch_to_class.device
    z = torch.randn(batch, module.G.z_dim, generator=g).to(device)
    if not module.conditional:
        return (z,)
    known = torch.nonzero(module.pitch_to_class.cpu() >= 0).flatten()
    pitch = known[torch.randint(len(known), (batch,), generator=g)].to(device)
    return (z, pitch)


def build_exportable(
    checkpoint: str | os.PathLike[str],
    decode_module: nn.Module | None = None,
    truncation_psi: float = 1.0,
    device: str | torch.device = "cpu",
) -> tuple[ExportableGenerator, dict[str, Any]]:
    """The Python module that :func:`export_torchscript` traces (the reference for checks)."""
    G, meta = load_generator(checkpoint, "G_ema", device)
    classes = (meta.get("metadata") or {}).get("classes")
    module = ExportableGenerator(G, classes, decode_module, truncation_psi).to(device).eval()
    return module, meta


def export_torchscript(
    checkpoint_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    decode_module: nn.Module | None = None,
    truncation_psi: float = 1.0,
    check: bool = True,
    atol: float = 1e-5,
) -> dict[str, Any]:
    """Trace the checkpoint's EMA generator (composed with ``decode_module``) to ``out_path``.

    ``checkpoint_dir`` is a run folder (its latest checkpoint) or one checkpoint folder.
    With ``check`` the saved file is loaded back and compared with the Python path on fresh
    inputs at batch 1 and 3 (:func:`check_export`); a mismatch raises :class:`UserError`.
    Returns the description also written to ``out_path + ".json"``.
    """
    module, meta = build_exportable(checkpoint_dir, decode_module, truncation_psi)
    inputs = example_inputs(module, batch=2, seed=12345)
    with torch.no_grad(), warnings.catch_warnings():
        # sizes and filter lengths are fixed per model: baking them in is intended, and
        # check_export below verifies the traced module at other batch sizes
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            traced = torch.jit.trace(module, inputs, check_trace=False)
        except Exception as exc:  # noqa: BLE001 - a plugin's decode may not be traceable
            raise UserError(
                f"cannot trace the generator{' with decode' if decode_module else ''}: {exc}"
            ) from None
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    traced.save(str(tmp))
    os.replace(tmp, out)
    with torch.no_grad():
        out_shape = list(module(*example_inputs(module, 1)).shape[1:])
    info: dict[str, Any] = {
        "format": "torchscript",
        "inputs": {
            "z": {
                "shape": ["B", module.G.z_dim],
                "dtype": "float32",
                "distribution": "standard normal",
            },
            **(
                {
                    "pitch": {
                        "shape": ["B"],
                        "dtype": "int64",
                        "values": (meta.get("metadata") or {}).get("classes"),
                    }
                }
                if module.conditional
                else {}
            ),
        },
        "output": {
            "kind": "waveform" if decode_module is not None else "image",
            "shape": ["B", *out_shape],
        },
        "truncation_psi": truncation_psi,
        "checkpoint": {
            "step": meta["step"],
            "kimg": meta["kimg"],
            "arch": meta["config"]["arch"],
            "config": meta["config"]["name"],
        },
        "metadata": meta.get("metadata", {}),
    }
    if check:
        info["check"] = check_export(out, module, atol=atol)
    (out.with_name(out.name + ".json")).write_text(json.dumps(info, indent=2))
    return info


@torch.no_grad()
def check_export(
    path: str | os.PathLike[str], reference: ExportableGenerator, atol: float = 1e-5, seed: int = 7
) -> dict[str, Any]:
    """Load the exported file and compare it with the Python module on fresh inputs.

    Compares at batch 1 and 3; passes when ``max |exported - python| ≤ atol · max(1,
    max |python|)``. Raises :class:`UserError` on a mismatch; returns the differences.
    """
    loaded = torch.jit.load(str(path), map_location=reference.pitch_to_class.device)
    worst = 0.0
    scale = 1.0
    for batch in (1, 3):
        inputs = example_inputs(reference, batch, seed + batch)
        want = reference(*inputs)
        got = loaded(*inputs)
        if got.shape != want.shape:
            raise UserError(
                f"exported module gives shape {tuple(got.shape)}, Python {tuple(want.shape)}"
            )
        worst = max(worst, float((got - want).abs().max()))
        scale = max(scale, float(want.abs().max()))
    ok = worst <= atol * scale
    if not ok:
        raise UserError(
            f"exported module differs from the Python path by {worst:.3g} (allowed {atol * scale:.3g})"
        )
    return {"max_abs_diff": worst, "atol": atol * scale, "ok": ok}


@torch.no_grad()
def measure_latency(
    path: str | os.PathLike[str], repeats: int = 10, warmup: int = 2
) -> dict[str, float]:
    """Median wall time of one call of the exported module at batch 1 (one note), on CPU."""
    info = json.loads(Path(str(path) + ".json").read_text())
    loaded = torch.jit.load(str(path), map_location="cpu")
    z = torch.randn(
        1, int(info["inputs"]["z"]["shape"][1]), generator=torch.Generator().manual_seed(0)
    )
    args: tuple[torch.Tensor, ...] = (z,)
    if "pitch" in info["inputs"]:
        args = (z, torch.tensor([int(info["inputs"]["pitch"]["values"][0])]))
    times = []
    for i in range(warmup + repeats):
        t0 = time.perf_counter()
        loaded(*args)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_s": times[len(times) // 2], "min_s": times[0], "repeats": repeats}
