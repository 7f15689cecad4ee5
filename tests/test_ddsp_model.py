"""DDSP's model, training (resume, overfitting), latent mixture, profiles and generator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.stats
import torch

from grainbench.baselines.generators.ddsp.configs import get_config
from grainbench.baselines.generators.ddsp.controls import controls_to_image, resample_frames
from grainbench.baselines.generators.ddsp.features import Features
from grainbench.baselines.generators.ddsp.generator import DDSPGenerator
from grainbench.baselines.generators.ddsp.latent import fit_by_bic
from grainbench.baselines.generators.ddsp.model import Controls
from grainbench.baselines.generators.ddsp.profiles import Profiles, midi_profiles
from grainbench.baselines.generators.ddsp.train import (
    Trainer,
    batch_indices,
    build_model,
    load_model,
)
from grainbench.baselines.generators.gmm import GaussianMixture
from grainbench.baselines.harmonic_noise import harmonic_noise
from grainbench.errors import UserError
from grainbench.stages.parametric import PIANO_HIGH_HZ, PIANO_LOW_HZ, yin_f0

SR, N = 16000, 4096


def _clips(n: int, seed: int = 0) -> tuple[torch.Tensor, Features]:
    """Decaying harmonic tones at 110-220 Hz and their exact features (no CREPE)."""
    rng = np.random.default_rng(seed)
    t = np.arange(N) / SR
    f0 = rng.uniform(110, 220, n)
    audio = np.stack(
        [
            0.3 * np.exp(-3 * t) * sum(np.sin(2 * np.pi * h * f * t) / h for h in range(1, 6))
            for f in f0
        ]
    )
    frames = N // 64
    loud = torch.tensor(
        np.log10(np.exp(-3 * np.arange(frames) * 64 / SR))[None] * 20 - 15, dtype=torch.float32
    ).repeat(n, 1)
    feats = Features(
        torch.tensor(f0, dtype=torch.float32)[:, None].repeat(1, frames),
        loud,
        torch.tensor(rng.standard_normal((n, frames, 13)), dtype=torch.float32),
    )
    return torch.tensor(audio, dtype=torch.float32), feats


def test_batches_cover_every_clip_once_per_epoch() -> None:
    seen = np.concatenate([batch_indices(10, 4, 0, s) for s in range(5)])  # 2 epochs
    assert sorted(seen[:10].tolist()) == list(range(10)) and len(set(seen[10:20])) == 10


def test_variants_have_the_right_parts() -> None:
    full = build_model(get_config("tiny"), 0)
    bare = build_model(get_config("tiny", noise=False, use_z=False, reverb=True), 0)
    assert full.encoder is not None and full.reverb is None
    assert bare.encoder is None and bare.reverb is not None
    assert bare.cfg.variant() == "harmonic+reverb" and full.cfg.variant() == "harmonic+noise+z"
    _, feats = _clips(2)
    c = bare.controls(feats.f0_hz, feats.loudness_db, None)
    assert c.noise is None and c.harmonics.shape == (2, 16, N // 64)
    with pytest.raises(UserError):
        get_config("tiny", hidden="wide")


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = get_config("tiny", checkpoint_every=3, reverb=True)
    audio, feats = _clips(6)
    straight = Trainer(cfg, audio, feats, seed=5)
    straight.train(kimg=6 * cfg.batch / 1000)
    first = Trainer(cfg, audio, feats, seed=5, out_dir=tmp_path)
    first.train(kimg=6 * cfg.batch / 1000, stop_after_steps=4)  # checkpoint at step 3
    resumed = Trainer(cfg, audio, feats, seed=5, out_dir=tmp_path)
    assert resumed.resume_latest() and resumed.step == 3
    resumed.train(kimg=6 * cfg.batch / 1000)
    assert resumed.step == straight.step == 6
    for (name, a), b in zip(
        straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    model, meta = load_model(tmp_path)
    assert (
        meta["step"] == 6
        and json.loads((tmp_path / "checkpoints" / "000000006" / "checkpoint.json").read_text())[
            "variant"
        ]
        == "harmonic+noise+z+reverb"
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            model.state_dict().values(), resumed.model.state_dict().values(), strict=True
        )
    )
    with pytest.raises(UserError, match="different DDSP config"):
        Trainer(
            get_config("tiny", hidden=8), audio, feats, seed=5, out_dir=tmp_path
        ).resume_latest()


@pytest.mark.slow
def test_a_tiny_model_overfits_one_clip() -> None:
    torch.set_num_threads(1)
    cfg = get_config("tiny", batch=1, lr=3e-3)
    audio, feats = _clips(1)
    trainer = Trainer(cfg, audio, feats, seed=0)
    losses = [trainer.train_step() for _ in range(200)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) / 2.0


def test_mixture_score_and_bic_match_scipy_and_the_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3)) @ np.array([[1.0, 0.3, 0], [0, 1.0, 0.2], [0, 0, 0.5]])
    gmm = GaussianMixture(1, reg=0.0).fit(x)
    ref = scipy.stats.multivariate_normal(x.mean(0), np.cov(x.T, bias=True)).logpdf(x).mean()
    assert gmm.score(x) == pytest.approx(ref, rel=1e-6)
    assert gmm.n_parameters() == 3 + 6
    assert gmm.bic(x) == pytest.approx(-2 * 200 * ref + 9 * np.log(200), rel=1e-6)


def test_bic_finds_the_number_of_clusters() -> None:
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    x = np.concatenate([c + rng.standard_normal((150, 2)) for c in centres])
    gmm, table = fit_by_bic(x, max_components=6, seed=0)
    assert (
        len(gmm.weights) == 3
        and min(table, key=table.get) == 3
        and sorted(table) == list(range(1, 7))
    )


def test_profiles_from_clips_and_from_midi() -> None:
    _, feats = _clips(4)
    prof = Profiles.from_features(feats, np.array([48, 48, 50, -1]))
    f0, loud = prof.draw(6, np.array([48, 48, 50, 50, 52, 52]), np.random.default_rng(0))
    known = set(feats.f0_hz[:2, 0].tolist())
    assert {float(v) for v in f0[:2, 0]} <= known
    assert torch.allclose(f0[2:4], feats.f0_hz[2:3].expand(2, -1))
    transposed = {round(float(v), 3) for v in f0[4:, 0]}
    options = {
        round(float(v) * 2 ** ((52 - lab) / 12), 3)
        for v, lab in zip(feats.f0_hz[:3, 0], [48, 48, 50], strict=True)
    }
    assert transposed <= options and loud.shape == (6, N // 64)
    f0m, loudm = midi_profiles(
        np.array([69, 57]), np.array([127, 100]), prof.template_loudness(), 100.0
    )
    assert torch.allclose(f0m[:, 0], torch.tensor([440.0, 220.0])) and bool(
        (f0m == f0m[:, :1]).all()
    )
    assert torch.allclose(
        loudm[0] - loudm[1], torch.full((N // 64,), 40 * np.log10(1.27)), atol=1e-4
    )


def test_controls_become_harmonic_noise_rows() -> None:
    rep = harmonic_noise(SR, N, f0_estimator=yin_f0)
    stage = rep.stages[0]
    stage.peaks.copy_(torch.tensor([0.5, 2.0]))
    t = N // 64
    f0 = torch.full((1, t), 150.0)
    harm = torch.zeros(1, 20, t)
    harm[0, 0], harm[0, 4] = 0.25, 0.05
    image = controls_to_image(stage, Controls(f0, harm, None), None, 64)
    assert image.shape == (1, *rep.image_shape)
    span = np.log(PIANO_HIGH_HZ / PIANO_LOW_HZ)
    assert torch.allclose(
        image[0, 0, 0], torch.full((image.shape[-1],), 2 * np.log(150 / PIANO_LOW_HZ) / span - 1)
    )
    amps = stage._from_unit(image[0, 0, 1:64], stage.peaks[0])
    assert torch.allclose(amps[0], torch.full_like(amps[0], 0.25), rtol=1e-4)
    assert torch.allclose(amps[4], torch.full_like(amps[4], 0.05), rtol=1e-4)
    assert float(amps[[1, 2, 3, 5]].abs().max()) < 1e-6
    assert resample_frames(torch.tensor([0.0, 2.0, 4.0, 6.0]), 2, 4, 2).tolist() == [0.0, 4.0]


def _generator(tmp_path: Path, **options: Any) -> DDSPGenerator:
    """A tiny generator fitted on exact features (no CREPE), with image peaks as a
    harmonic-noise training run stores them."""
    cfg = get_config("tiny")
    audio, feats = _clips(8)
    trainer = Trainer(cfg, audio, feats, seed=0, out_dir=tmp_path)
    trainer.metadata["image"] = {"representation": "harmonic-noise", "peaks": [0.5, 2.0]}
    trainer.train(kimg=2 * cfg.batch / 1000)
    rep = harmonic_noise(SR, N)
    gen = DDSPGenerator(rep.image_shape, checkpoint=tmp_path, max_components=3, **options)
    gen.model, gen.meta = load_model(tmp_path)
    gen._fit_latents(feats, np.full(8, 48))
    return gen


def test_generator_samples_audio_and_images(tmp_path: Path) -> None:
    gen = _generator(tmp_path)
    assert gen.gmm is not None and 1 <= len(gen.gmm.weights) <= 3 and sorted(gen.bic) == [1, 2, 3]
    a = gen.sample_audio(5, labels=torch.full((5,), 48), seed=1)
    assert a.shape == (5, 1, N) and bool(torch.isfinite(a).all())
    assert torch.equal(a, gen.sample_audio(5, labels=torch.full((5,), 48), seed=1))
    assert not torch.equal(a, gen.sample_audio(5, labels=torch.full((5,), 48), seed=2))
    images = gen.sample(3, seed=0)
    assert images.shape == (3, *gen.image_shape) and bool(torch.isfinite(images).all())
    assert gen.describe()["mixture_components"] == len(gen.gmm.weights)
    midi = _generator(tmp_path / "midi", profile="midi", velocity=127)
    assert midi.sample_audio(2, labels=torch.tensor([48, 60]), seed=0).shape == (2, 1, N)


def test_generator_mistakes_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="profile"):
        DDSPGenerator((1, 128, 32), profile="loud")
    gen = DDSPGenerator((1, 128, 32))
    with pytest.raises(UserError, match="fit_audio"):
        gen.sample_audio(2)
    with pytest.raises(UserError, match="checkpoint"):
        gen.fit(torch.zeros(2, 1, 128, 32))
    with pytest.raises(UserError, match="trained on"):
        _generator(tmp_path).fit_audio(torch.zeros(2, 1, 2048), None, SR)


def test_train_command_resumes_and_feeds_the_generation_task(tmp_path: Path) -> None:
    from grainbench.cli import main
    from grainbench.data import load_dataset
    from grainbench.plugins import load_representation
    from taskrun import run_task

    out = tmp_path / "run"
    data = "synth-piano?n=80"  # 8 test clips, the generation task's least
    common = ["train", "--rep", "harmonic-noise", "--gen", "ddsp", "--config", "tiny"]
    common += ["--data", data, "--n-samples", "2048", "--out", str(out), "--wavs", "1"]
    common += ["--no-progress", "--set", "checkpoint_every=2"]
    assert main([*common, "--kimg", "0.008"]) == 0
    assert main([*common, "--kimg", "0.016"]) == 2  # checkpoints present, no --resume
    assert main([*common, "--kimg", "0.016", "--resume"]) == 0
    assert main([*common, "--kimg", "0.016", "--resume", "--shape", "2x1024"]) == 2
    summary = json.loads((out / "train.json").read_text())
    assert summary["step"] == 4 and [h["step"] for h in summary["history"]] == [2, 4]
    assert summary["metadata"]["image"]["representation"] == "harmonic-noise"
    assert {p.name for p in (out / "checkpoints" / "000000004").iterdir()} == {
        "state.safetensors",
        "checkpoint.json",
    }
    ds = load_dataset(data, sample_rate=16000, n_samples=2048, progress=False)
    rep = load_representation("harmonic-noise", ds.sample_rate, ds.n_samples)
    rep.fit(torch.from_numpy(ds.train))
    gen = DDSPGenerator(rep.image_shape, checkpoint=out, max_components=2)
    params = {"embeddings": ["spectral-stats"], "pitch_model": "crepe-tiny?hop=800"}
    params |= {"kid_boot": 10, "n_boot": 50, "n_wavs": 1}
    res = run_task("generation", rep, ds, tmp_path / "gen", "generation", params, gen)
    assert res.data["generator_output"] == "audio"
    assert gen.describe()["steps"] == 4
    fd = {m.key: m.value for m in res.metrics if m.name == "fd"}
    assert np.isfinite(fd["fd[embedding=spectral-stats,row=generator]"])
