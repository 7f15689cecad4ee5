"""Distances between sets of clips for generation quality (SPEC section 4.5).

All functions take feature matrices ``(N, d)`` (one row per clip; NumPy or torch) and work in
float64. Randomness (subsets, bootstrap resamples) comes from an explicit ``seed``. Intervals are bootstrap intervals over clips (:func:`centred_interval`).

- :func:`frechet_distance`: Fréchet distance of Gaussians fitted to two sets, with a stable
  trace of the matrix square root (eigenvalues of the symmetric product √Σ₁ Σ₂ √Σ₁, or the
  singular values of the cross product of the samples when the sets are small);
  :func:`frechet_distance_ci` adds its bootstrap interval.
- :func:`fd_infinity`: FD extrapolated to infinitely many clips on both sides (subsets
  without replacement, a 1/n fit, a bootstrap interval, and a rule for when it is trusted).
- :func:`kid`: kernel inception distance, the unbiased MMD² of the whole sets with the cubic
  polynomial kernel, with a bootstrap interval (tests check it against torchmetrics'
  estimator and a direct double loop).

NDB lives in :mod:`grainbench.metrics.ndb`, the pitch metrics in :mod:`grainbench.metrics.pitch`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grainbench.errors import UserError

Features = np.ndarray | torch.Tensor
"""Feature matrices ``(N, d)``: one row per clip, NumPy or torch."""


def feature_matrix(x: Features, what: str) -> np.ndarray:
    """A float64 ``(N, d)`` array with at least two rows, or a UserError."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise UserError(f"{what} must be features (N ≥ 2, d), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{what} contain NaN or infinite values")
    return arr


def gaussian_stats(x: Features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of features ``(N, d)``."""
    arr = feature_matrix(x, "features")
    return arr.mean(axis=0), np.atleast_2d(np.cov(arr, rowvar=False))


def _psd_sqrt(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (negative eigenvalues → 0)."""
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance_gaussians(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray
) -> float:
    """Fréchet (2-Wasserstein²) distance of N(μ₁, Σ₁) and N(μ₂, Σ₂).

    ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2·tr √(√Σ₁ Σ₂ √Σ₁). The trace term is the sum of the square
    roots of the eigenvalues of the symmetric PSD matrix √Σ₁ Σ₂ √Σ₁, which has the same
    spectrum as Σ₁Σ₂; it is real by construction and the result cannot go negative beyond
    rounding (clipped at 0).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape or cov1.shape != (mu1.size,) * 2:
        raise UserError("Fréchet distance needs means and covariances of one dimension")
    s1 = _psd_sqrt(cov1)
    inner = s1 @ cov2 @ s1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt
    return float(max(value, 0.0))


def _sqrt_eig_sum(gram: np.ndarray) -> float:
    """Σ √λ over the eigenvalues λ of a symmetric PSD matrix (rounding negatives → 0)."""
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((gram + gram.T) / 2), 0.0, None)).sum())


class _Reference:
    """A reference set prepared once for many Fréchet distances against it.

    With X and Y the centred samples of the two sets, each divided by √(n − 1), the
    covariances are Σ₁ = XᵀX and Σ₂ = YᵀY, and tr √(√Σ₁ Σ₂ √Σ₁) = tr √(Σ₁Σ₂) is the sum of
    the singular values of the small matrix X Yᵀ (the nonzero eigenvalues of Σ₁Σ₂ are those
    of (XYᵀ)(XYᵀ)ᵀ), taken as the square roots of the eigenvalues of that symmetric Gram
    matrix (on its smaller side). That route is used when either set has fewer samples than
    dimensions; otherwise √Σ₁ is computed once by eigen-decomposition and the eigenvalues of
    the symmetric PSD matrix √Σ₁ Σ₂ √Σ₁ are used. Either way the trace term is real and ≥ 0.
    """

    def __init__(self, x: np.ndarray) -> None:
        self.mu = x.mean(0)
        self.scaled = (x - self.mu) / np.sqrt(x.shape[0] - 1)
        self.trace = float((self.scaled**2).sum())
        self._sqrt: np.ndarray | None = None

    def _trace_sqrt(self, scaled_y: np.ndarray) -> float:
        """tr √(Σ₁Σ₂) for the other set's centred, scaled samples."""
        d = self.mu.size
        if min(self.scaled.shape[0], scaled_y.shape[0]) < d:
            cross = self.scaled @ scaled_y.T
            gram = cross @ cross.T if cross.shape[0] <= cross.shape[1] else cross.T @ cross
            return _sqrt_eig_sum(gram)
        if self._sqrt is None:
            self._sqrt = _psd_sqrt(self.scaled.T @ self.scaled)
        m = scaled_y @ self._sqrt
        return _sqrt_eig_sum(m @ m.T if m.shape[0] < m.shape[1] else m.T @ m)

    def distance(self, y: np.ndarray) -> float:
        """FD between the Gaussians fitted to the reference and to samples ``y (n, d)``."""
        if y.shape[1] != self.mu.size:
            raise UserError(
                f"features of dimension {y.shape[1]} against a reference of {self.mu.size}"
            )
        mu_y = y.mean(0)
        scaled_y = (y - mu_y) / np.sqrt(y.shape[0] - 1)
        diff = self.mu - mu_y
        value = diff @ diff + self.trace + (scaled_y**2).sum() - 2.0 * self._trace_sqrt(scaled_y)
        return float(max(value, 0.0))


def frechet_distance(x: Features, y: Features) -> float:
    """Fréchet distance between Gaussians fitted to features ``x (N, d)`` and ``y (M, d)``.

    Equal to :func:`frechet_distance_gaussians` of the two sets' means and unbiased
    covariances, computed without d × d matrices when both sets are smaller than d.
    """
    return _Reference(feature_matrix(x, "real features")).distance(
        feature_matrix(y, "generated features")
    )


def fit_inverse_n(sizes: np.ndarray, values: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line ``value = a + b/n``: returns ``(a, b, r²)``."""
    xs = 1.0 / np.asarray(sizes, dtype=np.float64)
    ys = np.asarray(values, dtype=np.float64)
    if np.unique(xs).size < 2:
        raise UserError("the 1/n fit needs at least two different subset sizes")
    b, a = np.polyfit(xs, ys, 1)
    resid = ys - (a + b * xs)
    total = ((ys - ys.mean()) ** 2).sum()
    r2 = 1.0 - (resid**2).sum() / total if total > 0 else 1.0
    return float(a), float(b), float(r2)


@dataclass(frozen=True)
class Estimate:
    """A value with its bootstrap interval (``level`` two-sided) and the replicate count."""

    value: float
    low: float
    high: float
    n_boot: int


def centred_interval(
    value: float, replicates: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """``value`` plus the ``(1 ∓ level)/2`` quantiles of the replicates' deviations from their mean.

    A percentile bootstrap interval moved to sit on the estimate. Resampling clips with
    replacement repeats some of them, which by itself raises a set distance (FD of a
    resample is biased upward, and the KID of a resample estimates the V-statistic); the
    shift between the replicates' mean and the estimate is that artefact, so only the
    replicates' spread is used.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.size == 0:
        raise ValueError("a bootstrap interval needs at least one replicate")
    low, high = np.quantile(reps - reps.mean(), [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(value + low), float(value + high)


def frechet_distance_ci(
    real: Features, fake: Features, seed: int = 0, n_boot: int = 200, level: float = 0.95
) -> Estimate:
    """Fréchet distance with a bootstrap interval over clips.

    Each of ``n_boot`` replicates resamples the clips of both sets with replacement (seeded)
    and measures FD; the interval is :func:`centred_interval`, its lower end clipped at 0
    (FD cannot be negative; near 0 the replicates are skewed to the right). It describes how
    FD at these set sizes varies with the clips drawn; FD's own size bias is not removed
    (that is :func:`fd_infinity`'s job), so it need not contain the population value.
    """
    x, y = feature_matrix(real, "real features"), feature_matrix(fake, "generated features")
    value = _Reference(x).distance(y)
    rng = np.random.default_rng(seed)
    reps = np.array(
        [
            _Reference(x[rng.integers(0, len(x), len(x))]).distance(
                y[rng.integers(0, len(y), len(y))]
            )
            for _ in range(n_boot)
        ]
    )
    low, high = centred_interval(value, reps, level)
    return Estimate(value, max(low, 0.0), high, n_boot)


@dataclass
class FDInfinity:
    """FD∞ with its interval, the 1/n fit behind it, and whether it is reported.

    ``sizes`` are the candidate subset sizes (``ref_sizes`` the reference's, in proportion),
    ``fds`` the mean FD of the ``draws`` subset draws at each size, ``r2`` the fit's
    coefficient of determination over those ``len(sizes)`` points. ``reported`` is False
    (with ``reason``) when the fit is not trusted; then ``low``/``high`` are NaN.
    """

    value: float
    low: float
    high: float
    slope: float
    r2: float
    sizes: list[int]
    ref_sizes: list[int]
    fds: list[float]
    draws: int
    n_boot: int
    reported: bool
    reason: str | None = None

    @property
    def n_points(self) -> int:
        """Number of points of the 1/n fit."""
        return len(self.sizes)


FD_INF_MIN_R2 = 0.5
"""Below this r² the subset noise is as large as the 1/n trend the fit extrapolates."""

FD_INF_MIN_CLIPS = 100
"""FD∞ needs at least this many clips on each side (subsets from half of them)."""

FD_INF_VARIANCE_SHARE = 0.99
"""The smallest subset must outnumber the reference's principal directions holding this
share of its variance (below that the sample covariance is rank-deficient in directions
that matter and FD's bias is no longer linear in 1/n)."""


def _subset_fd_means(
    ref: np.ndarray, cand: np.ndarray, rng: np.random.Generator, n_points: int, draws: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate sizes, reference sizes and mean subset FDs for the 1/n fit.

    Sizes run evenly from half of each set to all of it, both sets shrinking in proportion;
    at each size ``draws`` pairs of subsets are drawn without replacement (one at full
    size, where every draw is the whole set) and their FDs averaged.
    """
    n_r, n_c = len(ref), len(cand)
    sizes = np.unique(np.rint(np.linspace(max(2, n_c // 2), n_c, max(2, n_points))).astype(int))
    ref_sizes = np.maximum(2, np.rint(sizes * n_r / n_c).astype(int))
    means = np.array(
        [
            np.mean(
                [
                    _Reference(ref[rng.choice(n_r, m, replace=False)]).distance(
                        cand[rng.choice(n_c, n, replace=False)]
                    )
                    for _ in range(1 if n == n_c else draws)
                ]
            )
            for n, m in zip(sizes, ref_sizes, strict=True)
        ]
    )
    return sizes, ref_sizes, means


def principal_directions(x: np.ndarray, share: float = FD_INF_VARIANCE_SHARE) -> int:
    """How many principal directions of features ``x (N, d)`` hold ``share`` of the variance."""
    centred = x - x.mean(0)
    power = np.linalg.svd(centred, compute_uv=False) ** 2
    if power.sum() == 0:
        return 0
    return int(np.searchsorted(np.cumsum(power) / power.sum(), share) + 1)


def fd_infinity(
    real: Features,
    fake: Features,
    seed: int = 0,
    n_points: int = 10,
    draws: int = 3,
    n_boot: int = 200,
    level: float = 0.95,
    min_r2: float = FD_INF_MIN_R2,
    min_clips: int = FD_INF_MIN_CLIPS,
) -> FDInfinity:
    """FD extrapolated to infinitely many clips on both sides, with a bootstrap interval.

    FD between finite sets is biased upward by about c/n (Chong & Forsyth 2020; Gui et al.
    2024's FAD∞). Subsets of both sets are drawn *without* replacement — a random subset of
    an i.i.d. sample is an i.i.d. sample, so its FD carries the bias of its size, which
    duplicated clips would not — at ``n_points`` sizes from half of each set to all of it,
    both in proportion; the mean FD of ``draws`` draws per size is fitted against 1/n and
    the intercept is FD∞, an estimate of the population FD of the two distributions.
    Shrinking only the candidates would leave the reference's own size bias in the value.

    Interval: each of ``n_boot`` replicates resamples both sets' clips with replacement and
    repeats the whole procedure on the resample (:func:`centred_interval`).

    Not reported (``reported`` False, no interval computed) when a side has fewer than
    ``min_clips`` clips, when the fit's r² is below ``min_r2``, or when the smallest subset
    has no more clips than the reference has principal directions holding 99 % of its
    variance (:func:`principal_directions`).
    """
    ref, cand = feature_matrix(real, "real features"), feature_matrix(fake, "generated features")
    if min(len(ref), len(cand)) < 4:
        raise UserError(f"FD∞ needs at least 4 clips per set, got {len(ref)} and {len(cand)}")
    rng = np.random.default_rng(seed)
    sizes, ref_sizes, fds = _subset_fd_means(ref, cand, rng, n_points, draws)
    a, b, r2 = fit_inverse_n(sizes, fds)
    directions = principal_directions(ref)
    smallest = int(min(sizes[0], ref_sizes[0]))
    reason = None
    if min(len(ref), len(cand)) < min_clips:
        reason = f"{min(len(ref), len(cand))} clips on a side < {min_clips}"
    elif r2 < min_r2:
        reason = f"fit r² {r2:.2f} < {min_r2}"
    elif smallest <= directions:
        reason = (
            f"smallest subset {smallest} clips ≤ {directions} principal directions "
            "holding 99 % of the reference variance"
        )
    low = high = float("nan")
    if reason is None:
        reps = np.array(
            [
                fit_inverse_n(
                    *_subset_fd_means(
                        ref[rng.integers(0, len(ref), len(ref))],
                        cand[rng.integers(0, len(cand), len(cand))],
                        rng,
                        n_points,
                        draws,
                    )[::2]
                )[0]
                for _ in range(n_boot)
            ]
        )
        low, high = centred_interval(a, reps, level)
    return FDInfinity(
        value=a,
        low=low,
        high=high,
        slope=b,
        r2=r2,
        sizes=sizes.tolist(),
        ref_sizes=ref_sizes.tolist(),
        fds=fds.tolist(),
        draws=draws,
        n_boot=n_boot if reason is None else 0,
        reported=reason is None,
        reason=reason,
    )


def _kernel_sums(
    x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray, block: int = 1024
) -> np.ndarray:
    """Σ_ab cx[r, a] k(x_a, y_b) cy[r, b] for each row r of the weights, k = (x·y/d + 1)³.

    Computed in blocks of ``block`` rows of x, so no kernel matrix larger than
    ``block × len(y)`` is held.
    """
    d = x.shape[1]
    total = np.zeros(cx.shape[0])
    for s in range(0, len(x), block):
        k = (x[s : s + block] @ y.T / d + 1.0) ** 3
        total += ((cx[:, s : s + block] @ k) * cy).sum(1)
    return total


def kid(
    real: Features, fake: Features, seed: int = 0, n_boot: int = 1000, level: float = 0.95
) -> Estimate:
    """Kernel inception distance (Bińkowski et al. 2018) with a bootstrap interval.

    The unbiased MMD² of the two whole sets (sizes m and n) with the kernel
    k(a, b) = (a·b/d + 1)³:
    Σ_{i≠j} k(xᵢ, xⱼ)/(m(m−1)) + Σ_{i≠j} k(yᵢ, yⱼ)/(n(n−1)) − 2 Σ_{i,j} k(xᵢ, yⱼ)/(mn),
    which is what torch-fidelity's mean over subsets converges to (every subset's
    statistic averages to the whole sets' one). It is unbiased, so it can be negative when
    the sets come from one distribution.

    Interval: ``n_boot`` replicates resample both sets' clips with replacement (seeded) and
    recompute the statistic, with a clip drawn c times counted c times; the interval is
    :func:`centred_interval`. The replicates are kernel sums weighted by the draw counts,
    so no resampled set is built.
    """
    x, y = feature_matrix(real, "real features"), feature_matrix(fake, "generated features")
    if x.shape[1] != y.shape[1]:
        raise UserError("KID needs features of one dimension")
    m, n, d = len(x), len(y), x.shape[1]
    rng = np.random.default_rng(seed)
    cx = np.vstack([np.ones(m), rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot)])
    cy = np.vstack([np.ones(n), rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)])
    diag_x = ((x * x).sum(1) / d + 1.0) ** 3
    diag_y = ((y * y).sum(1) / d + 1.0) ** 3
    within_x = (_kernel_sums(x, x, cx, cx) - cx @ diag_x) / (m * (m - 1))
    within_y = (_kernel_sums(y, y, cy, cy) - cy @ diag_y) / (n * (n - 1))
    mmd2 = within_x + within_y - 2.0 * _kernel_sums(x, y, cx, cy) / (m * n)
    return Estimate(float(mmd2[0]), *centred_interval(float(mmd2[0]), mmd2[1:], level), n_boot)
