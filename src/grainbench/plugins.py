"""Load representations and generators by name, from a file or from a module, and validate
them on load.

A spec is a registered name (``dct-square``), ``path/to/file.py:Class`` or
``package.module:Class`` (a module importable from ``sys.path``).

A plugin is duck-typed (SPEC section 2): it need not import grainbench. Everything that
can go wrong with someone else's code — a missing attribute, an exception, NaN, a wrong
shape or dtype — becomes a :class:`UserError` with a one-line reason.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import torch

from grainbench import guard
from grainbench.errors import UserError
from grainbench.registries import GENERATORS, REPRESENTATIONS
from grainbench.results import code_hash


def load_class_from_file(spec: str) -> tuple[type, Path]:
    """``path/to/file.py:ClassName`` → the class and the file's path."""
    path_text, _, cls_name = spec.rpartition(":")
    if not path_text or not cls_name:
        raise UserError(f"plugin {spec!r}: expected path/to/file.py:ClassName")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise UserError(f"plugin file {path} does not exist")
    mod_name = f"grainbench_plugin_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    module_spec = importlib.util.spec_from_file_location(mod_name, path)
    if module_spec is None or module_spec.loader is None:
        raise UserError(f"plugin file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[mod_name] = module
    try:
        guard.call(f"plugin file {path}: import", module_spec.loader.exec_module, module)
    except UserError:
        sys.modules.pop(mod_name, None)
        raise
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise UserError(f"plugin file {path} has no {cls_name!r}")
    return cls, path


_MODULE_SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")


def is_plugin_spec(spec: str) -> bool:
    """Whether ``spec`` names a plugin class (``file.py:Class``, ``package.module:Class``)
    rather than a registered name (registered names have no colon)."""
    return ":" in spec


def load_class_from_module(spec: str) -> tuple[type, Path]:
    """``package.module:ClassName`` → the class and the module's source file."""
    if not _MODULE_SPEC.fullmatch(spec):
        raise UserError(
            f"plugin {spec!r}: expected package.module:ClassName or path/to/file.py:ClassName"
        )
    mod_name, _, cls_name = spec.partition(":")
    module = guard.call(f"plugin module {mod_name}: import", importlib.import_module, mod_name)
    source = getattr(module, "__file__", None)
    if not source:
        raise UserError(f"plugin module {mod_name} has no source file")
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise UserError(f"plugin module {mod_name} has no {cls_name!r}")
    return cls, Path(source)


def load_class(spec: str) -> tuple[type, Path]:
    """A plugin spec (``file.py:Class`` or ``package.module:Class``) → the class and the
    file its source hash is taken from."""
    return load_class_from_file(spec) if ".py:" in spec else load_class_from_module(spec)


def _probe_audio(n_channels: int, n_samples: int, sample_rate: int) -> torch.Tensor:
    """Two deterministic test clips: a decaying harmonic tone and seeded noise at −12 dBFS."""
    t = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    tone = sum(torch.sin(2 * torch.pi * 220.0 * k * t) / k for k in range(1, 6))
    tone = 0.5 * tone / tone.abs().max() * torch.exp(-3.0 * t)
    noise = 0.25 * torch.randn(n_samples, generator=torch.Generator().manual_seed(0)).double()
    clips = torch.stack([tone, noise.clamp(-1, 1)]).float()
    return clips[:, None, :].expand(2, n_channels, n_samples).contiguous()


DEGENERATE_PTP = 1e-6
"""A decoded probe clip whose peak-to-peak amplitude is at most this is constant."""


def _attr(plugin: Any, name: str, what: str) -> Any:
    """``getattr(plugin, name, None)`` with a raising property reported, not crashing."""
    return guard.call(f"{what}: attribute {name}", getattr, plugin, name, None)


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
        self.name = str(_attr(plugin, "name", f"representation {spec}") or type(plugin).__name__)
        where = f"representation {self.name}"
        for attr in ("sample_rate", "n_samples", "n_channels"):
            value = _attr(plugin, attr, where)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{where}: attribute {attr} must be a positive int, got {value!r}")
        for meth in ("encode", "decode"):
            if not callable(_attr(plugin, meth, where)):
                raise UserError(f"{where}: missing method {meth}()")
        self.sample_rate: int = plugin.sample_rate
        self.n_samples: int = plugin.n_samples
        self.n_channels: int = plugin.n_channels
        self.linear = bool(_attr(plugin, "linear", where))
        self.lossless = _attr(plugin, "lossless", where)
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

    def fit(self, audio: torch.Tensor) -> None:
        """Call the plugin's optional ``fit`` on training clips, then check that the fitted
        representation still encodes and decodes, and that its decoder is not degenerate."""
        fit = _attr(self.plugin, "fit", f"representation {self.name}")
        if callable(fit):
            self._call("fit", audio)
            self.decode(self.encode(audio[:2]))
        self.check_not_degenerate()

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
        move = _attr(self.plugin, "to", f"representation {self.name}")
        if callable(move):
            guard.call(f"representation {self.name}: to({device})", move, device)
        return self

    def describe(self) -> dict[str, Any]:
        """Everything a result records about this representation."""
        describe = _attr(self.plugin, "describe", f"representation {self.name}")
        params = (
            guard.call(f"representation {self.name}: describe", describe)
            if callable(describe)
            else {}
        )
        return {
            "spec": self.spec,
            "name": self.name,
            "sample_rate": self.sample_rate,
            "n_samples": self.n_samples,
            "n_channels": self.n_channels,
            "image_shape": list(self.image_shape),
            "linear": self.linear,
            "lossless": self.lossless,
            "source_hash": self.source_hash,
            "params": params,
        }


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_representation(
    spec: str, sample_rate: int | None = None, n_samples: int | None = None
) -> Representation:
    """A built-in name (built at the given setting), ``file.py:Class`` or
    ``package.module:Class``, validated.

    Plugin classes fix their own setting; ``sample_rate`` and ``n_samples`` only shape
    built-ins whose factories accept a setting.
    """
    if is_plugin_spec(spec):
        cls, path = load_class(spec)
        plugin = guard.call(f"representation {spec}: constructor", cls)
        return Representation(plugin, spec, file_hash(path))
    factory = REPRESENTATIONS.get(spec)
    return Representation(factory(sample_rate=sample_rate, n_samples=n_samples), spec, code_hash())


def load_generator(
    spec: str, image_shape: tuple[int, ...], show_progress: bool | None = None, **options: Any
) -> Any:
    """A built-in generator name (``factory(image_shape, **options)``), ``file.py:Class`` or
    ``package.module:Class``.

    ``show_progress`` is handed, as ``progress``, to a built-in factory that takes one
    (unless ``options`` set ``progress``). The generator must have callable ``fit`` and ``sample`` (SPEC
    section 2).
    """
    if is_plugin_spec(spec):
        cls, _ = load_class(spec)
        try:
            takes_shape = bool(inspect.signature(cls).parameters)
        except (TypeError, ValueError):
            takes_shape = False
        build = (lambda: cls(image_shape)) if takes_shape else cls
        gen = guard.call(f"generator {spec}: constructor", build)
    else:
        factory = GENERATORS.get(spec)
        if show_progress is not None and "progress" in inspect.signature(factory).parameters:
            options = {"progress": show_progress, **options}
        gen = guard.call(f"generator {spec}", factory, tuple(image_shape), **options)
    for meth in ("fit", "sample"):
        if not callable(getattr(gen, meth, None)):
            raise UserError(f"generator {spec}: missing method {meth}()")
    return gen
