"""The SPEC section 2 generator protocol for StyleGAN2 / StyleGAN3 (``fit``, ``sample`` and
the optional ``project``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.baselines.generators.stylegan.checkpoint import load_generator
from grainbench.baselines.generators.stylegan.configs import StyleGANConfig, get_config
from grainbench.baselines.generators.stylegan.ddp import DistInfo
from grainbench.baselines.generators.stylegan.projection import (
    LEARNING_RATE,
    W_STEPS,
    WPLUS_STEPS,
    project_images,
)
from grainbench.baselines.generators.stylegan.stylegan2 import Generator
from grainbench.baselines.generators.stylegan.train import Trainer, sample_images
from grainbench.errors import UserError

#: training length (thousands of images) when ``kimg`` is not given, per named config and
#: architecture: ``cpu`` is sized for about 20 minutes of one core of the 2-core reference
#: machine on a 1×128×128 image (StyleGAN2 measured at ~7 img/s there, StyleGAN3 at ~1
#: img/s; 2-channel 256×128 STFT images take about 2.5× as long as 128×128); ``cpu-sparse``
#: StyleGAN2 stops at 3 kimg, inside the 2-3 kimg plateau of dct-square's Fréchet CREPE distance,
#: ``ki``/``ki-sg3`` follow the papers' 25,000 kimg
DEFAULT_KIMG = {
    ("tiny", "stylegan2"): 0.1,
    ("tiny", "stylegan3"): 0.1,
    ("cpu", "stylegan2"): 8.0,
    ("cpu", "stylegan3"): 1.2,
    ("cpu-sparse", "stylegan2"): 3.0,
    ("cpu-sparse", "stylegan3"): 1.2,
    ("ki", "stylegan2"): 25000.0,
    ("ki-sg3", "stylegan3"): 25000.0,
}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/``None`` → CUDA when available, else CPU; anything else as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device} asked for, but torch sees no CUDA device")
    return dev


def pitch_classes(labels: Any) -> list[int] | None:
    """Sorted distinct MIDI pitches when ``labels`` support pitch conditioning, else ``None``.

    Conditioning is used when every label is known (≥ 0) and there are at least two
    distinct pitches; a single pitch (e.g. ``piano-c3``) or unknown pitches (-1) train an
    unconditional model.
    """
    if labels is None:
        return None
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    if arr.size == 0 or (arr < 0).any():
        return None
    classes = sorted(int(v) for v in np.unique(arr))
    return classes if len(classes) >= 2 else None


def to_class_indices(labels: Any, classes: list[int]) -> torch.Tensor:
    """MIDI pitches → indices into ``classes``; an unknown pitch raises :class:`UserError`."""
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    lookup = {p: i for i, p in enumerate(classes)}
    missing = sorted({int(v) for v in arr} - set(lookup))
    if missing:
        raise UserError(
            f"pitch {missing[0]} was not in the training labels ({classes[0]}…{classes[-1]})"
        )
    return torch.tensor([lookup[int(v)] for v in arr], dtype=torch.long)


class StyleGANGenerator:
    """A StyleGAN2 or StyleGAN3 generator behind the SPEC section 2 protocol.

    ``fit(images, labels=None)`` trains on images ``(N, C, H, W)`` in [-1, 1] (any
    power-of-two H and W, any channel count) for ``kimg`` thousand images; labels (MIDI
    pitches) condition the mapping network through a label embedding when they name at
    least two pitches. ``sample(n, labels=None, seed=0)`` draws ``n`` images from the EMA
    generator.

    Options: ``arch`` (``stylegan2`` | ``stylegan3``), ``config`` (``tiny`` | ``cpu`` |
    ``cpu-sparse`` | ``ki`` | ``ki-sg3``), ``kimg`` (default per config, see :data:`DEFAULT_KIMG`), ``seed``,
    ``device`` (``auto``, ``cpu``, ``cuda``…), ``out_dir`` (checkpoints, samples and log; none
    by default), ``resume`` (continue from ``out_dir``'s last checkpoint), ``max_seconds``
    (stop training after that many wall seconds, short of ``kimg``: :meth:`describe` gives
    the images reached), ``progress``, ``truncation_psi`` (sampling), ``project_w_steps``,
    ``project_wplus_steps`` and ``project_lr`` (the step budget and learning rate of
    :meth:`project`), and any :class:`StyleGANConfig` field as an override (e.g. ``batch=8``,
    ``augment_ops="gain,noise,sign"``).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        arch: str = "stylegan2",
        config: str = "cpu",
        kimg: float | None = None,
        seed: int = 0,
        device: str | torch.device | None = "auto",
        out_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        max_seconds: float | None = None,
        progress: bool = True,
        truncation_psi: float = 1.0,
        project_w_steps: int = W_STEPS,
        project_wplus_steps: int = WPLUS_STEPS,
        project_lr: float = LEARNING_RATE,
        dist: DistInfo | None = None,
        metadata: dict[str, Any] | None = None,
        snapshot_hook: Callable[[Trainer], None] | None = None,
        **overrides: Any,
    ) -> None:
        if len(image_shape) != 3:
            raise UserError(f"StyleGAN needs an image shape (C, H, W), got {tuple(image_shape)}")
        self.image_shape: tuple[int, int, int] = (
            int(image_shape[0]),
            int(image_shape[1]),
            int(image_shape[2]),
        )
        if "augment_ops" in overrides and isinstance(overrides["augment_ops"], str):
            overrides["augment_ops"] = [
                o for o in overrides["augment_ops"].split(",") if o and o != "none"
            ]
        self.cfg: StyleGANConfig = get_config(config, arch, self.image_shape, **overrides)
        self.kimg = float(kimg) if kimg is not None else DEFAULT_KIMG[(config, arch)]
        self.seed = int(seed)
        self.dist = dist
        self.device = dist.device if dist is not None else resolve_device(device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.resume = bool(resume)
        if max_seconds is not None and not float(max_seconds) > 0:
            raise UserError(f"StyleGAN max_seconds must be positive, got {max_seconds}")
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.progress = bool(progress)
        self.truncation_psi = float(truncation_psi)
        self.project_w_steps = int(project_w_steps)
        self.project_wplus_steps = int(project_wplus_steps)
        self.project_lr = float(project_lr)
        if self.project_w_steps < 0 or self.project_wplus_steps < 0 or not self.project_lr > 0:
            raise UserError(
                "project_w_steps and project_wplus_steps must be ≥ 0 and project_lr > 0"
            )
        self.metadata = dict(metadata or {})
        self.snapshot_hook = snapshot_hook
        self.classes: list[int] | None = None
        self.G: Generator | None = None
        self.trainer: Trainer | None = None

    def fit(self, images: Any, labels: Any = None) -> None:
        """Train on ``images`` (N, C, H, W) in [-1, 1], optionally with MIDI pitch ``labels``."""
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        x = x.detach().float()
        if tuple(x.shape[1:]) != self.image_shape:
            raise UserError(f"images of shape {tuple(x.shape[1:])}, expected {self.image_shape}")
        self.classes = pitch_classes(labels)
        idx = to_class_indices(labels, self.classes) if self.classes else None
        meta = {**self.metadata, "classes": self.classes}
        self.trainer = Trainer(
            self.cfg,
            x,
            idx,
            num_classes=len(self.classes or []),
            seed=self.seed,
            out_dir=self.out_dir,
            dist=self.dist,
            progress=self.progress,
            metadata=meta,
            snapshot_hook=self.snapshot_hook,
        )
        if self.resume:
            self.trainer.resume_latest()
        self.trainer.train(self.kimg, time_limit_s=self.max_seconds)
        self.G = self.trainer.G_ema

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` images (n, C, H, W) float32 on the CPU; ``labels`` are MIDI pitches."""
        if self.G is None:
            raise UserError("StyleGAN generator: call fit() (or load()) before sample()")
        idx = None
        if self.classes and labels is not None:
            idx = to_class_indices(labels, self.classes)
            if idx.numel() != n:
                raise UserError(f"{idx.numel()} labels for {n} samples")
        return sample_images(self.G, int(n), int(seed), idx, truncation_psi=self.truncation_psi)

    def project(self, images: Any, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """The generator's closest outputs to ``images (n, C, H, W)`` (CPU float32).

        Latent optimisation in W, then W+ (:mod:`~grainbench.baselines.generators.stylegan.projection`:
        ``project_w_steps`` + ``project_wplus_steps`` Adam steps at ``project_lr``, pixel MSE
        in the training normalisation, constant noise, start from the mean w of latents
        drawn from ``seed``); ``labels`` are MIDI pitches for a conditional generator.
        """
        if self.G is None:
            raise UserError("StyleGAN generator: call fit() (or load()) before project()")
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        idx = None
        if self.classes:
            if labels is None:
                raise UserError(
                    "a pitch-conditional StyleGAN projects only with labels (MIDI pitches; "
                    "grainbench apply: --pitch MIDI)"
                )
            idx = to_class_indices(labels, self.classes)
        self.G.eval()
        return project_images(
            self.G,
            x.detach().float(),
            idx,
            w_steps=self.project_w_steps,
            wplus_steps=self.project_wplus_steps,
            lr=self.project_lr,
            seed=int(seed),
        ).images

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        device: str | torch.device | None = "auto",
        **options: Any,
    ) -> StyleGANGenerator:
        """A generator ready to sample (and project) from a checkpoint (run folder or
        checkpoint folder); ``options`` are sampling and projection options
        (``truncation_psi``, ``project_w_steps``, ``project_wplus_steps``, ``project_lr``)."""
        allowed = {"truncation_psi", "project_w_steps", "project_wplus_steps", "project_lr"}
        extra = sorted(set(options) - allowed)
        if extra:
            raise UserError(
                f"a loaded StyleGAN takes no option(s) {', '.join(extra)}; it takes: "
                f"{', '.join(sorted(allowed))}"
            )
        dev = resolve_device(device)
        G, meta = load_generator(path, "G_ema", dev)
        cfg = StyleGANConfig.from_dict(meta["config"])
        name = cfg.name if (cfg.name, cfg.arch) in DEFAULT_KIMG else "tiny"
        self = cls(
            tuple(meta["image_shape"]),
            arch=cfg.arch,
            config=name,
            seed=int(meta["seed"]),
            device=dev,
            **options,
        )
        self.cfg = cfg
        self.classes = (meta.get("metadata") or {}).get("classes")
        self.G = G
        return self

    def describe(self) -> dict[str, Any]:
        """Architecture, config, training length asked for (``kimg``, ``max_seconds``) and
        reached (``kimg_trained``, ``stopped_at_time_limit``; None before training), for results."""
        trainer = self.trainer
        return {
            "arch": self.cfg.arch,
            "config": self.cfg.to_dict(),
            "kimg": self.kimg,
            "max_seconds": self.max_seconds,
            "kimg_trained": None if trainer is None else trainer.nimg / 1000,
            "stopped_at_time_limit": None if trainer is None else trainer.stopped_at_time_limit,
            "seed": self.seed,
            "image_shape": list(self.image_shape),
            "classes": self.classes,
            "project": {
                "w_steps": self.project_w_steps,
                "wplus_steps": self.project_wplus_steps,
                "lr": self.project_lr,
            },
        }


def stylegan2_factory(
    image_shape: tuple[int, ...], progress: bool = True, **options: Any
) -> StyleGANGenerator:
    """Registry factory for ``stylegan2`` (``progress``: a training progress bar on stderr)."""
    options.setdefault("arch", "stylegan2")
    return StyleGANGenerator(image_shape, progress=progress, **options)


def stylegan3_factory(
    image_shape: tuple[int, ...], progress: bool = True, **options: Any
) -> StyleGANGenerator:
    """Registry factory for ``stylegan3`` (``progress``: a training progress bar on stderr)."""
    options.setdefault("arch", "stylegan3")
    return StyleGANGenerator(image_shape, progress=progress, **options)
