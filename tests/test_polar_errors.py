"""fft-polar's one-pixel errors in closed form (mode "polar"): against decoding in float32
(the maps) and in float64 (the errors themselves, down to pixels float32 cannot resolve)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import grainbench.analysis.decoded as decoded_measure
from grainbench.analysis.measure import measure
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.data import load_dataset
from grainbench.plugins import load_representation

SR, N = 16000, 16384
DELTAS = [2 / 255, 0.05]


@pytest.fixture(scope="module")
def data():
    return load_dataset(
        "synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )


def _fitted(name: str, data):
    rep = load_representation(name, SR, N)
    rep.fit(torch.from_numpy(data.train))
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:2]))
        decoded = rep.decode(images)
    return rep, images, decoded


def _maps(rep, images, decoded, pixels, monkeypatch, brute: bool = False):
    errors = PixelErrors(rep)
    with monkeypatch.context() as m:
        if brute:
            errors.mode = "decode"
            m.setattr(decoded_measure, "FIRST_ORDER_MAX_DELTA", -1.0)
        return measure(errors, ErrorAnalyser(SR, N), images, decoded, pixels, DELTAS)


@pytest.mark.parametrize("name", ["fft-polar-square", "fft-polar-2ch"])
def test_polar_maps_match_decoding(name: str, data, monkeypatch) -> None:
    """Every map as brute-force decoding gives it where float32 resolves the error, bin 0
    (DC and Nyquist, decoded) included; the same pixels are silent."""
    rep, images, decoded = _fitted(name, data)
    assert PixelErrors(rep).mode == "polar"
    total = int(np.prod(rep.image_shape))
    drawn = np.random.default_rng(0).choice(total, 40, replace=False)
    errors = PixelErrors(rep)
    bin0 = errors.coeff_position.argsort()[[0, total // 2]].numpy()  # both planes' bin 0
    pixels = np.unique(np.concatenate([drawn, bin0]))
    fast = _maps(rep, images, decoded, pixels, monkeypatch)
    brute = _maps(rep, images, decoded, pixels, monkeypatch, brute=True)
    assert fast.first_order == [None, None]
    np.testing.assert_array_equal(np.isnan(fast.esr), np.isnan(brute.esr))
    seen = np.isfinite(brute.esr) & (brute.esr >= -90.0)
    assert seen.sum() >= 40
    for metric, atol in (("esr", 0.01), ("audibility", 0.05), ("proportionality", 2e-3)):
        diff = np.abs(getattr(fast, metric) - getattr(brute, metric))[seen]
        assert float(diff.max()) <= atol, metric
    for metric in ("time_spread", "freq_spread"):
        a, b = getattr(fast, metric)[seen], getattr(brute, metric)[seen]
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_polar_errors_equal_a_float64_decode(data) -> None:
    """The closed-form errors are ``decode(planes + s·1_k) − decode(planes)`` in float64,
    also for quiet bins whose float32 decode is rounding noise: energy ``α²N/2`` to 1e-9
    and the synthesised error to float32 precision."""
    rep, images, _ = _fitted("fft-polar-square", data)
    errors = PixelErrors(rep)
    planes = errors._unlayout(images[:1])[0]  # (Ch, 2, N/2)
    half = planes.shape[-1]

    def decode64(p: torch.Tensor) -> torch.Tensor:
        return errors.pre[0].inverse(errors.compand.inverse(p[None].double()))[0]

    base = decode64(planes)
    quiet = int(planes[0, 0].argmin())  # the quietest bin's magnitude pixel
    coeffs = torch.tensor([5, 700, half - 3, quiet, half + 5, half + 700, 2 * half - 3])
    deltas = torch.tensor(DELTAS, dtype=torch.float64)
    alpha, _, _, _ = errors.exact.cosines(planes, coeffs, deltas)
    synthesised = errors.exact.errors(planes, coeffs, deltas)
    for i, k in enumerate(coeffs.tolist()):
        for j, s in enumerate(DELTAS):
            moved = planes.double().clone()
            moved.view(-1)[k] += s
            e = decode64(moved) - base
            energy = float(e.pow(2).sum())
            assert float(alpha[i, j]) ** 2 * N / 2 == pytest.approx(energy, rel=1e-9)
            scale = float(e.abs().max())
            np.testing.assert_allclose(synthesised[i, j].double(), e, atol=1e-6 * scale)


def test_polar_centroids_match_decoding(data) -> None:
    """The locality task's time and ERB-rate centroids from the closed-form cosines equal
    those of the decoded errors where float32 decoding resolves them (≥ −90 dB)."""
    rep, images, decoded = _fitted("fft-polar-square", data)
    analyser = ErrorAnalyser(SR, N)
    pixels = torch.from_numpy(np.sort(np.random.default_rng(1).choice(N, 48, replace=False)))
    exact = PixelErrors(rep)
    t, f = analyser.centroids_of_pixels(exact, pixels, images[:1], decoded[:1], 2 / 255)
    brute = PixelErrors(rep)
    brute.mode = "decode"
    tb, fb = analyser.centroids_of_pixels(brute, pixels, images[:1], decoded[:1], 2 / 255)
    np.testing.assert_array_equal(np.isnan(t.numpy()), np.isnan(tb.numpy()))
    alpha = exact.cosine_errors(images[0], pixels, torch.tensor([2 / 255]))[0][:, 0]
    esr = 10 * torch.log10(alpha**2 * N / 2 / decoded[0].double().pow(2).sum())
    seen = (esr >= -90.0).numpy()
    assert seen.sum() >= 16
    np.testing.assert_allclose(t.numpy()[seen], tb.numpy()[seen], atol=1e-4)
    np.testing.assert_allclose(f.numpy()[seen], fb.numpy()[seen], atol=1e-3)
