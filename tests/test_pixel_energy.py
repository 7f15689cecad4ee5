"""Pixel energies E_p: Parseval, scipy's DCT, numpy's FFT, hand cases, hooks and fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

from grainbench.data import load_dataset
from grainbench.pixel_energy import (
    EnergyAccumulator,
    energy_rule,
    pixel_energy,
    training_pixel_energy,
)
from grainbench.plugins import Representation, load_representation
from grainbench.registries import REPRESENTATIONS
from grainbench.stages import fold_order
from grainbench.training_images import TrainingImages

SR, N = 16000, 16384
SHORT = 4096  # the Griffin-Lim and oscillator representations, whose probes are slow


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    data = load_dataset(
        "synth-piano?n=6", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )
    return torch.from_numpy(data.train)


def _energies(name: str, audio: torch.Tensor) -> tuple[torch.Tensor, object]:
    rep = load_representation(name, SR, audio.shape[-1])
    rep.fit(audio)
    with torch.no_grad():
        return pixel_energy(rep, rep.encode(audio)), rep


@pytest.mark.parametrize(
    ("name", "copies"),
    [
        ("waveform-square", 1),
        ("dct-square", 1),
        ("dct-square-sqrt", 1),
        ("dct-hilbert", 1),
        ("fft-square", 1),
        ("mdct", 1),
        ("stft-complex", 1),
        ("cqt", 1),
        # polar: each bin's energy on its magnitude and on its phase / IF pixel
        ("fft-polar-square", 2),
        ("fft-polar-2ch", 2),
        ("stft-magif", 2),
    ],
)
def test_exact_rules_partition_the_clip_energy(clips, name: str, copies: int) -> None:
    e, rep = _energies(name, clips)
    assert energy_rule(rep) == "staged"
    assert e.shape == (len(clips), *rep.image_shape) and bool((e >= 0).all())
    total = clips.double().pow(2).sum(dim=(1, 2))
    np.testing.assert_allclose(e.sum(dim=(1, 2, 3)), copies * total, rtol=1e-4)


@pytest.mark.parametrize("order", ["row", "hilbert"])
def test_dct_energy_is_scipys_dct_squared_at_the_pixel(clips, order: str) -> None:
    name = "dct-square" if order == "row" else f"dct-{order}"
    e, rep = _energies(name, clips)
    coeffs = scipy.fft.dct(clips.double().numpy()[:, 0], norm="ortho")
    _, h, w = rep.image_shape
    expected = coeffs[:, fold_order(h, w, order)] ** 2  # image.flat[j] = coeffs[idx[j]]
    got = e.reshape(len(clips), -1).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * expected.max())


def test_waveform_energy_is_each_sample_squared(clips) -> None:
    e, _ = _energies("waveform-square", clips)
    np.testing.assert_allclose(e.reshape(len(clips), -1), clips[:, 0].double() ** 2, rtol=1e-12)


def test_polar_fft_phase_pixel_carries_its_bins_energy(clips) -> None:
    e, rep = _energies("fft-polar-square", clips)
    _, h, w = rep.image_shape
    spec = np.fft.rfft(clips.double().numpy()[:, 0], norm="ortho")
    power = 2.0 * np.abs(spec[:, : N // 2]) ** 2  # interior bins: both halves of the spectrum
    power[:, 0] = spec[:, 0].real ** 2 + spec[:, N // 2].real ** 2  # DC and Nyquist share bin 0
    magnitude, phase = e[:, 0, : h // 2], e[:, 0, h // 2 :]
    np.testing.assert_allclose(
        magnitude.reshape(len(clips), -1), power, rtol=1e-4, atol=1e-5 * power.max()
    )
    torch.testing.assert_close(phase, magnitude)
    e, _ = _energies("stft-magif", clips)
    torch.testing.assert_close(e[:, 1], e[:, 0])


def test_log_mel_energy_of_white_noise_is_the_clip_energy() -> None:
    # the band rule is exact when the power is flat within each band: white noise, nearly
    noise = torch.randn(3, 1, SHORT, generator=torch.Generator().manual_seed(0)) * 0.1
    e, _ = _energies("mel-griffinlim", noise)
    np.testing.assert_allclose(e.sum(dim=(1, 2, 3)), noise.double().pow(2).sum((1, 2)), rtol=0.01)


def test_mfcc_shares_each_frames_mel_energy_equally(clips) -> None:
    mel, _ = _energies("mel-griffinlim", clips[..., :SHORT])
    cep, _ = _energies("mfcc", clips[..., :SHORT])
    torch.testing.assert_close(cep, cep[:, :, :1, :].expand_as(cep))  # equal down each frame
    torch.testing.assert_close(cep.sum(2), mel.sum(2), rtol=1e-4, atol=1e-12)


def test_mel_rows_conserve_the_stft_energy(clips) -> None:
    linear, _ = _energies("stft-magif", clips[..., :SHORT])
    warped, _ = _energies("stft-magif-mel", clips[..., :SHORT])
    # per frame and plane, the mel rows share out the bins' energy (up to the pseudo-inverse)
    frames_lin, frames_mel = linear.sum(2), warped.sum(2)
    assert float((frames_lin - frames_mel).abs().sum() / frames_lin.sum()) < 0.01


def test_harmonic_noise_rows_carry_the_synthesised_energy() -> None:
    rep = load_representation("harmonic-noise", SR, SHORT)
    stage = rep.plugin.stages[0]
    _, rows, frames = rep.image_shape
    f0 = 1000.0  # harmonics 8… sit at or above Nyquist (8 kHz) and are muted
    span = math.log(4186.0 / 27.5)
    image = -torch.ones(1, 1, rows, frames)  # every amplitude at the floor: silence
    image[0, 0, 0] = 2.0 * math.log(f0 / 27.5) / span - 1.0
    unit = 0.6
    image[0, 0, 1] = unit  # harmonic 1
    image[0, 0, 9] = unit  # harmonic 9: 9 kHz, muted
    with torch.no_grad():
        sound = rep.decode(image).double().pow(2).sum()
    e = pixel_energy(rep, image)[0, 0]
    amplitude = float(stage._from_unit(torch.tensor(unit), stage.peaks[0]))
    assert float(e[1].sum()) == pytest.approx(amplitude**2 / 2 * SHORT, rel=1e-5)
    assert float(e[1].sum()) == pytest.approx(float(sound), rel=0.01)
    assert float(e[9].sum()) == 0.0
    torch.testing.assert_close(e[0], e[1])  # the f0 pixel carries the frame's harmonics
    assert float(e[2:9].sum() + e[10:].sum()) == 0.0


class _Plain:
    """A plugin with no energy rule: dct-square inside, not a StagedRepresentation."""

    name = "plain"

    def __init__(self) -> None:
        self.inner = REPRESENTATIONS.get("dct-square")(sample_rate=SR, n_samples=N)
        self.sample_rate, self.n_samples, self.n_channels = SR, N, 1

    def fit(self, audio: torch.Tensor) -> None:
        self.inner.fit(audio)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        return self.inner.encode(audio)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        return self.inner.decode(image)


class _Declared(_Plain):
    """The same plugin declaring its own rule: the image value squared, doubled."""

    def pixel_energy(self, images: torch.Tensor) -> torch.Tensor:
        return 2.0 * images.double() ** 2


def test_declared_rule_and_variance_fallback(clips) -> None:
    audio = clips.numpy()
    for plugin, rule in ((_Declared(), "declared"), (_Plain(), "fallback:variance")):
        plugin.fit(clips)
        rep = Representation(plugin, f"test:{plugin.name}", "0")
        assert energy_rule(rep) == rule
        energy = training_pixel_energy(TrainingImages(rep, audio), batch_size=4)
        assert energy.rule == rule
        images = plugin.encode(clips).double().reshape(len(clips), -1).numpy()
        expected = 2.0 * (images**2).mean(0) if rule == "declared" else images.var(0)
        np.testing.assert_allclose(energy.mean, expected, rtol=1e-4, atol=1e-12)
    with pytest.raises(ValueError, match="no pixel energy rule"):
        pixel_energy(rep, torch.zeros(1, *rep.image_shape))


def test_clip_bootstrap_replicates_are_means_of_resampled_clips(clips) -> None:
    rep = load_representation("dct-square", SR, N)
    rep.fit(clips)
    acc = EnergyAccumulator(rep, len(clips))  # fewer clips than groups: one clip a group
    with torch.no_grad():
        for start in (0, 4):  # batches that do not line up with anything
            acc.add(rep.encode(clips[start : start + 4]))
        per_clip = pixel_energy(rep, rep.encode(clips)).reshape(len(clips), -1).numpy()
    energy = acc.result()
    np.testing.assert_allclose(energy.mean, per_clip.mean(0), rtol=1e-4)
    pixels = np.array([0, 5, 77, 4000])
    got = energy.replicates(np.random.default_rng(3), 4, pixels)
    rng = np.random.default_rng(3)
    for row in got:
        picked = rng.integers(0, len(clips), len(clips))  # the same draws, replayed
        np.testing.assert_allclose(row, per_clip[picked][:, pixels].mean(0), rtol=1e-4)
