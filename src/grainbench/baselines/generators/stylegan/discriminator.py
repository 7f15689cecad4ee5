"""StyleGAN2's discriminator (Karras et al. 2020), used with both generators.

Residual blocks (two convolutions and a 1×1 skip, both downsampling with a [1, 3, 3, 1]
blur), then a minibatch standard deviation feature, a convolution and two fully connected
layers; with labels, a projection onto a label embedding. It follows an anisotropic
:mod:`schedule`, so any power-of-two (H, W) works, and any number of image channels.

Mixed precision (stylegan2-ada's ``num_fp16_res`` and ``conv_clamp``): the first
``fp16_blocks`` blocks (the highest resolutions) compute in float16 where their
``precision`` allows it (see
:func:`~grainbench.baselines.generators.stylegan.layers.set_precision`), and with
``conv_clamp`` every layer's activations are clamped to ``±conv_clamp`` (scaled by the
layer's gain). Parameters and the logits stay float32.
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
    clamp_activation,
    filter_resampled_axes,
    lrelu,
)
from grainbench.baselines.generators.stylegan.schedule import axis_kernel, growth_schedule
from grainbench.baselines.generators.stylegan.stylegan2 import one_hot


class DConv(nn.Module):
    """Equalised-lr convolution for the discriminator, optionally blur-downsampling first."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int],
        down: tuple[int, int] = (1, 1),
        bias: bool = True,
        activation: str = "lrelu",
        filter_taps: int = 4,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        kh, kw = kernel
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kh, kw))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kh * kw)
        self.down = down
        self.activation = activation
        self.padding = (0 if down[0] > 1 else (kh - 1) // 2, 0 if down[1] > 1 else (kw - 1) // 2)
        self.register_buffer("resample_filter", binomial_filter(filter_taps))
        ty, tx = kh + filter_taps - 3, kw + filter_taps - 3
        self.blur_pad = (
            (ty + 1) // 2 if down[0] > 1 else 0,
            ty // 2 if down[0] > 1 else 0,
            (tx + 1) // 2 if down[1] > 1 else 0,
            tx // 2 if down[1] > 1 else 0,
        )

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """Convolve ``x`` (in its dtype); ``gain`` scales the result before the activation
        and the clamp (``±conv_clamp · gain``)."""
        if self.down != (1, 1):
            x = filter_resampled_axes(x, self.resample_filter, self.down, self.blur_pad)
        b = self.bias.to(x.dtype) if self.bias is not None else None
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = F.conv2d(x, w, b, stride=self.down, padding=self.padding)
        if gain != 1.0:
            x = x * gain
        x = lrelu(x) if self.activation == "lrelu" else x
        return clamp_activation(x, self.conv_clamp * gain if self.conv_clamp is not None else None)


class DiscriminatorBlock(nn.Module):
    """Residual block: conv → downsampling conv, plus a 1×1 downsampling skip, times √½."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int],
        down: tuple[int, int],
        use_fp16: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.use_fp16 = use_fp16
        self.precision = "auto"
        self.conv0 = DConv(in_channels, in_channels, kernel, conv_clamp=conv_clamp)
        self.conv1 = DConv(in_channels, out_channels, kernel, down, conv_clamp=conv_clamp)
        self.skip = DConv(
            in_channels,
            out_channels,
            (1, 1),
            down,
            bias=False,
            activation="linear",
            conv_clamp=conv_clamp,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve the resolution along the block's down axes."""
        x = x.to(block_dtype(self.use_fp16, self.precision, x.device, self.conv0.weight.dtype))
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv0(x)
        x = self.conv1(x, gain=math.sqrt(0.5))
        return y + x


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_channels: int = 1) -> torch.Tensor:
    """Append the across-group standard deviation of features as ``num_channels`` maps.

    Samples are split into groups of ``G`` (the largest divisor of the batch not above
    ``group_size``); within each group the per-feature standard deviation over samples is
    averaged over features, pixels and each of ``num_channels`` channel slices.
    """
    n, c, h, w = x.shape
    g = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    f = num_channels
    y = x.reshape(g, n // g, f, c // f, h, w)
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + 1e-8).sqrt()
    y = y.mean(dim=[2, 3, 4]).reshape(n // g, f, 1, 1)
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator for ``image_shape`` following the growth schedule.

    With ``c_dim > 0`` classes the output is projected onto a learned label embedding
    (``cmap_dim`` wide) instead of a plain scalar.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        channel_base: int,
        channel_max: int,
        c_dim: int = 0,
        mbstd_group: int = 4,
        mbstd_channels: int = 1,
        cmap_dim: int | None = None,
        fp16_blocks: int = 0,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        self.image_shape = (int(c), int(h), int(w))
        self.c_dim = c_dim
        schedule = growth_schedule(h, w, channel_base, channel_max)
        top = schedule[-1]
        # fromRGB works at the top resolution: in float16 when the first block does
        self.use_fp16 = fp16_blocks > 0 and len(schedule) > 1
        self.precision = "auto"
        self.fromrgb = DConv(c, top.channels, (1, 1), conv_clamp=conv_clamp)
        blocks = []
        for n, i in enumerate(range(len(schedule) - 1, 0, -1)):
            hi, lo = schedule[i], schedule[i - 1]
            blocks.append(
                DiscriminatorBlock(
                    hi.channels, lo.channels, hi.kernel, hi.up, n < fp16_blocks, conv_clamp
                )
            )
        self.blocks = nn.ModuleList(blocks)
        start = schedule[0]
        ch = start.channels
        self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
        self.conv = DConv(
            ch + mbstd_channels,
            ch,
            (axis_kernel(start.height), axis_kernel(start.width)),
            conv_clamp=conv_clamp,
        )
        self.fc = EqualLinear(ch * start.height * start.width, ch, activation="lrelu")
        self.cmap_dim = (cmap_dim or ch) if c_dim else 0
        self.out = EqualLinear(ch, self.cmap_dim if c_dim else 1)
        if c_dim:
            self.embed = nn.Sequential(
                EqualLinear(c_dim, self.cmap_dim, activation="lrelu"),
                EqualLinear(self.cmap_dim, self.cmap_dim),
            )

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, H, W) and class indices (B,) → logits (B, 1)."""
        full = self.fromrgb.weight.dtype
        x = self.fromrgb(img.to(block_dtype(self.use_fp16, self.precision, img.device, full)))
        for block in self.blocks:
            x = block(x)
        x = x.to(full)
        if self.mbstd_group > 1:
            x = minibatch_stddev(x, self.mbstd_group, self.mbstd_channels)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.c_dim:
            cmap = self.embed(one_hot(c, self.c_dim, img.shape[0], img.device))
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x
