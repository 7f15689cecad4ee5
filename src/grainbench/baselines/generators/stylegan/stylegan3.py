"""StyleGAN3-T (Karras et al. 2021, "Alias-Free Generative Adversarial Networks"), simplified.

The translation-equivariant configuration: the synthesis network treats every feature map as
samples of a continuous band-limited signal. It starts from Fourier features (sinusoids of
random frequencies inside the first cutoff, shifted by a translation computed from w), and
each of its layers is a modulated 3×3 convolution followed by a *filtered* leaky ReLU: the
signal is upsampled (×2 above the larger of the input and output sampling rates) with a
Kaiser-windowed sinc low-pass at the input cutoff, passed through the nonlinearity, then
low-passed at the output cutoff and decimated to the output rate. Cutoffs and stopbands grow
geometrically from the first layer (cutoff 2, stopband 2^2.1 cycles per image) to the last
layers, which are critically sampled (cutoff = Nyquist, stopband 2^0.3 above it). Feature
maps carry a margin of extra pixels that is cropped at the end. No noise inputs, no skip
connections; every layer's input is normalised by an EMA of its mean square.

Simplifications against the paper (stated, deliberate):

- separable Kaiser filters applied as 1-D passes in plain torch (no fused CUDA kernel; the
  upsampled intermediate is materialised, which costs memory and time on GPU);
- the input translation from w is kept, the rotation is dropped (the T config uses no
  rotation-equivariant filters, and a rotation has no meaning on a time-frequency layout);
- Fourier frequencies are drawn uniformly in the cutoff disc (an ellipse for non-square
  targets) rather than with the paper's radial density;
- mixed precision as in StyleGAN2 (``fp16_blocks``: the last layers compute in float16 where
  the precision allows, ``conv_clamp``: activations clamped after the nonlinearity and at
  toRGB); the paper's clamp sits inside its fused filtered-lrelu kernel at the same place;
- the EMA of each layer's input magnitude is bias-corrected (as Adam's moments are), so the
  normalisation is right from the first step instead of after ~1/(1-β) steps;
- non-square targets: every axis gets its own cutoff/rate schedule; an axis shorter than
  16 pixels is not treated as a continuous signal at all: it keeps its pixel count, uses
  "same"-padded 3-tap kernels (1 tap for a single pixel), is never resampled, and the input
  adds a learned per-row (or per-column) embedding along it;
- the number of layers is raised where needed so that no layer has to more than quadruple
  its sampling rate (extreme axes such as 131,072 pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from grainbench.baselines.generators.stylegan.layers import (
    LRELU_GAIN,
    EqualLinear,
    block_dtype,
    centred_pads,
    clamp_activation,
    design_lowpass,
    lrelu,
    modulated_conv2d,
    upfirdn2d,
)
from grainbench.baselines.generators.stylegan.schedule import check_shape

#: axes shorter than this are not treated as sampled continuous signals
MIN_FILTERED_AXIS = 16


@dataclass(frozen=True)
class AxisPlan:
    """Per-axis schedule: for each index 0..L, the size, rate, cutoff and stopband."""

    target: int
    filtered: bool
    margin: int
    sizes: tuple[int, ...]
    rates: tuple[float, ...]
    cutoffs: tuple[float, ...]
    stopbands: tuple[float, ...]


def plan_axis(
    target: int,
    num_layers: int,
    num_critical: int = 2,
    first_cutoff: float = 2.0,
    first_stopband: float = 2**2.1,
    last_stopband_rel: float = 2**0.3,
    margin: int = 10,
) -> AxisPlan:
    """Cutoffs, stopbands, sampling rates and sizes along one axis of ``target`` pixels.

    Index 0 is the Fourier-feature input, index ``num_layers`` the last layer. Cutoff and
    stopband grow geometrically until ``num_layers - num_critical``, then stay at the final
    values (cutoff ``target/2``, stopband ``target/2 · last_stopband_rel``). The rate is the
    smallest power of two at least twice the stopband, capped at ``target``; each feature map
    has ``margin`` extra pixels on both sides.
    """
    n = num_layers + 1
    if target < MIN_FILTERED_AXIS:
        return AxisPlan(
            target,
            False,
            0,
            (target,) * n,
            (float(target),) * n,
            (target / 2,) * n,
            (target / 2,) * n,
        )
    last_cutoff = target / 2
    last_stopband = last_cutoff * last_stopband_rel
    cutoffs, stopbands, rates, sizes = [], [], [], []
    for j in range(n):
        e = min(j / max(num_layers - num_critical, 1), 1.0)
        fc = first_cutoff * (last_cutoff / first_cutoff) ** e
        ft = first_stopband * (last_stopband / first_stopband) ** e
        s = min(2 ** math.ceil(math.log2(2 * ft)), target)
        cutoffs.append(fc)
        stopbands.append(ft)
        rates.append(float(s))
        sizes.append(int(s) + 2 * margin)
    return AxisPlan(
        target, True, margin, tuple(sizes), tuple(rates), tuple(cutoffs), tuple(stopbands)
    )


def required_layers(height: int, width: int, num_layers: int, num_critical: int) -> int:
    """``num_layers`` raised so that rates grow at most ×4 per layer along every axis."""
    longest = max(height, width)
    need = max(0, math.ceil((math.log2(longest) - 3) / 2)) + num_critical + 1
    return max(num_layers, need, num_critical + 1)


class FourierInput(nn.Module):
    """Fourier features at the first layer's sampling grid, translated by an affine of w."""

    def __init__(self, w_dim: int, channels: int, plan_y: AxisPlan, plan_x: AxisPlan) -> None:
        super().__init__()
        self.channels = channels
        radius_y = plan_y.cutoffs[0] if plan_y.filtered else 0.0
        radius_x = plan_x.cutoffs[0] if plan_x.filtered else 0.0
        r = torch.rand(channels).sqrt()
        theta = torch.rand(channels) * 2 * math.pi
        freqs = torch.stack([r * theta.sin() * radius_y, r * theta.cos() * radius_x], dim=1)
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)
        self.register_buffer("grid_y", self._grid(plan_y))
        self.register_buffer("grid_x", self._grid(plan_x))
        self.affine = EqualLinear(w_dim, 2, weight_init=0.0, bias_init=0.0)
        self.weight = nn.Parameter(torch.randn(channels, channels))
        self.embed_y = (
            nn.Parameter(torch.randn(channels, plan_y.sizes[0], 1)) if not plan_y.filtered else None
        )
        self.embed_x = (
            nn.Parameter(torch.randn(channels, 1, plan_x.sizes[0])) if not plan_x.filtered else None
        )

    @staticmethod
    def _grid(plan: AxisPlan) -> torch.Tensor:
        n = plan.sizes[0]
        return (torch.arange(n, dtype=torch.float32) - (n - 1) / 2) / plan.rates[0]

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """w (B, w_dim) → features (B, C, H0, W0)."""
        t = self.affine(w)  # (B, 2) translation in image units
        phase = self.phases.unsqueeze(0) - t @ self.freqs.t()  # (B, C)
        fy, fx = self.freqs[:, 0], self.freqs[:, 1]
        arg = (
            fy.reshape(1, -1, 1, 1) * self.grid_y.reshape(1, 1, -1, 1)
            + fx.reshape(1, -1, 1, 1) * self.grid_x.reshape(1, 1, 1, -1)
            + phase.reshape(phase.shape[0], -1, 1, 1)
        )
        x = torch.sin(2 * math.pi * arg)
        if self.embed_y is not None:
            x = x + self.embed_y.unsqueeze(0)
        if self.embed_x is not None:
            x = x + self.embed_x.unsqueeze(0)
        weight = self.weight / math.sqrt(self.channels)
        return torch.einsum("bchw,dc->bdhw", x, weight)


class AliasFreeLayer(nn.Module):
    """Modulated convolution and a filtered leaky ReLU between two sampling grids.

    ``j`` is the input index into the axis plans (output index ``j + 1``). With
    ``is_torgb`` it is a 1×1 modulated convolution without demodulation or nonlinearity.
    """

    def __init__(
        self,
        w_dim: int,
        in_channels: int,
        out_channels: int,
        plan_y: AxisPlan,
        plan_x: AxisPlan,
        j: int,
        is_torgb: bool = False,
        kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        magnitude_ema_beta: float = 0.999,
        use_fp16: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.is_torgb = is_torgb
        self.use_fp16 = use_fp16
        self.precision = "auto"
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta
        out_j = j if is_torgb else j + 1
        ks, pads, ups, downs, up_pads, fups, fdowns = [], [], [], [], [], [], []
        for plan in (plan_y, plan_x):
            if is_torgb:
                k = 1
            elif plan.filtered:
                k = kernel
            else:
                k = 1 if plan.target <= 1 else kernel
            ks.append(k)
            pads.append(0 if plan.filtered else (k - 1) // 2)
            if is_torgb or not plan.filtered:
                ups.append(1)
                downs.append(1)
                up_pads.append((0, 0))
                fups.append(torch.ones(1))
                fdowns.append(torch.ones(1))
                continue
            s_in, s_out = plan.rates[j], plan.rates[out_j]
            s_tmp = max(s_in, s_out) * lrelu_upsampling
            u, d = int(round(s_tmp / s_in)), int(round(s_tmp / s_out))
            tu = filter_size * u if u > 1 else 1
            td = filter_size * d if d > 1 else 1
            fu = design_lowpass(
                tu, plan.cutoffs[j], 2 * (plan.stopbands[j] - plan.cutoffs[j]), s_tmp
            )
            fd = design_lowpass(
                td, plan.cutoffs[out_j], 2 * (plan.stopbands[out_j] - plan.cutoffs[out_j]), s_tmp
            )
            n_conv = plan.sizes[j] - (k - 1)
            n_tmp = (plan.sizes[out_j] - 1) * d + td
            up_pads.append(centred_pads(n_conv, n_tmp, u, 1, tu))
            ups.append(u)
            downs.append(d)
            fups.append(fu)
            fdowns.append(fd)
        self.padding = (pads[0], pads[1])
        self.up = (ups[0], ups[1])
        self.down = (downs[0], downs[1])
        self.up_pad = (up_pads[0][0], up_pads[0][1], up_pads[1][0], up_pads[1][1])
        self.register_buffer("up_filter_y", fups[0])
        self.register_buffer("up_filter_x", fups[1])
        self.register_buffer("down_filter_y", fdowns[0])
        self.register_buffer("down_filter_x", fdowns[1])
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, ks[0], ks[1]))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels * ks[0] * ks[1])
        self.register_buffer("magnitude_ema", torch.zeros([]))
        self.register_buffer("magnitude_updates", torch.zeros([]))

    def input_gain(self) -> torch.Tensor:
        """1 / RMS of this layer's input: the bias-corrected EMA of its mean square (1 before
        any training step)."""
        t = self.magnitude_updates
        if float(t) == 0.0:
            return torch.ones_like(self.magnitude_ema)
        corrected = self.magnitude_ema / (1.0 - self.magnitude_ema_beta**t)
        return (corrected + 1e-8).rsqrt()

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        """Map ``x`` on the input grid to the output grid under style ``w`` (B, w_dim)."""
        if self.training:
            with torch.no_grad():
                m = x.detach().float().square().mean()
                self.magnitude_ema.copy_(m.lerp(self.magnitude_ema, self.magnitude_ema_beta))
                self.magnitude_updates.add_(1.0)
        styles = self.affine(w) * self.input_gain()
        if self.is_torgb:
            styles = styles * self.weight_gain
        x = x.to(block_dtype(self.use_fp16, self.precision, x.device, self.weight.dtype))
        x = modulated_conv2d(x, self.weight, styles, not self.is_torgb, self.padding, fused=fused)
        x = x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)
        if self.is_torgb:
            return clamp_activation(x, self.conv_clamp)
        x = upfirdn2d(
            x,
            self.up_filter_y,
            self.up_filter_x,
            up=self.up,
            pad=self.up_pad,
            gain=float(self.up[0] * self.up[1]),
        )
        x = clamp_activation(lrelu(x, LRELU_GAIN), self.conv_clamp)
        return upfirdn2d(x, self.down_filter_y, self.down_filter_x, down=self.down)


class AliasFreeSynthesis(nn.Module):
    """StyleGAN3-T synthesis network for ``image_shape = (C, H, W)`` (powers of two)."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        w_dim: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        margin: int = 10,
        first_cutoff: float = 2.0,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        filter_size: int = 6,
        fp16_blocks: int = 0,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        c, h, w = image_shape
        check_shape(h, w)
        self.image_shape = (int(c), int(h), int(w))
        layers = required_layers(h, w, num_layers, num_critical)
        args = (layers, num_critical, first_cutoff, first_stopband, last_stopband_rel, margin)
        self.plan_y = plan_axis(h, *args)
        self.plan_x = plan_axis(w, *args)
        self.num_layers = layers
        channels = [self._channels(j, channel_base, channel_max) for j in range(layers + 1)]
        self.input = FourierInput(w_dim, channels[0], self.plan_y, self.plan_x)
        self.layers = nn.ModuleList(
            AliasFreeLayer(
                w_dim,
                channels[j],
                channels[j + 1],
                self.plan_y,
                self.plan_x,
                j,
                filter_size=filter_size,
                use_fp16=j >= layers - fp16_blocks,
                conv_clamp=conv_clamp,
            )
            for j in range(layers)
        )
        self.torgb = AliasFreeLayer(
            w_dim,
            channels[-1],
            c,
            self.plan_y,
            self.plan_x,
            layers,
            is_torgb=True,
            conv_clamp=conv_clamp,
        )
        self.num_ws = layers + 2

    def _channels(self, j: int, channel_base: int, channel_max: int) -> int:
        """Feature maps at index ``j``: inversely proportional to the (geometric mean) cutoff."""
        fy = self.plan_y.cutoffs[j]
        fx = self.plan_x.cutoffs[j]
        return max(1, min(int(round(channel_base / 2 / math.sqrt(fy * fx))), channel_max))

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "none",
        gen: torch.Generator | None = None,
        fused: bool = False,
    ) -> torch.Tensor:
        """ws (B, num_ws, w_dim) → images (B, C, H, W); there are no noise inputs."""
        del noise_mode, gen  # StyleGAN3 has no noise inputs
        x = self.input(ws[:, 0])
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i + 1], fused)
        x = self.torgb(x, ws[:, -1], fused)
        my, mx = self.plan_y.margin, self.plan_x.margin
        _, h, w = self.image_shape
        return x[:, :, my : my + h, mx : mx + w]
