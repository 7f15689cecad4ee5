"""The ``harmonic-noise`` representation's fitted peaks for a DDSP checkpoint, cached.

``grainbench train --rep harmonic-noise --gen ddsp`` stores in its final checkpoint the
peaks the representation fits on the training clips (the largest harmonic amplitude and
noise magnitude, which scale its images), so that the checkpoint can draw that
representation's images. Fitting them analyses every training clip with the
representation's f0 estimator (CREPE): 900 one-second clips cost 10–20 minutes on one
loaded core. :func:`fitted_peaks` therefore caches the two numbers under
``<cache>/ddsp-peaks/``, keyed by the clips' sha256, the stage's parameters
(``describe()`` without the peaks) and the sha256 of the source files that compute them
(the stage's module, the f0 estimator's module and :mod:`grainbench.metrics.crepe`), so a
resumed or repeated run with the same clips and code reads them instead.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.data.cache import arrays_hash, cache_root, load_arrays, save_arrays
from grainbench.metrics import crepe

PEAKS_VERSION = 1
"""Bumped when what :func:`fitted_peaks` stores changes (part of the cache key)."""


def _sources_hash(stage: Any) -> str:
    """sha256 over the source files of the stage's class, its f0 estimator and CREPE."""
    files = {inspect.getsourcefile(type(stage)), crepe.__file__}
    estimator = getattr(stage, "f0_estimator", None)
    if estimator is not None:
        files.add(inspect.getsourcefile(estimator))
    digest = hashlib.sha256()
    for name in sorted(str(f) for f in files if f):
        digest.update(Path(name).read_bytes())
    return digest.hexdigest()


def peaks_key(stage: Any, audio: np.ndarray) -> str:
    """The cache key of ``stage``'s peaks fitted on clips ``audio`` (float32, any shape)."""
    params = {k: v for k, v in stage.describe().items() if k != "peaks"}
    key = {
        "audio": arrays_hash({"audio": audio}),
        "stage": params,
        "sources": _sources_hash(stage),
        "version": PEAKS_VERSION,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def fitted_peaks(rep: Any, audio: torch.Tensor, cache_dir: str | Path | None = None) -> list[float]:
    """Fit ``rep`` (a loaded ``harmonic-noise`` representation) on clips ``(N, ch, n)`` and
    return its stage's peaks ``[harmonic, noise]`` (linear amplitude), from the cache when
    the same clips and code were fitted before (then set on the stage without fitting)."""
    stage = rep.plugin.stages[0]
    x = np.ascontiguousarray(audio.detach().cpu().float().numpy())
    path = cache_root(cache_dir) / "ddsp-peaks" / f"{peaks_key(stage, x)[:32]}.npz"
    stored = load_arrays(path)
    if stored is not None and stored["peaks"].shape == (2,):
        stage.peaks.copy_(torch.from_numpy(stored["peaks"]))
    else:
        rep.fit(audio)
        save_arrays(path, {"peaks": stage.peaks.detach().cpu().numpy()})
    return [float(p) for p in stage.peaks]
