"""The checked representation: a plugin wrapped with validation of its attributes and of
every encode and decode (SPEC section 2). :mod:`grainbench.plugins` loads plugins into it;
this module imports no registry, so the tasks can name it without an import circle."""

from __future__ import annotations

from typing import Any

import torch

from grainbench import guard
from grainbench.errors import UserError


def _probe_audio(n_channels: int, n_samples: int, sample_rate: int) -> torch.Tensor:
    """Two deterministic test clips: a decaying harmonic tone and seeded noise at −12 dBFS."""
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    tone = sum(torch.sin(2 * torch.pi * 220.0 * k * t) / k for k in range(1, 6))
    tone = 0.5 * tone / tone.abs().max() * torch.exp(-3.0 * t)
    noise = 0.25 * torch.randn(n_samples, generator=torch.Generator().manual_seed(0)).double()
    clips = torch.stack([tone, noise.clamp(-1, 1)]).float()
    return clips[:, None, :].expand(2, n_channels, n_samples).contiguous()


def described_setting(rep: Any) -> dict[str, Any]:
    """What a description records of any representation ``rep``: its setting (Hz, samples,
    channels), image shape ``[C, H, W]``, ``linear`` and ``lossless``."""
    return {
        "sample_rate": rep.sample_rate,
        "n_samples": rep.n_samples,
        "n_channels": rep.n_channels,
        "image_shape": list(rep.image_shape),
        "linear": rep.linear,
        "lossless": rep.lossless,
    }


DEGENERATE_PTP = 1e-6
"""A decoded probe clip whose peak-to-peak amplitude is at most this is constant."""


class Representation:
    """A validated representation: the plugin plus checks on every encode and decode.

    Exposes the SPEC section 2 attributes and ``image_shape``, ``linear``, ``lossless``,
    ``describe()``, ``source_hash``. Calls that raise (anything, ``SystemExit`` included),
    return the wrong shape or dtype, or produce NaN/inf raise :class:`UserError` naming the
    representation; so does a decoder found degenerate after :meth:`fit`.
    """

    def __init__(self, plugin: Any, spec: str, source_hash: str) -> None:
        self.plugin = plugin
        self.spec = spec
        self.source_hash = source_hash
        self.name = str(
            guard.attribute(plugin, "name", f"representation {spec}") or type(plugin).__name__
        )
        where = f"representation {self.name}"
        for attr in ("sample_rate", "n_samples", "n_channels"):
            value = guard.attribute(plugin, attr, where)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{where}: attribute {attr} must be a positive int, got {value!r}")
        for meth in ("encode", "decode"):
            if not callable(guard.attribute(plugin, meth, where)):
                raise UserError(f"{where}: missing method {meth}()")
        self.sample_rate: int = plugin.sample_rate
        self.n_samples: int = plugin.n_samples
        self.n_channels: int = plugin.n_channels
        self.linear = bool(guard.attribute(plugin, "linear", where))
        self.lossless = guard.attribute(plugin, "lossless", where)
        probe = _probe_audio(self.n_channels, self.n_samples, self.sample_rate)
        image = self.encode(probe)
        self.image_shape: tuple[int, int, int] = tuple(image.shape[1:])
        self.decode(image)

    def _call(self, what: str, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return guard.call(f"representation {self.name}: {what}", getattr(self.plugin, what), x)

    def _check(self, what: str, out: Any, shape: tuple[int, ...] | None, ndim: int) -> None:
        if not isinstance(out, torch.Tensor):
            raise UserError(
                f"representation {self.name}: {what} returned {type(out).__name__}, "
                "expected a torch.Tensor"
            )
        if out.dtype != torch.float32:
            raise UserError(
                f"representation {self.name}: {what} returned dtype {out.dtype}, expected float32"
            )
        if out.ndim != ndim or (shape is not None and tuple(out.shape) != shape):
            want = shape if shape is not None else f"{ndim}-D"
            raise UserError(
                f"representation {self.name}: {what} returned shape {tuple(out.shape)}, "
                f"expected {want}"
            )
        if not bool(torch.isfinite(out).all()):
            raise UserError(f"representation {self.name}: {what} returned NaN or inf")

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio ``(B, n_channels, n_samples)`` → checked image ``(B, C, H, W)``."""
        out = self._call("encode", audio)
        expected = (audio.shape[0], *self.image_shape) if hasattr(self, "image_shape") else None
        self._check("encode", out, expected, 4)
        if expected is None and out.shape[0] != audio.shape[0]:
            raise UserError(
                f"representation {self.name}: encode returned batch {out.shape[0]} for "
                f"{audio.shape[0]} clips"
            )
        return out

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        """Image ``(B, C, H, W)`` → checked audio ``(B, n_channels, n_samples)``."""
        out = self._call("decode", image)
        self._check("decode", out, (image.shape[0], self.n_channels, self.n_samples), 3)
        return out

    def fit(self, audio: torch.Tensor) -> torch.Tensor | None:
        """Call the plugin's optional ``fit`` on training clips, then check that the fitted
        representation still encodes and decodes, and that its decoder is not degenerate.

        Returns the training images ``(N, C, H, W)`` when the plugin's ``fit`` returns them
        (a finite float32 tensor of that shape, which must equal what ``encode`` gives for
        those clips: the built-in representations do, tested), else None."""
        fit = guard.attribute(self.plugin, "fit", f"representation {self.name}")
        images = None
        if callable(fit):
            out = self._call("fit", audio)
            shape = (audio.shape[0], *self.image_shape)
            if (
                isinstance(out, torch.Tensor)
                and out.dtype == torch.float32
                and tuple(out.shape) == shape
                and bool(torch.isfinite(out).all())
            ):
                images = out
            self.decode(self.encode(audio[:2]))
        self.check_not_degenerate()
        return images

    def check_not_degenerate(self) -> None:
        """Raise :class:`UserError` when the decoded probe clips (a harmonic tone and noise)
        are constant (zeros included) or identical: every perturbation, locality and transfer
        number of such a decoder would be meaningless."""
        probe = _probe_audio(self.n_channels, self.n_samples, self.sample_rate)
        out = self.decode(self.encode(probe)).reshape(probe.shape[0], -1)
        ptp = out.amax(dim=1) - out.amin(dim=1)
        if bool((ptp <= DEGENERATE_PTP).any()):
            level = float(out[int(ptp.argmin())].mean())
            raise UserError(
                f"representation {self.name}: decode returns a constant signal ({level:g}) "
                "for a test clip: the decoder is degenerate"
            )
        if bool(((out[0] - out[1]).abs().amax() <= DEGENERATE_PTP).item()):
            raise UserError(
                f"representation {self.name}: decode returns the same audio for different "
                "clips: the decoder ignores its input"
            )

    def to(self, device: torch.device) -> Representation:
        """Move the plugin to ``device`` when it supports ``.to`` (torch modules do)."""
        move = guard.attribute(self.plugin, "to", f"representation {self.name}")
        if callable(move):
            guard.call(f"representation {self.name}: to({device})", move, device)
        return self

    def describe(self) -> dict[str, Any]:
        """Everything a result records about this representation."""
        describe = guard.attribute(self.plugin, "describe", f"representation {self.name}")
        params = (
            guard.call(f"representation {self.name}: describe", describe)
            if callable(describe)
            else {}
        )
        return {
            "spec": self.spec,
            "name": self.name,
            **described_setting(self),
            "source_hash": self.source_hash,
            "params": params,
        }
