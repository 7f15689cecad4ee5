"""Number of statistically different bins (NDB; Richardson & Weiss 2018) and its parts.

- :func:`ndb_features`: the log-mel features NDB clusters (coarse spectral envelope over time);
- :func:`kmeans`: seeded k-means++ and Lloyd's steps (scipy's ``kmeans2``; also the GMM
  baseline's start, :mod:`grainbench.baselines.generators.gmm`);
- :func:`ndb` and :func:`ndb_subsets`: the bin test, the latter on candidate subsets of one
  size so that sets of different sizes compare.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from scipy.stats import norm
from torch.nn import functional as F

from grainbench.errors import UserError
from grainbench.metrics.distances import Features, feature_matrix
from grainbench.metrics.melspec import mel_power


def ndb_features(
    audio: np.ndarray | torch.Tensor, sample_rate: int, n_mels: int = 32, n_segments: int = 16
) -> np.ndarray:
    """Log-mel features for NDB's k-means: ``(N, n_mels · n_segments)``, in dB.

    The mel power spectrogram (:func:`mel_power`, ``n_mels`` bands) averaged over
    ``n_segments`` equal stretches of time, then 10·log10(power + 1e-10): the clip's
    spectral envelope over time at a coarse resolution.
    """
    mel = mel_power(audio, sample_rate, n_mels)
    pooled = F.adaptive_avg_pool1d(mel, n_segments)
    return (10.0 * torch.log10(pooled + 1e-10)).reshape(mel.shape[0], -1).numpy()


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_iter: int = 100) -> np.ndarray:
    """Lloyd's k-means with k-means++ initialisation (seeded); returns centroids ``(k, d)``.

    ``scipy.cluster.vq.kmeans2`` with ``minit="++"`` and ``n_iter`` Lloyd steps (after the
    partition stops changing a step leaves the centroids as they are); a cell that loses
    all its points keeps its previous centre (scipy's warning about it is silenced). With
    fewer distinct points than ``k`` some centres repeat a point.
    """
    data = np.asarray(x, dtype=np.float64)
    if not 1 <= k <= data.shape[0]:
        raise UserError(f"k-means needs 1 ≤ k ≤ N, got k={k}, N={data.shape[0]}")
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.filterwarnings("ignore", "One of the clusters is empty", UserWarning)
        centres, _ = kmeans2(data, k, iter=n_iter, minit="++", rng=np.random.default_rng(seed))
    return centres


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
    real: Features,
    fake: Features,
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
    r, f = feature_matrix(real, "real features"), feature_matrix(fake, "generated features")
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


@dataclass(frozen=True)
class NDBSubsets:
    """NDB over random candidate subsets of one size: mean and std of count and fraction."""

    count: float
    count_std: float
    fraction: float
    fraction_std: float
    k: int
    subset_size: int
    n_subsets: int


def ndb_subsets(
    real: Features,
    fake: Features,
    centroids: np.ndarray,
    subset_size: int,
    n_subsets: int = 50,
    alpha: float = 0.05,
    seed: int = 0,
) -> NDBSubsets:
    """:func:`ndb` of ``n_subsets`` random candidate subsets of ``subset_size`` clips.

    NDB counts significant differences, so with more candidates the same small shift
    becomes significant in more cells. Scoring every candidate set on subsets of one size
    (drawn without replacement, seeded) makes sets of different sizes comparable; the mean
    over subsets is the value and the standard deviation its spread.
    """
    f = feature_matrix(fake, "generated features")
    if not 2 <= subset_size <= len(f):
        raise UserError(f"NDB subsets of {subset_size} clips from a set of {len(f)}")
    rng = np.random.default_rng(seed)
    runs = [
        ndb(
            real,
            f[rng.choice(len(f), subset_size, replace=False)],
            alpha=alpha,
            centroids=centroids,
        )
        for _ in range(n_subsets)
    ]
    counts = np.array([r.count for r in runs], dtype=np.float64)
    k = runs[0].k
    return NDBSubsets(
        float(counts.mean()),
        float(counts.std()),
        float(counts.mean() / k),
        float(counts.std() / k),
        k,
        int(subset_size),
        int(n_subsets),
    )
