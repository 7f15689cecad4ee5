"""The masking model on hand-computable cases, its invariances, and its closed-form analysis
of cosines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grainbench.errors import UserError
from grainbench.metrics.erb import erb_filter_centres_hz, hz_to_erb_rate
from grainbench.metrics.masking import (
    FILTERS_PER_ERB,
    MASK_OFFSET_DB,
    SLOPE_ABOVE_DB,
    SLOPE_BELOW_DB,
    MaskingModel,
    absolute_threshold_db_spl,
    frame_length,
    frame_starts,
    noise_to_mask_ratio,
    spl_to_power,
)
from grainbench.stages.transforms import idct2_ortho

SR = 16000
N = 16384


def _tone(freq: float, amp: float, n: int = N, sr: int = SR) -> torch.Tensor:
    t = torch.arange(n, dtype=torch.float64) / sr
    return (amp * torch.sin(2 * math.pi * freq * t)).float()


def _reference_power(model: MaskingModel, x: np.ndarray) -> np.ndarray:
    """numpy: symmetric extension, periodic Hann frames at the model's starts, rfft of 2L,
    one-sided Parseval normalisation, frames weighted by their window share inside."""
    size, n = model.frame_length, x.shape[-1]
    half = size // 2
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="symmetric")
    w = np.hanning(size + 1)[:-1]
    starts = model.frame_starts(n)
    frames = np.stack([padded[..., s + half : s + half + size] for s in starts], axis=-2)
    power = np.abs(np.fft.rfft(frames * w, n=2 * size)) ** 2
    weights = np.full(size + 1, 2.0)
    weights[[0, -1]] = 1.0
    power *= weights / (2 * size * np.sum(w**2))
    rho = []
    for s in starts:
        inside = (s + np.arange(size) >= 0) & (s + np.arange(size) < n)
        rho.append(np.sum(w[inside] ** 2) / np.sum(w**2))
    return power * np.array(rho)[:, None]


def test_constants_and_calibration_by_hand() -> None:
    assert frame_length(16000) == 320 and frame_length(44100) == 882
    assert frame_length(22050) == 442 and frame_length(16000, 0.04) == 640
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


def test_frames_are_placed_inside_from_edge_to_edge() -> None:
    # ⌊4·16384/320⌋ = 204 hops of 16384/204 = 80.3 samples; centres round to samples
    starts = frame_starts(N, 320)
    assert len(starts) == 205
    assert starts[0] == -160 and starts[-1] == N - 160
    assert starts[1] == round(N / 204 - 160) == -80 and starts[2] == 1
    assert set(np.diff(starts).tolist()) <= {80, 81}
    assert np.array_equal(frame_starts(320, 320), [-160, -80, 0, 80, 160])
    with pytest.raises(UserError):
        frame_starts(319, 320)
    model = MaskingModel(SR)
    rho = model.edge_weights(N).numpy()
    w2 = np.hanning(321)[:-1] ** 2
    assert rho[0] == pytest.approx(w2[160:].sum() / w2.sum())  # the half inside
    assert rho[1] == pytest.approx(w2[80:].sum() / w2.sum())
    assert rho[-1] == pytest.approx(w2[:160].sum() / w2.sum())
    inside = (starts >= 0) & (starts + 320 <= N)
    assert np.all(rho[inside] == 1.0) and np.all(rho[~inside] < 1.0)


def test_power_spectrogram_equals_a_numpy_reference_and_parseval() -> None:
    model = MaskingModel(SR)
    x = torch.randn(2, 3000, generator=torch.Generator().manual_seed(1))
    power = model.power_spectrogram(x)
    ref = _reference_power(model, x.double().numpy())
    assert power.shape == ref.shape == (2, len(model.frame_starts(3000)), 321)
    np.testing.assert_allclose(power.numpy(), ref, rtol=2e-4, atol=1e-6 * ref.max())
    # an interior frame sums to its windowed mean square
    w = np.hanning(321)[:-1]
    s = int(model.frame_starts(3000)[10])
    frame = x[0].double().numpy()[s : s + 320]
    expected = np.sum((w * frame) ** 2) / np.sum(w**2)
    assert float(power[0, 10].sum()) == pytest.approx(expected, rel=1e-4)


def _every_frame_power(model: MaskingModel, x: torch.Tensor) -> torch.Tensor:
    """The spectrogram with every frame transformed (as the model did before it skipped
    frames without a nonzero sample)."""
    n, half = x.shape[-1], model.frame_length // 2
    flat = x.reshape(-1, n)
    padded = torch.cat([flat[:, :half].flip(-1), flat, flat[:, n - half :].flip(-1)], dim=-1)
    starts = torch.from_numpy(model.frame_starts(n) + half)
    index = starts[:, None] + torch.arange(model.frame_length)
    spec = torch.fft.rfft(padded[:, index] * model.window, n=model.n_fft)
    power = (spec.real**2 + spec.imag**2) * model.bin_weights
    power = power * model.edge_weights(n).float()[:, None]
    return power.reshape(*x.shape[:-1], *power.shape[-2:])


def test_short_errors_are_analysed_on_their_own_frames_alone() -> None:
    """Signals nonzero in a few frames (a one-pixel error of a local atom) are transformed
    only there; the spectrogram is the whole one to the bit: at the edges (reflected), an
    isolated sample, all zeros, and a batch where one signal spans most frames."""
    model = MaskingModel(44100)
    n = 65536
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 2, n)
    x[0, 0, 30000:32048] = torch.randn(2048, generator=gen)
    x[1, 1, :500] = torch.randn(500, generator=gen)
    x[2, 0, n - 300 :] = torch.randn(300, generator=gen)
    x[3, 1, 1000] = 1.0
    x[5, 0, 5000:9000] = torch.randn(4000, generator=gen)
    x[6, 0, 20000:] = torch.randn(n - 20000, generator=gen)
    n_frames = len(model.frame_starts(n))
    for b in [[0, 3, 5], [1, 2], [4], [0, 6], list(range(8))]:
        assert torch.equal(model.power_spectrogram(x[b]), _every_frame_power(model, x[b]))
    rows, signal, frame = model.live_power(x)
    per_signal = torch.bincount(signal, minlength=16).reshape(8, 2)
    assert per_signal[4].sum() == 0 and per_signal[3, 1] == 4  # 4 frames hold sample 1000
    assert per_signal[0, 0] < 15 and per_signal[6, 0] > n_frames // 2
    assert torch.equal(rows, _every_frame_power(model, x).flatten(0, 1)[signal, frame])


@pytest.mark.parametrize(("sr", "seconds"), [(16000, 0.02), (44100, 0.02), (16000, 0.04)])
def test_a_tone_at_a_filter_centre_reads_its_power(sr: int, seconds: float) -> None:
    # amplitude A → A²/2 whatever the rate and frame length (filter calibration, step 4)
    model = MaskingModel(sr, frame_seconds=seconds)
    picks = [15, 30, 60, model.n_bands - 10]  # from ≈ 180 Hz: away from the image at 0 Hz
    tones = torch.stack([_tone(model.centres_hz[i], 0.2, 8000, sr) for i in picks])
    bands = model.band_energies(model.power_spectrogram(tones))
    got = bands[torch.arange(len(picks)), 10, picks]
    np.testing.assert_allclose(got.numpy(), 0.02, rtol=2e-3)


def test_threshold_of_one_masker_filter_by_hand() -> None:
    model = MaskingModel(SR)
    z = hz_to_erb_rate(model.centres_hz)
    np.testing.assert_allclose(np.diff(z), 1.0 / FILTERS_PER_ERB, rtol=1e-9)
    energy = 1e-3
    bands = torch.zeros(model.n_bands)
    bands[30] = energy
    thr = model.threshold(bands).double().numpy()
    off = 10 ** (-MASK_OFFSET_DB / 10)

    def share(masker: int, maskee: int) -> float:  # spreading normalised over maskers
        d = z[maskee] - z
        att = np.where(d >= 0, -SLOPE_ABOVE_DB * d, SLOPE_BELOW_DB * d)
        weights = 10 ** (att / 10)
        return weights[masker] / weights.sum()

    quiet = spl_to_power(absolute_threshold_db_spl(model.centres_hz))
    for maskee in (30, 33, 27):
        expected = energy * off * share(30, maskee) + quiet[maskee]
        assert thr[maskee] == pytest.approx(expected, rel=1e-5)
    # a flat excitation masks at its own level minus the offset, in every filter
    flat = model.threshold(torch.full((model.n_bands,), energy)).double().numpy()
    np.testing.assert_allclose(flat, energy * off + quiet, rtol=1e-5)
    # silence: the threshold in quiet, Terhardt at the filter centres, calibrated
    zero = model.threshold(torch.zeros(model.n_bands))
    np.testing.assert_allclose(zero.numpy(), quiet, rtol=1e-6)


def test_noise_far_from_the_masker_meets_only_the_threshold_in_quiet() -> None:
    model = MaskingModel(SR)
    centre = float(model.centres_hz[95])  # ≈ 6 kHz
    masker = _tone(200.0, 0.5)
    noise = _tone(centre, 1e-3)
    nmr = float(model.noise_to_mask_ratio(noise, masker))
    # 1e-3 amplitude is 96 + 10·log10(1e-6) = 36 dB SPL; the masker is > 20 ERB away
    expected = 36.0 - absolute_threshold_db_spl(np.array([centre]))[0]
    assert nmr == pytest.approx(expected, abs=0.2)


def test_silence() -> None:
    centre = float(MaskingModel(SR).centres_hz[45])  # ≈ 1 kHz
    quiet = torch.zeros(N)
    assert float(noise_to_mask_ratio(quiet, quiet, SR)) == -math.inf
    ath = absolute_threshold_db_spl(np.array([centre]))[0]
    faint = float(noise_to_mask_ratio(_tone(centre, 1e-5), quiet, SR))
    loud = float(noise_to_mask_ratio(_tone(centre, 1e-2), quiet, SR))
    assert faint == pytest.approx(-4.0 - ath, abs=0.2) and faint < 0  # inaudible
    assert loud == pytest.approx(56.0 - ath, abs=0.2) and loud > 0  # audible


def test_noise_equal_to_the_masker_is_near_the_offset() -> None:
    # a tone masks a tone of its own level a little less than a flat excitation would
    # (its excitation is narrower than the spreading function): 10 to 13 dB
    tone = _tone(1000.0, 0.1)
    nmr = float(noise_to_mask_ratio(tone, tone, SR))
    assert MASK_OFFSET_DB < nmr < MASK_OFFSET_DB + 3.0


def test_batched_shapes_and_worst_frame() -> None:
    model = MaskingModel(SR)
    masker = _tone(500.0, 0.3).expand(2, 3, N)
    noise = torch.zeros(2, 3, N)
    noise[1, 2, 8000] = 0.05  # one click in one clip
    nmr = model.noise_to_mask_ratio(noise, masker)
    assert nmr.shape == (2, 3)
    assert float(nmr[1, 2]) > 0 and bool(torch.isinf(nmr[0]).all())


# --- invariances (issue 14, item 5) --------------------------------------------------------


def _c3(sr: int, seconds: float = 0.5) -> np.ndarray:
    """A steady C3 (130.81 Hz) with harmonics at 0.3/h up to 7 kHz, seeded phases."""
    t = np.arange(int(round(seconds * sr))) / sr
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, 60)
    h = np.arange(1, int(7000 / 130.81) + 1)
    return (0.3 / h[:, None] * np.cos(2 * np.pi * 130.81 * h[:, None] * t + phases[h, None])).sum(0)


def _nmr(sr: int, noise: np.ndarray, masker: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(np.broadcast_to(masker, noise.shape).copy()).float()
    return MaskingModel(sr).noise_to_mask_ratio(torch.from_numpy(noise).float(), x).numpy()


@pytest.mark.parametrize(("lo", "hi"), [(200.0, 1000.0), (3000.0, 3700.0)])
def test_moving_a_probe_tone_by_10_hz_changes_its_nmr_by_under_1_db(lo: float, hi: float) -> None:
    # probes every 2 Hz against a steady harmonic masker, across its harmonics 2–7 and ten of
    # the former 1-ERB band edges (not next to its fundamental: 30 Hz above it, the upward
    # spread of masking itself changes the mask by ≈ 0.9 dB per 10 Hz)
    masker = _c3(SR)
    t = np.arange(masker.size) / SR
    freqs = np.arange(lo, hi, 2.0)
    probes = 0.003 * np.sin(2 * np.pi * freqs[:, None] * t)
    nmr = _nmr(SR, probes, masker)
    assert np.abs(nmr[5:] - nmr[:-5]).max() < 1.0


def test_the_same_clip_and_error_at_16_and_44_1_khz_agree() -> None:
    probes = [(250.0, 0.01), (500.0, 0.003), (1234.0, 0.001), (3000.0, 3e-4), (6000.0, 3e-4)]
    out = []
    for sr in (16000, 44100):
        masker = _c3(sr)
        t = np.arange(masker.size) / sr
        noise = np.stack([a * np.sin(2 * np.pi * f * t) for f, a in probes])
        out.append(_nmr(sr, noise, masker))
    np.testing.assert_allclose(out[0], out[1], atol=1.0)


def test_an_error_at_either_edge_is_judged_as_in_the_middle() -> None:
    # a 5 ms, 2 kHz Hann-shaped burst starting in the first 10 ms, in the middle, and in the
    # last 10 ms of a steady masker
    masker = _c3(SR)
    n = masker.size
    size = int(0.005 * SR)
    shape = 0.01 * np.hanning(size + 2)[1:-1] * np.sin(2 * np.pi * 2000.0 * np.arange(size) / SR)

    def burst(t0: float) -> np.ndarray:
        x = np.zeros(n)
        i = int(round(t0 * SR))
        x[i : i + size] = shape
        return x

    edge = [0.0, 0.001, 0.0025, 0.005]
    middle = [0.25 + 0.0005 * k for k in range(20)]  # every phase against the frame grid
    end = [n / SR - 0.005 - t for t in edge]
    nmr = _nmr(SR, np.stack([burst(t) for t in edge + middle + end]), masker)
    mid = nmr[len(edge) : len(edge) + len(middle)]
    lo, hi = mid.min() - 1.0, mid.max() + 1.0
    assert mid.max() - mid.min() < 1.5  # a hop of L/4: the grid moves a burst by < 1.5 dB
    others = np.concatenate([nmr[: len(edge)], nmr[len(edge) + len(middle) :]])
    assert np.all((others > lo) & (others < hi))


# --- closed form ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sr", "n"), [(16000, 16384), (44100, 65536), (16000, 1024), (16000, 1000), (16000, 320)]
)
def test_closed_form_cosine_analysis_equals_the_spectrogram(sr: int, n: int) -> None:
    model = MaskingModel(sr)
    q = torch.tensor([0, 1, 2, 63, 64, 100, 128, 1000, n // 2, n - 2, n - 1])
    q = q[q < n]
    eye = torch.zeros(len(q), n, dtype=torch.float64)
    eye[torch.arange(len(q)), q] = 1.0
    atoms = idct2_ortho(eye)  # DCT-II atoms α·cos(πq(n + ½)/N)
    alpha = torch.full((len(q),), math.sqrt(2.0 / n), dtype=torch.float64)
    alpha[q == 0] = math.sqrt(1.0 / n)
    # and FFT-like atoms (no half-sample symmetry at the edges): cos(2πkn/N + {0, π/2}), a
    # half-integer u
    u2 = torch.tensor([2.0, 2.0, 14.0, 7.5, float(n)], dtype=torch.float64)
    phase2 = torch.tensor([0.0, math.pi / 2, math.pi / 2, 0.3, 0.0], dtype=torch.float64)
    t = torch.arange(n, dtype=torch.float64)
    atoms2 = torch.cos(math.pi * u2[:, None] * t / n + phase2[:, None])
    u = torch.cat([q.double(), u2])
    phase = torch.cat([math.pi * q.double() / (2 * n), phase2])
    alpha = torch.cat([alpha, torch.ones(len(u2), dtype=torch.float64)])
    bands, marginal = model.cosine_analysis(alpha, u, phase, n)
    # reference: float64 numpy analysis of the synthesised atoms
    power = _reference_power(model, torch.cat([atoms, atoms2]).numpy())
    ref = power @ model.band_matrix64.numpy()
    big = ref > 1e-9 * ref.max(axis=(1, 2), keepdims=True)
    assert float((np.abs(bands.numpy() - ref) / np.maximum(ref, 1e-300))[big].max()) < 1e-6
    np.testing.assert_allclose(
        marginal.numpy(), power.sum(-2), rtol=1e-9, atol=1e-12 * float(marginal.max())
    )


def test_marginal_only_equals_the_full_analysis() -> None:
    model = MaskingModel(SR)
    q = torch.tensor([0.0, 3.0, 700.0, 8191.5])
    alpha = torch.ones(4, dtype=torch.float64)
    phase = torch.tensor([0.0, 0.4, 1.0, 2.0], dtype=torch.float64)
    _, marginal = model.cosine_analysis(alpha, q, phase, N)
    torch.testing.assert_close(model.cosine_marginal(alpha, q, phase, N), marginal)
    assert model.supports_cosines(320) and not model.supports_cosines(319)
    with pytest.raises(ValueError):
        model.cosine_marginal(alpha, q, phase, 100)


def test_filter_centres_do_not_depend_on_the_rate() -> None:
    low, high = MaskingModel(16000), MaskingModel(44100)
    np.testing.assert_allclose(high.centres_hz[: low.n_bands], low.centres_hz, rtol=1e-12)
    np.testing.assert_allclose(low.centres_hz, erb_filter_centres_hz(8000.0, FILTERS_PER_ERB))
    torch.testing.assert_close(high.bin_freqs()[:100], low.bin_freqs()[:100].to(torch.float32))
