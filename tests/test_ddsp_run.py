"""DDSP training runs: the time limit, the cached representation peaks, reconstruction."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grainbench.baselines.generators.ddsp.configs import feature_options, get_config
from grainbench.baselines.generators.ddsp.evaluate import reconstruct
from grainbench.baselines.generators.ddsp.features import compute_features
from grainbench.baselines.generators.ddsp.generator import DDSPGenerator
from grainbench.baselines.generators.ddsp.peaks import fitted_peaks
from grainbench.baselines.generators.ddsp.train import Trainer, load_model
from grainbench.errors import UserError
from grainbench.plugins import load_representation
from test_ddsp_model import SR, N, _clips


def test_a_time_limit_stops_training_with_a_checkpoint(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = get_config("tiny", checkpoint_every=50)
    audio, feats = _clips(4)
    trainer = Trainer(cfg, audio, feats, seed=0, out_dir=tmp_path)
    trainer.train(kimg=20 * cfg.batch / 1000, time_limit_s=0.0)  # out of time after one step
    assert trainer.step == 1 and [h["step"] for h in trainer.history] == [1]
    assert load_model(tmp_path)[1]["step"] == 1
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1]


def test_the_train_command_refuses_a_nonpositive_time_limit(tmp_path: Path) -> None:
    from grainbench.cli import main

    args = ["train", "--rep", "harmonic-noise", "--gen", "ddsp", "--config", "tiny"]
    args += ["--data", "synth-piano?n=20", "--out", str(tmp_path / "r"), "--max-seconds", "0"]
    assert main(args) == 2


def _sine_clips(n: int) -> torch.Tensor:
    t = np.arange(N) / SR
    return torch.tensor(
        np.stack([[0.3 * np.sin(2 * np.pi * (110 + 20 * i) * t)] for i in range(n)]),
        dtype=torch.float32,
    )


def test_peaks_are_cached_by_content(tmp_path: Path, monkeypatch: Any) -> None:
    audio = _sine_clips(3)
    rep = load_representation("harmonic-noise", SR, N)
    first = fitted_peaks(rep, audio, cache_dir=tmp_path)
    fresh = load_representation("harmonic-noise", SR, N)
    fresh.fit(audio)
    assert first == [float(p) for p in fresh.plugin.stages[0].peaks]
    assert len(list((tmp_path / "ddsp-peaks").iterdir())) == 1

    cached = load_representation("harmonic-noise", SR, N)

    def no_fit(_: Any) -> None:
        raise AssertionError("the peaks of these clips are cached")

    monkeypatch.setattr(cached, "fit", no_fit)
    assert fitted_peaks(cached, audio, cache_dir=tmp_path) == first
    assert [float(p) for p in cached.plugin.stages[0].peaks] == first
    louder = load_representation("harmonic-noise", SR, N)
    assert fitted_peaks(louder, 2 * audio, cache_dir=tmp_path)[0] == pytest.approx(2 * first[0])
    assert len(list((tmp_path / "ddsp-peaks").iterdir())) == 2


def test_reconstruct_audio_encodes_and_decodes(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = get_config("tiny")
    audio, feats = _clips(4)
    Trainer(cfg, audio, feats, seed=0, out_dir=tmp_path).train(kimg=2 * cfg.batch / 1000)
    gen = DDSPGenerator((1, 128, 32), checkpoint=tmp_path)
    clips = _sine_clips(2)
    out = gen.reconstruct_audio(clips, SR)
    model, _ = load_model(tmp_path)
    mine = compute_features(clips, SR, model.hop, **feature_options(model.cfg))
    assert out.shape == (2, 1, N) and torch.allclose(out[:, 0], reconstruct(model, mine, 0))
    assert torch.equal(out, gen.reconstruct_audio(clips, SR))
    with pytest.raises(UserError, match="trained on"):
        gen.reconstruct_audio(clips[..., : N // 2], SR)
    with pytest.raises(UserError, match="checkpoint"):
        DDSPGenerator((1, 128, 32)).reconstruct_audio(clips, SR)
