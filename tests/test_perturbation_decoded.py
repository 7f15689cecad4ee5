"""Perturbation maps of representations without a factorised form: the exact paths
(stft-magif, harmonic-noise) and forward mode against brute force, the fall-backs
(Griffin–Lim, NumPy decodes, tangents that vanish) and thread independence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import grainbench.analysis.decoded as decoded_measure
from grainbench.analysis.decoded import CHECK_TOLERANCE
from grainbench.analysis.forward import NotDifferentiable, jacobian_columns
from grainbench.analysis.maps import METRICS, PerturbationMaps
from grainbench.analysis.measure import measure
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.baselines.harmonic_noise import harmonic_noise
from grainbench.cli import build_parser, main
from grainbench.data import load_dataset
from grainbench.errors import UserError
from grainbench.plugins import Representation, load_representation
from grainbench.results import machine_info
from grainbench.stages.parametric import yin_f0
from grainbench.threads import available_cores, use_threads

SR, N = 16000, 16384
DELTAS = [2 / 255, 0.05]
#: brute-force errors quieter than this carry float32 rounding noise of ~1 % and more
RESOLVED_DB = -110.0
#: the check tolerance (5 % of the error signal) in dB
TOL_DB = 20 * math.log10(1 + CHECK_TOLERANCE)


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


def _setup(rep, data, n_clips: int, n_pixels: int):
    """Base images and decodes, and pixels drawn from the whole image (every plane)."""
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:n_clips]))
        decoded = rep.decode(images)
    total = int(np.prod(rep.image_shape))
    pixels = np.sort(np.random.default_rng(0).choice(total, n_pixels, replace=False))
    return images, decoded, pixels


def _maps(
    rep, images, decoded, pixels, monkeypatch, deltas=DELTAS, mode=None, brute=False
) -> PerturbationMaps:
    """The maps as ``measure`` makes them, or with the errors' ``mode`` forced, or by
    brute-force decoding at every δ (``brute``: mode "decode" without forward mode)."""
    errors = PixelErrors(rep)
    errors.mode = "decode" if brute else (mode or errors.mode)
    with monkeypatch.context() as m:
        if brute:
            m.setattr(decoded_measure, "FIRST_ORDER_MAX_DELTA", -1.0)
        analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples)
        return measure(errors, analyser, images, decoded, pixels, deltas)


def _assert_same(a: PerturbationMaps, b: PerturbationMaps, di: int) -> None:
    for name, _ in METRICS:
        np.testing.assert_array_equal(getattr(a, name)[..., di], getattr(b, name)[..., di])


def test_jacobian_columns_of_a_closed_form() -> None:
    """``decode(x) = tanh(W·x)``: column p is ``(1 − tanh²(W·x))·W[:, p]``."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    base = torch.randn(1, 1, 2, 2, generator=gen, dtype=torch.float64)

    def decode(x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x.reshape(len(x), 4) @ w.T).reshape(len(x), 2, 3)

    pixels = torch.tensor([3, 0, 2])
    cols = jacobian_columns(decode, base, pixels, (2, 3))
    slope = 1 - torch.tanh(w @ base.reshape(4)).pow(2)
    expected = (slope[:, None] * w[:, pixels]).T.reshape(3, 2, 3)
    torch.testing.assert_close(cols, expected.float())


def test_jacobian_columns_refuse_numpy_decodes() -> None:
    def decode(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.tanh(x.detach().numpy())).reshape(len(x), 1, 4)

    with pytest.raises(NotDifferentiable):
        jacobian_columns(decode, torch.zeros(1, 1, 2, 2), torch.tensor([0]), (1, 4))


def _assert_close(fast: PerturbationMaps, brute: PerturbationMaps, seen: np.ndarray) -> None:
    """The exact paths' maps equal brute force's where ``seen`` (resolved by float32)."""
    for name, atol in (("esr", 0.01), ("audibility", 0.05), ("proportionality", 2e-3)):
        diff = np.abs(getattr(fast, name) - getattr(brute, name))[seen]
        assert float(diff.max()) <= atol, name
    for name in ("time_spread", "freq_spread"):
        a, b = getattr(fast, name)[seen], getattr(brute, name)[seen]
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@pytest.fixture(scope="module")
def magif(data):
    rep = load_representation("stft-magif", SR, N)
    rep.fit(torch.from_numpy(data.train))
    return rep


def test_stft_magif_exact_errors_match_decoding(magif, data, monkeypatch) -> None:
    """stft-magif's errors from its spectrum (mode "magif") are the decode's, to the float32
    rounding of ``decode(image + δ·1_p) − decode(image)``."""
    assert PixelErrors(magif).mode == "magif"
    images, decoded, pixels = _setup(magif, data, 2, 24)
    fast = _maps(magif, images, decoded, pixels, monkeypatch)
    brute = _maps(magif, images, decoded, pixels, monkeypatch, brute=True)
    assert fast.first_order == [None, None]
    seen = np.isfinite(brute.esr) & (brute.esr >= -90.0)
    assert seen[..., 0].sum() >= 8 and seen[..., 1].sum() >= 16
    half = magif.image_shape[1] * magif.image_shape[2]
    assert (pixels < half).any() and (pixels >= half).any()  # magnitude and IF pixels
    _assert_close(fast, brute, seen)


def test_harmonic_noise_exact_errors_match_decoding(data, monkeypatch) -> None:
    """harmonic-noise (mode "harmonic"): amplitude and noise pixels from the stage's parts,
    f0 pixels decoded; every map as decoding gives it, where float32 decoding resolves it."""
    rep = Representation(harmonic_noise(SR, N, f0_estimator=yin_f0), "harmonic-noise", "0")
    rep.fit(torch.from_numpy(data.train[:8]))
    assert PixelErrors(rep).mode == "harmonic"
    images, decoded, _ = _setup(rep, data, 1, 1)
    w = rep.image_shape[2]
    rows = np.array([0, 1, 2, 10, 30, 64, 65, 80, 100, 127])  # f0, harmonics, noise bands
    pixels = rows * w + np.random.default_rng(0).integers(0, w, len(rows))
    fast = _maps(rep, images, decoded, pixels, monkeypatch)
    brute = _maps(rep, images, decoded, pixels, monkeypatch, brute=True)
    assert fast.first_order == [None, None]
    np.testing.assert_array_equal(np.isnan(fast.esr), np.isnan(brute.esr))
    seen = np.isfinite(brute.esr) & (brute.esr >= -90.0)
    assert seen[..., 0].sum() >= 4 and seen[..., 1].sum() >= 6
    _assert_close(fast, brute, seen)


def test_forward_mode_matches_brute_force(magif, data, monkeypatch) -> None:
    """stft-magif decoded (mode forced to "decode"): forward mode serves δ = 2/255 and
    agrees with the real decode within the check tolerance wherever the float32 decode
    resolves the error."""
    images, decoded, pixels = _setup(magif, data, 2, 24)
    fast = _maps(magif, images, decoded, pixels, monkeypatch, DELTAS[:1], mode="decode")
    brute = _maps(magif, images, decoded, pixels, monkeypatch, DELTAS[:1], brute=True)
    note = fast.first_order[0]
    assert note["served"] and note["check_pairs"] == 2 * decoded_measure.CHECK_PIXELS
    served = note["pairs"]["forward"] + note["pairs"]["decoded"]
    assert served == 2 * (24 - decoded_measure.CHECK_PIXELS)
    # the derivative alone is off by the curvature of the log-magnitude and phase maps
    # (1-3 % at 2/255); the quadratic curve through the real decode at 4δ is closer
    assert 0.005 < note["derivative_rel_error"]["median"] < CHECK_TOLERANCE
    assert note["curve_rel_error"]["median"] < note["derivative_rel_error"]["median"]
    seen = np.isfinite(brute.esr[..., 0]) & (brute.esr[..., 0] >= RESOLVED_DB)
    assert seen.sum() >= 16
    for name, atol in (("esr", TOL_DB), ("audibility", TOL_DB), ("proportionality", 0.05)):
        diff = np.abs(getattr(fast, name)[..., 0] - getattr(brute, name)[..., 0])[seen]
        assert float(diff.max()) <= atol, name
    for name in ("time_spread", "freq_spread"):
        a, b = getattr(fast, name)[..., 0][seen], getattr(brute, name)[..., 0][seen]
        np.testing.assert_allclose(a, b, rtol=0.05, atol=1e-3)


def test_mel_griffinlim_forward_mode_falls_back_to_brute_force(data, monkeypatch) -> None:
    """Griffin–Lim's response to 2/255 is far from its derivative: decoded (mode "decode"),
    forward mode does not serve it, and every map is the brute force's, number for number."""
    rep = load_representation("mel-griffinlim", SR, N)
    rep.fit(torch.from_numpy(data.train[:8]))
    images, decoded, pixels = _setup(rep, data, 1, 10)
    fast = _maps(rep, images, decoded, pixels, monkeypatch, DELTAS[:1], mode="decode")
    note = fast.first_order[0]
    assert not note["served"] and "pairs" not in note
    assert note["derivative_rel_error"]["median"] > CHECK_TOLERANCE
    some = [0, 3, 6, 9]  # compared with brute force (check pixels and others)
    brute = _maps(rep, images, decoded, pixels[some], monkeypatch, DELTAS[:1], brute=True)
    for name, _ in METRICS:
        np.testing.assert_array_equal(getattr(fast, name)[:, some], getattr(brute, name))


@pytest.mark.parametrize("name", ["mel-griffinlim", "mfcc"])
def test_griffin_lim_cone_maps_are_the_brute_force(data, monkeypatch, name: str) -> None:
    """The Griffin–Lim representations' own route (mode "griffinlim": only the frames a pixel
    reaches are replayed) gives the brute force's maps number for number, at both δs."""
    rep = load_representation(name, SR, N)
    rep.fit(torch.from_numpy(data.train[:8]))
    images, decoded, pixels = _setup(rep, data, 2, 6)
    assert PixelErrors(rep).mode == "griffinlim"
    cone = _maps(rep, images, decoded, pixels, monkeypatch)
    brute = _maps(rep, images, decoded, pixels, monkeypatch, brute=True)
    assert cone.first_order == [None, None]
    for di in range(len(DELTAS)):
        _assert_same(cone, brute, di)


def test_griffin_lim_decode_is_deterministic_per_image(data) -> None:
    """The base decoded alone, beside its perturbed copies or at another position of a batch
    is the same to the bit: a pixel's error is its own effect, not Griffin–Lim's noise."""
    rep = load_representation("mel-griffinlim", SR, N)
    rep.fit(torch.from_numpy(data.train[:8]))
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:2]))
        alone = rep.decode(images[:1])
        moved = images[:1].clone()
        moved.view(-1)[1000] += 0.05
        batch = rep.decode(torch.cat([moved, images[1:], images[:1], moved]))
    assert torch.equal(batch[2:3], alone)
    assert torch.equal(batch[0], batch[3])
    assert not torch.equal(batch[0:1], alone)


class NumpyCubic:
    """A plugin decoding in NumPy: samples as signed cube roots folded into a square."""

    name = "numpy-cubic"
    sample_rate, n_samples, n_channels = SR, N, 1

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        root = torch.sign(audio) * audio.abs().pow(1 / 3)
        return root.reshape(len(audio), 1, 128, 128)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        cube = image.detach().cpu().numpy().astype(np.float64) ** 3
        return torch.from_numpy(cube.astype(np.float32)).reshape(len(image), 1, N)


class DetachedCubic(NumpyCubic):
    """The same in torch, but detached: forward mode sees a zero derivative everywhere."""

    name = "detached-cubic"

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        return image.detach().pow(3).reshape(len(image), 1, N)


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [(NumpyCubic, "no forward-mode derivative"), (DetachedCubic, "bend too much")],
)
def test_plugins_without_a_derivative_keep_brute_force(data, monkeypatch, plugin, reason) -> None:
    rep = Representation(plugin(), f"test:{plugin.__name__}", "0")
    images, decoded, pixels = _setup(rep, data, 2, 16)
    fast = _maps(rep, images, decoded, pixels, monkeypatch)
    assert not fast.first_order[0]["served"] and reason in fast.first_order[0]["reason"]
    assert fast.first_order[1] is None  # 0.05 is never served by forward mode
    brute = _maps(rep, images, decoded, pixels, monkeypatch, brute=True)
    _assert_same(fast, brute, 0)
    _assert_same(fast, brute, 1)
    # the cube is exact here: ‖e‖ = ‖(v + δ)³ − v³‖ for the pixel's value v
    v = images.reshape(2, -1)[:, pixels].double()
    for di, delta in enumerate(DELTAS):
        e = (v + delta) ** 3 - v**3
        esr = 20 * torch.log10(e.abs() / decoded.double().norm(dim=(1, 2))[:, None])
        live = np.isfinite(fast.esr[..., di])
        np.testing.assert_allclose(fast.esr[..., di][live], esr.numpy()[live], atol=0.01)


@pytest.mark.parametrize("mode", ["magif", "decode"])
def test_maps_do_not_depend_on_the_thread_count(magif, data, monkeypatch, mode) -> None:
    """The exact path and forward mode (with brute force beside it) give the same maps
    with 1 and 2 torch threads."""
    images, decoded, pixels = _setup(magif, data, 1, 16)
    before = torch.get_num_threads()
    maps = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            maps.append(_maps(magif, images, decoded, pixels, monkeypatch, mode=mode))
    finally:
        torch.set_num_threads(before)
    assert maps[0].first_order == maps[1].first_order
    for name, _ in METRICS:
        np.testing.assert_allclose(getattr(maps[0], name), getattr(maps[1], name), rtol=1e-6)


def test_threads_option(tmp_path, monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        assert use_threads() == available_cores() == torch.get_num_threads()
        with pytest.raises(UserError):
            use_threads(0)
        args = build_parser().parse_args(["run", "--rep", "dct-square", "--threads", "1"])
        assert args.threads == 1
        monkeypatch.chdir(tmp_path)
        machine_info.cache_clear()
        code = main(
            [
                "run",
                "--rep",
                "dct-square",
                "--data",
                "synth-piano?n=20",
                "--sample-rate",
                str(SR),
                "--n-samples",
                str(N),
                "--task",
                "roundtrip",
                "--threads",
                "1",
                "--no-progress",
                "--out",
                "run",
            ]
        )
        assert code == 0 and torch.get_num_threads() == 1
        assert '"torch_threads": 1' in (tmp_path / "run" / "result.json").read_text()
    finally:
        machine_info.cache_clear()
        torch.set_num_threads(before)
