"""StyleGAN building blocks against independent references: schedules, modulated convolution,
resampling, Kaiser filters, network shapes, StyleGAN3 equivariance, augmentation and losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from grainbench.baselines.generators.stylegan.augment import (
    OPS_BY_KIND,
    AdaController,
    AudioAugment,
    parse_ops,
)
from grainbench.baselines.generators.stylegan.configs import (
    build_discriminator,
    build_generator,
    get_config,
)
from grainbench.baselines.generators.stylegan.discriminator import minibatch_stddev
from grainbench.baselines.generators.stylegan.layers import (
    centred_pads,
    design_lowpass,
    modulated_conv2d,
    upfirdn2d,
)
from grainbench.baselines.generators.stylegan.loss import (
    discriminator_loss,
    generator_loss,
    lazy_adam_params,
    r1_loss,
    r1_penalty,
)
from grainbench.baselines.generators.stylegan.schedule import growth_schedule
from grainbench.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize(
    "h, w, n_blocks, start",
    [
        (256, 256, 7, (4, 4)),
        (64, 1024, 9, (4, 4)),
        (128, 1024, 9, (4, 4)),
        (2, 131072, 16, (2, 4)),
        (1, 64, 5, (1, 4)),
    ],
)
def test_growth_schedule_doubles_one_or_both_axes(
    h: int, w: int, n_blocks: int, start: tuple[int, int]
) -> None:
    blocks = growth_schedule(h, w, channel_base=16384, channel_max=512)
    assert len(blocks) == n_blocks
    assert (blocks[0].height, blocks[0].width) == start and blocks[0].up == (1, 1)
    assert (blocks[-1].height, blocks[-1].width) == (h, w)
    for prev, cur in zip(blocks, blocks[1:], strict=False):
        assert cur.up in ((1, 2), (2, 1), (2, 2))
        assert (cur.height, cur.width) == (prev.height * cur.up[0], prev.width * cur.up[1])
    for b in blocks:
        assert b.kernel == (1 if b.height == 1 else 3, 1 if b.width == 1 else 3)
    square = growth_schedule(256, 256)
    assert [b.channels for b in square] == [512, 512, 512, 512, 256, 128, 64]


def test_growth_schedule_aspect_first_and_errors() -> None:
    sizes = [(b.height, b.width) for b in growth_schedule(64, 1024)]
    assert sizes[:5] == [(4, 4), (4, 8), (4, 16), (4, 32), (4, 64)]
    with pytest.raises(UserError):
        growth_schedule(48, 64)


# ----------------------------------------------------------------------------- modulated conv
def _explicit_modconv(x, weight, styles, demodulate, up):
    """Per-sample reference: scale the weight, normalise each filter, convolve (zero-stuffed
    input with full padding for upsampling)."""
    outs = []
    kh, kw = weight.shape[2:]
    for b in range(x.shape[0]):
        w = weight * styles[b].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt((w**2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        xb = x[b : b + 1]
        if up:
            stuffed = torch.zeros(
                1, x.shape[1], 2 * x.shape[2] - 1, 2 * x.shape[3] - 1, dtype=x.dtype
            )
            stuffed[:, :, ::2, ::2] = xb
            outs.append(F.conv2d(stuffed, w, padding=(kh - 1, kw - 1)))
        else:
            outs.append(F.conv2d(xb, w, padding=((kh - 1) // 2, (kw - 1) // 2)))
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("fused", [False, True])
def test_modulated_conv_equals_explicit_per_sample_conv(
    demodulate: bool, up: bool, fused: bool
) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 6, 7, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 5, 3, 3, generator=g, dtype=torch.float64)
    styles = torch.randn(3, 5, generator=g, dtype=torch.float64)
    got = modulated_conv2d(
        x,
        weight,
        styles,
        demodulate,
        padding=(0, 0) if up else (1, 1),
        up=(2, 2) if up else (1, 1),
        fused=fused,
    )
    want = _explicit_modconv(x, weight, styles, demodulate, up)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_demodulation_gives_unit_variance() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 64, 40, 40, generator=g)
    weight = torch.randn(32, 64, 3, 3, generator=g)
    styles = torch.rand(4, 64, generator=g) * 3 + 0.1  # very uneven styles
    y = modulated_conv2d(x, weight, styles, demodulate=True, padding=(1, 1))
    interior = y[:, :, 1:-1, 1:-1]
    var = interior.var(dim=(2, 3))  # per sample and output channel
    assert abs(float(var.mean()) - 1.0) < 0.03
    assert float((var - 1).abs().max()) < 0.15
    y_raw = modulated_conv2d(x, weight, styles, demodulate=False, padding=(1, 1))
    assert float(y_raw[:, :, 1:-1, 1:-1].var()) > 10  # without demodulation the scale drifts


# ----------------------------------------------------------------------------- filters
def _response_db(h: np.ndarray, n_fft: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.abs(np.fft.rfft(h, n_fft))
    return np.fft.rfftfreq(n_fft), 20 * np.log10(np.maximum(spectrum, 1e-12))


@pytest.mark.parametrize(
    "taps, fs, cutoff, stopband",
    [(24, 64.0, 8.0, 12.0), (48, 256.0, 32.0, 40.0), (12, 32.0, 4.0, 8.0)],
)
def test_windowed_sinc_passband_and_stopband(
    taps: int, fs: float, cutoff: float, stopband: float
) -> None:
    width = 2 * (stopband - cutoff)
    h = design_lowpass(taps, cutoff, width, fs).double().numpy()
    assert h.shape == (taps,)
    np.testing.assert_allclose(h, h[::-1], atol=1e-7)  # linear phase
    assert abs(h.sum() - 1) < 1e-6
    freq, db = _response_db(h)
    freq = freq * fs
    attenuation = 2.285 * (taps - 1) * 2 * math.pi * width / fs + 7.95  # Kaiser's design formula
    ripple_db = 20 * np.log10(1 + 10 ** (-attenuation / 20))
    passband = freq <= cutoff - width / 2
    stop = freq >= stopband
    assert np.all(np.abs(db[passband]) <= ripple_db + 0.05)
    assert db[stop].max() <= -(attenuation - 3)
    assert -7.5 < np.interp(cutoff, freq, db) < -4.5  # about -6 dB at the cutoff


def _upfirdn_reference(x, fy, fx, up, down, pad, gain):
    """numpy: zero-stuff, pad (negative crops), full 1-D convolutions, keep the valid part,
    decimate."""
    a = x.numpy()
    for axis, f, u, d, (p0, p1) in (
        (2, fy, up[0], down[0], pad[:2]),
        (3, fx, up[1], down[1], pad[2:]),
    ):
        n = a.shape[axis]
        stuffed = np.zeros(a.shape[:axis] + (n * u,) + a.shape[axis + 1 :])
        idx = [slice(None)] * 4
        idx[axis] = slice(0, n * u, u)
        stuffed[tuple(idx)] = a
        widths = [(0, 0)] * 4
        widths[axis] = (max(p0, 0), max(p1, 0))
        padded = np.pad(stuffed, widths)
        idx = [slice(None)] * 4
        idx[axis] = slice(max(-p0, 0), padded.shape[axis] - max(-p1, 0))
        padded = padded[tuple(idx)]
        taps = np.ones(1) if f is None else f.numpy()
        conv = np.apply_along_axis(lambda v, t=taps: np.convolve(v, t, mode="valid"), axis, padded)
        idx = [slice(None)] * 4
        idx[axis] = slice(0, None, d)
        a = conv[tuple(idx)]
    return a * gain


@pytest.mark.parametrize(
    "up, down, pad, ty, tx",
    [
        ((2, 2), (1, 1), (2, 1, 2, 1), 4, 4),
        ((1, 2), (1, 1), (0, 0, 7, 6), 1, 12),
        ((1, 1), (2, 2), (1, 1, 1, 1), 4, 4),
        ((4, 1), (1, 2), (3, -2, 5, 6), 8, 12),
        ((2, 1), (1, 1), (-1, 3, 0, 0), 1, 1),
    ],
)
def test_upfirdn2d_matches_numpy_reference(up, down, pad, ty, tx) -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 7, 9, generator=g, dtype=torch.float64)
    fy = torch.randn(ty, generator=g, dtype=torch.float64) if ty > 1 else None
    fx = torch.randn(tx, generator=g, dtype=torch.float64) if tx > 1 else None
    got = upfirdn2d(x, fy, fx, up, down, pad, gain=1.5)
    want = _upfirdn_reference(x, fy, fx, up, down, pad, 1.5)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_centred_upsampling_interpolates_a_sinusoid() -> None:
    """Upsampling ×2 with centred pads puts samples at the right places of the finer grid."""
    n, s, f = 64, 64.0, 3.0  # 3 cycles per unit, sampled at 64 per unit
    taps = 24
    grid = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) / s
    x = torch.sin(2 * math.pi * f * grid).reshape(1, 1, 1, n)
    h = design_lowpass(taps, 16.0, 16.0, 2 * s).double()
    n_out = 2 * n
    pads = centred_pads(n, n_out, 2, 1, taps)
    y = upfirdn2d(x, None, h, up=(1, 2), pad=(0, 0, *pads), gain=2.0)
    fine = (torch.arange(n_out, dtype=torch.float64) - (n_out - 1) / 2) / (2 * s)
    want = torch.sin(2 * math.pi * f * fine)
    assert y.shape[-1] == n_out
    err = (y.flatten() - want)[taps : n_out - taps].abs().max()
    assert float(err) < 2e-3
    down_pads = centred_pads(n_out, n, 1, 2, taps)
    z = upfirdn2d(want.reshape(1, 1, 1, -1), None, h, down=(1, 2), pad=(0, 0, *down_pads))
    assert float((z.flatten() - x.flatten())[8:-8].abs().max()) < 2e-3


# ----------------------------------------------------------------------------- networks
@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
@pytest.mark.parametrize("shape", [(1, 16, 16), (2, 8, 32), (3, 16, 16), (1, 32, 16)])
def test_generator_and_discriminator_shapes(arch: str, shape: tuple[int, int, int]) -> None:
    cfg = get_config("tiny", arch)
    torch.manual_seed(0)
    G = build_generator(cfg, shape, c_dim=3)
    D = build_discriminator(cfg, shape, c_dim=3)
    z = torch.randn(4, cfg.z_dim)
    c = torch.tensor([0, 1, 2, 1])
    img = G(z, c)
    assert img.shape == (4, *shape)
    assert torch.isfinite(img).all()
    assert D(img, c).shape == (4, 1)


def test_extreme_non_square_2x131072() -> None:
    cfg = get_config("tiny", "stylegan2", channel_base=8, channel_max=4, z_dim=8, w_dim=8)
    shape = (1, 2, 131072)
    torch.manual_seed(0)
    G = build_generator(cfg, shape)
    D = build_discriminator(cfg, shape)
    with torch.no_grad():
        img = G(torch.randn(1, 8))
        assert img.shape == (1, 1, 2, 131072)
        assert D(img).shape == (1, 1)
    # the two rows see each other (3-tap kernels along the 2-pixel axis)
    assert all(b.kernel == (3, 3) for b in G.synthesis.schedule)


def test_stylegan3_extreme_non_square() -> None:
    cfg = get_config("tiny", "stylegan3", channel_base=16, channel_max=2, z_dim=8, w_dim=8)
    torch.manual_seed(0)
    G = build_generator(cfg, (1, 2, 131072))
    with torch.no_grad():
        assert G(torch.randn(1, 8)).shape == (1, 1, 2, 131072)
    plan = G.synthesis.plan_x
    assert plan.filtered and not G.synthesis.plan_y.filtered
    assert all(b <= 4 * a for a, b in zip(plan.rates, plan.rates[1:], strict=False))


def test_stylegan3_is_translation_equivariant() -> None:
    """Translating the Fourier input by k output pixels shifts the image by k pixels."""
    cfg = get_config(
        "tiny", "stylegan3", sg3_margin=8, sg3_filter_size=6, channel_base=256, channel_max=16
    )
    torch.manual_seed(3)
    G = build_generator(cfg, (1, 32, 32)).eval()
    z = torch.randn(2, cfg.z_dim)
    ws = G.mapping(z)
    affine = G.synthesis.input.affine
    k = 3
    with torch.no_grad():
        affine.bias.zero_()
        base = G.synthesis(ws)
        affine.bias.copy_(torch.tensor([0.0, k / 32]) / affine.bias_gain)
        shifted = G.synthesis(ws)
    a = shifted[..., 8:-8, 8 + k : -8]
    b = base[..., 8:-8, 8 : -8 - k]
    psnr_shift = 10 * math.log10(float(base.abs().max()) ** 2 * 4 / float(((a - b) ** 2).mean()))
    c = shifted[..., 8:-8, 8:-8]
    d = base[..., 8:-8, 8:-8]
    psnr_plain = 10 * math.log10(float(base.abs().max()) ** 2 * 4 / float(((c - d) ** 2).mean()))
    assert psnr_shift > 30
    assert psnr_shift > psnr_plain + 15


def test_minibatch_stddev_against_numpy() -> None:
    x = torch.randn(8, 6, 3, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = minibatch_stddev(x, group_size=4, num_channels=1)
    assert y.shape == (8, 7, 3, 2)
    xn = x.numpy()
    for n in range(8):
        group = [m for m in range(8) if m % 2 == n % 2]  # groups of 4 samples, strided
        std = np.sqrt(xn[group].var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[n, 6].numpy(), std, rtol=1e-10)


# ----------------------------------------------------------------------------- augmentation
def test_augment_identity_at_p0_and_ops_keep_shape() -> None:
    x = torch.randn(6, 2, 8, 16)
    aug = AudioAugment(OPS_BY_KIND["time-frequency-linear"])
    assert torch.equal(aug(x), x)
    aug.p.fill_(1.0)
    y = aug(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.equal(x, y)
    assert parse_ops("gain, noise,none") == ("gain", "noise")
    with pytest.raises(UserError):
        parse_ops("flip")


def test_augment_time_shift_is_an_integer_shift_with_zero_fill() -> None:
    x = torch.arange(1, 17, dtype=torch.float32).reshape(1, 1, 1, 16).repeat(4, 1, 2, 1)
    aug = AudioAugment(["time_shift"], time_axis=3, max_shift=0.25)
    aug.p.fill_(1.0)
    y = aug(x, torch.Generator().manual_seed(5))
    for b in range(4):
        row = y[b, 0, 0]
        nz = row[row != 0]
        # a contiguous run of consecutive values: a pure shift
        assert torch.equal(nz, torch.arange(nz[0], nz[0] + len(nz)))
        assert torch.equal(y[b, 0, 0], y[b, 0, 1])


def test_ada_moves_p_by_the_sign_of_the_heuristic() -> None:
    aug = AudioAugment(["gain"])
    ada = AdaController(aug, target=0.6, interval=4, ada_kimg=1.0)
    ada.accumulate(torch.ones(16, 1))  # D sure of every real: r_t = 1 > 0.6
    assert ada.update(batch=16) == 1.0
    assert float(aug.p) == pytest.approx(16 * 4 / 1000)
    ada.accumulate(-torch.ones(16, 1))
    ada.update(batch=16)
    ada.accumulate(-torch.ones(16, 1))
    ada.update(batch=16)
    assert float(aug.p) == 0.0  # clamped at 0


# ----------------------------------------------------------------------------- losses
def test_r1_penalty_equals_hand_computed_gradient_norm() -> None:
    g = torch.Generator().manual_seed(4)
    w = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64)
    x = torch.randn(5, 2, 3, 3, generator=g, dtype=torch.float64)

    def tiny_d(img: torch.Tensor) -> torch.Tensor:
        return torch.tanh((img * w).sum(dim=(1, 2, 3))).unsqueeze(1)

    pen, logits = r1_penalty(tiny_d, x)
    t = torch.tanh((x * w).sum(dim=(1, 2, 3)))
    want = (1 - t**2) ** 2 * (w**2).sum()  # |d tanh(w·x)/dx|² = (1 - tanh²)² |w|²
    torch.testing.assert_close(pen, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logits.flatten(), t)
    assert float(r1_loss(pen.detach(), gamma=2.0, interval=16)) == pytest.approx(
        float(want.mean()) * 16
    )


def test_r1_on_stylegan_discriminator_matches_finite_differences() -> None:
    cfg = get_config("tiny", "stylegan2")
    torch.manual_seed(0)
    D = build_discriminator(cfg, (1, 8, 8)).double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    pen, _ = r1_penalty(lambda img: D(img), x)
    # the mbstd layer couples samples: compare the gradient of the summed logits
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_req).sum(), x_req)
    v = torch.randn_like(x)
    eps = 1e-6
    fd = (D(x + eps * v).sum() - D(x - eps * v).sum()) / (2 * eps)
    assert float(fd) == pytest.approx(float((grad * v).sum()), rel=1e-6)
    torch.testing.assert_close(pen, grad.square().sum(dim=(1, 2, 3)))


def test_gan_losses_and_lazy_adam() -> None:
    logits = torch.tensor([[0.0], [2.0]])
    assert float(generator_loss(logits)) == pytest.approx(
        (math.log(2) + math.log1p(math.exp(-2))) / 2
    )
    assert float(discriminator_loss(logits, -logits)) == pytest.approx(
        2 * float(generator_loss(logits))
    )
    lr, betas = lazy_adam_params(0.0025, (0.0, 0.99), 16)
    assert lr == pytest.approx(0.0025 * 16 / 17)
    assert betas == (0.0, pytest.approx(0.99 ** (16 / 17)))
    assert lazy_adam_params(0.002, (0.0, 0.99), None) == (0.002, (0.0, 0.99))
