"""The generation task with an audio generator (``fit_audio`` / ``sample_audio``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from grainbench.data import load_dataset
from grainbench.errors import UserError
from grainbench.plugins import load_representation
from taskrun import run_task

FAST = {
    "embeddings": ["spectral-stats"],
    "pitch_model": "crepe-tiny?hop=800",
    "kid_boot": 20,
    "n_boot": 200,
    "n_wavs": 1,
    "n_grid": 4,
}


class ClipsBack:
    """Audio generator that plays training clips back (or white noise); the image
    protocol must not be used."""

    def __init__(self, noise: bool = False) -> None:
        self.noise = noise
        self.clips: torch.Tensor | None = None
        self.calls: dict[str, Any] = {}

    def fit(self, images: Any, labels: Any = None) -> None:
        raise AssertionError("an audio generator is fitted on audio")

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> Any:
        raise AssertionError("an audio generator's clips are scored as they are")

    def fit_audio(self, audio: torch.Tensor, labels: Any, sample_rate: int) -> None:
        self.clips = audio
        self.calls["fit_audio"] = (
            audio.shape,
            None if labels is None else labels.shape,
            sample_rate,
        )

    def sample_audio(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        assert self.clips is not None
        self.calls["sample_audio"] = (n, None if labels is None else labels.tolist(), seed)
        if self.noise:
            gen = torch.Generator().manual_seed(seed)
            return 0.3 * torch.randn(n, *self.clips.shape[1:], generator=gen)
        return self.clips[:n].clone()


@pytest.fixture(scope="module")
def synth() -> Any:
    return load_dataset("synth-piano?n=100", sample_rate=16000, n_samples=16384, progress=False)


def test_audio_generators_are_fitted_and_scored_on_audio(synth: Any, tmp_path: Path) -> None:
    rep = load_representation("dct-square", synth.sample_rate, synth.n_samples)
    rep.fit(torch.from_numpy(synth.train))
    good, bad = ClipsBack(), ClipsBack(noise=True)
    res = run_task("generation", rep, synth, tmp_path / "a", "generation", FAST, good)
    worse = run_task("generation", rep, synth, tmp_path / "b", "generation", FAST, bad)
    n_fit = res.data["reference"]["generator_trained_on"]  # training clips outside the pool
    assert n_fit == 90 - res.data["reference"]["held_out_train_clips"] < 90
    assert good.calls["fit_audio"] == ((n_fit, 1, 16384), (n_fit,), 16000)
    n, labels, _ = good.calls["sample_audio"]
    n_b = res.data["rows"]["real-vs-real"]["n_candidates"]
    assert n == n_b and labels is not None and len(labels) == n_b
    assert res.data["generator_output"] == "audio"
    keys = {m.key for m in res.metrics}
    assert "clipped_fraction[row=roundtrip]" in keys
    assert "clipped_fraction[row=generator]" not in keys
    fd = {r.key: r.value for r in res.metrics if r.name == "fd"}
    fd_bad = {r.key: r.value for r in worse.metrics if r.name == "fd"}
    key = "fd[embedding=spectral-stats,row=generator]"
    assert fd[key] < fd_bad[key]
    assert [a.path for a in res.artifacts] == ["generation/generated_0.wav"]  # no image grid


class WrongShape(ClipsBack):
    def sample_audio(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        return torch.zeros(n, 1, 100)


def test_wrong_audio_shape_is_a_user_error(synth: Any, tmp_path: Path) -> None:
    rep = load_representation("dct-square", synth.sample_rate, synth.n_samples)
    rep.fit(torch.from_numpy(synth.train))
    with pytest.raises(UserError, match="shape"):
        run_task("generation", rep, synth, tmp_path, "generation", FAST, WrongShape())
