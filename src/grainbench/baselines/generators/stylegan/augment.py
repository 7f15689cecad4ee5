"""Adaptive discriminator augmentation (Karras et al. 2020, "Training GANs with Limited Data"),
restricted to operations that keep an audio image meaningful.

ADA augments every image the discriminator sees (real and generated) with probability ``p``
per operation, and tunes ``p`` so that the discriminator's overfitting heuristic
``r_t = E[sign(D(real))]`` stays near a target (0.6): ``p`` rises when D is too sure of the
reals, falls otherwise, at a rate that would take it from 0 to 1 in ``ada_kimg`` thousand
images. Augmentations that leak (appear in generated images) must be invertible in
distribution, which every op here is for ``p < 1``.

The geometric and colour ops of the image ADA pipeline (flips, 90° rotations, integer and
fractional translation, isotropic/anisotropic scaling, hue, saturation, cutout) mostly do not
keep a sound image meaningful: a flipped spectrogram plays backwards and upside down, a
rotation swaps time and frequency, a shift along frequency changes the pitch. The allowed
operations, per kind of representation (the caller chooses and passes the set):

================================  ==================================================
representation kind               allowed ops
================================  ==================================================
global transform (DCT, FFT        ``gain``, ``noise``, ``sign`` (polarity inversion
coefficients laid out as an       is exact for linear transforms); no geometry: a
image, e.g. ``dct-square``)       pixel's position *is* its frequency
waveform folded into an image     ``gain``, ``noise``, ``sign``
linear time-frequency (complex    ``gain``, ``noise``, ``sign``, ``time_shift``
STFT real/imag, MDCT, NSGT)       (integer frames, zero fill), ``time_mask``,
                                  ``freq_mask``; no flips/rotations, no frequency
                                  shift (pitch)
magnitude / log / mel / companded ``gain``, ``noise``, ``time_shift``, ``time_mask``,
time-frequency images             ``freq_mask``; not ``sign`` (a negative magnitude
                                  is not a magnitude)
anything else, when unsure        ``gain``, ``noise``
================================  ==================================================

``gain`` is a value scaling by a log-normal factor (for companded images not an exact audio
gain, but a plausible loudness change); ``noise`` adds Gaussian noise of a small random
standard deviation; ``time_shift`` moves the image along the time axis (``time_axis``: 2 for
H, 3 for W) by up to ``max_shift`` of its length with zero fill; the masks zero a random band
of up to ``max_mask`` of the time or frequency axis (SpecAugment style).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from grainbench.errors import UserError

ALL_OPS = ("gain", "noise", "sign", "time_shift", "time_mask", "freq_mask")

#: allowed ops per representation kind (see the module docstring)
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "global-transform": ("gain", "noise", "sign"),
    "waveform": ("gain", "noise", "sign"),
    "time-frequency-linear": ("gain", "noise", "sign", "time_shift", "time_mask", "freq_mask"),
    "time-frequency-magnitude": ("gain", "noise", "time_shift", "time_mask", "freq_mask"),
    "unknown": ("gain", "noise"),
}


def parse_ops(ops: str | Iterable[str]) -> tuple[str, ...]:
    """Validate a comma-separated string or iterable of op names (``""`` or ``"none"``: no ops)."""
    if isinstance(ops, str):
        items = [o.strip() for o in ops.split(",") if o.strip() and o.strip() != "none"]
    else:
        items = list(ops)
    bad = [o for o in items if o not in ALL_OPS]
    if bad:
        raise UserError(f"unknown augmentation {bad[0]!r}; choose from: {', '.join(ALL_OPS)}")
    return tuple(dict.fromkeys(items))


def ops_for_representation(rep: object) -> tuple[str, ...]:
    """A conservative default set of ops for a representation object.

    Uses only what the protocol exposes: ``linear`` (when present and true, polarity
    inversion is exact, so ``sign`` is allowed); geometry (time shift and masks) needs to know
    which axis is time, which the protocol does not say, so it is never chosen here: pass
    the ops explicitly for time-frequency layouts.
    """
    if getattr(rep, "linear", False):
        return OPS_BY_KIND["global-transform"]
    return OPS_BY_KIND["unknown"]


class AudioAugment(torch.nn.Module):
    """Apply each allowed op to each image with probability ``p`` (a buffer set by ADA).

    All draws come from the ``torch.Generator`` passed to :meth:`forward`, so augmentation is
    reproducible.
    """

    def __init__(
        self,
        ops: Iterable[str],
        time_axis: int = 3,
        gain_std: float = 0.2,
        noise_std: float = 0.02,
        max_shift: float = 0.125,
        max_mask: float = 0.1,
    ) -> None:
        super().__init__()
        self.ops = parse_ops(tuple(ops))
        if time_axis not in (2, 3):
            raise ValueError("time_axis must be 2 (H) or 3 (W)")
        self.time_axis = time_axis
        self.gain_std = gain_std
        self.noise_std = noise_std
        self.max_shift = max_shift
        self.max_mask = max_mask
        self.register_buffer("p", torch.zeros([], dtype=torch.float64))

    def _chosen(self, n: int, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
        draw = torch.rand(n, generator=gen, device=device, dtype=torch.float64)
        return draw < self.p.to(device)

    def forward(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """Augment a batch ``x`` (B, C, H, W); the identity when ``p == 0`` or no ops."""
        if not self.ops or float(self.p) <= 0.0:
            return x
        b, device = x.shape[0], x.device
        for op in self.ops:
            on = self._chosen(b, gen, device)
            if op == "gain":
                g = torch.exp2(torch.randn(b, generator=gen, device=device) * self.gain_std)
                x = x * torch.where(on, g, torch.ones_like(g)).reshape(b, 1, 1, 1).to(x.dtype)
            elif op == "noise":
                s = (torch.randn(b, generator=gen, device=device) * self.noise_std).abs()
                n = torch.randn(x.shape, generator=gen, device=device, dtype=x.dtype)
                x = x + n * torch.where(on, s, torch.zeros_like(s)).reshape(b, 1, 1, 1).to(x.dtype)
            elif op == "sign":
                flip = torch.rand(b, generator=gen, device=device) < 0.5
                sign = torch.where(on & flip, -1.0, 1.0).reshape(b, 1, 1, 1).to(x.dtype)
                x = x * sign
            elif op == "time_shift":
                x = self._shift(x, on, gen)
            elif op in ("time_mask", "freq_mask"):
                axis = self.time_axis if op == "time_mask" else 5 - self.time_axis
                x = self._mask(x, on, axis, gen)
        return x

    def _shift(
        self, x: torch.Tensor, on: torch.Tensor, gen: torch.Generator | None
    ) -> torch.Tensor:
        """Shift along the time axis by an integer in [-max_shift·n, max_shift·n], zero fill."""
        n = x.shape[self.time_axis]
        limit = int(math.floor(self.max_shift * n))
        shifts = torch.randint(-limit, limit + 1, (x.shape[0],), generator=gen, device=x.device)
        shifts = torch.where(on, shifts, torch.zeros_like(shifts))
        idx = torch.arange(n, device=x.device).reshape(1, n) - shifts.reshape(-1, 1)  # (B, n)
        valid = (idx >= 0) & (idx < n)
        idx = idx.clamp(0, n - 1)
        shape = [x.shape[0], 1, 1, 1]
        shape[self.time_axis] = n
        idx_b = idx.reshape(shape).expand_as(x)
        out = torch.gather(x, self.time_axis, idx_b)
        return out * valid.reshape(shape).to(x.dtype)

    def _mask(
        self, x: torch.Tensor, on: torch.Tensor, axis: int, gen: torch.Generator | None
    ) -> torch.Tensor:
        """Zero a random band of up to ``max_mask`` of ``axis``."""
        n = x.shape[axis]
        width = (torch.rand(x.shape[0], generator=gen, device=x.device) * self.max_mask * n).long()
        start = (torch.rand(x.shape[0], generator=gen, device=x.device) * (n - width + 1)).long()
        pos = torch.arange(n, device=x.device).reshape(1, n)
        band = (
            (pos >= start.reshape(-1, 1))
            & (pos < (start + width).reshape(-1, 1))
            & on.reshape(-1, 1)
        )
        shape = [x.shape[0], 1, 1, 1]
        shape[axis] = n
        return x * (~band).reshape(shape).to(x.dtype)


class AdaController:
    """Tunes an :class:`AudioAugment`'s ``p`` from the sign of D's outputs on reals.

    Every ``interval`` steps: ``p += sign(mean(sign(D(real))) - target) · batch·interval /
    (ada_kimg·1000)``, clamped to [0, 1]. :meth:`accumulate` collects the signs; in
    distributed training the caller reduces the accumulated sums over ranks before
    :meth:`update`.
    """

    def __init__(
        self, augment: AudioAugment, target: float = 0.6, interval: int = 4, ada_kimg: float = 500.0
    ) -> None:
        self.augment = augment
        self.target = target
        self.interval = interval
        self.ada_kimg = ada_kimg
        self.sign_sum = 0.0
        self.count = 0.0

    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add the signs of a batch of D outputs on (augmented) reals."""
        self.sign_sum += float(real_logits.detach().sign().sum())
        self.count += float(real_logits.numel())

    def update(
        self, batch: int, sign_sum: float | None = None, count: float | None = None
    ) -> float:
        """Adjust ``p`` (returns the heuristic r_t); ``sign_sum``/``count`` override the local sums."""
        s = self.sign_sum if sign_sum is None else sign_sum
        c = self.count if count is None else count
        self.sign_sum, self.count = 0.0, 0.0
        if c == 0:
            return 0.0
        rt = s / c
        step = math.copysign(1.0, rt - self.target) * batch * self.interval / (self.ada_kimg * 1000)
        p = min(max(float(self.augment.p) + step, 0.0), 1.0)
        self.augment.p.fill_(p)
        return rt
