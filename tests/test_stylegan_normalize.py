"""Training-image normalisation (SpecGAN-style per-pixel statistics) for StyleGAN: the
statistics against numpy, the generator undoing them in every output path (sampling,
checkpoints, TorchScript export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from grainbench.baselines.generators.stylegan.configs import get_config
from grainbench.baselines.generators.stylegan.export import DecodeModule, build_exportable
from grainbench.baselines.generators.stylegan.normalize import image_statistics, normalize_images
from grainbench.baselines.generators.stylegan.train import Trainer, load_generator, sample_images
from grainbench.errors import UserError


def _sparse_images(n: int = 32, seed: int = 0) -> torch.Tensor:
    """DCT-like images: mostly near zero, a few bright pixels whose spread differs by pixel."""
    g = torch.Generator().manual_seed(seed)
    x = 0.001 * torch.randn(n, 1, 16, 16, generator=g)
    x[:, 0, 2, 3] += 0.6 * torch.randn(n, generator=g)
    x[:, 0, 5, 9] += 0.2 + 0.1 * torch.randn(n, generator=g)
    return x


class _FlattenDecode:
    """The identity 'decoder': an image (B, 1, 16, 16) as a waveform (B, 1, 256)."""

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        return image.reshape(image.shape[0], 1, -1)


def test_statistics_match_numpy() -> None:
    x = _sparse_images()
    arr = x.double().numpy()
    mean, std = image_statistics(x, "per-pixel", floor=0.1)
    floor = 0.1 * arr.std(ddof=1)
    np.testing.assert_allclose(mean.numpy(), arr.mean(0), atol=1e-7)
    np.testing.assert_allclose(std.numpy(), np.maximum(arr.std(0, ddof=1), floor), rtol=1e-6)
    assert float(std.min()) == pytest.approx(floor, rel=1e-6)  # quiet pixels sit on the floor
    gm, gs = image_statistics(x, "global")
    np.testing.assert_allclose(gm.numpy(), np.full((1, 16, 16), arr.mean()), atol=1e-7)
    np.testing.assert_allclose(gs.numpy(), np.full((1, 16, 16), arr.std(ddof=1)), rtol=1e-6)
    zm, zs = image_statistics(x, "none")
    assert torch.equal(zm, torch.zeros(1, 16, 16)) and torch.equal(zs, torch.ones(1, 16, 16))
    with pytest.raises(UserError, match="per-pixel"):
        image_statistics(x, "per-bin")


def test_normalize_images_clips_outliers_only() -> None:
    x = torch.tensor([[[[0.0, 1.0, 10.0]]]])
    out = normalize_images(x, torch.zeros(1, 1, 3), torch.ones(1, 1, 3), clip=5.0)
    assert out.flatten().tolist() == [0.0, 1.0, 5.0]


def test_generator_undoes_the_normalisation_everywhere(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    x = _sparse_images()
    cfg = get_config("tiny", "stylegan2", normalize="per-pixel", batch=4, snapshot_kimg=0.004)
    t = Trainer(cfg, x, seed=0, out_dir=tmp_path, progress=False)
    mean, std = image_statistics(x, "per-pixel", cfg.normalize_floor)
    # the trainer shows D normalised reals: unit spread where the data has any
    assert float(t.images[:, 0, 2, 3].std()) == pytest.approx(1.0, rel=1e-4)
    t.train(0.008)
    G = t.G_ema
    torch.testing.assert_close(G.out_std, std)
    torch.testing.assert_close(G.out_mean, mean)
    z = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        raw = G(z, noise_mode="const", normalized=True)
        out = G(z, noise_mode="const")
    torch.testing.assert_close(out, raw * std + mean)
    # a quiet pixel stays quiet: its spread is the floor, far below the bright pixel's
    samples = sample_images(G, 16, seed=3)
    assert float(samples[:, 0, 0, 0].std()) < 0.2 * float(samples[:, 0, 2, 3].std())
    # checkpoints carry the statistics, and the exported module applies them
    G2, _ = load_generator(tmp_path)
    torch.testing.assert_close(G2.out_std, std)
    module, _ = build_exportable(tmp_path, DecodeModule(_FlattenDecode()))
    with torch.no_grad():
        want = G2(z, noise_mode="const").clamp(-1, 1).reshape(3, 1, -1)
        torch.testing.assert_close(module(z), want)
