"""Generation distances against independent references (closed forms, scipy, hand-computed)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from torchmetrics.image.kid import poly_mmd

from grainbench.errors import UserError
from grainbench.metrics import crepe
from grainbench.metrics import distances as D
from grainbench.metrics import ndb as N
from grainbench.metrics import pitch as P


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


def test_centred_interval_hand_computed() -> None:
    # Deviations from the replicates' mean (2.5) are −1.5, −0.5, 0.5, 1.5: the 25 % and 75 %
    # quantiles (level 0.5) are ∓0.75, placed on the estimate 10.
    assert D.centred_interval(10.0, np.array([1.0, 2.0, 3.0, 4.0]), level=0.5) == (
        pytest.approx(9.25),
        pytest.approx(10.75),
    )


@pytest.mark.parametrize("shift", [1.0, 0.3])  # 0.3: the interval reaches below 0
def test_frechet_distance_ci_matches_an_explicit_bootstrap(shift: float) -> None:
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + shift
    res = D.frechet_distance_ci(x, y, seed=4, n_boot=50)
    draw = np.random.default_rng(4)
    reps = np.array(
        [_fd_scipy(x[draw.integers(0, 40, 40)], y[draw.integers(0, 30, 30)]) for _ in range(50)]
    )
    dev = np.quantile(reps - reps.mean(), [0.025, 0.975])
    assert res.value == pytest.approx(_fd_scipy(x, y), rel=1e-6)
    assert (res.low, res.high) == (  # FD ≥ 0: the lower end is clipped there
        pytest.approx(max(res.value + dev[0], 0.0), rel=1e-6),
        pytest.approx(res.value + dev[1], rel=1e-6),
    )
    assert res.n_boot == 50


def _population_case(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Two disjoint sets of 400 from N(0, I) and N(μ, I) in 16 dimensions, ‖μ‖ = 0.8.

    The population FD is the Gaussian closed form, ‖μ‖² = 0.64; at 400 clips a side the
    sample FD is about 1.0 (its bias is about (d/2)·(1/n₁ + 1/n₂)·… ≈ 0.4).
    """
    rng = np.random.default_rng(seed)
    mu = np.zeros(16)
    mu[0] = 0.8
    x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16)) + mu
    pop = D.frechet_distance_gaussians(np.zeros(16), np.eye(16), mu, np.eye(16))
    assert pop == pytest.approx(0.64)
    return x, y, pop


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fd_infinity_interval_holds_the_population_value_and_fd_does_not(seed: int) -> None:
    x, y, pop = _population_case(seed)
    fd = D.frechet_distance_ci(x, y, seed=seed)
    inf = D.fd_infinity(x, y, seed=seed)
    assert inf.reported and inf.r2 >= D.FD_INF_MIN_R2 and inf.n_points == 10
    assert inf.low <= pop <= inf.high
    assert not fd.low <= pop <= fd.high and fd.low > pop  # plain FD: biased upward
    assert abs(inf.value - pop) < abs(fd.value - pop)


def test_fd_infinity_of_one_distribution_holds_zero() -> None:
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    inf = D.fd_infinity(x, y, seed=0)
    fd = D.frechet_distance_ci(x, y, seed=0)
    assert inf.reported and inf.low <= 0.0 <= inf.high
    assert fd.low > 0.0


def test_fd_infinity_matches_a_scipy_reimplementation() -> None:
    # The same seeded draws (both sides, without replacement), FD by scipy's sqrtm, the fit
    # by np.polyfit on the per-size means.
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(60, 5)), rng.normal(size=(120, 5)) * 1.5
    res = D.fd_infinity(real, fake, seed=3, n_points=7, draws=2, n_boot=1, min_clips=4, min_r2=-1)
    draw = np.random.default_rng(3)
    sizes = np.unique(np.rint(np.linspace(60, 120, 7)).astype(int))
    fds = []
    for n in sizes:
        runs = []
        for _ in range(1 if n == 120 else 2):
            a = draw.choice(60, int(round(n / 2)), replace=False)
            b = draw.choice(120, n, replace=False)
            assert len(set(a)) == len(a) and len(set(b)) == len(b)
            runs.append(_fd_scipy(real[a], fake[b]))
        fds.append(np.mean(runs))
    slope, intercept = np.polyfit(1.0 / sizes, fds, 1)
    assert res.sizes == sizes.tolist() and res.ref_sizes == [int(round(n / 2)) for n in sizes]
    assert res.fds == pytest.approx(fds, rel=1e-6)
    assert (res.value, res.slope) == (
        pytest.approx(intercept, rel=1e-6),
        pytest.approx(slope, rel=1e-6),
    )
    assert res.fds[-1] == pytest.approx(_fd_scipy(real, fake), rel=1e-6)  # the whole sets


def test_fd_infinity_is_withheld_when_its_fit_does_not_hold() -> None:
    rng = np.random.default_rng(6)
    small = D.fd_infinity(rng.normal(size=(40, 3)), rng.normal(size=(40, 3)), seed=0)
    assert not small.reported and "40 clips on a side < 100" in small.reason
    assert np.isnan(small.low) and small.n_boot == 0
    assert small.sizes[0] == 20 and small.sizes[-1] == 40
    # Two far-apart sets: FD hardly depends on n, so subset noise swamps the 1/n trend.
    noisy = D.fd_infinity(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 30.0, seed=0)
    assert not noisy.reported and noisy.r2 < D.FD_INF_MIN_R2 and "r²" in noisy.reason
    # More significant directions than clips in the smallest subset: 1/n does not hold.
    wide = D.fd_infinity(rng.normal(size=(120, 100)), rng.normal(size=(120, 100)), seed=0)
    assert not wide.reported and "principal directions" in wide.reason
    with pytest.raises(UserError):
        D.fd_infinity(rng.normal(size=(40, 3)), rng.normal(size=(3, 3)))


def test_principal_directions_counts_the_variance_share() -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(size=(2000, 5)) * np.array([10.0, 10.0, 10.0, 0.01, 0.01])
    assert D.principal_directions(x) == 3
    assert D.principal_directions(np.ones((5, 3))) == 0


def _mmd_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with (x·y/d + 1)³ (sets of sizes m and n), as plain double loops."""
    m, d = x.shape
    n = len(y)

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_matches_direct_loops_and_torchmetrics() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3)) + 0.5
    res = D.kid(x, y, seed=0, n_boot=20)
    assert res.value == pytest.approx(_mmd_loops(x, y), rel=1e-10)
    tm = float(poly_mmd(torch.from_numpy(x), torch.from_numpy(y)))
    assert res.value == pytest.approx(tm, rel=1e-10)
    # Sets of different sizes: torch-fidelity's subsets would average to this.
    assert D.kid(x, y[:7], n_boot=5).value == pytest.approx(_mmd_loops(x, y[:7]), rel=1e-10)


def test_kid_bootstrap_matches_explicitly_resampled_sets() -> None:
    # A clip drawn c times counts c times; pairs of positions i ≠ j in a resample can be
    # two copies of one clip, as in an i.i.d. sample from the empirical distribution.
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(9, 2)), rng.normal(size=(6, 2))
    res = D.kid(x, y, seed=2, n_boot=30)
    draw = np.random.default_rng(2)
    cx = draw.multinomial(9, np.full(9, 1 / 9), size=30)
    cy = draw.multinomial(6, np.full(6, 1 / 6), size=30)
    reps = np.array(
        [
            _mmd_loops(np.repeat(x, a, axis=0), np.repeat(y, b, axis=0))
            for a, b in zip(cx, cy, strict=True)
        ]
    )
    dev = np.quantile(reps - reps.mean(), [0.025, 0.975])
    assert (res.low, res.high) == (
        pytest.approx(res.value + dev[0], rel=1e-9),
        pytest.approx(res.value + dev[1], rel=1e-9),
    )


def test_kid_of_one_distribution_has_a_real_interval_around_zero() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(200, 4)), rng.normal(size=(200, 4))
    a = D.kid(x, y, seed=1)
    assert a.low < 0.0 < a.high and a.high - a.low > 0  # equal sizes: no longer zero width
    assert D.kid(x, y, seed=1) == a
    far = D.kid(x, y + 1.0, seed=1)
    assert far.low > a.high


def test_kmeans_finds_separated_clusters() -> None:
    rng = np.random.default_rng(9)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.concatenate([c + 0.1 * rng.normal(size=(30, 2)) for c in centres])
    found = N.kmeans(x, 3, seed=0)
    assert np.sort(np.round(found).ravel()).tolist() == np.sort(centres.ravel()).tolist()
    assert np.array_equal(N.kmeans(x, 3, seed=0), found)
    with pytest.raises(UserError):
        N.kmeans(x, 0)


def test_kmeans_with_fewer_distinct_points_than_cells_is_quiet() -> None:
    x = np.array([[0.0, 0.0]] * 4 + [[1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = N.kmeans(x, 3, seed=0)
    assert found.shape == (3, 2)
    assert {tuple(c) for c in found} == {(0.0, 0.0), (1.0, 1.0)}


def test_ndb_hand_built_case() -> None:
    # Three far-apart cells; real 30/30/30, generated 60/30/0 of 90 each.
    rng = np.random.default_rng(10)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    blob = lambda c, n: c + 0.1 * rng.normal(size=(n, 2))  # noqa: E731
    real = np.concatenate([blob(centres[0], 30), blob(centres[1], 30), blob(centres[2], 30)])
    fake = np.concatenate([blob(centres[0], 60), blob(centres[1], 30)])
    res = N.ndb(real, fake, k=3, seed=0)
    assert res.k == 3 and res.count == 2 and res.fraction == pytest.approx(2 / 3)
    # By hand: cell A p_r = 1/3, p_g = 2/3, pooled 1/2: z = (1/3)/√(1/4·2/90) = √20 ≈ 4.47;
    # cell C p_g = 0, pooled 1/6: z = −(1/3)/√(5/36·2/90) = −6; cell B z = 0.
    z = sorted(res.z)
    assert z == [pytest.approx(-6.0), pytest.approx(0.0, abs=1e-12), pytest.approx(math.sqrt(20))]
    # The same fake set against itself differs nowhere.
    assert N.ndb(real, real, k=3, seed=0).count == 0


def test_ndb_threshold_is_the_two_sided_normal_quantile() -> None:
    # One cell moved from 50/100 to 36/100: z = −0.14/√(0.43·0.57·0.02) ≈ −2.00 > 1.96.
    centres = np.array([[0.0], [10.0]])
    real = np.repeat(centres, [50, 50], axis=0)
    fake = np.repeat(centres, [36, 64], axis=0)
    res = N.ndb(real, fake, centroids=centres, alpha=0.05)
    z = -0.14 / math.sqrt(0.43 * 0.57 * 0.02)
    assert res.z[0] == pytest.approx(z)
    assert abs(z) > scipy.stats.norm.ppf(0.975)
    assert res.count == 2
    assert N.ndb(real, fake, centroids=centres, alpha=0.01).count == 0


def test_ndb_subsets_make_candidate_counts_comparable() -> None:
    # Reference 1000 clips of N(0, I); candidates shifted by 0.2 σ, 100 or 2000 of them.
    # One-shot NDB finds far more different bins with 2000 candidates (more test power);
    # on subsets of one size both sets score the same within the spread.
    rng = np.random.default_rng(16)
    real = rng.normal(size=(1000, 2))
    few, many = rng.normal(size=(100, 2)) + 0.2, rng.normal(size=(2000, 2)) + 0.2
    cells = N.kmeans(real, 20, seed=0)
    one_shot = [N.ndb(real, c, centroids=cells).fraction for c in (few, many)]
    assert one_shot[1] > one_shot[0] + 0.2
    a = N.ndb_subsets(real, few, cells, 50, n_subsets=40, seed=0)
    b = N.ndb_subsets(real, many, cells, 50, n_subsets=40, seed=0)
    assert (a.k, a.subset_size, a.n_subsets) == (20, 50, 40)
    assert abs(a.fraction - b.fraction) < max(a.fraction_std, b.fraction_std)
    assert a.fraction_std > 0 and a.count == pytest.approx(a.fraction * 20)
    with pytest.raises(UserError):
        N.ndb_subsets(real, few, cells, 101)


def test_pitch_accuracy_hand_computed() -> None:
    target = crepe.midi_to_hz(np.array([48, 48, 48, 60, 60, 60]))
    cents = np.array([0.0, 49.0, -51.0, 10.0, np.nan, -49.9])
    hz = target * 2 ** (np.nan_to_num(cents) / 1200)
    hz[4] = np.nan
    hits = P.pitch_hits(hz, np.array([48, 48, 48, 60, 60, 60]))
    assert hits.tolist() == [True, True, False, True, False, True]
    assert P.pitch_accuracy(hz, np.array([48] * 3 + [60] * 3)) == pytest.approx(4 / 6)
    assert crepe.midi_to_hz(np.array([48]))[0] == pytest.approx(130.8128, abs=1e-4)


def test_pitch_classes_fold_bins_to_midi_notes() -> None:
    notes = P.midi_of_bins()
    assert notes[0] == 23 and notes[-1] == 95 and np.all(np.diff(notes) >= 0)
    sal = np.zeros((2, crepe.N_BINS))
    a440 = int(np.argmin(np.abs(crepe.cents_to_hz(crepe.bin_cents()) - 440.0)))
    sal[0, a440] = 3.0
    probs, labels = P.pitch_class_probs(sal)
    assert labels[probs[0].argmax()] == 69 and probs[0].max() == pytest.approx(1.0)
    assert probs[1] == pytest.approx(np.full(labels.size, 1 / labels.size))  # no salience
    with pytest.raises(UserError):
        P.pitch_class_probs(np.zeros((2, 10)))


def test_pitch_score_hand_computed() -> None:
    assert P.pitch_score(np.eye(4)) == pytest.approx(4.0)
    assert P.pitch_score(np.full((5, 3), 1 / 3)) == pytest.approx(1.0)
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    marginal = p.mean(0)
    expected = math.exp(np.mean([scipy.stats.entropy(row, marginal) for row in p]))
    assert P.pitch_score(p) == pytest.approx(expected)
    assert expected == pytest.approx(1.2408, abs=1e-4)
