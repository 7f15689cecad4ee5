"""Grain as an effect: overlap-add without seams, image errors, `grainbench apply` and
``grainbench.apply`` on numpy arrays, at other rates and channel counts, with generators."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import grainbench
from grainbench.cli import main
from grainbench.data import load_dataset
from grainbench.effect import GrainEffect, build_effect, clip_seed, rate_ratio
from grainbench.errors import UserError
from grainbench.imageerrors import ImageError, parse_error
from grainbench.ola import overlap_add, synthesis_window
from grainbench.tasks.transfer_errors import MirrorBlur, psnr_db

SR, N = 16000, 16384
DATA = "synth-piano?n=20"
SMALL = ["--data", DATA, "--sample-rate", str(SR), "--n-samples", str(N)]


def _db(err: np.ndarray, ref: np.ndarray) -> float:
    return 10 * math.log10(float(np.sum(err**2)) / float(np.sum(ref**2)))


@pytest.mark.parametrize("n", [8, 9, 64])
@pytest.mark.parametrize("length", [1, 5, 63, 64, 65, 1000])
def test_overlap_add_of_an_identity_is_the_signal(n: int, length: int) -> None:
    x = np.random.default_rng(length).standard_normal((2, length))
    calls: list[np.ndarray] = []

    def identity(clips: np.ndarray, idx: np.ndarray) -> np.ndarray:
        calls.append(idx)
        return clips

    np.testing.assert_allclose(overlap_add(x, n, identity, batch=3), x, atol=1e-12)
    assert np.array_equal(np.concatenate(calls), np.arange(sum(len(c) for c in calls)))
    # shifted windows sum to one (periodic Hann at half its length)
    w = synthesis_window(n)
    hop = n // 2
    assert np.allclose(w[:hop] + w[hop : 2 * hop], 1.0) and not w[2 * hop :].any()


def test_overlap_add_cross_fades_clip_gains() -> None:
    """Each clip scaled by its own gain: the output never jumps between neighbouring samples
    by more than the input does plus the smooth fade (no seam)."""
    x = np.ones((1, 400))
    out = overlap_add(x, 64, lambda clips, idx: clips * (1.0 + idx)[:, None, None])
    assert np.abs(np.diff(out[0])).max() < 2 * math.pi / 64 * 1.01  # Hann slope, gain 1 step


def test_image_errors_parse_and_hit_their_psnr() -> None:
    assert parse_error("noise:psnr=40") == ImageError("noise", 40.0)
    assert parse_error(" blur:psnr=50 ").describe() == "blur:psnr=50"
    assert parse_error("quant8") == ImageError("quant8")
    for bad in ("hiss", "noise", "noise:psnr=x", "noise:psnr=-3", "quant8:psnr=4", "blur:p"):
        with pytest.raises(UserError):
            parse_error(bad)
    images = torch.rand(3, 1, 32, 32) * 2 - 1
    for kind, level in (("noise", 35.0), ("blur", 20.0)):
        out = ImageError(kind, level)(images, seed=4)
        assert torch.allclose(
            psnr_db(images, out), torch.full((3,), level, dtype=torch.float64), atol=0.01
        )
    flat = torch.zeros(2, 1, 8, 8)  # no blur changes a constant image: left as it is
    assert torch.equal(ImageError("blur", 30.0)(flat, 0), flat)
    assert bool(torch.isnan(MirrorBlur(flat).sigma_for_psnr(30.0)).all())
    q = ImageError("quant8")(images, 0)
    assert torch.allclose(q, torch.round((images + 1) / 2 * 255) / 255 * 2 - 1, atol=1e-6)


def test_rate_ratio_and_clip_seeds() -> None:
    assert (
        rate_ratio(48000, 16000) == Fraction(1, 3) and rate_ratio(44100, 48000).denominator == 147
    )
    with pytest.raises(UserError, match="cannot convert"):
        rate_ratio(44101, 16000)
    seeds = {clip_seed(0, c, i) for c in range(2) for i in range(50)}
    assert len(seeds) == 100


@pytest.fixture(scope="module")
def effect() -> GrainEffect:
    return build_effect("dct-square", error="none", data=DATA, sample_rate=SR, n_samples=N)


def test_long_sine_through_an_identity_error_is_a_null(effect: GrainEffect) -> None:
    """The seam test: 3.7 s of a sine (not a whole number of clips) through the
    representation with no error comes back below −90 dB."""
    t = np.arange(int(3.7 * SR)) / SR
    x = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    y = effect.process(x, SR)
    assert y.shape == x.shape
    assert _db(y - x, x) < -90.0
    assert np.array_equal(effect.process(x, SR, mix=0.0), x)


def test_apply_function_on_48k_stereo() -> None:
    rate = 48000
    t = np.arange(int(1.2 * rate)) / rate
    x = np.stack([0.4 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t + 1)])
    setting = {"data": DATA, "rep_sample_rate": SR, "n_samples": N}
    clean = grainbench.apply(x, rate, "dct-square", error="none", **setting)
    assert clean.shape == x.shape
    # resampled down to 16 kHz and back: the tones pass (channels kept apart)
    assert _db(clean - x, x) < -40.0
    wet = grainbench.apply(x, rate, "dct-square", error="noise:psnr=40", seed=1, **setting)
    grain = wet - x
    assert -40.0 < _db(grain, x) < 0.0
    assert abs(np.corrcoef(grain[0], grain[1])[0, 1]) < 0.5  # each channel its own noise
    half = grainbench.apply(
        x, rate, "dct-square", error="noise:psnr=40", seed=1, mix=0.5, **setting
    )
    np.testing.assert_allclose(half, 0.5 * x + 0.5 * wet, atol=1e-9)
    with pytest.raises(UserError, match="mix"):
        grainbench.apply(x, rate, "dct-square", error="none", mix=1.5, **setting)


def _write_synth_clip(path: Path) -> np.ndarray:
    """The project's own test audio: a synth-piano clip, written as a 16-bit WAV."""
    ds = load_dataset(DATA, sample_rate=SR, n_samples=N, n_channels=1, progress=False)
    audio = ds.test[0, 0]
    sf.write(path, audio, SR, subtype="PCM_16")
    return sf.read(path)[0]


def test_apply_command_on_the_project_test_audio(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.wav"
    x = _write_synth_clip(src)
    args = ["apply", "--rep", "dct-square", "--error", "noise:psnr=40", *SMALL]
    assert main([*args, "--seed", "3", str(src), str(tmp_path / "a.wav")]) == 0
    assert "wrote" in capsys.readouterr().out
    a, rate = sf.read(tmp_path / "a.wav")
    assert rate == SR and a.shape == x.shape
    assert sf.info(str(tmp_path / "a.wav")).subtype == "PCM_16"
    assert -40.0 < _db(a - x, x) < 0.0
    assert main([*args, "--seed", "3", str(src), str(tmp_path / "b.wav")]) == 0
    assert np.array_equal(sf.read(tmp_path / "b.wav")[0], a)  # seeded
    assert main([*args, "--seed", "4", str(src), str(tmp_path / "c.wav")]) == 0
    assert not np.array_equal(sf.read(tmp_path / "c.wav")[0], a)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("grainbench: error:"), err
    return err


def test_apply_command_refuses_bad_input(tmp_path: Path, capsys) -> None:
    src = tmp_path / "in.wav"
    x = _write_synth_clip(src)
    before = src.read_bytes()
    base = ["apply", "--error", "none", *SMALL]
    assert main([*base, str(src), str(src)]) == 2
    assert "is the input file" in _one_line_error(capsys)
    assert src.read_bytes() == before
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    assert main([*base, str(junk), str(tmp_path / "o.wav")]) == 2
    assert "cannot read" in _one_line_error(capsys)
    assert main([*base, str(tmp_path / "missing.wav"), str(tmp_path / "o.wav")]) == 2
    assert "cannot read" in _one_line_error(capsys)
    odd = tmp_path / "odd.wav"
    sf.write(odd, x, 44101)
    assert main([*base, str(odd), str(tmp_path / "o.wav")]) == 2
    assert "cannot convert 44101 Hz" in _one_line_error(capsys)
    assert main(["apply", "--error", "hiss", *SMALL, str(src), str(tmp_path / "o.wav")]) == 2
    _one_line_error(capsys)
    assert main(["apply", "--gen", "stylegan2", *SMALL, str(src), str(tmp_path / "o.wav")]) == 2
    assert "trained first" in _one_line_error(capsys)
    assert main([*base, "--force", str(src), str(src)]) == 0  # --force allows it
    assert not (tmp_path / "o.wav").exists()


def test_apply_with_a_generator_fitted_on_the_fly_and_from_a_run(tmp_path: Path) -> None:
    src = tmp_path / "in.wav"
    x = _write_synth_clip(src)
    opts = ["--gen-opt", "n_components=6", "--gen-opt", "n_mixtures=2"]
    out1 = tmp_path / "gmm.wav"
    assert (
        main(["apply", "--rep", "dct-square", "--gen", "gmm", *opts, *SMALL, str(src), str(out1)])
        == 0
    )
    y1 = sf.read(out1)[0]
    assert y1.shape == x.shape and not np.allclose(y1, x, atol=1e-3)
    run = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--rep",
                "dct-square",
                *SMALL,
                "--task",
                "realized",
                "--gen",
                "gmm",
                *opts,
                "--param",
                "realized.n_wavs=0",
                "--param",
                "realized.n_boot=10",
                "--no-progress",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    out2 = tmp_path / "from-run.wav"
    assert main(["apply", "--gen", str(run), str(src), str(out2)]) == 0
    np.testing.assert_array_equal(sf.read(out2)[0], y1)  # the same fit, refitted on the fly
    assert main(["apply", "--rep", "mdct", "--gen", str(run), str(src), str(out2)]) == 2


@pytest.mark.slow
def test_apply_with_a_stylegan_train_folder(tmp_path: Path) -> None:
    folder = tmp_path / "sg"
    tiny = ["--data", DATA, "--sample-rate", str(SR), "--n-samples", "1024"]  # 32×32 images
    args = ["train", "--rep", "dct-square", "--config", "tiny", "--kimg", "0.008", *tiny]
    assert (
        main([*args, "--out", str(folder), "--eval", "none", "--wavs", "0", "--no-progress"]) == 0
    )
    src = tmp_path / "in.wav"
    x = _write_synth_clip(src)
    out = tmp_path / "sg.wav"
    opts = ["--gen-opt", "project_w_steps=2", "--gen-opt", "project_wplus_steps=2"]
    assert main(["apply", "--gen", str(folder), *opts, str(src), str(out)]) == 2  # conditional
    assert main(["apply", "--gen", str(folder), *opts, "--pitch", "48", str(src), str(out)]) == 0
    y = sf.read(out)[0]
    assert y.shape == x.shape and np.isfinite(y).all()


def test_effect_refuses_a_channel_mismatch() -> None:
    class Stereo:
        name, sample_rate, n_samples, n_channels = "st", SR, 64, 2

    fx = GrainEffect(Stereo(), lambda images, seed: images, "none")
    with pytest.raises(UserError, match="2-channel"):
        fx.process(np.zeros((3, 100)), SR)
    with pytest.raises(UserError, match="empty"):
        fx.process(np.zeros((2, 0)), SR)
    with pytest.raises(UserError, match="NaN"):
        fx.process(np.full(10, np.nan), SR)
