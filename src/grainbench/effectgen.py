"""Where ``grainbench apply --gen`` finds a generator, and the setting it was trained at.

``--gen`` is one of:

- a **``grainbench train`` folder** (StyleGAN2/3 checkpoints, ``OUT/checkpoints/<step>/``):
  the newest checkpoint's EMA generator; the representation, dataset, clip setting, split
  seed and image layout (``--shape``) are read from the checkpoint's metadata;
- a **``grainbench run`` folder** whose generator was ``gmm``, ``oracle`` or a
  ``file.py:Class`` plugin (``result.json``/``run.json``): the generator is fitted again on
  the fly, exactly as the run fitted it (same representation, dataset, setting, seed and
  options; the dataset's fingerprint must match the run's). A StyleGAN that a run trained
  in memory left nothing to load, unless the run gave it ``--gen-opt out_dir=DIR``
  (then ``DIR`` is read as a train folder);
- a **generator name or plugin** (``gmm``, ``oracle``, ``file.py:Class``): fitted on the fly
  on ``--data`` at the representation's setting.

Every generator must offer ``project``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grainbench.errors import UserError
from grainbench.generator import Generator

TRAINED_ONLY = ("stylegan2", "stylegan3")
"""Generators that apply cannot fit on the fly (they train for minutes to days)."""


@dataclass
class GeneratorSource:
    """A generator and the setting of its representation.

    ``generator`` is already fitted when ``fitted``; else it is fitted on ``data`` (split
    ``seed``) at the representation's setting. ``shape`` is a train folder's ``--shape``
    layout (H, W) or None. ``fingerprint`` is the dataset fingerprint the source was made
    on (checked when the data is loaded), or None.
    """

    generator: Any
    spec: str
    rep: str | None
    data: str | None
    sample_rate: int | None
    n_samples: int | None
    seed: int
    fitted: bool
    shape: tuple[int, int] | None = None
    fingerprint: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _train_folder(path: Path, device: str, options: dict[str, Any]) -> GeneratorSource:
    from grainbench.baselines.generators.stylegan.checkpoint import read_checkpoint_meta
    from grainbench.baselines.generators.stylegan.generator import StyleGANGenerator

    meta = read_checkpoint_meta(path).get("metadata") or {}
    gen = StyleGANGenerator.load(path, device=device, **options)
    shape = meta.get("shape")
    return GeneratorSource(
        generator=gen,
        spec=str(path),
        rep=meta.get("rep"),
        data=meta.get("data"),
        sample_rate=meta.get("sample_rate"),
        n_samples=meta.get("n_samples"),
        seed=int(meta.get("split_seed", 0)),
        fitted=True,
        shape=tuple(shape) if shape else None,
        fingerprint=meta.get("dataset_fingerprint"),
        options=dict(options),
    )


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_identity(path: Path) -> dict[str, Any]:
    """A run folder's identity (``run.json``, else derived from ``result.json``) with the
    dataset fingerprint of its result (``fingerprint``, None when there is no result)."""
    from grainbench.runfolder import RUN_FILE, identity_from_result

    run, result = _read(path / RUN_FILE), _read(path / "result.json")
    identity = run.get("identity") if isinstance(run, dict) else None
    if not isinstance(identity, dict) and isinstance(result, dict):
        identity = identity_from_result(result)
    if not isinstance(identity, dict) or not identity.get("rep"):
        raise UserError(f"--gen {path}: neither a grainbench train folder nor a run folder")
    dataset = result.get("dataset") if isinstance(result, dict) else None
    fingerprint = dataset.get("fingerprint") if isinstance(dataset, dict) else None
    return {**identity, "fingerprint": fingerprint}


def _run_folder(path: Path, device: str, gen_options: dict[str, Any]) -> GeneratorSource:
    identity = _run_identity(path)
    gen_info = identity.get("generator") or {}
    spec, options = gen_info.get("spec"), dict(gen_info.get("options") or {})
    if not spec:
        raise UserError(f"--gen {path}: this run used no generator")
    if spec in TRAINED_ONLY:
        saved = options.get("out_dir")
        if saved and _is_train_folder(Path(saved)):
            return _train_folder(Path(saved), device, gen_options)
        raise UserError(
            f"--gen {path}: its {spec} was trained in memory and not saved; train one with "
            "grainbench train (or run with --gen-opt out_dir=DIR) and pass that folder"
        )
    return GeneratorSource(
        generator=None,
        spec=str(spec),
        rep=identity.get("rep"),
        data=identity.get("data"),
        sample_rate=identity.get("sample_rate"),
        n_samples=identity.get("n_samples"),
        seed=int(identity.get("seed", 0)),
        fitted=False,
        fingerprint=identity.get("fingerprint"),
        options={**options, **gen_options},
    )


def _is_train_folder(path: Path) -> bool:
    return (path / "checkpoints").is_dir() or (path / "checkpoint.json").is_file()


def find_source(
    gen: str, device: str = "cpu", options: dict[str, Any] | None = None
) -> GeneratorSource:
    """The :class:`GeneratorSource` that ``--gen`` names (see the module doc), with the
    generator ``options`` (``--gen-opt``: a loaded StyleGAN's projection options, or options
    over a run's own); the generator of a run folder or a name is built later
    (:func:`build_generator`), once the image shape is known."""
    options = dict(options or {})
    path = Path(gen).expanduser()
    if path.is_dir():
        if _is_train_folder(path):
            return _train_folder(path, device, options)
        return _run_folder(path, device, options)
    if gen in TRAINED_ONLY:
        raise UserError(
            f"--gen {gen}: a StyleGAN must be trained first (grainbench train --out DIR); "
            "pass that folder"
        )
    if ".py:" not in gen and Path(gen).suffix == "" and "/" in gen:
        raise UserError(f"--gen {gen}: no such folder")
    return GeneratorSource(
        generator=None,
        spec=gen,
        rep=None,
        data=None,
        sample_rate=None,
        n_samples=None,
        seed=0,
        fitted=False,
        options=options,
    )


def build_generator(source: GeneratorSource, image_shape: tuple[int, ...]) -> Generator:
    """The source's generator, checked (built for ``image_shape`` unless it came fitted)."""
    from grainbench.plugins import load_generator

    if source.fitted:
        shape = tuple(getattr(source.generator, "image_shape", image_shape))
        if shape != tuple(image_shape):
            raise UserError(
                f"--gen {source.spec}: made for images {shape}, the representation gives "
                f"{tuple(image_shape)}"
            )
        return Generator(source.generator, source.spec, shape)
    return load_generator(source.spec, image_shape, show_progress=False, **source.options)
