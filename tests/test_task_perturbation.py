"""The perturbation task: exact fast paths, the seed's claims on real representations, outputs."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import grainbench.analysis.decoded as decoded_measure
from grainbench.analysis.maps import MULTIPLIERS
from grainbench.analysis.measure import measure
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.pixels import sample_pixels
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.data import load_dataset
from grainbench.errors import UserError
from grainbench.plugins import Representation, load_representation
from grainbench.registries import REPRESENTATIONS, TASKS
from grainbench.runner import RunSpec, run_benchmark
from grainbench.tasks.params import parse_delta

SR, N = 16000, 16384
DELTAS = [2 / 255, 0.05]


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


def _fitted(name: str, data) -> Representation:
    rep = load_representation(name, SR, N)
    rep.fit(torch.from_numpy(data.train))
    return rep


def _bases(rep, data, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:n]))
        return images, rep.decode(images)


class PermutedDCT:
    """A plugin-style representation: dct-square with its pixels in a seeded random order."""

    name = "dct-square-permuted"

    def __init__(self, seed: int = 0) -> None:
        self.inner = REPRESENTATIONS.get("dct-square")(sample_rate=SR, n_samples=N)
        self.sample_rate, self.n_samples, self.n_channels = SR, N, 1
        self.perm = torch.from_numpy(np.random.default_rng(seed).permutation(N))
        self.inverse = torch.argsort(self.perm)

    def fit(self, audio: torch.Tensor) -> None:
        self.inner.fit(audio)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        image = self.inner.encode(audio)
        return image.reshape(len(image), -1)[:, self.perm].reshape(image.shape)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        flat = image.reshape(len(image), -1)[:, self.inverse]
        return self.inner.decode(flat.reshape(image.shape))


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("dct-square", "staged"),
        ("dct-square-sqrt", "staged"),
        ("dct-square-linear", "staged"),
        ("waveform-square", "staged"),
        ("fft-square", "staged"),
        ("fft-polar-square", "polar"),
    ],
)
def test_fast_path_equals_brute_force_decode(data, name: str, mode: str) -> None:
    """``gain·atom`` against ``decode(image + δ·1_p) − decode(image)``, both in float64."""
    rep = copy.deepcopy(_fitted(name, data).plugin).double()
    errors = PixelErrors(rep)
    assert errors.mode == mode
    if mode != "staged":  # fft-polar's exact errors: tests/test_polar_errors.py
        return
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:2]).double())
        decoded = rep.decode(images)
    pixels = torch.from_numpy(sample_pixels(rep.image_shape, 12, 3)[0])
    deltas = torch.tensor([d * m for d in DELTAS for m in (0.25, 4.0)], dtype=torch.float64)
    gains = errors.gains(images, pixels, deltas)  # (B, P, D)
    atoms = errors.atoms(pixels).double()  # (P, ch, n)
    for b in range(len(images)):
        brute = errors.decoded_errors(images[b], decoded[b], pixels, deltas)  # (P, D, ch, n)
        fast = gains[b][:, :, None, None] * atoms[:, None]
        rel = (fast - brute).norm(dim=(-1, -2)) / brute.norm(dim=(-1, -2))
        assert float(rel.max()) < 1e-5


def test_plugin_with_linear_flag_uses_decoded_atoms(data) -> None:
    class Linear:
        sample_rate, n_samples, n_channels, linear = SR, N, 1, True

        def __init__(self) -> None:
            self.inner = REPRESENTATIONS.get("dct-square-linear")(sample_rate=SR, n_samples=N)

        def encode(self, audio):
            return self.inner.encode(audio)

        def decode(self, image):
            return self.inner.decode(image)

    rep = Representation(Linear(), "test:Linear", "0")
    rep.fit(torch.from_numpy(data.train))
    errors = PixelErrors(rep)
    assert errors.mode == "linear"
    images, decoded = _bases(rep, data)
    pixels = torch.tensor([0, 5, 1000, N - 1])
    fast = errors.gains(images, pixels, torch.tensor([0.05]))[0, :, 0, None, None] * errors.atoms(
        pixels
    )
    brute = errors.decoded_errors(images[0], decoded[0], pixels, torch.tensor([0.05]))[:, 0]
    assert float(((fast - brute).norm(dim=(-1, -2)) / brute.norm(dim=(-1, -2))).max()) < 1e-4


@pytest.mark.parametrize("name", ["dct-square", "fft-square"])
def test_closed_form_analysis_equals_synthesised_atoms(data, name: str) -> None:
    rep = _fitted(name, data)
    errors = PixelErrors(rep)
    assert errors.cosines(torch.tensor([0])) is not None
    analyser = ErrorAnalyser(SR, N)
    # fft-square: real parts on top, imaginary parts below; 8192 = Nyquist (imaginary bin 0)
    pixels = torch.tensor([0, 1, 64, 127, 128, 5000, 8191, 8192, 8193, N - 1])
    closed = analyser.shape_of_pixels(errors, pixels, 1)
    synth = analyser.shape(errors.atoms(pixels))
    torch.testing.assert_close(closed.energy, synth.energy, rtol=1e-5, atol=0)
    torch.testing.assert_close(closed.time_spread, synth.time_spread, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(closed.freq_spread, synth.freq_spread, rtol=1e-3, atol=1e-4)
    big = synth.bands > 1e-6 * synth.bands.amax(dim=(1, 2, 3), keepdim=True)
    assert float(((closed.bands - synth.bands).abs() / synth.bands)[big].max()) < 1e-3
    torch.testing.assert_close(closed.time_centroid, synth.time_centroid, rtol=1e-6, atol=1e-7)


def test_fast_measure_equals_brute_force_measure(data, monkeypatch) -> None:
    monkeypatch.setattr(decoded_measure, "FIRST_ORDER_MAX_DELTA", -1.0)  # no forward mode
    rep = _fitted("dct-square", data)
    images, decoded = _bases(rep, data)
    pixels = sample_pixels(rep.image_shape, 10, 1)[0]
    analyser = ErrorAnalyser(SR, N)
    fast = measure(PixelErrors(rep), analyser, images, decoded, pixels, DELTAS)
    brute_errors = PixelErrors(rep)
    brute_errors.mode = "decode"
    brute = measure(brute_errors, analyser, images, decoded, pixels, DELTAS)
    np.testing.assert_allclose(fast.esr, brute.esr, atol=0.01)
    np.testing.assert_allclose(fast.audibility, brute.audibility, atol=0.05)
    np.testing.assert_allclose(fast.proportionality, brute.proportionality, atol=2e-3)
    np.testing.assert_allclose(fast.time_spread, brute.time_spread, rtol=1e-3)
    np.testing.assert_allclose(fast.freq_spread, brute.freq_spread, rtol=1e-2, atol=1e-3)


def test_linear_orthonormal_numbers_by_hand(data) -> None:
    """dct-square-linear: ‖e‖ = δ·scale exactly, so ESR = 20·log10(δ·s/‖x̂‖) and slope 1."""
    rep = _fitted("dct-square-linear", data)
    images, decoded = _bases(rep, data)
    pixels = np.array([3, 700, 9000])
    maps = measure(PixelErrors(rep), ErrorAnalyser(SR, N), images, decoded, pixels, DELTAS)
    scale = float(rep.plugin.stages[1].scale)
    norm = decoded.double().norm(dim=(1, 2)).numpy()
    expected = 20 * np.log10(np.array(DELTAS)[None, None, :] * scale / norm[:, None, None])
    np.testing.assert_allclose(maps.esr, np.broadcast_to(expected, maps.esr.shape), atol=1e-4)
    np.testing.assert_allclose(maps.proportionality, 1.0, atol=1e-9)


def test_sqrt_companding_at_zero_is_quadratic() -> None:
    """A companded value at 0 under signed square root: the error grows as δ², slope 2."""
    rep = REPRESENTATIONS.get("dct-square-sqrt")(sample_rate=SR, n_samples=N)
    errors = PixelErrors(rep)
    images = torch.zeros(1, *rep.image_shape)
    deltas = torch.tensor([0.05 * m for m in MULTIPLIERS], dtype=torch.float64)
    g = errors.gains(images, torch.tensor([10]), deltas)[0, 0]
    torch.testing.assert_close(g, deltas**2 * float(rep.stages[1].scale))


def test_waveform_atoms_are_clicks(data) -> None:
    """waveform-square: an atom is one sample — local in time, broadband."""
    rep = _fitted("waveform-square", data)
    images, decoded = _bases(rep, data)
    pixels = sample_pixels(rep.image_shape, 64, 0)[0]
    maps = measure(PixelErrors(rep), ErrorAnalyser(SR, N), images, decoded, pixels, DELTAS)
    assert float(np.nanmax(maps.time_spread)) <= 1e-3
    assert float(np.nanmin(maps.freq_spread)) > 15.0  # of 33 ERB up to 8 kHz
    dct = _fitted("dct-square", data)
    d_maps = measure(PixelErrors(dct), ErrorAnalyser(SR, N), *_bases(dct, data), pixels, DELTAS)
    assert float(np.nanmin(d_maps.time_spread)) > 0.9  # a DCT atom lasts the whole clip
    assert float(np.nanmedian(d_maps.freq_spread)) < 0.5


def test_fft_polar_phase_pixels_scale_with_their_bin(data) -> None:
    """fft-polar-square: a phase pixel rotates a whole sinusoid, so its error is set by the
    bin's magnitude ``m``, not by the image change: ``‖e‖ = 2·m·sin(πδ/2)`` exactly, and
    the same δ gives errors spread over a far wider range than magnitude pixels do.

    The seed expected phase errors to be louder and less proportionate. With the magnitude
    plane μ-law companded (as built), they are not: the μ-law inverse's slope is ≈ 5.5× the
    scale at full scale, so a magnitude pixel moves its bin more than a phase pixel rotates
    it (≈ π·m·δ), and for small δ the rotation error grows in proportion to δ.
    """
    rep = _fitted("fft-polar-square", data)
    images, decoded = _bases(rep, data)
    c, h, w = rep.image_shape
    rng = np.random.default_rng(0)
    mag = np.sort(rng.choice(h // 2 * w, 32, replace=False))
    phase = mag + h // 2 * w
    maps = measure(
        PixelErrors(rep),
        ErrorAnalyser(SR, N),
        images,
        decoded,
        np.concatenate([mag, phase]),
        DELTAS,
    )
    staged = rep.plugin
    with torch.no_grad():
        y = images
        for stage in reversed(list(staged.stages)[1:]):
            y = stage.inverse(y)  # (B, 1, 2, N/2): magnitude, phase/π
    magnitude = y[:, 0, 0].reshape(len(images), -1)[:, mag].double().numpy()
    norm = decoded.double().norm(dim=(1, 2)).numpy()[:, None]
    for di, delta in enumerate(DELTAS):
        expected = 20 * np.log10(2 * magnitude * math.sin(math.pi * delta / 2) / norm)
        # the brute decode is float32: errors 110 dB under the clip carry rounding noise
        loud = expected > -110.0
        np.testing.assert_allclose(maps.esr[:, 32:, di][loud], expected[loud], atol=0.02)
        np.testing.assert_allclose(maps.esr[:, 32:, di][~loud], expected[~loud], atol=0.5)
        spread_phase = np.subtract(*np.percentile(maps.esr[:, 32:, di], [95, 5]))
        spread_mag = np.subtract(*np.percentile(maps.esr[:, :32, di], [95, 5]))
        assert spread_phase > 2 * spread_mag
        # as built (μ-law magnitudes), phase pixels are the quieter and more proportionate
        assert np.median(maps.esr[:, 32:, di]) < np.median(maps.esr[:, :32, di])
        assert np.median(np.abs(maps.proportionality[:, 32:, di] - 1)) < np.median(
            np.abs(maps.proportionality[:, :32, di] - 1)
        )


def test_permuted_layout_has_the_same_energy_numbers(data) -> None:
    """A plugin-style random permutation of dct-square: per pixel, identical energy numbers."""
    plugin = PermutedDCT()
    rep = Representation(plugin, "test:PermutedDCT", "0")
    rep.fit(torch.from_numpy(data.train))
    errors = PixelErrors(rep)
    assert errors.mode == "decode"
    images, decoded = _bases(rep, data)
    pixels = sample_pixels(rep.image_shape, 24, 2)[0]
    perm = measure(errors, ErrorAnalyser(SR, N), images, decoded, pixels, DELTAS)
    dct = _fitted("dct-square", data)
    d_images, d_decoded = _bases(dct, data)
    ref = measure(
        PixelErrors(dct),
        ErrorAnalyser(SR, N),
        d_images,
        d_decoded,
        plugin.perm.numpy()[pixels],
        DELTAS,
    )
    # δ = 0.05 by brute force: the same numbers; δ = 2/255 by forward mode (the plugin is
    # differentiable): within its check tolerance (5 % of the error signal, 0.42 dB)
    assert perm.first_order[0]["served"] and perm.first_order[1] is None
    np.testing.assert_allclose(perm.esr[..., 1], ref.esr[..., 1], atol=0.01)
    np.testing.assert_allclose(perm.audibility[..., 1], ref.audibility[..., 1], atol=0.05)
    np.testing.assert_allclose(perm.time_spread[..., 1], ref.time_spread[..., 1], rtol=1e-3)
    np.testing.assert_allclose(perm.esr[..., 0], ref.esr[..., 0], atol=0.42)
    np.testing.assert_allclose(perm.audibility[..., 0], ref.audibility[..., 0], atol=0.42)
    np.testing.assert_allclose(perm.time_spread[..., 0], ref.time_spread[..., 0], rtol=2e-2)


def test_sample_pixels_is_stratified() -> None:
    shape = (2, 64, 32)
    pixels, strata, complete = sample_pixels(shape, 256, 0)
    assert not complete and len(pixels) == 256 and len(np.unique(pixels)) == 256
    assert bool(np.all(np.diff(pixels) > 0))
    counts = np.bincount(strata, minlength=128)
    assert counts.min() == counts.max() == 2  # 2 channels × 8 × 8 equal regions
    c, rem = np.divmod(pixels, 64 * 32)
    row, col = np.divmod(rem, 32)
    np.testing.assert_array_equal(strata, c * 64 + (row // 8) * 8 + col // 4)
    assert np.array_equal(sample_pixels(shape, 256, 0)[0], pixels)
    everything, _, complete = sample_pixels(shape, "all", 0)
    assert complete and len(everything) == 2 * 64 * 32
    with pytest.raises(UserError):
        sample_pixels(shape, "most", 0)


def test_parse_delta() -> None:
    assert parse_delta("2/255") == ("2/255", 2 / 255)
    assert parse_delta(0.05) == ("0.05", 0.05)
    for bad in ("x", "1/0", -0.1):
        with pytest.raises(UserError):
            parse_delta(bad)


def test_task_outputs(tmp_path: Path) -> None:
    task = TASKS.get("perturbation")
    assert task.in_default_run
    spec = RunSpec(
        rep="dct-square",
        data="synth-piano?n=20",
        tasks=["perturbation"],
        params={"perturbation": {"n_pixels": 128, "n_clips": 2, "n_boot": 100}},
        out=tmp_path / "run",
        progress=False,
    )
    result, run_dir = run_benchmark(spec)
    body = result["tasks"]["perturbation"]
    keys = {m["key"] for m in body["metrics"]}
    for name in ("esr", "proportionality", "time_spread", "freq_spread", "audibility"):
        for delta in ("0.05", "2/255"):
            for stat in ("median", "p5", "p95"):
                for weight in ("none", "energy"):
                    assert f"{name}[delta={delta},stat={stat},weight={weight}]" in keys
    for weight in ("none", "energy"):
        assert f"proportionality_dev[delta=2/255,stat=median,weight={weight}]" in keys
    rows = {m["key"]: m for m in body["metrics"]}
    for weight in ("none", "energy"):
        row = rows[f"esr[delta=2/255,stat=median,weight={weight}]"]
        assert row["unit"] == "dB" and row["low"] <= row["value"] <= row["high"]
    data = body["data"]
    assert data["method"] == "staged" and data["n_pixels"] == 128
    assert data["energy_weight"]["rule"] == "staged"
    assert data["energy_weight"]["n_energy_pixels"] == 1024
    esr_map = np.load(run_dir / "perturbation" / "esr_delta2over255.npy")
    # the uniform sample and the energy draws (repeats measured once)
    assert esr_map.shape == (1, 128, 128)
    assert 128 < int(np.isfinite(esr_map).sum()) == data["n_measured"] <= 128 + 1024
    kinds = {a["kind"] for a in body["artifacts"]}
    assert kinds == {"npy", "png", "wav"}  # wav: the median and worst pixel's sound
    for art in body["artifacts"]:
        assert (run_dir / art["path"]).is_file()
