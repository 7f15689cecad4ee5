"""The checked generator: a plugin wrapped with validation of its attributes and of every
call's output (SPEC section 2), as :class:`grainbench.representation.Representation` checks
a representation. :mod:`grainbench.plugins` loads plugins into it; this module imports no
registry, so tasks can name it without an import circle.

Required of a plugin: ``fit(images (N, C, H, W), labels=None)`` and
``sample(n, labels=None, seed=0) -> (n, C, H, W)``. Optional, with a flag saying whether the
plugin has it: ``project`` (:attr:`Generator.has_project`), ``fit_audio`` with
``sample_audio`` (:attr:`Generator.is_audio`), ``reconstruct_audio``
(:attr:`Generator.has_reconstruct`); and ``describe``.

Every call goes through :func:`grainbench.guard.call`. Outputs are checked, never changed:
what the plugin returned comes back as ``torch.as_tensor`` makes it (the same tensor, or an
array's memory), of its own dtype and device; the tasks convert as they need.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from grainbench import guard
from grainbench.errors import UserError


class Generator:
    """A validated generator: the plugin ``plugin`` (loaded from ``spec``) for images of
    ``image_shape`` ``(C, H, W)``, with checks on every call (see the module doc).

    A missing required method, a raising attribute or call, an output that is no tensor,
    not floating-point, of the wrong shape or count, or not finite raises
    :class:`UserError` naming the generator.
    """

    def __init__(self, plugin: Any, spec: str, image_shape: tuple[int, ...]) -> None:
        self.plugin = plugin
        self.spec = spec
        self.image_shape: tuple[int, ...] = tuple(image_shape)
        for meth in ("fit", "sample"):
            if not callable(self._attr(meth)):
                raise UserError(f"generator {spec}: missing method {meth}()")
        self.has_project = callable(self._attr("project"))
        self.has_reconstruct = callable(self._attr("reconstruct_audio"))
        self.is_audio = callable(self._attr("fit_audio")) and callable(self._attr("sample_audio"))

    def _attr(self, name: str) -> Any:
        return guard.attribute(self.plugin, name, f"generator {self.spec}")

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        fn = self._attr(method)
        return guard.call(f"generator {self.spec}: {method}", fn, *args, **kwargs)

    def _checked(self, method: str, out: Any, expected: tuple[int, ...]) -> torch.Tensor:
        """``out`` as a tensor, checked: floating-point, of shape ``expected``, finite."""
        where = f"generator {self.spec}: {method}"
        try:
            tensor = torch.as_tensor(out)
        except (TypeError, ValueError, RuntimeError):
            raise UserError(f"{where} returned {type(out).__name__}, expected a tensor") from None
        if not tensor.is_floating_point():
            raise UserError(f"{where} returned dtype {tensor.dtype}, expected floating point")
        shape = tuple(tensor.shape)
        if shape != expected:
            if len(shape) == len(expected) and shape[1:] == expected[1:]:
                raise UserError(f"{where} returned {shape[0]} items for {expected[0]} asked")
            raise UserError(f"{where} returned shape {shape}, expected {expected}")
        if not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{where} returned NaN or inf")
        return tensor

    def fit(self, images: Any, labels: Any = None) -> Any:
        """Fit the plugin on ``images`` ``(N, C, H, W)`` in [-1, 1] (``labels``: MIDI notes
        ``(N,)`` or None); returns what the plugin's ``fit`` returns."""
        return self._call("fit", images, labels)

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """``n`` checked images ``(n, C, H, W)`` (``labels``: ``(n,)`` MIDI notes or None)."""
        out = self._call("sample", n, labels=labels, seed=seed)
        return self._checked("sample", out, (n, *self.image_shape))

    def project(self, images: torch.Tensor, labels: Any = None, seed: int = 0) -> torch.Tensor:
        """The generator's closest outputs to ``images`` ``(N, C, H, W)``, checked to have
        their shape; the plugin's ``project`` gets ``labels`` and ``seed`` only when its
        signature takes them. Raises :class:`UserError` when it has no ``project``."""
        if not self.has_project:
            raise UserError(f"generator {self.spec} has no project()")
        try:
            accepted = inspect.signature(self.plugin.project).parameters
        except (TypeError, ValueError):
            accepted = {}
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        kwargs = {
            k: v for k, v in (("labels", labels), ("seed", seed)) if takes_all or k in accepted
        }
        out = self._call("project", images, **kwargs)
        return self._checked("project", out, tuple(images.shape))

    def fit_audio(self, audio: torch.Tensor, labels: Any, sample_rate: int) -> Any:
        """Fit an audio generator (:attr:`is_audio`) on clips ``(N, channels, samples)`` at
        ``sample_rate`` Hz; returns what the plugin's ``fit_audio`` returns."""
        return self._call("fit_audio", audio, labels, sample_rate)

    def sample_audio(
        self, n: int, clip_shape: tuple[int, int], labels: Any = None, seed: int = 0
    ) -> torch.Tensor:
        """``n`` checked clips ``(n, *clip_shape)`` (channels, samples) of an audio generator."""
        out = self._call("sample_audio", n, labels=labels, seed=seed)
        return self._checked("sample_audio", out, (n, *clip_shape))

    def reconstruct_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """The generator's rebuild of clips ``audio`` ``(B, channels, samples)`` at
        ``sample_rate`` Hz: checked to be ``(B, channels or 1, samples)``."""
        out = self._call("reconstruct_audio", audio, sample_rate)
        batch, channels, samples = audio.shape
        shape = tuple(getattr(out, "shape", ()))
        mono = len(shape) == 3 and shape[1] == 1
        return self._checked("reconstruct_audio", out, (batch, 1 if mono else channels, samples))

    def describe(self) -> Any:
        """The plugin's ``describe()`` (what a result records about it), None without one."""
        describe = self._attr("describe")
        return self._call("describe") if callable(describe) else None
