"""PCA + Gaussian mixture generator: the "GMM over latents" baseline (fits in seconds on CPU).

Training images are flattened, centred and projected on their first ``n_components``
principal axes (our own PCA, from the eigenvectors of the smaller Gram matrix); a Gaussian mixture with ``n_mixtures`` components
(full or diagonal covariance) is fitted to the coefficients by EM, and samples are drawn
from the mixture and mapped back through the principal axes. With labels, one mixture is
fitted per label on the shared PCA, and ``sample`` draws each clip from its label's mixture.
The PCA discards the variance outside the kept axes, so samples are smoother than the data.
``project`` gives the generator's closest output to given images: their PCA reconstruction
(see :meth:`GMMGenerator.project`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from grainbench.errors import UserError
from grainbench.metrics.ndb import kmeans


class GaussianMixture:
    """A Gaussian mixture fitted by EM (NumPy, float64, seeded k-means++ start).

    ``covariance`` is ``"full"`` or ``"diag"``; ``reg`` is added to every variance as a share
    of the data's mean variance, which keeps components with few points well-conditioned.
    """

    def __init__(
        self,
        n_mixtures: int = 8,
        covariance: str = "full",
        n_iter: int = 100,
        tol: float = 1e-4,
        reg: float = 1e-3,
        seed: int = 0,
    ) -> None:
        if covariance not in ("full", "diag"):
            raise UserError(f"GMM covariance must be 'full' or 'diag', not {covariance!r}")
        if n_mixtures < 1:
            raise UserError(f"GMM needs at least one mixture component, got {n_mixtures}")
        self.n_mixtures = int(n_mixtures)
        self.covariance = covariance
        self.n_iter = int(n_iter)
        self.tol = float(tol)
        self.reg = float(reg)
        self.seed = int(seed)
        self.weights = np.ones(1)
        self.means = np.zeros((1, 1))
        self.covs = np.ones((1, 1, 1))
        self.log_likelihood = -np.inf
        self.n_steps = 0

    def _log_prob(self, x: np.ndarray) -> np.ndarray:
        """log(w_k · N(x | μ_k, Σ_k)) for every point and component ``(N, K)``."""
        d = x.shape[1]
        out = np.empty((x.shape[0], len(self.weights)))
        for k in range(len(self.weights)):
            chol = np.linalg.cholesky(self.covs[k])
            z = np.linalg.solve(chol, (x - self.means[k]).T)
            log_det = 2.0 * np.log(np.diag(chol)).sum()
            out[:, k] = (
                np.log(self.weights[k])
                - 0.5 * (z**2).sum(0)
                - 0.5 * log_det
                - 0.5 * d * math.log(2 * math.pi)
            )
        return out

    def _m_step(self, x: np.ndarray, resp: np.ndarray, floor: float) -> None:
        """Weights, means and (regularised) covariances from responsibilities ``(N, K)``."""
        counts = resp.sum(0) + 1e-12
        self.weights = counts / counts.sum()
        self.means = (resp.T @ x) / counts[:, None]
        d = x.shape[1]
        covs = np.empty((resp.shape[1], d, d))
        for k in range(resp.shape[1]):
            diff = x - self.means[k]
            if self.covariance == "full":
                covs[k] = (resp[:, k, None] * diff).T @ diff / counts[k]
            else:
                covs[k] = np.diag((resp[:, k, None] * diff**2).sum(0) / counts[k])
            covs[k] += floor * np.eye(d)
        self.covs = covs

    def fit(self, x: np.ndarray) -> GaussianMixture:
        """Fit to points ``(N, d)``: k-means++ hard start, then EM until the mean
        log-likelihood gains less than ``tol`` (or ``n_iter`` steps)."""
        x = np.asarray(x, dtype=np.float64)
        k = min(self.n_mixtures, x.shape[0])
        floor = self.reg * float(x.var(0).mean()) + 1e-12
        centres = kmeans(x, k, seed=self.seed)
        hard = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        resp = np.eye(k)[hard]
        self._m_step(x, resp, floor)
        previous = -np.inf
        for step in range(1, self.n_iter + 1):
            log_p = self._log_prob(x)
            top = log_p.max(1, keepdims=True)
            norm = top + np.log(np.exp(log_p - top).sum(1, keepdims=True))
            self.log_likelihood = float(norm.mean())
            self.n_steps = step
            if self.log_likelihood - previous < self.tol:
                break
            previous = self.log_likelihood
            self._m_step(x, np.exp(log_p - norm), floor)
        return self

    def score(self, x: np.ndarray) -> float:
        """Mean log-likelihood of points ``(N, d)`` under the fitted mixture (nats)."""
        log_p = self._log_prob(np.asarray(x, dtype=np.float64))
        top = log_p.max(1, keepdims=True)
        return float((top[:, 0] + np.log(np.exp(log_p - top).sum(1))).mean())

    def n_parameters(self) -> int:
        """Free parameters: K − 1 weights, K·d means and K covariances (d(d+1)/2 or d each)."""
        k, d = self.means.shape
        per_cov = d * (d + 1) // 2 if self.covariance == "full" else d
        return (k - 1) + k * d + k * per_cov

    def bic(self, x: np.ndarray) -> float:
        """Bayesian information criterion on ``x (N, d)``: −2·N·score + p·ln N (lower is better)."""
        n = np.asarray(x).shape[0]
        return -2.0 * n * self.score(x) + self.n_parameters() * math.log(n)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points ``(n, d)`` drawn with ``rng``."""
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        eps = rng.standard_normal((n, self.means.shape[1]))
        out = np.empty_like(eps)
        for k in np.unique(comp):
            sel = comp == k
            out[sel] = self.means[k] + eps[sel] @ np.linalg.cholesky(self.covs[k]).T
        return out


def principal_axes(centred: torch.Tensor, k: int) -> torch.Tensor:
    """The first ``k`` principal axes ``(k, D)`` (unit rows) of centred data ``(N, D)``.

    The eigenvectors of the smaller of the two Gram matrices: for N ≤ D the N × N matrix
    X Xᵀ, whose eigenvectors u map to axes Xᵀu/√λ (the right singular vectors of X); else
    the D × D matrix XᵀX. Axes with zero variance are dropped, so fewer than ``k`` may return.
    """
    n, d = centred.shape
    small = centred @ centred.T if n <= d else centred.T @ centred
    vals, vecs = torch.linalg.eigh(small.double())
    order = torch.argsort(vals, descending=True)[:k]
    vals, vecs = vals[order], vecs[:, order]
    keep = vals > vals[0] * 1e-10
    vals, vecs = vals[keep], vecs[:, keep]
    if n > d:
        return vecs.T.float().contiguous()
    axes = (vecs.T.float() @ centred) / vals.sqrt().float()[:, None]
    return axes / axes.norm(dim=1, keepdim=True)


class GMMGenerator:
    """PCA to ``n_components`` coefficients + a Gaussian mixture (one per label when given).

    Options: ``n_components`` (64), ``n_mixtures`` (8), ``covariance`` ("full" or "diag"),
    ``n_iter`` (100), ``seed`` (0: the EM start; ``sample`` takes its own seed).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        n_components: int = 64,
        n_mixtures: int = 8,
        covariance: str = "full",
        n_iter: int = 100,
        seed: int = 0,
    ) -> None:
        self.image_shape = tuple(int(s) for s in image_shape)
        self.n_components = int(n_components)
        if self.n_components < 1:
            raise UserError(f"gmm: n_components must be at least 1, got {n_components}")
        self.n_mixtures = int(n_mixtures)
        self.covariance = str(covariance)
        self.n_iter = int(n_iter)
        self.seed = int(seed)
        GaussianMixture(self.n_mixtures, self.covariance)  # check the options now
        self.mean: torch.Tensor | None = None
        self.components = torch.zeros(0)
        self.mixtures: dict[int, GaussianMixture] = {}
        self.label_share: dict[int, float] = {}

    def fit(self, images: torch.Tensor, labels: Any = None) -> None:
        """Fit the PCA on all images ``(N, C, H, W)`` and a mixture per label (or one)."""
        x = torch.as_tensor(images).detach().float().cpu().flatten(1)
        if tuple(images.shape[1:]) != self.image_shape:
            raise UserError(
                f"gmm: images of shape {tuple(images.shape[1:])}, expected {self.image_shape}"
            )
        if x.shape[0] < 2:
            raise UserError("gmm: fitting needs at least two training images")
        self.mean = x.mean(0)
        centred = x - self.mean
        self.components = principal_axes(centred, self.n_components)
        coeffs = (centred @ self.components.T).double().numpy()
        groups = self._groups(labels, x.shape[0])
        self.mixtures, self.label_share = {}, {}
        for label, idx in groups.items():
            gmm = GaussianMixture(
                min(self.n_mixtures, max(1, len(idx) // 2)),
                self.covariance,
                self.n_iter,
                seed=self.seed,
            )
            self.mixtures[label] = gmm.fit(coeffs[idx])
            self.label_share[label] = len(idx) / x.shape[0]

    @staticmethod
    def _groups(labels: Any, n: int) -> dict[int, np.ndarray]:
        """Indices per label; everything under -1 when there are no labels."""
        if labels is None:
            return {-1: np.arange(n)}
        lab = np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64).ravel()
        if lab.shape != (n,):
            raise UserError(f"gmm: {lab.size} labels for {n} images")
        return {int(v): np.flatnonzero(lab == v) for v in np.unique(lab)}

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` images ``(n, C, H, W)``; with labels, each drawn from its label's mixture.

        Without labels, labels are drawn in their training proportions; a generator fitted
        without labels ignores the labels it is given.
        """
        if self.mean is None:
            raise UserError("gmm: call fit before sample")
        rng = np.random.default_rng(seed)
        keys = np.array(sorted(self.mixtures))
        if labels is None:
            share = np.array([self.label_share[k] for k in keys])
            lab = rng.choice(keys, size=n, p=share / share.sum())
        else:
            lab = np.asarray(torch.as_tensor(labels).cpu()).astype(np.int64).ravel()
            if lab.shape != (n,):
                raise UserError(f"gmm: {lab.size} labels for {n} samples")
            if keys.tolist() == [-1]:
                lab = np.full(n, -1)
            missing = sorted(set(lab.tolist()) - set(keys.tolist()))
            if missing:
                raise UserError(f"gmm: no training images with label(s) {missing}")
        coeffs = np.empty((n, self.components.shape[0]))
        for key in np.unique(lab):
            sel = lab == key
            coeffs[sel] = self.mixtures[int(key)].sample(int(sel.sum()), rng)
        flat = torch.from_numpy(coeffs).float() @ self.components + self.mean
        return flat.reshape(n, *self.image_shape)

    def project(self, images: torch.Tensor, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """The generator's closest output to each image ``(N, C, H, W)``: its PCA reconstruction.

        Every output of the generator lies in the affine subspace ``mean + span(axes)``, and
        every point of that subspace is an output (each mixture component's covariance is
        regularised to full rank over the coefficients). The closest output in the
        Euclidean (pixel-MSE) sense is therefore the orthogonal projection onto it,
        ``mean + Aᵀ A (x − mean)`` with ``A`` the orthonormal axes ``(k, D)``, whatever the
        label (the PCA is shared); the mixture only weighs which outputs are likely, not
        which is nearest. ``labels`` and ``seed`` are accepted for the protocol and unused.
        Computed in float64, returned as float32.
        """
        del labels, seed
        if self.mean is None:
            raise UserError("gmm: call fit before project")
        x = torch.as_tensor(images).detach().cpu()
        if tuple(x.shape[1:]) != self.image_shape:
            raise UserError(
                f"gmm: images of shape {tuple(x.shape[1:])}, expected {self.image_shape}"
            )
        axes = self.components.double()
        centred = x.flatten(1).double() - self.mean.double()
        rec = (centred @ axes.T) @ axes + self.mean.double()
        return rec.float().reshape(x.shape)


def factory(image_shape: tuple[int, ...], **options: Any) -> GMMGenerator:
    """``GENERATORS`` factory: ``GMMGenerator(image_shape, **options)`` with checked options."""
    allowed = {"n_components", "n_mixtures", "covariance", "n_iter", "seed"}
    extra = set(options) - allowed
    if extra:
        raise UserError(
            f"gmm has no option(s) {', '.join(sorted(extra))}; it has: {', '.join(sorted(allowed))}"
        )
    try:
        return GMMGenerator(image_shape, **options)
    except (TypeError, ValueError) as exc:
        raise UserError(f"gmm: bad option: {exc}") from None
