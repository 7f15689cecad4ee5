"""The training clips' images encoded once per run: kept for the next pass at the same batch
size, the same numbers as encoding anew, re-encoded when too large, shared by a run's
perturbation and locality tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import grainbench.training_images as training_images
from grainbench.data import load_dataset
from grainbench.plugins import Representation, load_representation
from grainbench.registries import REPRESENTATIONS, TASKS
from grainbench.tasks.base import RunContext
from grainbench.tasks.params import validate_params
from grainbench.training_images import TrainingImages

SR, N = 16000, 16384
SMALL = {
    "perturbation": {"n_clips": 1, "n_pixels": 8, "n_energy_pixels": 8, "n_boot": 10},
    "locality": {"n_pixels": 8, "n_energy_pixels": 8, "n_gabor": 4, "n_boot": 10},
}
"""Small perturbation and locality settings: both tasks read every training image."""


class Counting:
    """A representation's encode that counts the clips it encodes."""

    def __init__(self, rep) -> None:
        self.rep, self.clips = rep, 0

    def __getattr__(self, name: str):
        return getattr(self.rep, name)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        self.clips += len(audio)
        return self.rep.encode(audio)


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=12", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


@pytest.fixture()
def rep(data):
    rep = load_representation("dct-square", SR, N)
    rep.fit(torch.from_numpy(data.train))
    return Counting(rep)


def test_kept_images_are_the_encoded_ones(data, rep) -> None:
    training = TrainingImages(rep, data.train)
    first = list(training.batches(4))
    assert rep.clips == len(data.train)
    again = list(training.batches(4))
    assert rep.clips == len(data.train)  # not encoded again
    assert [sl for sl, _ in again] == [sl for sl, _ in first]
    for (sl, kept), (_, seen) in zip(again, first, strict=True):
        assert kept is seen
        assert torch.equal(kept, rep.rep.encode(torch.from_numpy(data.train[sl])))
    list(training.batches(5))  # another batch size: encoded anew
    assert rep.clips == 2 * len(data.train)


def test_too_large_to_keep_is_encoded_again(data, rep, monkeypatch) -> None:
    monkeypatch.setattr(training_images, "KEEP_BYTES", 1)
    training = TrainingImages(rep, data.train)
    list(training.batches(4))
    list(training.batches(4))
    assert rep.clips == 2 * len(data.train)


def test_unfinished_pass_keeps_nothing(data, rep) -> None:
    training = TrainingImages(rep, data.train)
    next(iter(training.batches(4)))
    list(training.batches(4))
    assert rep.clips == 4 + len(data.train)


def _run_both(rep, data, tmp_path, training: TrainingImages | None) -> list:
    """Metrics of a small perturbation and locality run, their contexts sharing ``training``
    (None: each context encodes for itself)."""
    metrics = []
    for name, p in SMALL.items():
        out = tmp_path / name
        out.mkdir(parents=True)
        ctx = RunContext(rep, data, 0, tmp_path, out, torch.device("cpu"), lambda it, **_: it)
        ctx.training = training
        task = TASKS.get(name)
        result = task.run(ctx, validate_params(name, task, p))
        metrics += [(m.name, m.value, m.low, m.high, m.condition) for m in result.metrics]
    return metrics


def test_perturbation_and_locality_encode_the_training_set_once(data, rep, tmp_path) -> None:
    separate = _run_both(rep, data, tmp_path / "separate", None)
    clips = rep.clips
    shared = _run_both(rep, data, tmp_path / "shared", TrainingImages(rep, data.train))
    assert rep.clips - clips == clips - len(data.train)
    assert np.array_equal(np.array(shared, dtype=object), np.array(separate, dtype=object))


@pytest.mark.parametrize("name", sorted(e.name for e in REPRESENTATIONS.entries()))
def test_fit_returns_the_images_encode_gives(data, name: str) -> None:
    """Every built-in's fit returns its training images, the same to the bit as encoding
    them in batches of 32, the tasks' default (what lets a run skip encoding them again);
    one by one to float rounding (cqt's batch-1 encode takes another matrix route)."""
    rep = load_representation(name, SR, N)
    if (rep.sample_rate, rep.n_samples, rep.n_channels) != (SR, N, 1):  # a fixed setting
        setting = {"sample_rate": rep.sample_rate, "n_samples": rep.n_samples}
        data = load_dataset("synth-piano?n=12", **setting, n_channels=rep.n_channels, seed=0)
    train = torch.from_numpy(data.train)
    images = rep.fit(train)
    assert images is not None
    with torch.no_grad():
        assert torch.equal(
            images, torch.cat([rep.encode(train[i : i + 32]) for i in range(0, len(train), 32)])
        )
        torch.testing.assert_close(images[3:4], rep.encode(train[3:4]), rtol=1e-5, atol=1e-5)


class _Returns:
    """A plugin whose fit returns ``self.out``."""

    name, sample_rate, n_samples, n_channels = "returns", SR, N, 1

    def __init__(self, out) -> None:
        self.out = out

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        return audio.reshape(len(audio), 1, 128, 128)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        return image.reshape(len(image), 1, N)

    def fit(self, audio: torch.Tensor):
        return self.out if not callable(self.out) else self.out(audio)


def test_a_plugins_fit_may_return_its_images(data) -> None:
    train = torch.from_numpy(data.train)
    good = Representation(_Returns(lambda a: a.reshape(len(a), 1, 128, 128)), "t:good", "0")
    assert torch.equal(good.fit(train), train.reshape(len(train), 1, 128, 128))
    for out in (None, 3, torch.zeros(2, 1, 128, 128), lambda a: a.double()):
        assert Representation(_Returns(out), "t:other", "0").fit(train) is None


def test_a_run_encodes_its_training_clips_only_to_fit(monkeypatch, tmp_path) -> None:
    """``grainbench run`` with perturbation and locality: the tasks read the images the fit
    returned; no batch of training clips is encoded after the fit."""
    from grainbench.runner import RunSpec, run_benchmark

    sizes: list[int] = []
    encode = Representation.encode

    def counting(self, audio: torch.Tensor) -> torch.Tensor:
        sizes.append(len(audio))
        return encode(self, audio)

    monkeypatch.setattr(Representation, "encode", counting)
    spec = RunSpec(
        rep="dct-square",
        data="synth-piano?n=40",
        sample_rate=SR,
        n_samples=N,
        tasks=["perturbation", "locality"],
        params=SMALL,
        out=tmp_path / "run",
        progress=False,
    )
    run_benchmark(spec)
    assert max(sizes) < 32  # 36 training clips: a batch of 32 would be the tasks' own
