"""Generators' ``project``: the closest output to given images (gmm, oracle, StyleGAN2/3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grainbench.baselines.generators.gmm import GMMGenerator
from grainbench.baselines.generators.oracle import NoiseOracle
from grainbench.baselines.generators.stylegan.checkpoint import build_networks
from grainbench.baselines.generators.stylegan.configs import get_config
from grainbench.baselines.generators.stylegan.generator import StyleGANGenerator
from grainbench.baselines.generators.stylegan.projection import project_images
from grainbench.errors import UserError
from grainbench.fitonce import FitOnce


def _low_rank_gaussian(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 1, 8, 8): a mean plus 5 Gaussian factors plus a little isotropic noise."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((5, 64)) * np.array([3.0, 2.0, 1.5, 1.0, 0.7])[:, None]
    mean = rng.standard_normal(64) * 0.1
    x = mean + rng.standard_normal((n, 5)) @ basis + 0.01 * rng.standard_normal((n, 64))
    return x.reshape(n, 1, 8, 8).astype(np.float32), mean


def test_gmm_projection_is_the_closed_form_pca_reconstruction() -> None:
    train, _ = _low_rank_gaussian(300, 0)
    test, _ = _low_rank_gaussian(20, 1)
    gen = GMMGenerator((1, 8, 8), n_components=5, n_mixtures=2)
    gen.fit(torch.from_numpy(train))
    got = gen.project(torch.from_numpy(test)).numpy().reshape(20, 64)
    # closed form: mean + V_k V_kᵀ (x − mean) with V_k the top right singular vectors
    flat = train.reshape(300, 64).astype(np.float64)
    mu = flat.mean(0)
    v = np.linalg.svd(flat - mu, full_matrices=False)[2][:5]
    want = mu + (test.reshape(20, 64) - mu) @ v.T @ v
    np.testing.assert_allclose(got, want, atol=2e-5)
    # an output of the generator is its own closest output
    samples = gen.sample(6, seed=3)
    np.testing.assert_allclose(gen.project(samples).numpy(), samples.numpy(), atol=1e-4)


def test_gmm_projection_errors() -> None:
    gen = GMMGenerator((1, 8, 8), n_components=2)
    with pytest.raises(UserError, match="fit before project"):
        gen.project(torch.zeros(1, 1, 8, 8))
    gen.fit(torch.randn(10, 1, 8, 8))
    with pytest.raises(UserError, match="expected"):
        gen.project(torch.zeros(1, 1, 4, 4))


def test_oracle_projection_is_the_image_plus_its_noise() -> None:
    oracle = NoiseOracle((1, 64, 64), psnr=30.0)
    images = torch.rand(8, 1, 64, 64) * 2 - 1
    a = oracle.project(images, seed=5)
    err = (a - images).double()
    psnr = 10 * math.log10(4.0 / float(err.pow(2).mean()))
    assert abs(psnr - 30.0) < 0.05
    assert abs(float(err.mean())) < 3e-3
    assert torch.equal(a, oracle.project(images, seed=5))
    assert not torch.equal(a, oracle.project(images, seed=6))


def _tiny_G(arch: str) -> torch.nn.Module:
    cfg = get_config("tiny", arch, (1, 16, 16))
    G, _ = build_networks(cfg, (1, 16, 16), 0, seed=0)
    # a non-trivial training normalisation, so that the loss space matters
    G.set_output_scale(torch.full((1, 16, 16), 0.1), torch.full((1, 16, 16), 0.5))
    return G.eval().requires_grad_(False)


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_stylegan_projection_lowers_the_error_and_is_seeded(arch: str, one_thread: None) -> None:
    G = _tiny_G(arch)
    with torch.no_grad():
        z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(9))
        targets = G(z, noise_mode="const") + 0.05 * torch.randn(3, 1, 16, 16)
    before = [p.detach().clone() for p in G.parameters()]
    p = project_images(G, targets, w_steps=12, wplus_steps=12, seed=1, batch=2)
    assert p.history.shape == (25, 3)
    assert bool((p.history[1:] <= p.history[:-1]).all())  # best so far never rises
    assert bool((p.history[-1] < p.history[0]).all())  # and ends strictly lower
    # the returned images are the best latents' images: their error is the last row
    mse = ((p.images - targets) / 0.5).double().square().flatten(1).mean(1)
    np.testing.assert_allclose(mse.numpy(), p.mse.numpy(), rtol=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters(), strict=True))
    again = project_images(G, targets, w_steps=12, wplus_steps=12, seed=1, batch=3)
    torch.testing.assert_close(again.images, p.images, rtol=1e-5, atol=1e-6)
    other = project_images(G, targets, w_steps=0, wplus_steps=1, seed=2)
    assert not torch.equal(other.history[0], p.history[0])  # the seed sets the start


def test_stylegan_generator_project_after_fit(one_thread: None) -> None:
    gen = StyleGANGenerator(
        (1, 16, 16),
        config="tiny",
        kimg=0.008,
        device="cpu",
        progress=False,
        project_w_steps=3,
        project_wplus_steps=3,
    )
    with pytest.raises(UserError, match="before project"):
        gen.project(torch.zeros(1, 1, 16, 16))
    images = torch.rand(8, 1, 16, 16) * 2 - 1
    gen.fit(images)
    out = gen.project(images[:2], seed=0)
    assert out.shape == (2, 1, 16, 16) and bool(torch.isfinite(out).all())
    assert gen.describe()["project"] == {"w_steps": 3, "wplus_steps": 3, "lr": 0.01}
    with pytest.raises(UserError, match="project_"):
        StyleGANGenerator((1, 16, 16), config="tiny", project_lr=0)


class _Counting:
    """A generator that counts its fits."""

    def __init__(self) -> None:
        self.fits = 0

    def fit(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        self.fits += 1

    def sample(self, n: int, labels: object = None, seed: int = 0) -> torch.Tensor:
        return torch.zeros(n, 1, 2, 2)


def test_fit_once_fits_again_only_for_other_images() -> None:
    inner = _Counting()
    gen = FitOnce(inner)
    x = torch.randn(4, 1, 2, 2)
    assert gen.fit_once(x, None) and inner.fits == 1
    assert not gen.fit_once(x.clone(), None) and inner.fits == 1
    assert gen.fit_once(x, torch.arange(4)) and inner.fits == 2  # other labels
    assert not gen.fit_once(x, torch.arange(4)) and inner.fits == 2
    gen.fit(x, torch.arange(4))  # a plain fit always fits (timings rely on it)
    assert inner.fits == 3
    assert gen.fit_once(x[:2] + 1, None) and inner.fits == 4
    assert gen.sample(2).shape == (2, 1, 2, 2)  # everything else is the generator's
