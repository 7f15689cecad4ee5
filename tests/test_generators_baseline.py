"""Baseline generators: PCA + GMM and the noise oracle, against known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from grainbench.baselines.generators.gmm import GaussianMixture, GMMGenerator, principal_axes
from grainbench.baselines.generators.oracle import NoiseOracle, noise_std
from grainbench.errors import UserError
from grainbench.plugins import load_generator
from grainbench.registries import GENERATORS

SHAPE = (1, 16, 16)


@pytest.mark.parametrize(("n", "d"), [(40, 30), (30, 40)])
def test_principal_axes_match_numpy_svd(n: int, d: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)) @ np.diag(np.linspace(3, 0.1, d))
    x -= x.mean(0)
    axes = principal_axes(torch.from_numpy(x).float(), 5).double().numpy()
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    assert axes.shape == (5, d)
    assert np.abs(np.abs((axes * vt[:5]).sum(1)) - 1).max() < 1e-4  # same axes up to sign


def test_principal_axes_drop_empty_directions() -> None:
    x = torch.zeros(10, 6)
    x[:, 0] = torch.arange(10.0) - 4.5
    assert principal_axes(x, 4).shape == (1, 6)


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = np.array([[-5.0, 0.0], [5.0, 2.0]])
    cov_b = np.array([[1.0, 0.6], [0.6, 0.8]])
    x = np.concatenate(
        [rng.normal(size=(600, 2)) * 0.5 + means[0], rng.multivariate_normal(means[1], cov_b, 1400)]
    )
    return x, means, cov_b


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_gaussian_mixture_recovers_two_blobs(covariance: str) -> None:
    x, means, cov_b = _blobs()
    gmm = GaussianMixture(2, covariance, reg=1e-6, seed=0).fit(x)
    order = np.argsort(gmm.means[:, 0])
    assert gmm.means[order] == pytest.approx(means, abs=0.1)
    assert gmm.weights[order] == pytest.approx([0.3, 0.7], abs=0.02)
    expected_b = cov_b if covariance == "full" else np.diag(np.diag(cov_b))
    assert gmm.covs[order[1]] == pytest.approx(expected_b, abs=0.1)


def test_gaussian_mixture_log_likelihood_matches_scipy() -> None:
    x, _, _ = _blobs(1)
    gmm = GaussianMixture(2, "full", seed=0).fit(x)
    density = sum(
        w * scipy.stats.multivariate_normal(m, c).pdf(x)
        for w, m, c in zip(gmm.weights, gmm.means, gmm.covs, strict=True)
    )
    assert gmm.log_likelihood == pytest.approx(np.log(density).mean(), abs=1e-3)
    assert gmm.n_steps < 100


def test_gaussian_mixture_samples_follow_the_model() -> None:
    x, means, _ = _blobs(2)
    gmm = GaussianMixture(2, "full", seed=0).fit(x)
    s = gmm.sample(20000, np.random.default_rng(0))
    assert s.mean(0) == pytest.approx(x.mean(0), abs=0.1)
    assert np.cov(s, rowvar=False) == pytest.approx(np.cov(x, rowvar=False), abs=0.3)


def test_gaussian_mixture_options_are_checked() -> None:
    with pytest.raises(UserError):
        GaussianMixture(2, "spherical")
    with pytest.raises(UserError):
        GaussianMixture(0)


def _images(n: int, seed: int = 0) -> torch.Tensor:
    """Images on a 3-dimensional subspace plus small noise."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(3, int(np.prod(SHAPE)), generator=g) * 0.2
    coeffs = torch.randn(n, 3, generator=g)
    return (coeffs @ basis + 0.01 * torch.randn(n, basis.shape[1], generator=g)).reshape(n, *SHAPE)


def test_gmm_generator_samples_are_seeded_and_like_the_data() -> None:
    images = _images(200)
    gen = GMMGenerator(SHAPE, n_components=8, n_mixtures=2)
    gen.fit(images)
    a, b = gen.sample(500, seed=1), gen.sample(500, seed=1)
    assert a.shape == (500, *SHAPE) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, gen.sample(500, seed=2))
    flat_a, flat_x = a.flatten(1).double(), images.flatten(1).double()
    assert torch.allclose(flat_a.mean(0), flat_x.mean(0), atol=0.12)  # ≈ 4 standard errors
    assert flat_a.var(0).sum() == pytest.approx(float(flat_x.var(0).sum()), rel=0.15)


def test_gmm_generator_is_conditional_on_labels() -> None:
    images = torch.cat([_images(60, seed=1) + 0.5, _images(60, seed=2) - 0.5])
    labels = torch.tensor([40] * 60 + [60] * 60)
    gen = GMMGenerator(SHAPE, n_components=6, n_mixtures=2)
    gen.fit(images, labels)
    out = gen.sample(4, labels=torch.tensor([40, 60, 40, 60]), seed=0)
    means = out.flatten(1).mean(1)
    assert (means[[0, 2]] > 0.3).all() and (means[[1, 3]] < -0.3).all()
    with pytest.raises(UserError, match="label"):
        gen.sample(1, labels=torch.tensor([50]))
    unlabelled = gen.sample(400, seed=0).flatten(1).mean(1)
    assert 0.35 < float((unlabelled > 0).double().mean()) < 0.65  # labels in training shares


def test_gmm_generator_errors() -> None:
    gen = GMMGenerator(SHAPE)
    with pytest.raises(UserError, match="fit"):
        gen.sample(2)
    with pytest.raises(UserError):
        gen.fit(torch.zeros(5, 1, 8, 8))
    with pytest.raises(UserError):
        GMMGenerator(SHAPE, n_components=0)


def test_oracle_noise_has_the_requested_psnr() -> None:
    images = torch.rand(50, 1, 64, 64) * 2 - 1
    for psnr in (20.0, 40.0):
        oracle = NoiseOracle((1, 64, 64), psnr=psnr)
        oracle.fit(images)
        out = oracle.sample(50, seed=0)
        # Without replacement, 50 of 50 is a permutation: match each sample to its source.
        err = out[:, None] - images[None]
        source = err.flatten(2).pow(2).mean(2).argmin(1)
        assert sorted(source.tolist()) == list(range(50))
        mse = float((out - images[source]).pow(2).mean())
        assert 10 * np.log10(4.0 / mse) == pytest.approx(psnr, abs=0.05)
    assert noise_std(20.0) == pytest.approx(0.2)


def test_oracle_is_seeded_and_respects_labels() -> None:
    images = torch.cat([torch.full((3, *SHAPE), 0.5), torch.full((3, *SHAPE), -0.5)])
    oracle = NoiseOracle(SHAPE, psnr=60)
    oracle.fit(images, torch.tensor([1, 1, 1, 2, 2, 2]))
    a = oracle.sample(8, labels=torch.tensor([2, 1, 2, 1, 2, 1, 2, 1]), seed=3)
    assert torch.equal(a, oracle.sample(8, labels=torch.tensor([2, 1, 2, 1, 2, 1, 2, 1]), seed=3))
    assert (a.flatten(1).mean(1).sign() == torch.tensor([-1.0, 1.0] * 4)).all()
    with pytest.raises(UserError):
        oracle.sample(1, labels=torch.tensor([7]))
    with pytest.raises(UserError):
        NoiseOracle(SHAPE).sample(1)
    with pytest.raises(UserError):
        NoiseOracle(SHAPE, psnr="loud")


def test_registered_and_loadable_by_name() -> None:
    assert "gmm" in GENERATORS and "oracle" in GENERATORS
    gen = load_generator("oracle", SHAPE, psnr=30)
    assert isinstance(gen.plugin, NoiseOracle) and gen.plugin.psnr == 30.0
    gmm = load_generator("gmm", SHAPE, n_components=4, covariance="diag")
    assert isinstance(gmm.plugin, GMMGenerator) and gmm.plugin.n_components == 4
    with pytest.raises(UserError, match="no option"):
        load_generator("oracle", SHAPE, sigma=1)
    with pytest.raises(UserError, match="no option"):
        load_generator("gmm", SHAPE, layers=3)
    with pytest.raises(UserError):
        load_generator("gmm", SHAPE, covariance="tied")
