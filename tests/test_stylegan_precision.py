"""Mixed precision and activation clamping (stylegan2-ada's ``num_fp16_res`` / ``conv_clamp``):
the float16 blocks really compute in float16 and agree with float32, the clamp bounds every
activation, ``auto`` keeps CPU in float32, the Ki configs switch both on, and a training
step in float16 stays finite."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from grainbench.baselines.generators.stylegan.configs import (
    build_discriminator,
    build_generator,
    get_config,
)
from grainbench.baselines.generators.stylegan.discriminator import DConv
from grainbench.baselines.generators.stylegan.layers import (
    block_dtype,
    modulated_conv2d,
    set_precision,
)
from grainbench.baselines.generators.stylegan.stylegan2 import SynthesisLayer, ToRGB
from grainbench.baselines.generators.stylegan.stylegan3 import AliasFreeLayer
from grainbench.baselines.generators.stylegan.train import Trainer

SHAPE = (1, 32, 32)


pytestmark = pytest.mark.usefixtures("one_thread")


def _nets(arch: str, **overrides):
    cfg = get_config("tiny", arch, channel_max=16, **overrides)
    torch.manual_seed(0)
    return cfg, build_generator(cfg, SHAPE), build_discriminator(cfg, SHAPE)


def _record_dtypes(module: nn.Module, kinds: tuple[type, ...]) -> tuple[list, list]:
    """Input dtypes and outputs of every submodule of one of ``kinds`` (via forward hooks)."""
    dtypes: list[torch.dtype] = []
    outputs: list[torch.Tensor] = []

    def hook(_m, args, out):
        dtypes.append(args[0].dtype)
        outputs.append(out.detach())

    for m in module.modules():
        if isinstance(m, kinds):
            m.register_forward_hook(hook)
    return dtypes, outputs


def test_block_dtype_rules() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert block_dtype(True, "auto", cpu) == torch.float32
    assert block_dtype(True, "auto", cuda) == torch.float16
    assert block_dtype(True, "fp16", cpu) == torch.float16
    assert block_dtype(True, "fp32", cuda) == torch.float32
    assert block_dtype(False, "fp16", cuda) == torch.float32
    with pytest.raises(ValueError, match="precision"):
        set_precision(nn.Linear(1, 1), "bf16")


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_fp16_blocks_compute_in_half_and_match_fp32(arch: str) -> None:
    _, G, D = _nets(arch, fp16_blocks=2, conv_clamp=256.0)
    kinds = (SynthesisLayer,) if arch == "stylegan2" else (AliasFreeLayer,)
    dtypes, _ = _record_dtypes(G, kinds)
    z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(1))
    img = torch.rand(4, *SHAPE, generator=torch.Generator().manual_seed(2)) * 2 - 1

    set_precision(G, "fp32")
    set_precision(D, "fp32")
    with torch.no_grad():
        ref = G(z, noise_mode="const")
        ref_logits = D(img)
    assert set(dtypes) == {torch.float32}

    dtypes.clear()
    set_precision(G, "fp16")
    set_precision(D, "fp16")
    with torch.no_grad():
        half = G(z, noise_mode="const")
        logits = D(img)
    # the highest-resolution layers ran in float16, the rest in float32
    assert torch.float16 in dtypes and torch.float32 in dtypes
    assert half.dtype == torch.float32 and logits.dtype == torch.float32
    scale = float(ref.abs().max())
    assert float((half - ref).abs().max()) < 2e-2 * scale
    assert float((logits - ref_logits).abs().max()) < 2e-2 * max(1.0, float(ref_logits.abs().max()))


def test_auto_precision_keeps_cpu_in_float32() -> None:
    _, G, D = _nets("stylegan2", fp16_blocks=4)
    dtypes, _ = _record_dtypes(G, (SynthesisLayer,))
    d_dtypes, _ = _record_dtypes(D, (DConv,))
    D(G(torch.randn(2, G.z_dim)))
    assert set(dtypes) == {torch.float32} and set(d_dtypes) == {torch.float32}


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_conv_clamp_bounds_every_activation(arch: str) -> None:
    limit = 0.05
    _, G, D = _nets(arch, conv_clamp=limit)
    kinds = (SynthesisLayer, ToRGB) if arch == "stylegan2" else (AliasFreeLayer,)
    _, outputs = _record_dtypes(G, kinds)
    _, d_outputs = _record_dtypes(D, (DConv,))
    img = G(torch.randn(3, G.z_dim))
    D(img)
    assert outputs and d_outputs
    # StyleGAN3 clamps after the nonlinearity, before the decimating low-pass: its output
    # can exceed the clamp by at most the filter's gain on a ±1 sequence (its L1 norm)
    bound = limit
    for m in G.modules():
        if isinstance(m, AliasFreeLayer):
            gain = float(m.down_filter_y.abs().sum() * m.down_filter_x.abs().sum())
            bound = max(bound, limit * gain)
    assert max(float(o.abs().max()) for o in outputs) <= bound + 1e-6
    assert max(float(o.abs().max()) for o in d_outputs) <= limit + 1e-7
    # with a clamp nothing reaches, the networks are unchanged
    _, G_free, D_free = _nets(arch)
    _, G_wide, D_wide = _nets(arch, conv_clamp=1e9)
    z = torch.randn(3, G_free.z_dim, generator=torch.Generator().manual_seed(5))
    assert torch.equal(G_free(z, noise_mode="const"), G_wide(z, noise_mode="const"))
    assert torch.equal(D_free(img.detach()), D_wide(img.detach()))


def test_half_modulated_conv_does_not_overflow_with_large_styles() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 6, 6, generator=g)
    weight = torch.randn(4, 8, 3, 3, generator=g) * 300.0
    styles = torch.randn(2, 8, generator=g) * 1e3  # w·s·x ~ 1e6: beyond float16's 65,504
    ref = modulated_conv2d(x, weight, styles, padding=(1, 1))
    for fused in (False, True):
        half = modulated_conv2d(x.half(), weight, styles, padding=(1, 1), fused=fused)
        assert half.dtype == torch.float16 and torch.isfinite(half).all()
        torch.testing.assert_close(half.float(), ref, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_training_steps_in_fp16_stay_finite(arch: str) -> None:
    cfg = get_config("tiny", arch, batch=4, r1_interval=1, fp16_blocks=2, conv_clamp=256.0)
    images = torch.tanh(torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    trainer = Trainer(cfg, images, seed=0, progress=False)
    for net in (trainer.G, trainer.D, trainer.G_ema):
        set_precision(net, "fp16")
    for _ in range(3):
        stats = trainer.train_step()
        for key in ("loss_G", "loss_D", "D_real", "D_fake", "r1"):
            assert torch.isfinite(torch.tensor(stats[key])), stats
    for p in list(trainer.G.parameters()) + list(trainer.D.parameters()):
        assert p.dtype == torch.float32 and torch.isfinite(p).all()


def test_ki_configs_use_fp16_and_clamp_like_stylegan2_ada() -> None:
    for name, arch in (("ki", "stylegan2"), ("ki-sg3", "stylegan3")):
        cfg = get_config(name, arch)
        assert (cfg.fp16_blocks, cfg.conv_clamp) == (4, 256.0)
    for name in ("tiny", "cpu"):
        assert get_config(name, "stylegan2").fp16_blocks == 0


@pytest.mark.gpu
def test_auto_precision_uses_fp16_on_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    _, G, _ = _nets("stylegan2", fp16_blocks=2, conv_clamp=256.0)
    G = G.cuda()
    dtypes, _ = _record_dtypes(G, (SynthesisLayer,))
    img = G(torch.randn(2, G.z_dim, device="cuda"))
    assert torch.float16 in dtypes and img.dtype == torch.float32
