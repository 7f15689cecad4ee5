"""The masking model on hand-computable cases, and its closed-form analysis of cosines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grainbench.metrics.erb import erb_band_centres_hz, erb_rate_to_hz
from grainbench.metrics.masking import (
    MASK_OFFSET_DB,
    SLOPE_ABOVE_DB,
    SLOPE_BELOW_DB,
    MaskingModel,
    absolute_threshold_db_spl,
    frame_length,
    noise_to_mask_ratio,
    spl_to_power,
)
from grainbench.stages.transforms import idct2_ortho

SR = 16000
N = 16384


def _tone(freq: float, amp: float, n: int = N, sr: int = SR) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / sr
    return (amp * torch.sin(2 * math.pi * freq * t)).float()


def test_constants_and_calibration_by_hand() -> None:
    assert frame_length(16000) == 512 and frame_length(44100) == 1024
    # Terhardt at 1 kHz: 3.64 − 6.5·e^{−0.6·2.3²} + 0.001
    assert absolute_threshold_db_spl(np.array([1000.0]))[0] == pytest.approx(
        3.64 - 6.5 * math.exp(-0.6 * 2.3**2) + 1e-3
    )
    assert absolute_threshold_db_spl(np.array([4000.0]))[0] == pytest.approx(
        3.64 * 4**-0.8 - 6.5 * math.exp(-0.6 * 0.7**2) + 0.256
    )
    assert (
        absolute_threshold_db_spl(np.array([5.0]))[0]
        == absolute_threshold_db_spl(np.array([20.0]))[0]
    )
    assert spl_to_power(np.array([96.0]))[0] == pytest.approx(0.5)
    assert spl_to_power(np.array([86.0]))[0] == pytest.approx(0.05)


def test_threshold_of_one_masker_band_by_hand() -> None:
    model = MaskingModel(SR)
    energy = 1e-3
    bands = torch.zeros(model.n_bands)
    bands[10] = energy
    thr = model.threshold(bands)
    quiet = model.quiet
    off = 10 ** (-MASK_OFFSET_DB / 10)
    assert float(thr[10]) == pytest.approx(energy * off + float(quiet[10]), rel=1e-5)
    assert float(thr[12]) == pytest.approx(
        energy * off * 10 ** (-2 * SLOPE_ABOVE_DB / 10) + float(quiet[12]), rel=1e-5
    )
    assert float(thr[9]) == pytest.approx(
        energy * off * 10 ** (-SLOPE_BELOW_DB / 10) + float(quiet[9]), rel=1e-5
    )
    # two maskers add in power
    bands[11] = energy
    thr2 = model.threshold(bands)
    expected = energy * off * (10 ** (-SLOPE_ABOVE_DB / 10) + 1.0) + float(quiet[11])
    assert float(thr2[11]) == pytest.approx(expected, rel=1e-5)
    # silence: the threshold in quiet, i.e. Terhardt at the band centre, calibrated
    zero = model.threshold(torch.zeros(model.n_bands))
    ath = spl_to_power(absolute_threshold_db_spl(erb_band_centres_hz(SR)))
    np.testing.assert_allclose(zero.numpy(), ath, rtol=1e-6)


def test_power_spectrogram_is_parseval_per_frame() -> None:
    model = MaskingModel(SR)
    x = torch.randn(N, generator=torch.Generator().manual_seed(1))
    power = model.power_spectrogram(x)
    assert power.shape == (N // 256 + 1, 257)
    w = np.hanning(513)[:-1]  # periodic Hann
    xs = x.numpy().astype(np.float64)
    for m in (1, 7, 40):
        frame = xs[m * 256 - 256 : m * 256 + 256]
        expected = np.sum((w * frame) ** 2) / np.sum(w**2)
        assert float(power[m].sum()) == pytest.approx(expected, rel=1e-4)
    tone = model.power_spectrogram(_tone(1000.0, 0.3))
    assert float(tone[10].sum()) == pytest.approx(0.3**2 / 2, rel=1e-3)


def test_noise_equal_to_the_masker_is_at_the_offset() -> None:
    centre = float(erb_rate_to_hz(15.5))  # middle of band 15, ≈ 1 kHz
    tone = _tone(centre, 0.1)
    nmr = float(noise_to_mask_ratio(tone, tone, SR))
    # its own band: E / (E·10^(−offset/10) + a little spread and quiet) → just under the offset
    assert nmr == pytest.approx(MASK_OFFSET_DB, abs=0.1)
    assert nmr <= MASK_OFFSET_DB + 1e-4


def test_noise_far_from_the_masker_meets_only_the_threshold_in_quiet() -> None:
    model = MaskingModel(SR)
    band = 31
    centre = float(erb_rate_to_hz(band + 0.5))  # ≈ 6 kHz
    masker = _tone(200.0, 0.5)
    noise = _tone(centre, 1e-3)
    nmr = float(model.noise_to_mask_ratio(noise, masker))
    # 1e-3 amplitude is 96 + 10·log10(1e-6) = 36 dB SPL; the masker is > 20 ERB away
    expected = 36.0 - absolute_threshold_db_spl(np.array([centre]))[0]
    assert nmr == pytest.approx(expected, abs=0.2)


def test_silence() -> None:
    centre = float(erb_rate_to_hz(15.5))
    quiet = torch.zeros(N)
    assert float(noise_to_mask_ratio(quiet, quiet, SR)) == -math.inf
    ath = absolute_threshold_db_spl(np.array([centre]))[0]
    faint = float(noise_to_mask_ratio(_tone(centre, 1e-5), quiet, SR))
    loud = float(noise_to_mask_ratio(_tone(centre, 1e-2), quiet, SR))
    assert faint == pytest.approx(-4.0 - ath, abs=0.2) and faint < 0  # inaudible
    assert loud == pytest.approx(56.0 - ath, abs=0.2) and loud > 0  # audible


def test_batched_shapes_and_worst_frame() -> None:
    model = MaskingModel(SR)
    masker = _tone(500.0, 0.3).expand(2, 3, N)
    noise = torch.zeros(2, 3, N)
    noise[1, 2, 8000] = 0.05  # one click in one clip
    nmr = model.noise_to_mask_ratio(noise, masker)
    assert nmr.shape == (2, 3)
    assert float(nmr[1, 2]) > 0 and bool(torch.isinf(nmr[0]).all())


@pytest.mark.parametrize(("sr", "n"), [(16000, 16384), (44100, 65536), (16000, 1024)])
def test_closed_form_cosine_analysis_equals_the_spectrogram(sr: int, n: int) -> None:
    model = MaskingModel(sr)
    q = torch.tensor([0, 1, 2, 63, 64, 100, 128, 1000, n // 2, n - 2, n - 1])
    q = q[q < n]
    eye = torch.zeros(len(q), n, dtype=torch.float64)
    eye[torch.arange(len(q)), q] = 1.0
    atoms = idct2_ortho(eye)  # DCT-II atoms α·cos(πq(n + ½)/N)
    alpha = torch.full((len(q),), math.sqrt(2.0 / n), dtype=torch.float64)
    alpha[q == 0] = math.sqrt(1.0 / n)
    bands, marginal = model.cosine_analysis(alpha, q.double(), math.pi * q.double() / (2 * n), n)
    # reference: float64 STFT of the synthesised atoms, same normalisation
    window = torch.hann_window(model.n_fft, periodic=True, dtype=torch.float64)
    spec = torch.stft(
        atoms,
        model.n_fft,
        model.hop,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = (spec.abs() ** 2 * model.bin_weights64[:, None]).transpose(-1, -2)
    ref = power @ model.band_matrix.double()
    big = ref > 1e-9 * ref.amax(dim=(1, 2), keepdim=True)
    assert float(((bands - ref).abs() / ref.clamp_min(1e-300))[big].max()) < 1e-6
    torch.testing.assert_close(
        marginal, power.sum(-2), rtol=1e-9, atol=1e-12 * float(marginal.max())
    )


def test_marginal_only_equals_the_full_analysis() -> None:
    model = MaskingModel(SR)
    q = torch.tensor([0.0, 3.0, 700.0, 8191.5])
    alpha = torch.ones(4, dtype=torch.float64)
    phase = torch.tensor([0.0, 0.4, 1.0, 2.0], dtype=torch.float64)
    _, marginal = model.cosine_analysis(alpha, q, phase, N)
    torch.testing.assert_close(model.cosine_marginal(alpha, q, phase, N), marginal)
    with pytest.raises(ValueError):
        model.cosine_marginal(alpha, q, phase, N + 100)
