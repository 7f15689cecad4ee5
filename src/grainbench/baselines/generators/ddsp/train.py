"""Training DDSP with the multi-scale spectral loss: steps, checkpoints, resume.

A run is a pure function of ``(seed, config, clips)`` on the CPU: the weights are initialised
from ``seed`` inside a forked RNG; step s trains on clips ``s·batch … (s+1)·batch − 1`` of the
sequence of epoch permutations (epoch e permuted by ``default_rng([seed, e])``), and its
noise excitation is drawn from a generator seeded by ``(seed, s)``. So resuming needs only
the step counter and the tensors of a checkpoint (weights and Adam's moments), and a
resumed run is bit-identical to an uninterrupted one (one torch thread).

**Checkpoints** are folders ``OUT/checkpoints/<step>/`` holding ``state.safetensors``
(``model/…`` weights, ``opt/…`` Adam state) and ``checkpoint.json`` (format, step, seed, the
config, the loss history and the caller's metadata), written under a temporary name and
renamed: a killed run leaves a complete checkpoint or none. No pickle anywhere.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from grainbench.baselines.generators import training
from grainbench.baselines.generators.ddsp.configs import DDSPConfig
from grainbench.baselines.generators.ddsp.features import Features
from grainbench.baselines.generators.ddsp.loss import multiscale_spectral_loss
from grainbench.baselines.generators.ddsp.model import DDSP
from grainbench.baselines.generators.training import (
    list_checkpoints,
    load_module,
    load_optimizer,
    optimizer_tensors,
    state_tensors,
    step_generator,
)
from grainbench.errors import UserError

CHECKPOINT_FORMAT = "grainbench-ddsp/1"
STATE_FILE = training.STATE_FILE
META_FILE = training.META_FILE

#: config fields that may differ between a checkpoint and the run that resumes it
_BOOKKEEPING = {"kimg", "checkpoint_every", "keep_checkpoints"}


def build_model(cfg: DDSPConfig, seed: int) -> DDSP:
    """A freshly initialised model (weights from ``seed``; the global RNG is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DDSP(cfg, seed=seed)


def batch_indices(n_clips: int, batch: int, seed: int, step: int) -> np.ndarray:
    """The clips of step ``step``: positions ``step·batch …`` of the epoch permutations."""
    pos = np.arange(step * batch, (step + 1) * batch)
    out = np.empty(batch, dtype=np.int64)
    for epoch in np.unique(pos // n_clips):
        sel = pos // n_clips == epoch
        out[sel] = np.random.default_rng([seed, int(epoch)]).permutation(n_clips)[
            pos[sel] % n_clips
        ]
    return out


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A checkpoint folder from a run folder (its latest), a checkpoint folder or its JSON."""
    return training.resolve_checkpoint(path, "DDSP")


def read_checkpoint_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON half of a DDSP checkpoint."""
    return training.read_checkpoint_meta(path, CHECKPOINT_FORMAT, "DDSP")


def load_model(path: str | os.PathLike[str]) -> tuple[DDSP, dict[str, Any]]:
    """The trained model (eval mode, CPU) and the checkpoint's JSON."""
    ckpt = resolve_checkpoint(path)
    meta = read_checkpoint_meta(ckpt)
    model = DDSP(DDSPConfig.from_dict(meta["config"]), seed=int(meta["seed"]))
    load_module(model, "model", load_file(str(ckpt / STATE_FILE)))
    return model.eval(), meta


class Trainer:
    """Trains a :class:`DDSP` on clips and their features (see the module doc).

    Args:
        cfg: the configuration.
        audio: mono training clips ``(N, n_samples)``, float32.
        features: their :class:`Features` (``N`` clips of ``n_samples / hop`` frames).
        seed: fixes initialisation, batches and noise.
        out_dir: run folder for checkpoints and ``log.jsonl`` (none: nothing written).
        progress: a progress bar on stderr.
        metadata: stored in every checkpoint (data, representation, setting…).
        echo: prints one line per checkpoint (loss, speed).
    """

    def __init__(
        self,
        cfg: DDSPConfig,
        audio: torch.Tensor,
        features: Features,
        *,
        seed: int = 0,
        out_dir: str | os.PathLike[str] | None = None,
        progress: bool = False,
        metadata: dict[str, Any] | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg, self.seed = cfg, int(seed)
        self.model = build_model(cfg, self.seed)
        if audio.ndim != 2 or audio.shape[-1] % self.model.hop:
            raise UserError(
                f"ddsp trains on mono clips (N, n) with n a multiple of {self.model.hop}, "
                f"got {tuple(audio.shape)}"
            )
        if len(features) != audio.shape[0]:
            raise UserError(f"ddsp: {len(features)} feature rows for {audio.shape[0]} clips")
        self.audio, self.features = audio.float(), features
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress, self.metadata, self.echo = bool(progress), dict(metadata or {}), echo
        self.step = 0
        self.history: list[dict[str, float]] = []

    def lr_at(self, step: int) -> float:
        """Adam's learning rate at ``step``: ``lr · lr_decay^(step / lr_decay_steps)``."""
        return self.cfg.lr * self.cfg.lr_decay ** (step / max(1, self.cfg.lr_decay_steps))

    def train_step(self) -> float:
        """One Adam step on the step's batch; returns the loss."""
        idx = torch.from_numpy(
            batch_indices(self.audio.shape[0], self.cfg.batch, self.seed, self.step)
        )
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(self.step)
        self.model.train()
        estimate = self.model(self.features[idx], step_generator(self.seed, self.step, 1))
        loss = multiscale_spectral_loss(
            self.audio[idx], estimate, tuple(self.cfg.loss_sizes), self.cfg.log_weight
        )
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.step += 1
        return float(loss.detach())

    def steps_for_kimg(self, kimg: float) -> int:
        """Steps that show ``kimg`` thousand clips (at least one)."""
        return max(1, math.ceil(kimg * 1000 / self.cfg.batch))

    def train(
        self,
        kimg: float | None = None,
        stop_after_steps: int | None = None,
        time_limit_s: float | None = None,
    ) -> None:
        """Train until ``kimg`` (default: the config's) thousand clips have been shown in
        total, writing a checkpoint and a log line every ``checkpoint_every`` steps and at
        the end. ``time_limit_s``: stop (with a log line and a checkpoint) after the first
        step that ends this many wall seconds after the call began. ``stop_after_steps``
        stops after that many steps of this call without a final checkpoint (an
        interruption, for tests)."""
        total = self.steps_for_kimg(self.cfg.kimg if kimg is None else kimg)
        from tqdm.auto import tqdm

        bar = tqdm(
            total=total,
            initial=self.step,
            desc=f"ddsp {self.cfg.name} {self.cfg.variant()}",
            unit="step",
            disable=not self.progress,
        )
        t0, s0, done, losses = time.perf_counter(), self.step, 0, []
        while self.step < total and (stop_after_steps is None or done < stop_after_steps):
            losses.append(self.train_step())
            done += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            wall = time.perf_counter() - t0
            out_of_time = time_limit_s is not None and wall >= time_limit_s
            if self.step % self.cfg.checkpoint_every == 0 or self.step == total or out_of_time:
                self._log(float(np.mean(losses)), (self.step - s0) / max(wall, 1e-9))
                losses = []
                if self.out_dir is not None:
                    self.save_checkpoint()
            if out_of_time:
                break
        bar.close()

    def _log(self, loss: float, steps_per_s: float) -> None:
        """Record the mean loss since the last record (history, log.jsonl, echo)."""
        line = {
            "step": self.step,
            "kimg": self.step * self.cfg.batch / 1000,
            "loss": loss,
            "lr": self.lr_at(self.step),
            "steps_per_s": steps_per_s,
            "time": time.time(),
        }
        self.history.append(line)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "log.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        if self.echo is not None:
            self.echo(f"step {self.step}: loss {loss:.4f} ({steps_per_s:.2f} steps/s)")

    def checkpoint_meta(self) -> dict[str, Any]:
        """The JSON half of a checkpoint."""
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "seed": self.seed,
            "config": self.cfg.to_dict(),
            "variant": self.cfg.variant(),
            "history": self.history,
            "metadata": self.metadata,
        }

    def save_checkpoint(self) -> Path:
        """Write ``OUT/checkpoints/<step>/`` atomically and prune old checkpoints."""
        if self.out_dir is None:
            raise UserError("this trainer has no output folder")
        tensors = {**state_tensors("model", self.model), **optimizer_tensors("opt", self.opt)}
        meta, keep = self.checkpoint_meta(), self.cfg.keep_checkpoints
        return training.write_checkpoint(
            self.out_dir, self.step, tensors, meta, CHECKPOINT_FORMAT, keep
        )

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore weights, Adam state, step and history (same config and seed)."""
        ckpt = resolve_checkpoint(path)
        meta = read_checkpoint_meta(ckpt)
        training.check_same_config(ckpt, meta["config"], self.cfg.to_dict(), _BOOKKEEPING, "DDSP")
        if int(meta["seed"]) != self.seed:
            raise UserError(f"{ckpt}: made with seed {meta['seed']}, not {self.seed}")
        tensors = load_file(str(ckpt / STATE_FILE))
        load_module(self.model, "model", tensors)
        load_optimizer(self.opt, "opt", tensors)
        self.step = int(meta["step"])
        self.history = list(meta.get("history", []))

    def resume_latest(self) -> bool:
        """Load the newest checkpoint in ``out_dir``; False when there is none."""
        if self.out_dir is None or not list_checkpoints(self.out_dir):
            return False
        self.load_checkpoint(self.out_dir)
        return True
