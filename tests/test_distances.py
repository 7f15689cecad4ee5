"""Generation distances against independent references (closed forms, scipy, hand-computed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from torchmetrics.image.kid import poly_mmd

from grainbench.errors import UserError
from grainbench.metrics import crepe
from grainbench.metrics import distances as D


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def _fd_scipy(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook formula with scipy's general matrix square root."""
    m1, c1 = x.mean(0), np.cov(x, rowvar=False)
    m2, c2 = y.mean(0), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(c1 @ c2)
    assert np.abs(root.imag).max() < 1e-6 * np.abs(root.real).max()
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(root.real))


def test_fd_diagonal_gaussians_closed_form() -> None:
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # 5 + 4 + 1
    assert D.frechet_distance_gaussians(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(
        expected, rel=1e-12
    )
    assert expected == pytest.approx(10.0)


def test_fd_rotated_gaussians_closed_form() -> None:
    # Both covariances share a rotation: the distance is that of the diagonal case.
    r = _rotation(5, seed=1)
    a, b = np.array([1.0, 2.0, 3.0, 0.5, 7.0]), np.array([4.0, 2.0, 0.1, 0.5, 1.0])
    mu1, mu2 = np.zeros(5), np.full(5, 0.5)
    expected = 5 * 0.25 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = D.frechet_distance_gaussians(mu1, r @ np.diag(a) @ r.T, mu2, r @ np.diag(b) @ r.T)
    assert got == pytest.approx(expected, rel=1e-10)


def test_fd_non_commuting_2d_closed_form() -> None:
    # For 2×2 PSD M: tr √M = √(tr M + 2 √det M); here M = Σ1Σ2 (similar to a PSD matrix).
    c1 = np.array([[2.0, 0.0], [0.0, 0.5]])
    r = _rotation(2, seed=3)
    c2 = r @ np.diag([3.0, 0.2]) @ r.T
    m = c1 @ c2
    tr_sqrt = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(c1) * np.linalg.det(c2)))
    expected = 1.0 + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt
    got = D.frechet_distance_gaussians(np.zeros(2), c1, np.array([1.0, 0.0]), c2)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("n", "d"), [(300, 6), (25, 40), (60, 40)])
def test_fd_samples_match_scipy_sqrtm(n: int, d: int) -> None:
    # Covers both routes: d×d eigen-decomposition (n ≥ d) and the small cross product (n < d).
    rng = np.random.default_rng(n + d)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    y = rng.normal(size=(n + 9, d)) @ rng.normal(size=(d, d)) + 0.7
    ref = _fd_scipy(x, y)
    assert D.frechet_distance(x, y) == pytest.approx(ref, rel=1e-6)
    stats = (*D.gaussian_stats(x), *D.gaussian_stats(y))
    assert D.frechet_distance_gaussians(*stats) == pytest.approx(ref, rel=1e-6)


def test_fd_of_large_samples_approaches_the_population_value() -> None:
    rng = np.random.default_rng(0)
    r = _rotation(3, seed=4)
    c2 = r @ np.diag([2.0, 1.0, 0.5]) @ r.T
    x = rng.normal(size=(200_000, 3))
    y = rng.multivariate_normal([1.0, 0.0, 0.0], c2, size=200_000)
    assert D.frechet_distance(x, y) == pytest.approx(
        D.frechet_distance_gaussians(np.zeros(3), np.eye(3), np.array([1.0, 0, 0]), c2), abs=0.02
    )


def test_fd_of_a_set_with_itself_is_zero_and_never_negative() -> None:
    x = np.random.default_rng(1).normal(size=(30, 50))
    assert 0.0 <= D.frechet_distance(x, x) < 1e-9
    assert D.frechet_distance(torch.from_numpy(x), torch.from_numpy(x)) < 1e-9


def test_fd_rejects_bad_input() -> None:
    with pytest.raises(UserError):
        D.frechet_distance(np.ones((1, 3)), np.ones((4, 3)))
    with pytest.raises(UserError):
        D.frechet_distance(np.full((4, 3), np.nan), np.ones((4, 3)))
    with pytest.raises(UserError):
        D.frechet_distance(np.ones((4, 3)), np.ones((4, 2)))


def test_fit_inverse_n_recovers_an_exact_line() -> None:
    sizes = np.linspace(500, 2000, 25).astype(int)
    a, b, r2 = D.fit_inverse_n(sizes, 3.0 + 250.0 / sizes)
    assert (a, b, r2) == (pytest.approx(3.0), pytest.approx(250.0), pytest.approx(1.0))
    with pytest.raises(UserError):
        D.fit_inverse_n(np.array([5, 5]), np.array([1.0, 1.0]))


def test_fd_infinity_removes_the_sample_size_bias() -> None:
    # Candidates N(μ, I) against a large N(0, I) reference: FD(n) ≈ ‖μ‖² + b/n with ‖μ‖² = 1.
    rng = np.random.default_rng(0)
    d = 16
    real = rng.normal(size=(50_000, d))
    mu = np.zeros(d)
    mu[0] = 1.0
    fake = rng.normal(size=(4000, d)) + mu
    res = D.fd_infinity(real, fake, seed=0)
    assert res.sizes[0] == 500 and res.sizes[-1] == 4000 and len(res.sizes) == 25
    fd_500 = D.frechet_distance(real, fake[:500])
    assert abs(res.value - 1.0) < 0.05
    assert abs(res.value - 1.0) < abs(fd_500 - 1.0)
    assert res.slope > 0 and 0 < res.r2 <= 1
    assert D.fd_infinity(real, fake, seed=0).value == res.value
    assert D.fd_infinity(real, fake, seed=1).value != res.value


def test_fd_infinity_matches_a_scipy_reimplementation() -> None:
    # The same seeded draws, FD by scipy's sqrtm and the fit by np.polyfit.
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(300, 5)), rng.normal(size=(120, 5)) * 1.5
    res = D.fd_infinity(real, fake, seed=3, n_points=7)
    draw = np.random.default_rng(3)
    sizes = np.unique(np.linspace(60, 120, 7).astype(int))
    fds = [_fd_scipy(real, fake[draw.integers(0, 120, size=n)]) for n in sizes]
    slope, intercept = np.polyfit(1.0 / sizes, fds, 1)
    assert res.sizes == sizes.tolist()
    assert res.fds == pytest.approx(fds, rel=1e-6)
    assert (res.value, res.slope) == (
        pytest.approx(intercept, rel=1e-6),
        pytest.approx(slope, rel=1e-6),
    )


def test_fd_infinity_small_sets_use_half_to_all() -> None:
    rng = np.random.default_rng(6)
    res = D.fd_infinity(rng.normal(size=(40, 3)), rng.normal(size=(40, 3)), seed=0)
    assert res.sizes[0] == 20 and res.sizes[-1] == 40
    with pytest.raises(UserError):
        D.fd_infinity(rng.normal(size=(40, 3)), rng.normal(size=(3, 3)))


def _mmd_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with (x·y/d + 1)³, written out as plain double loops."""
    m, d = x.shape

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_direct_loops_and_torchmetrics() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3)) + 0.5
    ref = _mmd_loops(x, y)
    assert D.mmd2_poly(x, y) == pytest.approx(ref, rel=1e-10)
    tm = float(poly_mmd(torch.from_numpy(x), torch.from_numpy(y)))
    assert D.mmd2_poly(x, y) == pytest.approx(tm, rel=1e-10)
    # One subset as large as both sets is a permutation of them: MMD² is unchanged.
    res = D.kid(x, y, seed=0, n_subsets=3, subset_size=1000)
    assert res.subset_size == 12
    assert res.mean == pytest.approx(ref, rel=1e-10)
    assert res.std == pytest.approx(0.0, abs=1e-12)


def test_kid_subsets_are_seeded_and_centred_on_zero_for_one_distribution() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(400, 4)), rng.normal(size=(300, 4))
    a = D.kid(x, y, seed=1, n_subsets=50, subset_size=100)
    assert a.subset_size == 100 and a.std > 0
    assert D.kid(x, y, seed=1, n_subsets=50, subset_size=100) == a
    assert abs(a.mean) < 3 * a.std
    far = D.kid(x, y + 1.0, seed=1, n_subsets=50, subset_size=100)
    assert far.mean > 10 * a.std


def test_kmeans_finds_separated_clusters() -> None:
    rng = np.random.default_rng(9)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + 0.1 * rng.normal(size=(30, 2)) for c in centres])
    found = D.kmeans(x, 3, seed=0)
    assert np.sort(np.round(found).ravel()).tolist() == np.sort(centres.ravel()).tolist()
    assert np.array_equal(D.kmeans(x, 3, seed=0), found)
    with pytest.raises(UserError):
        D.kmeans(x, 0)


def test_ndb_hand_built_case() -> None:
    # Three far-apart cells; real 30/30/30, generated 60/30/0 of 90 each.
    rng = np.random.default_rng(10)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    blob = lambda c, n: c + 0.1 * rng.normal(size=(n, 2))  # noqa: E731
    real = np.concatenate([blob(centres[0], 30), blob(centres[1], 30), blob(centres[2], 30)])
    fake = np.concatenate([blob(centres[0], 60), blob(centres[1], 30)])
    res = D.ndb(real, fake, k=3, seed=0)
    assert res.k == 3 and res.count == 2 and res.fraction == pytest.approx(2 / 3)
    # By hand: cell A p_r = 1/3, p_g = 2/3, pooled 1/2: z = (1/3)/√(1/4·2/90) = √20 ≈ 4.47;
    # cell C p_g = 0, pooled 1/6: z = −(1/3)/√(5/36·2/90) = −6; cell B z = 0.
    z = sorted(res.z)
    assert z == [pytest.approx(-6.0), pytest.approx(0.0, abs=1e-12), pytest.approx(math.sqrt(20))]
    # The same fake set against itself differs nowhere.
    assert D.ndb(real, real, k=3, seed=0).count == 0


def test_ndb_threshold_is_the_two_sided_normal_quantile() -> None:
    # One cell moved from 50/100 to 36/100: z = −0.14/√(0.43·0.57·0.02) ≈ −2.00 > 1.96.
    centres = np.array([[0.0], [10.0]])
    real = np.repeat(centres, [50, 50], axis=0)
    fake = np.repeat(centres, [36, 64], axis=0)
    res = D.ndb(real, fake, centroids=centres, alpha=0.05)
    z = -0.14 / math.sqrt(0.43 * 0.57 * 0.02)
    assert res.z[0] == pytest.approx(z)
    assert abs(z) > scipy.stats.norm.ppf(0.975)
    assert res.count == 2
    assert D.ndb(real, fake, centroids=centres, alpha=0.01).count == 0


def test_pitch_accuracy_hand_computed() -> None:
    target = crepe.midi_to_hz(np.array([48, 48, 48, 60, 60, 60]))
    cents = np.array([0.0, 49.0, -51.0, 10.0, np.nan, -49.9])
    hz = target * 2 ** (np.nan_to_num(cents) / 1200)
    hz[4] = np.nan
    hits = D.pitch_hits(hz, np.array([48, 48, 48, 60, 60, 60]))
    assert hits.tolist() == [True, True, False, True, False, True]
    assert D.pitch_accuracy(hz, np.array([48] * 3 + [60] * 3)) == pytest.approx(4 / 6)
    assert crepe.midi_to_hz(np.array([48]))[0] == pytest.approx(130.8128, abs=1e-4)


def test_pitch_classes_fold_bins_to_midi_notes() -> None:
    notes = D.midi_of_bins()
    assert notes[0] == 23 and notes[-1] == 95 and np.all(np.diff(notes) >= 0)
    sal = np.zeros((2, crepe.N_BINS))
    a440 = int(np.argmin(np.abs(crepe.cents_to_hz(crepe.bin_cents()) - 440.0)))
    sal[0, a440] = 3.0
    probs, labels = D.pitch_class_probs(sal)
    assert labels[probs[0].argmax()] == 69 and probs[0].max() == pytest.approx(1.0)
    assert probs[1] == pytest.approx(np.full(labels.size, 1 / labels.size))  # no salience
    with pytest.raises(UserError):
        D.pitch_class_probs(np.zeros((2, 10)))


def test_pitch_score_hand_computed() -> None:
    assert D.pitch_score(np.eye(4)) == pytest.approx(4.0)
    assert D.pitch_score(np.full((5, 3), 1 / 3)) == pytest.approx(1.0)
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    marginal = p.mean(0)
    expected = math.exp(np.mean([scipy.stats.entropy(row, marginal) for row in p]))
    assert D.pitch_score(p) == pytest.approx(expected)
    assert expected == pytest.approx(1.2408, abs=1e-4)
