"""Image errors by name, for ``grainbench apply``: ``none``, ``noise:psnr=40``, ``blur:psnr=50``,
``quant8``.

The errors are the transfer task's (SPEC 4.4, :mod:`grainbench.tasks.transfer`), applied to
each image on its own:

- ``none``: no error (the representation's own round trip);
- ``noise:psnr=P``: white Gaussian noise scaled to image PSNR ``P`` dB exactly (peak 2);
- ``blur:psnr=P``: the Gaussian blur with mirror edges whose width gives image PSNR ``P``
  (an image that no blur can move that far, such as a silent one, is left as it is);
- ``quant8``: the ``png8`` codec's 8-bit quantisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from grainbench.codecs import get_codec
from grainbench.errors import UserError
from grainbench.tasks.transfer_errors import MirrorBlur, add_noise

KINDS = ("none", "noise", "blur", "quant8")
"""The error kinds; ``noise`` and ``blur`` take ``psnr``."""


@dataclass(frozen=True)
class ImageError:
    """One error: ``kind`` (one of :data:`KINDS`) and, for noise and blur, ``psnr`` (dB)."""

    kind: str
    psnr: float | None = None

    def __call__(self, images: torch.Tensor, seed: int) -> torch.Tensor:
        """``images (B, C, H, W)`` with the error; noise drawn from ``seed``."""
        if self.kind == "none":
            return images
        if self.kind == "quant8":
            return get_codec("png8").quantise(images)[0]
        assert self.psnr is not None
        if self.kind == "noise":
            return add_noise(images, self.psnr, seed)
        blur = MirrorBlur(images)
        sigma = blur.sigma_for_psnr(self.psnr)
        blurred = blur.blur(torch.nan_to_num(sigma, nan=0.0)).to(images.dtype)
        keep = torch.isnan(sigma).to(images.device)[:, None, None, None]
        return torch.where(keep, images, blurred)

    def describe(self) -> str:
        """The spec it was parsed from, normalised (``noise:psnr=40``)."""
        return self.kind if self.psnr is None else f"{self.kind}:psnr={self.psnr:g}"


def parse_error(spec: str) -> ImageError:
    """``"noise:psnr=40"`` → ``ImageError("noise", 40.0)``; a bad spec is a :class:`UserError`."""
    kind, _, rest = str(spec).strip().partition(":")
    if kind not in KINDS:
        raise UserError(f"--error {spec!r}: the kind must be one of {', '.join(KINDS)}")
    options: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--error {spec!r}: expected KEY=VALUE after the kind, got {item!r}")
        options[key.strip()] = value.strip()
    wants = {"psnr"} if kind in ("noise", "blur") else set()
    if set(options) != wants:
        need = f"psnr=DB (e.g. {kind}:psnr=40)" if wants else "no options"
        raise UserError(f"--error {spec!r}: {kind} takes {need}")
    if not wants:
        return ImageError(kind)
    try:
        psnr = float(options["psnr"])
    except ValueError:
        raise UserError(f"--error {spec!r}: psnr must be a number of dB") from None
    if not math.isfinite(psnr) or not 0 < psnr <= 200:
        raise UserError(f"--error {spec!r}: psnr must be in (0, 200] dB")
    return ImageError(kind, psnr)
