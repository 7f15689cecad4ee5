"""Training-image normalisation (SpecGAN-style per-pixel statistics) for StyleGAN: the
statistics against numpy, the generator undoing them in every output path (sampling,
checkpoints, TorchScript export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from grainbench.baselines.generators.stylegan.checkpoint import load_generator
from grainbench.baselines.generators.stylegan.configs import build_generator, get_config
from grainbench.baselines.generators.stylegan.export import DecodeModule, build_exportable
from grainbench.baselines.generators.stylegan.normalize import image_statistics, normalize_images
from grainbench.baselines.generators.stylegan.train import Trainer, sample_images
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


def test_median_centring_puts_quiet_values_at_zero() -> None:
    x = _sparse_images(n=31)
    x[:20, 0, 7, 7] = 0.0  # quiet in most images, loud in a few
    x[20:, 0, 7, 7] = 0.5 + 0.1 * torch.arange(11.0)
    arr = x.double().numpy()
    centre, std = image_statistics(x, "per-pixel-median", floor=0.1)
    np.testing.assert_allclose(centre.numpy(), np.median(arr, 0), atol=1e-7)  # odd count
    _, std_mean = image_statistics(x, "per-pixel", floor=0.1)
    torch.testing.assert_close(std, std_mean)  # same spread, only the centre moves
    z_median = normalize_images(x, centre, std, clip=None)
    z_mean = normalize_images(x, *image_statistics(x, "per-pixel"), clip=None)
    assert torch.all(z_median[:20, 0, 7, 7] == 0)
    assert float(z_mean[:20, 0, 7, 7].abs().min()) > 0.5  # the mean sits between the modes
    # an even count takes the lower of the two middle values (torch.median)
    lower = np.sort(arr[:30], 0)[14]
    np.testing.assert_allclose(image_statistics(x[:30], "per-pixel-median")[0].numpy(), lower)


def test_output_shrink_soft_thresholds_in_normalised_units(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    x = _sparse_images()
    cfg = get_config(
        "tiny",
        "stylegan2",
        normalize="per-pixel-median",
        output_shrink=0.5,
        batch=4,
        snapshot_kimg=0.004,
    )
    t = Trainer(cfg, x, seed=0, out_dir=tmp_path, progress=False)
    t.train(0.008)
    G = t.G_ema
    assert G.output_shrink == 0.5
    z = torch.randn(8, G.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        G.output_shrink = 0.0
        bare = G(z, noise_mode="const", normalized=True)
        G.output_shrink = 0.5
        shrunk = G(z, noise_mode="const", normalized=True)
        out = G(z, noise_mode="const")
    ref = np.sign(bare.numpy()) * np.maximum(np.abs(bare.numpy()) - 0.5, 0.0)
    np.testing.assert_allclose(shrunk.numpy(), ref, atol=1e-6)
    inside = bare.abs() <= 0.5
    assert 0 < float(inside.float().mean()) < 1
    # silence in normalised units is the pixel's median in the image's own units
    torch.testing.assert_close(out[inside], G.out_mean.expand_as(out)[inside])
    # the checkpoint's config rebuilds the shrink, and the exported module applies it
    G2, _ = load_generator(tmp_path)
    assert G2.output_shrink == 0.5
    module, _ = build_exportable(tmp_path, DecodeModule(_FlattenDecode()))
    with torch.no_grad():
        want = G2(z, noise_mode="const").clamp(-1, 1).reshape(8, 1, -1)
        torch.testing.assert_close(module(z), want)
    with pytest.raises(UserError, match="output_shrink"):
        build_generator(get_config("tiny", "stylegan2", output_shrink=-1.0), (1, 16, 16))


def test_every_named_config_has_a_setting_and_a_default_length() -> None:
    from grainbench.baselines.generators.stylegan.configs import CLIP_SETTING, CONFIGS
    from grainbench.baselines.generators.stylegan.generator import DEFAULT_KIMG

    assert set(CLIP_SETTING) == set(CONFIGS)
    for name in CONFIGS:
        for arch in ("stylegan2", "stylegan3"):
            try:
                cfg = get_config(name, arch)
            except UserError:  # the Ki configs are one architecture each
                continue
            assert cfg.name == name and (name, arch) in DEFAULT_KIMG
    sparse, dense = get_config("cpu-sparse"), get_config("cpu")
    assert (sparse.normalize, sparse.output_shrink) == ("per-pixel-median", 1.0)
    assert (sparse.lr_g, sparse.lr_d) == (0.0005, 0.0001)
    # everything else is the cpu config's
    differ = {k for k, v in sparse.to_dict().items() if dense.to_dict()[k] != v}
    assert differ == {"name", "normalize", "output_shrink", "lr_g", "lr_d"}
    assert dense.output_shrink == 0.0
