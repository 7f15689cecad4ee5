"""Building blocks shared by the StyleGAN2 and StyleGAN3 generators.

Everything here is written from the papers (Karras et al. 2020, 2021) in plain torch ops, so
it runs on CPU and GPU alike:

- equalised learning rate: weights are stored as unit-variance draws and scaled at run time
  by ``1/sqrt(fan_in)`` (and a per-layer learning-rate multiplier);
- style modulation with weight demodulation (StyleGAN2, section 2.2), as a grouped
  convolution ("fused") or as input/output scaling around a shared convolution (identical
  result, faster for large batches);
- separable FIR resampling (``upfirdn2d``): zero-stuffing, padding (negative pads crop),
  filtering along each axis, decimation; with a helper that computes the pads that keep
  sampling grids centred, so that any up/down factor per axis lines up exactly;
- windowed-sinc low-pass design with a Kaiser window (StyleGAN3's filters);
- mixed precision as stylegan2-ada uses it: the highest-resolution blocks may compute in
  float16 (parameters, styles, demodulation and the output image stay float32), and every
  activation may be clamped to ``±conv_clamp`` so that float16 cannot overflow.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)

#: how a block flagged for reduced precision computes: ``auto`` (float16 on CUDA, float32
#: elsewhere: CPU float16 convolutions are slow), ``fp16`` (always; lets tests exercise the
#: float16 path on CPU), ``fp32`` (never)
PRECISIONS = ("auto", "fp16", "fp32")


def block_dtype(
    use_fp16: bool, precision: str, device: torch.device, full: torch.dtype = torch.float32
) -> torch.dtype:
    """The dtype a block computes in: float16 when flagged and ``precision`` allows it, else
    ``full`` (the dtype of its parameters)."""
    if use_fp16 and (precision == "fp16" or (precision == "auto" and device.type == "cuda")):
        return torch.float16
    return full


def set_precision(module: nn.Module, precision: str) -> None:
    """Set ``precision`` (one of :data:`PRECISIONS`) on every block of ``module``."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    for m in module.modules():
        if hasattr(m, "use_fp16"):
            m.precision = precision


def clamp_activation(x: torch.Tensor, limit: float | None) -> torch.Tensor:
    """``x`` clamped to ``±limit`` (unchanged when ``limit`` is None)."""
    return x if limit is None else x.clamp(-limit, limit)


def lrelu(x: torch.Tensor, gain: float = LRELU_GAIN) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) scaled by ``gain`` (sqrt 2 keeps unit variance)."""
    return F.leaky_relu(x, LRELU_SLOPE) * gain


class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate.

    ``weight`` holds N(0, 1/lr_mul²) values and is scaled by ``lr_mul / sqrt(in_features)`` at
    run time; ``bias`` is scaled by ``lr_mul``. ``activation`` is ``"linear"`` or ``"lrelu"``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: str = "linear",
        weight_init: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (weight_init / lr_mul))
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_mul / math.sqrt(max(in_features, 1))
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the scaled affine map and the activation to ``x`` of shape ``(B, in)``."""
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain if self.bias is not None else None
        x = F.linear(x, w, b)
        return lrelu(x) if self.activation == "lrelu" else x


def _pad_crop(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Pad ``x`` (B, C, H, W) by ``(top, bottom, left, right)``; negative values crop."""
    top, bottom, left, right = pad
    if min(pad) < 0:
        h, w = x.shape[2], x.shape[3]
        x = x[:, :, max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]
    if max(pad) > 0:
        x = F.pad(x, [max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)])
    return x


def _pad_axis(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Pad (zeros) or crop (negative) ``x`` along ``dim`` (2 = H, 3 = W)."""
    return _pad_crop(x, (before, after, 0, 0) if dim == 2 else (0, 0, before, after))


def _resample_axis(
    x: torch.Tensor, f: torch.Tensor | None, up: int, down: int, pad: tuple[int, int], dim: int
) -> torch.Tensor:
    """:func:`upfirdn2d` along one axis (``dim`` 2 or 3), filters as depthwise convolutions."""
    c, n = x.shape[1], x.shape[dim]
    taps = int(f.numel()) if f is not None else 1
    stride = (down, 1) if dim == 2 else (1, down)
    shape = (1, 1, taps, 1) if dim == 2 else (1, 1, 1, taps)
    if up > 1 and taps > 1:
        # polyphase: a strided transposed convolution is the full convolution of the
        # zero-stuffed signal, without materialising the zeros
        assert f is not None
        k = f.to(x.dtype).reshape(shape).expand(c, 1, *shape[2:])
        full = F.conv_transpose2d(x, k, stride=(up, 1) if dim == 2 else (1, up), groups=c)
        start = taps - 1 - pad[0]
        length = n * up + pad[0] + pad[1] - taps + 1
        x = _pad_axis(x=full, before=-start, after=start + length - full.shape[dim], dim=dim)
        if down > 1:
            x = x[:, :, ::down, :] if dim == 2 else x[:, :, :, ::down]
        return x
    if up > 1:
        b, _, h, w = x.shape
        if dim == 2:
            x = F.pad(x.reshape(b, c, h, 1, w), [0, 0, 0, up - 1]).reshape(b, c, h * up, w)
        else:
            x = F.pad(x.reshape(b, c, h, w, 1), [0, up - 1]).reshape(b, c, h, w * up)
    x = _pad_axis(x, pad[0], pad[1], dim)
    if taps > 1:
        assert f is not None
        k = f.flip(0).to(x.dtype).reshape(shape).expand(c, 1, *shape[2:])
        return F.conv2d(x, k, stride=stride, groups=c)
    if down > 1:
        x = x[:, :, ::down, :] if dim == 2 else x[:, :, :, ::down]
    return x


def upfirdn2d(
    x: torch.Tensor,
    fy: torch.Tensor | None = None,
    fx: torch.Tensor | None = None,
    up: tuple[int, int] = (1, 1),
    down: tuple[int, int] = (1, 1),
    pad: tuple[int, int, int, int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Separable upsample → pad → FIR filter → downsample of ``x`` (B, C, H, W).

    Upsampling by ``u`` along an axis stuffs ``u - 1`` zeros after every sample (length
    ``n·u``); ``pad = (top, bottom, left, right)`` is then applied (negative crops); the 1-D
    filters ``fy`` (along H) and ``fx`` (along W) are convolved (true convolution) without
    further padding; the result is decimated by ``down``. ``gain`` multiplies the output; pass
    the product of the up factors to keep the DC level of an upsampled signal.

    Each axis is one depthwise convolution (a strided transposed one when upsampling), which
    is far cheaper than convolving zero-stuffed maps or folding channels into the batch.
    """
    x = _resample_axis(x, fy, up[0], down[0], (pad[0], pad[1]), dim=2)
    x = _resample_axis(x, fx, up[1], down[1], (pad[2], pad[3]), dim=3)
    return x * gain if gain != 1.0 else x


def filter_resampled_axes(
    x: torch.Tensor,
    f: torch.Tensor,
    factor: tuple[int, int],
    pad: tuple[int, int, int, int],
    gain: float = 1.0,
) -> torch.Tensor:
    """:func:`upfirdn2d` of ``x`` (B, C, H, W) with the 1-D filter ``f`` along each axis whose
    resampling ``factor`` (H, W) is above 1 (the blur around a strided or transposed
    convolution), padded by ``pad``; ``gain`` multiplies the output."""
    fy, fx = (f if factor[0] > 1 else None), (f if factor[1] > 1 else None)
    return upfirdn2d(x, fy, fx, pad=pad, gain=gain)


def centred_pads(n_in: int, n_out: int, up: int, down: int, taps: int) -> tuple[int, int]:
    """Pads (before, after) for one axis of :func:`upfirdn2d` that keep sampling grids centred.

    An axis of ``n`` samples at rate ``s`` has its samples at ``(j - (n - 1)/2) / s``. The
    returned pads make output sample ``k`` (rate ``s·up/down``) sit at
    ``(k - (n_out - 1)/2)·down/(s·up)``, the centre of the filter landing on that point.
    Raises ``ValueError`` when no integer pad can do that (parity mismatch).
    """
    twice_p0 = (taps - 1) - (n_in - 1) * up + (n_out - 1) * down
    if twice_p0 % 2:
        raise ValueError(
            f"cannot centre {n_in} → {n_out} samples (up {up}, down {down}, {taps} taps)"
        )
    p0 = twice_p0 // 2
    p1 = (n_out - 1) * down + taps - p0 - n_in * up
    return p0, p1


def binomial_filter(taps: int = 4) -> torch.Tensor:
    """The normalised binomial low-pass (``[1, 3, 3, 1] / 8`` for 4 taps) of StyleGAN2."""
    f = np.array([math.comb(taps - 1, k) for k in range(taps)], dtype=np.float64)
    return torch.tensor(f / f.sum(), dtype=torch.float32)


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser window shape parameter for a stop-band attenuation in dB (Kaiser's formula)."""
    a = attenuation_db
    if a > 50:
        return 0.1102 * (a - 8.7)
    if a >= 21:
        return 0.5842 * (a - 21) ** 0.4 + 0.07886 * (a - 21)
    return 0.0


def design_lowpass(taps: int, cutoff: float, width: float, fs: float) -> torch.Tensor:
    """Windowed-sinc low-pass FIR with a Kaiser window (unit DC gain).

    ``cutoff`` is the -6 dB point and ``width`` the full transition band (from
    ``cutoff - width/2`` to ``cutoff + width/2``), both in the units of the sampling rate
    ``fs``. The Kaiser ``beta`` follows from the attenuation that ``taps`` taps can reach over
    that transition width (Kaiser's design formula ``A = 2.285·(taps - 1)·Δω + 7.95``).
    ``taps == 1`` gives the identity filter.
    """
    if taps == 1:
        return torch.ones(1)
    if not 0 < cutoff < fs / 2:
        raise ValueError(f"cutoff {cutoff} outside (0, {fs / 2})")
    delta_omega = 2 * math.pi * width / fs
    attenuation = 2.285 * (taps - 1) * delta_omega + 7.95
    beta = kaiser_beta(attenuation)
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff / fs * np.sinc(2 * cutoff / fs * n) * np.kaiser(taps, beta)
    h /= h.sum()
    return torch.tensor(h, dtype=torch.float32)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    padding: tuple[int, int] = (0, 0),
    up: tuple[int, int] = (1, 1),
    fused: bool = False,
) -> torch.Tensor:
    """Style-modulated convolution (StyleGAN2 eq. 1–3).

    ``x`` (B, I, H, W), ``weight`` (O, I, kh, kw), ``styles`` (B, I). Each sample is
    convolved with ``weight · styles[b]`` (scaled along the input channels); with
    ``demodulate`` every output filter is then scaled to unit L2 norm, which restores unit
    output variance for unit-variance inputs. ``up`` (per axis 1 or 2) upsamples with a
    transposed convolution (equivalent to convolving the zero-stuffed input), the caller
    adds the anti-imaging filter. ``fused`` computes it as one grouped convolution; otherwise
    the styles scale the input and the demodulation scales the output of one shared
    convolution (same numbers up to float rounding, usually faster).
    """
    b, i, h, w = x.shape
    o = weight.shape[0]
    if demodulate and x.dtype == torch.float16:
        # demodulation makes the result invariant to the scale of the weight and of each
        # sample's styles: bring both to a max of 1 so that float16 products cannot overflow
        weight = weight / weight.abs().amax().clamp_min(1e-8)
        styles = styles / styles.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
    dcoefs = None
    if demodulate:
        wmod = weight.unsqueeze(0) * styles.reshape(b, 1, i, 1, 1)
        dcoefs = (wmod.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (B, O)
    is_up = up != (1, 1)
    if fused:
        wmod = weight.unsqueeze(0) * styles.reshape(b, 1, i, 1, 1)
        if dcoefs is not None:
            wmod = wmod * dcoefs.reshape(b, o, 1, 1, 1)
        xg = x.reshape(1, b * i, h, w)
        wmod = wmod.to(x.dtype)
        if is_up:
            wt = wmod.flip(3, 4).transpose(1, 2).reshape(b * i, o, *weight.shape[2:])
            y = F.conv_transpose2d(xg, wt, stride=up, padding=padding, groups=b)
        else:
            y = F.conv2d(xg, wmod.reshape(b * o, i, *weight.shape[2:]), padding=padding, groups=b)
        return y.reshape(b, o, y.shape[2], y.shape[3])
    x = x * styles.reshape(b, i, 1, 1).to(x.dtype)
    weight = weight.to(x.dtype)
    if is_up:
        y = F.conv_transpose2d(x, weight.flip(2, 3).transpose(0, 1), stride=up, padding=padding)
    else:
        y = F.conv2d(x, weight, padding=padding)
    if dcoefs is not None:
        y = y * dcoefs.reshape(b, o, 1, 1).to(y.dtype)
    return y
