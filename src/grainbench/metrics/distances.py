"""Distances between sets of clips for generation quality (SPEC section 4.5).

All functions take feature matrices ``(N, d)`` (one row per clip; NumPy or torch) and work in
float64. Randomness (subsets, k-means initialisation) comes from an explicit ``seed``.

- :func:`frechet_distance`: Fréchet distance of Gaussians fitted to two sets, with a stable
  trace of the matrix square root (eigenvalues of the symmetric product √Σ₁ Σ₂ √Σ₁, or the
  singular values of the cross product of the samples when the sets are small).
- :func:`fd_infinity`: FD extrapolated to infinitely many candidate samples (fadtk's FAD∞,
  with seeded draws).
- :func:`kid`: kernel inception distance, unbiased MMD² with the cubic polynomial kernel
  averaged over random subsets (NumPy; tests check it against torchmetrics' estimator and a
  direct double loop).
- :func:`ndb`: number of statistically different bins (Richardson & Weiss 2018).
- :func:`pitch_accuracy` and :func:`pitch_score`: from CREPE's pitch outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import norm

from grainbench.errors import UserError
from grainbench.metrics.crepe import N_BINS, bin_cents, cents_to_hz, hz_to_cents, midi_to_hz


def _features(x: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    """A float64 ``(N, d)`` array with at least two rows, or a UserError."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise UserError(f"{what} must be features (N ≥ 2, d), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise UserError(f"{what} contain NaN or infinite values")
    return arr


def gaussian_stats(x: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and unbiased covariance ``(d, d)`` of features ``(N, d)``."""
    arr = _features(x, "features")
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


class _Reference:
    """A reference set prepared once for many Fréchet distances against it.

    With X and Y the centred samples of the two sets, each divided by √(n − 1), the
    covariances are Σ₁ = XᵀX and Σ₂ = YᵀY, and tr √(√Σ₁ Σ₂ √Σ₁) = tr √(Σ₁Σ₂) is the sum of
    the singular values of the small matrix X Yᵀ (the nonzero eigenvalues of Σ₁Σ₂ are those
    of (XYᵀ)(XYᵀ)ᵀ). That route is used when both sets have fewer samples than dimensions;
    otherwise √Σ₁ is computed once by eigen-decomposition and the eigenvalues of the
    symmetric PSD matrix √Σ₁ Σ₂ √Σ₁ are used. Either way the trace term is real and ≥ 0.
    """

    def __init__(self, x: np.ndarray) -> None:
        self.mu = x.mean(0)
        self.scaled = (x - self.mu) / np.sqrt(x.shape[0] - 1)
        self.trace = float((self.scaled**2).sum())
        self._sqrt: np.ndarray | None = None

    def _trace_sqrt(self, scaled_y: np.ndarray) -> float:
        """tr √(Σ₁Σ₂) for the other set's centred, scaled samples."""
        d = self.mu.size
        if max(self.scaled.shape[0], scaled_y.shape[0]) < d:
            return float(np.linalg.svd(self.scaled @ scaled_y.T, compute_uv=False).sum())
        if self._sqrt is None:
            self._sqrt = _psd_sqrt(self.scaled.T @ self.scaled)
        m = scaled_y @ self._sqrt
        gram = m @ m.T if m.shape[0] < m.shape[1] else m.T @ m
        return float(np.sqrt(np.clip(np.linalg.eigvalsh((gram + gram.T) / 2), 0.0, None)).sum())

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


def frechet_distance(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features ``x (N, d)`` and ``y (M, d)``.

    Equal to :func:`frechet_distance_gaussians` of the two sets' means and unbiased
    covariances, computed without d × d matrices when both sets are smaller than d.
    """
    return _Reference(_features(x, "real features")).distance(_features(y, "generated features"))


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


@dataclass
class FDInfinity:
    """FD∞: the intercept of FD against 1/n, its slope, the fit's r², and the points."""

    value: float
    slope: float
    r2: float
    sizes: list[int] = field(default_factory=list)
    fds: list[float] = field(default_factory=list)


def fd_infinity(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    seed: int = 0,
    n_points: int = 25,
    min_size: int = 500,
) -> FDInfinity:
    """FD extrapolated to an infinite candidate set (Gui et al. 2024's FAD∞, seeded).

    The reference statistics use all of ``real``. For ``n_points`` sizes n evenly spaced
    from ``min(min_size, N // 2)`` to N = len(fake), n candidates are drawn with replacement
    (seeded), FD is measured, and FD is fitted against 1/n with a line; the intercept is
    FD∞. The lower end is N/2 rather than 500 when fewer than 1000 candidates exist, so
    that the fit always spans a range of 1/n.
    """
    real_arr, fake_arr = _features(real, "real features"), _features(fake, "generated features")
    n = fake_arr.shape[0]
    if n < 4:
        raise UserError(f"FD∞ needs at least 4 generated clips, got {n}")
    low = min(min_size, n // 2)
    sizes = np.unique(np.linspace(low, n, max(2, n_points)).astype(int))
    rng = np.random.default_rng(seed)
    reference = _Reference(real_arr)
    fds = [reference.distance(fake_arr[rng.integers(0, n, size=size)]) for size in sizes]
    a, b, r2 = fit_inverse_n(sizes, np.array(fds))
    return FDInfinity(a, b, r2, [int(s) for s in sizes], [float(f) for f in fds])


@dataclass
class KID:
    """KID over subsets: mean and (population) standard deviation of the subset MMD²."""

    mean: float
    std: float
    n_subsets: int
    subset_size: int


def kid(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    seed: int = 0,
    n_subsets: int = 100,
    subset_size: int = 1000,
) -> KID:
    """Kernel inception distance (Bińkowski et al. 2018, torch-fidelity's defaults).

    For each of ``n_subsets`` subsets, m = min(``subset_size``, N_real, N_fake) rows are drawn
    without replacement from each set (seeded) and the unbiased MMD² with the kernel
    k(x, y) = (x·y/d + 1)³ is computed (:func:`mmd2_poly`); returns mean and std.
    """
    r = _features(real, "real features")
    f = _features(fake, "generated features")
    if r.shape[1] != f.shape[1]:
        raise UserError("KID needs features of one dimension")
    m = min(subset_size, r.shape[0], f.shape[0])
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            mmd2_poly(
                r[rng.choice(r.shape[0], m, replace=False)],
                f[rng.choice(f.shape[0], m, replace=False)],
            )
            for _ in range(n_subsets)
        ]
    )
    return KID(float(values.mean()), float(values.std()), n_subsets, m)


def mmd2_poly(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² of equal-size sets ``(m, d)`` with the kernel k(a, b) = (a·b/d + 1)³.

    (Σ_{i≠j} k(xᵢ, xⱼ) + Σ_{i≠j} k(yᵢ, yⱼ)) / (m(m − 1)) − 2 Σ_{i,j} k(xᵢ, yⱼ) / m².
    """
    m, d = x.shape
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / m**2)


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_iter: int = 100) -> np.ndarray:
    """Lloyd's k-means with k-means++ initialisation (seeded); returns centroids ``(k, d)``.

    A cell that loses all its points is re-seeded at the point farthest from its centre
    (the next farthest for a second empty cell, and so on).
    """
    data = np.asarray(x, dtype=np.float64)
    if not 1 <= k <= data.shape[0]:
        raise UserError(f"k-means needs 1 ≤ k ≤ N, got k={k}, N={data.shape[0]}")
    rng = np.random.default_rng(seed)
    centres = [data[rng.integers(data.shape[0])]]
    d2 = ((data - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(d2), 1.0 / len(d2))
        centres.append(data[rng.choice(data.shape[0], p=p)])
        d2 = np.minimum(d2, ((data - centres[-1]) ** 2).sum(1))
    c = np.array(centres)
    assign = None
    for _ in range(n_iter):
        dist = _sq_dist(data, c)
        new = dist.argmin(1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        farthest = iter(np.argsort(-dist[np.arange(len(data)), assign]))
        for j in range(k):
            members = data[assign == j]
            c[j] = members.mean(0) if len(members) else data[next(farthest)]
    return c


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(a), len(b))``."""
    return np.maximum((a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None, :], 0.0)


@dataclass
class NDB:
    """NDB result: different-bin count and share, the proportions and z of every bin."""

    count: int
    fraction: float
    k: int
    real_share: list[float]
    fake_share: list[float]
    z: list[float]


def ndb(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    k: int = 50,
    alpha: float = 0.05,
    seed: int = 0,
    centroids: np.ndarray | None = None,
) -> NDB:
    """Number of statistically different bins (Richardson & Weiss 2018).

    k-means with ``k`` cells on the real features (seeded; or the given ``centroids``);
    every clip goes to its nearest centroid; for each cell a two-proportion z-test
    (pooled variance, two-sided, level ``alpha``) compares the real and generated shares.
    ``k`` is capped at the number of real clips.
    """
    r, f = _features(real, "real features"), _features(fake, "generated features")
    c = kmeans(r, min(k, r.shape[0]), seed) if centroids is None else np.asarray(centroids)
    n_cells = c.shape[0]
    cr = np.bincount(_sq_dist(r, c).argmin(1), minlength=n_cells)
    cf = np.bincount(_sq_dist(f, c).argmin(1), minlength=n_cells)
    nr, nf = r.shape[0], f.shape[0]
    pr, pf = cr / nr, cf / nf
    pooled = (cr + cf) / (nr + nf)
    se = np.sqrt(pooled * (1 - pooled) * (1 / nr + 1 / nf))
    z = np.divide(pf - pr, se, out=np.zeros(n_cells), where=se > 0)
    different = np.abs(z) > norm.ppf(1 - alpha / 2)
    count = int(different.sum())
    return NDB(count, count / n_cells, n_cells, pr.tolist(), pf.tolist(), z.tolist())


def cents_off(pitch_hz: np.ndarray, target_hz: np.ndarray) -> np.ndarray:
    """Signed pitch error in cents, 1200·log2(f / f_target); NaN where no pitch was found."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return hz_to_cents(pitch_hz) - hz_to_cents(target_hz)


def pitch_hits(
    pitch_hz: np.ndarray, intended_midi: np.ndarray, tolerance_cents: float = 50.0
) -> np.ndarray:
    """Per clip: is the measured pitch within ``tolerance_cents`` of the intended MIDI note?

    A clip with no measured pitch (NaN) is a miss.
    """
    off = cents_off(np.asarray(pitch_hz, np.float64), midi_to_hz(intended_midi))
    return np.nan_to_num(np.abs(off), nan=np.inf) <= tolerance_cents


def pitch_accuracy(
    pitch_hz: np.ndarray, intended_midi: np.ndarray, tolerance_cents: float = 50.0
) -> float:
    """Share of clips whose pitch is within ``tolerance_cents`` of the intended MIDI note."""
    return float(pitch_hits(pitch_hz, intended_midi, tolerance_cents).mean())


def midi_of_bins() -> np.ndarray:
    """The MIDI note nearest to each CREPE pitch bin (bin 0, 31.7 Hz, is nearest MIDI 23)."""
    midi = 69.0 + 12.0 * np.log2(cents_to_hz(bin_cents()) / 440.0)
    return np.rint(midi).astype(int)


def pitch_class_probs(salience_sum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold CREPE's 360 bins to MIDI notes: per-clip class probabilities and the notes.

    ``salience_sum`` ``(N, 360)`` is each bin's salience summed over a clip's frames, so
    confident frames weigh more; the bins nearest each MIDI note are added up and each row
    normalised to sum 1. Returns ``(p (N, n_notes), notes (n_notes,))``.
    """
    sal = np.asarray(salience_sum, dtype=np.float64)
    if sal.ndim != 2 or sal.shape[1] != N_BINS:
        raise UserError(f"salience sums must be (N, {N_BINS}), got {sal.shape}")
    midi = midi_of_bins()
    notes = np.unique(midi)
    folded = np.zeros((sal.shape[0], notes.size))
    np.add.at(folded.T, midi - notes[0], sal.T)
    total = folded.sum(1, keepdims=True)
    uniform = np.full_like(folded, 1.0 / notes.size)
    probs = np.divide(folded, total, out=uniform, where=total > 0)
    return probs, notes


def pitch_score(probs: np.ndarray) -> float:
    """Inception-style score exp(E_x KL(p(y|x) ‖ p(y))) of class probabilities ``(N, K)``.

    1 when every clip has the same class distribution; K when every clip is certain of its
    class and the classes are used equally. For a single-note data set the real data scores
    near 1: the score measures confident and varied pitches, so it is meaningful on
    multi-pitch sets (``piano-88``) and a sanity check elsewhere.
    """
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(np.exp(terms.sum(axis=1).mean()))
