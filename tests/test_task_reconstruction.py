"""The reconstruction task: a generator's own encode → decode, scored like the round trip."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grainbench.data import load_dataset
from grainbench.errors import UserError
from grainbench.metrics import audio as am
from grainbench.plugins import load_generator, load_representation
from taskrun import run_task


class HalfGain:
    """Reconstructs a clip as half of it (mono when ``mono``): closed-form spectral errors."""

    def __init__(self, mono: bool = False) -> None:
        self.mono = mono
        self.calls: list[tuple[tuple[int, ...], int]] = []

    def fit(self, images: Any, labels: Any = None) -> None:
        raise AssertionError("the reconstruction task does not fit the generator")

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> Any:
        raise AssertionError("the reconstruction task does not sample")

    def reconstruct_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        self.calls.append((tuple(audio.shape), sample_rate))
        out = 0.5 * audio
        return out.mean(1, keepdim=True) if self.mono else out


@pytest.fixture(scope="module")
def synth() -> Any:
    return load_dataset("synth-piano?n=40", sample_rate=16000, n_samples=4096, progress=False)


def test_half_gain_reconstruction_has_the_closed_form_errors(synth: Any, tmp_path: Path) -> None:
    rep = load_representation("waveform-square", synth.sample_rate, synth.n_samples)
    gen = HalfGain()
    res = run_task("reconstruction", rep, synth, tmp_path, "reconstruction", {"batch_size": 3}, gen)
    values = {m.key: m.value for m in res.metrics}
    assert set(values) == {
        "lsd[band=signal]",
        "lsd[band=full]",
        "mrstft",
        "spectral_convergence",
    }  # no waveform metrics: they are omitted, with a reason
    assert set(res.data["omitted"]) == {"snr", "si_sdr", "max_abs_error"}
    n_test = len(synth.test)
    assert [c[0][0] for c in gen.calls] == [3] * (n_test // 3) + (
        [n_test % 3] if n_test % 3 else []
    )
    assert {c[1] for c in gen.calls} == {synth.sample_rate}
    # ‖S‖ / ‖S − S/2‖ = 2 in every clip; every bin's power is a quarter (6.02 dB), less
    # where LSD's floor (100 dB below each clip's peak) dominates
    assert values["spectral_convergence"] == pytest.approx(20 * math.log10(2), abs=1e-4)
    assert 1.0 < values["lsd[band=full]"] <= 20 * math.log10(2) + 1e-4
    x = torch.from_numpy(synth.test)
    full = am.log_spectral_distance(x, 0.5 * x, synth.sample_rate).numpy()
    assert values["lsd[band=full]"] == pytest.approx(float(full.mean()), rel=1e-6)
    expected = am.mrstft_distance(x, 0.5 * x).numpy().mean()
    assert values["mrstft"] == pytest.approx(float(expected), rel=1e-6)
    band = am.log_spectral_distance(x, 0.5 * x, synth.sample_rate, max_hz=synth.test_band_limits)
    assert values["lsd[band=signal]"] == pytest.approx(float(np.nanmean(band.numpy())), rel=1e-6)
    wavs = sorted(p.name for p in (tmp_path / "reconstruction").glob("*.wav"))
    assert wavs == [f"clip{i}_{k}.wav" for i in (0, 1) for k in ("original", "reconstruction")]


def test_a_mono_reconstruction_is_compared_with_the_channel_mean(tmp_path: Path) -> None:
    ds = load_dataset("synth-piano?n=20", sample_rate=16000, n_samples=4096, progress=False)
    rep = load_representation("waveform-square", ds.sample_rate, ds.n_samples)
    stereo = dataclasses.replace(ds, test=np.repeat(ds.test, 2, axis=1), n_channels=2)
    res = run_task("reconstruction", rep, stereo, tmp_path, "r", {"n_examples": 0}, HalfGain(True))
    sc = next(m.value for m in res.metrics if m.name == "spectral_convergence")
    assert sc == pytest.approx(20 * math.log10(2), abs=1e-4)


def test_a_generator_without_reconstruct_audio_is_refused(tmp_path: Path) -> None:
    from grainbench.cli import main

    common = ["run", "--rep", "waveform-square", "--data", "synth-piano?n=20"]
    common += ["--n-samples", "4096", "--no-progress", "--out", str(tmp_path / "r")]
    assert main([*common, "--gen", "gmm", "--task", "reconstruction"]) == 2
    assert main([*common, "--task", "reconstruction"]) == 2  # no generator at all
    assert not (tmp_path / "r" / "result.json").exists()
    with pytest.raises(UserError, match="reconstruct_audio"):
        from grainbench.tasks.reconstruction import ReconstructionTask

        ReconstructionTask.check_generator(load_generator("gmm", (1, 8, 8)), "mine")
