"""StyleGAN2's generator (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN"); its discriminator is in :mod:`.discriminator`.

A mapping network z (+ label) → w, then a synthesis network of blocks from a learned
constant, each block an upsampling modulated/demodulated 3×3 convolution and a second one,
with per-pixel noise inputs, and a "skip" output: every block has its own toRGB whose image
is added to the upsampled image of the block before. It follows an anisotropic
:mod:`schedule`, so any power-of-two (H, W) works, and any number of image channels (grey,
stereo, RGB).

Mixed precision (stylegan2-ada's ``num_fp16_res`` and ``conv_clamp``): the last
``fp16_blocks`` blocks (the highest resolutions) compute in float16 where their
``precision`` allows it (see
:func:`~grainbench.baselines.generators.stylegan.layers.set_precision`), and with
``conv_clamp`` every layer's activations are clamped to ``±conv_clamp`` (scaled by the
layer's gain). Parameters, styles and the image being accumulated stay float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from grainbench.baselines.generators.stylegan.layers import (
    EqualLinear,
    binomial_filter,
    block_dtype,
    centred_pads,
    clamp_activation,
    filter_resampled_axes,
    lrelu,
    modulated_conv2d,
    upfirdn2d,
)
from grainbench.baselines.generators.stylegan.schedule import Block, growth_schedule
from grainbench.errors import UserError


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``x`` (B, D) to unit mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def one_hot(
    labels: torch.Tensor | None, num_classes: int, batch: int, device: torch.device
) -> torch.Tensor | None:
    """One-hot rows for class indices ``labels`` (B,); ``None`` when there are no classes."""
    if num_classes == 0:
        return None
    if labels is None:
        raise ValueError("a conditional network needs labels")
    return (
        F.one_hot(labels.to(device=device, dtype=torch.long), num_classes)
        .float()
        .reshape(batch, num_classes)
    )


class MappingNetwork(nn.Module):
    """z (and an optional class label) → w, broadcast to ``num_ws`` copies.

    An MLP of ``num_layers`` equalised-lr layers with learning-rate multiplier ``lr_mul``
    (0.01 in StyleGAN). A label is one-hot embedded by a linear layer, normalised and
    concatenated to the normalised z. ``w_avg`` is the running mean of w used for the
    truncation trick; the training loop updates it with :meth:`update_w_avg`.
    """

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        num_ws: int,
        c_dim: int = 0,
        num_layers: int = 8,
        lr_mul: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws, self.c_dim = z_dim, w_dim, num_ws, c_dim
        self.w_avg_beta = w_avg_beta
        self.embed = EqualLinear(c_dim, w_dim) if c_dim else None
        dims = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, activation="lrelu")
            for i in range(num_layers)
        )
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        """``z`` (B, z_dim), class indices ``c`` (B,) → ws (B, num_ws, w_dim)."""
        x = normalize_2nd_moment(z.float())
        onehot = one_hot(c, self.c_dim, z.shape[0], z.device)
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(onehot))], dim=1)
        for layer in self.layers:
            x = layer(x)
        if truncation_psi != 1.0:
            x = self.w_avg.lerp(x, truncation_psi)
        return x.unsqueeze(1).repeat(1, self.num_ws, 1)

    @torch.no_grad()
    def update_w_avg(self, w_mean: torch.Tensor) -> None:
        """Move ``w_avg`` towards a batch mean of w (EMA with ``w_avg_beta``)."""
        self.w_avg.copy_(w_mean.detach().to(self.w_avg.dtype).lerp(self.w_avg, self.w_avg_beta))


def _up_filter_pads(kernel: int, taps: int) -> tuple[int, int]:
    """Blur pads after a stride-2 transposed convolution of ``kernel`` taps (n → 2n)."""
    total = taps - kernel + 1
    return (total + 1) // 2, total // 2


class SynthesisLayer(nn.Module):
    """Modulated convolution (optionally upsampling), noise, bias and leaky ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        block: Block,
        up: tuple[int, int] = (1, 1),
        use_noise: bool = True,
        filter_taps: int = 4,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.up = up
        self.conv_clamp = conv_clamp
        kh, kw = block.kernel
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * kh * kw)
        self.padding = (0 if up[0] > 1 else (kh - 1) // 2, 0 if up[1] > 1 else (kw - 1) // 2)
        self.register_buffer("resample_filter", binomial_filter(filter_taps))
        py = _up_filter_pads(kh, filter_taps) if up[0] > 1 else (0, 0)
        px = _up_filter_pads(kw, filter_taps) if up[1] > 1 else (0, 0)
        self.filter_pad = (py[0], py[1], px[0], px[1])
        self.use_noise = use_noise
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            self.register_buffer("noise_const", torch.randn(1, 1, block.height, block.width))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        gen: torch.Generator | None = None,
        fused: bool = False,
    ) -> torch.Tensor:
        """Apply the layer to ``x`` with the style vector ``w`` (B, w_dim)."""
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, True, self.padding, self.up, fused)
        if self.up != (1, 1):
            gain = float(self.up[0] * self.up[1])
            x = filter_resampled_axes(x, self.resample_filter, self.up, self.filter_pad, gain)
        if self.use_noise and noise_mode != "none":
            if noise_mode == "random":
                noise = torch.randn(
                    x.shape[0],
                    1,
                    x.shape[2],
                    x.shape[3],
                    generator=gen,
                    device=x.device,
                    dtype=x.dtype,
                )
            else:
                noise = self.noise_const.to(x.dtype)
            x = x + noise * self.noise_strength.to(x.dtype)
        x = lrelu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1))
        return clamp_activation(x, self.conv_clamp)


class ToRGB(nn.Module):
    """Modulated 1×1 convolution to image channels (no demodulation) plus a bias."""

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        """Image channels of ``x`` under style ``w`` (in the parameters' dtype, whatever
        ``x``'s)."""
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        x = x.to(self.weight.dtype) + self.bias.reshape(1, -1, 1, 1)
        return clamp_activation(x, self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: (const | upsampling conv) → conv → toRGB."""

    def __init__(
        self,
        in_channels: int,
        block: Block,
        w_dim: int,
        img_channels: int,
        is_first: bool,
        use_noise: bool = True,
        use_fp16: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.block = block
        self.is_first = is_first
        self.use_fp16 = use_fp16
        self.precision = "auto"
        ch = block.channels
        if is_first:
            self.const = nn.Parameter(torch.randn(ch, block.height, block.width))
            self.conv0 = None
        else:
            self.conv0 = SynthesisLayer(
                in_channels, ch, w_dim, block, block.up, use_noise, conv_clamp=conv_clamp
            )
        self.conv1 = SynthesisLayer(ch, ch, w_dim, block, (1, 1), use_noise, conv_clamp=conv_clamp)
        self.torgb = ToRGB(ch, img_channels, w_dim, conv_clamp)
        self.num_conv = 1 if is_first else 2
        self.register_buffer("resample_filter", binomial_filter(4))
        uy, ux = block.up
        py = centred_pads(block.height // uy, block.height, uy, 1, 4) if uy > 1 else (0, 0)
        px = centred_pads(block.width // ux, block.width, ux, 1, 4) if ux > 1 else (0, 0)
        self.img_pad = (py[0], py[1], px[0], px[1])

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "random",
        gen: torch.Generator | None = None,
        fused: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``ws`` (B, num_conv + 1, w_dim): one per convolution, the last for toRGB."""
        dtype = block_dtype(self.use_fp16, self.precision, ws.device, self.conv1.weight.dtype)
        if self.conv0 is None:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise_mode, gen, fused)
        else:
            assert x is not None
            x = self.conv0(x.to(dtype), ws[:, 0], noise_mode, gen, fused)
            x = self.conv1(x, ws[:, 1], noise_mode, gen, fused)
        if img is not None:
            uy, ux = self.block.up
            f = self.resample_filter
            img = upfirdn2d(
                img,
                f if uy > 1 else None,
                f if ux > 1 else None,
                up=self.block.up,
                pad=self.img_pad,
                gain=float(uy * ux),
            )
        y = self.torgb(x, ws[:, self.num_conv], fused)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """StyleGAN2 skip-architecture synthesis for ``image_shape = (C, H, W)``."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        w_dim: int,
        channel_base: int,
        channel_max: int,
        use_noise: bool = True,
        fp16_blocks: int = 0,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (int(c), int(h), int(w))
        self.schedule = growth_schedule(h, w, channel_base, channel_max)
        first_fp16 = len(self.schedule) - fp16_blocks
        blocks = []
        in_ch = 0
        for i, block in enumerate(self.schedule):
            blocks.append(
                SynthesisBlock(
                    in_ch, block, w_dim, c, i == 0, use_noise, i >= first_fp16, conv_clamp
                )
            )
            in_ch = block.channels
        self.blocks = nn.ModuleList(blocks)
        self.num_ws = sum(b.num_conv for b in self.blocks) + 1

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        gen: torch.Generator | None = None,
        fused: bool = False,
    ) -> torch.Tensor:
        """ws (B, num_ws, w_dim) → images (B, C, H, W)."""
        x = img = None
        idx = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, idx : idx + block.num_conv + 1], noise_mode, gen, fused)
            idx += block.num_conv
        assert img is not None
        return img


class Generator(nn.Module):
    """Mapping network plus a synthesis network (StyleGAN2's or StyleGAN3's).

    ``output_shrink`` λ > 0 soft-thresholds the synthesis output in the training
    normalisation, ``sign(x)·max(|x| − λ, 0)``: every value within λ of the centre becomes
    exactly the centre, so a generator can leave a pixel silent (sound images are sparse:
    a DCT image of a piano note is zero above the instrument's band limit) instead of
    filling it with its leftover noise, which decodes to a stationary hiss.
    """

    def __init__(
        self,
        synthesis: nn.Module,
        z_dim: int,
        w_dim: int,
        c_dim: int = 0,
        mapping_layers: int = 8,
        mapping_lr_mul: float = 0.01,
        output_shrink: float = 0.0,
    ) -> None:
        super().__init__()
        if not output_shrink >= 0:
            raise UserError(f"output_shrink must be ≥ 0, got {output_shrink}")
        self.synthesis = synthesis
        self.output_shrink = float(output_shrink)
        self.z_dim, self.w_dim, self.c_dim = z_dim, w_dim, c_dim
        self.num_ws: int = synthesis.num_ws
        self.image_shape: tuple[int, int, int] = synthesis.image_shape
        self.mapping = MappingNetwork(
            z_dim, w_dim, self.num_ws, c_dim, mapping_layers, mapping_lr_mul
        )
        # the training images' normalisation, undone on output (see ``normalize``)
        self.register_buffer("out_mean", torch.zeros(self.image_shape))
        self.register_buffer("out_std", torch.ones(self.image_shape))

    def set_output_scale(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Images come out as ``normalised · std + mean`` (maps of the image's shape)."""
        with torch.no_grad():
            self.out_mean.copy_(mean.reshape(self.image_shape))
            self.out_std.copy_(std.reshape(self.image_shape))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        noise_mode: str = "random",
        gen: torch.Generator | None = None,
        mix_z: torch.Tensor | None = None,
        mix_cutoff: int | None = None,
        return_ws: bool = False,
        normalized: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Latents ``z`` (B, z_dim) and class indices ``c`` (B,) → images (B, C, H, W).

        ``normalized`` returns the images in the training normalisation (what the
        discriminator sees during training); by default it is undone.

        Style mixing: with ``mix_z`` and ``mix_cutoff`` the layers from ``mix_cutoff`` on
        take their w from ``mix_z``. ``noise_mode`` is ``"random"`` (drawn from ``gen``),
        ``"const"`` (fixed per layer) or ``"none"``. ``return_ws`` also returns the ws.
        """
        ws = self.mapping(z, c, truncation_psi)
        if mix_z is not None and mix_cutoff is not None and 0 < mix_cutoff < self.num_ws:
            ws2 = self.mapping(mix_z, c, truncation_psi)
            ws = torch.cat([ws[:, :mix_cutoff], ws2[:, mix_cutoff:]], dim=1)
        img = self.synthesis(ws, noise_mode=noise_mode, gen=gen)
        if self.output_shrink > 0:
            img = torch.sign(img) * torch.relu(img.abs() - self.output_shrink)
        if not normalized:
            img = img * self.out_std + self.out_mean
        return (img, ws) if return_ws else img
