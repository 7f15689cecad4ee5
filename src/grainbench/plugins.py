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

from grainbench import guard
from grainbench.errors import UserError
from grainbench.generator import Generator
from grainbench.registries import GENERATORS, REPRESENTATIONS
from grainbench.representation import Representation
from grainbench.results import code_hash

__all__ = [
    "Generator",
    "Representation",
    "file_hash",
    "is_plugin_spec",
    "load_class",
    "load_generator",
    "load_representation",
]


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
) -> Generator:
    """A built-in generator name (``factory(image_shape, **options)``), ``file.py:Class`` or
    ``package.module:Class``, validated (:class:`~grainbench.generator.Generator`).

    ``show_progress`` is handed, as ``progress``, to a built-in factory that takes one
    (unless ``options`` set ``progress``). The generator must have callable ``fit`` and
    ``sample`` (SPEC section 2).
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
    return Generator(gen, spec, tuple(image_shape))
