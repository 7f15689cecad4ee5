"""A Gaussian mixture over the training set's z, its number of components chosen by BIC.

The mixture is :class:`grainbench.baselines.generators.gmm.GaussianMixture` (our own EM,
NumPy, seeded k-means++ start, full covariances with a small ridge). For K = 1 …
``max_components`` a mixture is fitted and its Bayesian information criterion
BIC = −2·ln L + p·ln N (p free parameters, N points) computed; the K with the lowest BIC wins
(Schwarz 1978): the likelihood must rise by more than ½·ln N per added parameter.
"""

from __future__ import annotations

import numpy as np

from grainbench.baselines.generators.gmm import GaussianMixture
from grainbench.errors import UserError


def fit_by_bic(
    x: np.ndarray,
    max_components: int = 10,
    covariance: str = "full",
    seed: int = 0,
) -> tuple[GaussianMixture, dict[int, float]]:
    """The lowest-BIC mixture over points ``(N, d)`` and the BIC of every K tried.

    K runs up to ``max_components`` but never past N/2 (at least two points a component).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise UserError(f"the latent mixture needs at least two points (N, d), got {x.shape}")
    top = max(1, min(int(max_components), x.shape[0] // 2))
    best: GaussianMixture | None = None
    table: dict[int, float] = {}
    for k in range(1, top + 1):
        gmm = GaussianMixture(k, covariance, n_iter=200, seed=seed).fit(x)
        table[k] = gmm.bic(x)
        if best is None or table[k] < table[best.n_mixtures]:
            best = gmm
    assert best is not None
    return best, table
