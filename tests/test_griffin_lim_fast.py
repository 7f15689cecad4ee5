"""The fast log-mel decode (banded filterbank products, frame-major Griffin–Lim a few clips at
a time) against the textbook formulation it replaced, and its independence of the thread
count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grainbench.analysis.maps import METRICS
from grainbench.analysis.measure import measure
from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.analysis.shape import ErrorAnalyser
from grainbench.data import load_dataset
from grainbench.plugins import load_representation
from grainbench.stages.logmel import LogMel, band_blocks, banded_matmul
from grainbench.stages.melscale import triangular_filterbank
from grainbench.stages.stft import istft, stft

SR, N = 16000, 16384


@pytest.fixture(scope="module")
def rep():
    data = load_dataset(
        "synth-piano?n=12", sample_rate=SR, n_samples=N, n_channels=1, seed=0, progress=False
    )
    rep = load_representation("mel-griffinlim", SR, N)
    rep.fit(torch.from_numpy(data.train[:8]))
    with torch.no_grad():
        images = rep.encode(torch.from_numpy(data.test[:2]))
    return rep, images


def reference_inverse(stage: LogMel, y: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The decode as first written: dense einsum products with the filterbank, Griffin–Lim
    through :func:`stft`/:func:`istft` on ``(…, F, T)`` spectra; in ``dtype``."""
    bank, spread, win = (t.to(dtype) for t in (stage.bank, stage.spread, stage.win))
    db = (y.to(dtype).squeeze(2) - 1.0) * 0.5 * stage.range_db + stage.peak_db.to(dtype)
    mel = 10.0 ** (db / 10.0)
    power = torch.einsum("mf,...mt->...ft", spread, mel)
    norm = bank.sum(dim=0).unsqueeze(-1)
    for _ in range(stage.mel_iter):
        ratio = mel / torch.einsum("mf,...ft->...mt", bank, power).clamp_min(1e-30)
        power = power * torch.einsum("mf,...mt->...ft", bank, ratio) / norm
    mag = power.sqrt()
    gen = torch.Generator().manual_seed(stage.seed)
    phase0 = torch.rand(mag.shape[-2:], generator=gen, dtype=torch.float64) * 2 * math.pi
    unit = torch.polar(torch.ones_like(phase0), phase0)
    spec = mag * (unit if dtype == torch.float64 else unit.to(torch.complex64))
    prev = spec
    for _ in range(stage.n_iter):
        proj = stft(istft(spec, win, stage.hop), win, stage.hop)
        cur = mag * proj / proj.abs().clamp_min(1e-12)
        spec = cur + stage.momentum * (cur - prev)
        prev = cur
    return istft(prev, win, stage.hop)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


@pytest.mark.parametrize(
    "sr,n_fft,n_mels", [(16000, 512, 128), (44100, 1024, 128), (8000, 256, 64)]
)
def test_banded_products_equal_the_dense_ones(sr, n_fft, n_mels) -> None:
    bank = torch.tensor(triangular_filterbank(n_fft // 2 + 1, n_mels, sr), dtype=torch.float32)
    x = torch.rand(2, 1, n_fft // 2 + 1, 7)
    r = torch.rand(2, 1, n_mels, 7)
    blocks, blocks_t = band_blocks(bank), band_blocks(bank.T)
    assert sum((c1 - c0) * (r1 - r0) for r0, r1, c0, c1 in blocks) < 0.25 * bank.numel()
    torch.testing.assert_close(banded_matmul(bank, x, blocks), bank @ x, rtol=1e-5, atol=0)
    torch.testing.assert_close(banded_matmul(bank.T, r, blocks_t), bank.T @ r, rtol=1e-5, atol=0)


def test_fast_decode_is_as_close_to_float64_as_the_old_one(rep) -> None:
    """Momentum Griffin–Lim amplifies float32 rounding to ~1e-4 of the signal, so no float32
    formulation matches another closer than that: the fast decode must be as close to the
    float64 decode as the old float32 one (within 1.5×), and within 1e-3 of both."""
    rep, images = rep
    stage = rep.plugin.stages[0]
    with torch.no_grad():
        exact = reference_inverse(stage, images, torch.float64)
        old = reference_inverse(stage, images, torch.float32)
        fast = rep.decode(images)
    assert _rel(fast, exact) < 1.5 * _rel(old, exact) + 1e-6
    assert _rel(fast, exact) < 1e-3 and _rel(fast, old) < 1e-3


def test_fast_one_pixel_errors_match_the_float64_decode(rep) -> None:
    """One-pixel errors ``decode(x + δ·1_p) − decode(x)`` of the fast decode: within 5 % of
    the float64 decode's where the error is resolved (ESR ≥ −70 dB; quieter errors carry the
    float32 noise above), and the same with the DCT of the mfcc on top."""
    rep, images = rep
    stage = rep.plugin.stages[0]
    base = images[:1]
    # the loudest pixel of four time columns: their errors are well above the float32 noise
    columns = [10, 40, 70, 100]
    pixels = [(int(base[0, 0, :, t].argmax()), t) for t in columns]
    checked = 0
    with torch.no_grad():
        exact0 = reference_inverse(stage, base, torch.float64)
        fast0 = rep.decode(base)
        for f, t in pixels:
            for delta in (2 / 255, 0.05):
                moved = base.clone()
                moved[0, 0, f, t] += delta
                exact = reference_inverse(stage, moved, torch.float64) - exact0
                fast = rep.decode(moved) - fast0
                esr = 10 * math.log10(float(exact.pow(2).sum() / exact0.pow(2).sum()))
                if esr >= -70.0:
                    assert _rel(fast, exact) < 0.05, (f, t, delta, esr)
                    checked += 1
    assert checked >= 4
    mfcc = load_representation("mfcc", SR, N)
    mfcc.plugin.stages[0].peak_db.copy_(stage.peak_db)
    mfcc.plugin.stages[1].fit(images)
    with torch.no_grad():
        coeffs = mfcc.plugin.stages[1](images)
        old = reference_inverse(stage, mfcc.plugin.stages[1].inverse(coeffs), torch.float32)
        assert _rel(mfcc.decode(coeffs), old) < 1e-3


def test_griffin_lim_maps_do_not_depend_on_the_thread_count(rep) -> None:
    """Brute-force perturbation maps of mel-griffinlim with 1 and 2 torch threads."""
    rep, images = rep
    with torch.no_grad():
        decoded = rep.decode(images[:1])
    pixels = np.array([17, 900, 5000, 12000])
    before = torch.get_num_threads()
    maps = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            errors = PixelErrors(rep)
            analyser = ErrorAnalyser(rep.sample_rate, rep.n_samples)
            maps.append(measure(errors, analyser, images[:1], decoded, pixels, [0.05]))
    finally:
        torch.set_num_threads(before)
    for name, _ in METRICS:
        np.testing.assert_allclose(getattr(maps[0], name), getattr(maps[1], name), rtol=1e-6)
