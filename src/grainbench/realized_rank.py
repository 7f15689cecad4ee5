"""Across representations: does the predicted grain rank them as the realized grain does?

Reads results that hold a finished ``realized`` task (run folders, board entries, or
``result.json`` files), groups them by what makes them comparable (generator and its
options, dataset fingerprint, clip setting), and per group computes Spearman's rank
correlation between each representation's mean *predicted* and mean *realized* sound ESR
over its clips (:mod:`grainbench.tasks.realized`), with two percentile-bootstrap
intervals:

- **over clips**: the representations of a group share their held-out clips (same data,
  same split), so clips are resampled jointly (the same resampled clips for every
  representation) and both means recomputed: the uncertainty of the measurement;
- **over representations**: the representations are resampled with replacement: how
  much the agreement depends on which representations were measured.

Predictors: ``noise`` (white noise at each clip's projection PSNR, through the same codec
and decode: the transfer computation where it is needed), ``transfer-curve`` (the transfer
task's grain line at the projection PSNR, when the run had one) and ``grain-level`` (the
transfer task's grain level at 40 dB: the representation alone, blind to the generator;
interval over representations only).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

PREDICTORS = ("noise", "transfer-curve", "grain-level")
PRESENTATION = ("n_wavs", "batch_size")
"""Task parameters that change no measured value (how many WAVs, how many clips per batch):
results that differ only in them are compared."""


@dataclass
class RealizedEntry:
    """One result's realized grain: per clip realized and predicted ESR (dB)."""

    path: str
    rep: str
    group: str
    test_index: list[int]
    realized: np.ndarray
    predicted: dict[str, np.ndarray] = field(default_factory=dict)
    grain_level: float | None = None


def _grain_level(result: dict[str, Any]) -> float | None:
    body = (result.get("tasks") or {}).get("transfer") or {}
    for m in body.get("metrics", []):
        if m.get("key") == "grain_level[error=noise]" and m.get("value") is not None:
            return float(m["value"])
    return None


def _as_array(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def read_entry(path: Path) -> RealizedEntry | None:
    """The realized grain in ``path`` (a ``result.json``), or None when it has none."""
    try:
        result = json.loads(Path(path).read_text())
        body = result["tasks"]["realized"]
        per_clip = body["data"]["per_clip"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    ds, gen = result.get("dataset") or {}, result.get("generator") or {}
    group = json.dumps(
        {
            "generator": gen.get("spec"),
            "options": gen.get("options"),
            "data": ds.get("fingerprint"),
            "setting": [ds.get("sample_rate"), ds.get("n_samples")],
            "params": {
                k: v for k, v in (body.get("params") or {}).items() if k not in PRESENTATION
            },
        },
        sort_keys=True,
    )
    predicted = {
        name: _as_array(per_clip[f"esr_{name}"])
        for name in ("noise", "transfer-curve")
        if f"esr_{name}" in per_clip
    }
    return RealizedEntry(
        path=str(path),
        rep=str((result.get("representation") or {}).get("name")),
        group=group,
        test_index=[int(i) for i in per_clip["test_index"]],
        realized=_as_array(per_clip["esr_realized"]),
        predicted=predicted,
        grain_level=_grain_level(result),
    )


def find_entries(paths: list[Path]) -> list[RealizedEntry]:
    """Every result with a realized task under ``paths`` (files, or folders searched for
    ``result.json`` at any depth)."""
    found: list[RealizedEntry] = []
    for p in paths:
        files = [p] if Path(p).is_file() else sorted(Path(p).rglob("result.json"))
        found += [e for e in map(read_entry, files) if e is not None]
    return found


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ (ties get mean ranks); NaN for fewer than 3 points or a constant side."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return math.nan
    return float(spearmanr(x[ok], y[ok]).statistic)


def _interval(values: list[float], level: float = 0.95) -> tuple[float | None, float | None]:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return None, None
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(arr, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _shared_clips(entries: list[RealizedEntry]) -> list[list[int]]:
    """Per entry, the positions of the clips every entry of the group holds (in one order)."""
    common = sorted(set.intersection(*(set(e.test_index) for e in entries)))
    return [[e.test_index.index(i) for i in common] for e in entries]


def rank_correlation(
    entries: list[RealizedEntry], predictor: str, *, seed: int = 0, n_boot: int = 2000
) -> dict[str, Any]:
    """Spearman's ρ of predicted against realized mean ESR over ``entries`` (one group), with
    intervals over clips (not for ``grain-level``) and over representations (module doc)."""
    usable = [
        e
        for e in entries
        if (e.grain_level is not None if predictor == "grain-level" else predictor in e.predicted)
    ]
    rows = []
    clips = _shared_clips(usable) if usable else []
    realized = np.array([np.nanmean(e.realized[c]) for e, c in zip(usable, clips, strict=True)])
    if predictor == "grain-level":
        predicted = np.array([float(e.grain_level) for e in usable])  # type: ignore[arg-type]
    else:
        predicted = np.array(
            [np.nanmean(e.predicted[predictor][c]) for e, c in zip(usable, clips, strict=True)]
        )
    for e, r, p in zip(usable, realized, predicted, strict=True):
        rows.append({"rep": e.rep, "realized_esr": float(r), "predicted_esr": float(p)})
    rho = _spearman(predicted, realized)
    rng = np.random.default_rng(seed)
    n = len(usable)
    over_reps = (
        [_spearman(predicted[idx], realized[idx]) for idx in rng.integers(0, n, (n_boot, n))]
        if n
        else []
    )
    over_clips: list[float] = []
    if predictor != "grain-level" and n:
        m = len(clips[0])
        for draw in rng.integers(0, m, (n_boot, m)):
            r = [
                np.nanmean(e.realized[np.asarray(c)[draw]])
                for e, c in zip(usable, clips, strict=True)
            ]
            p = [
                np.nanmean(e.predicted[predictor][np.asarray(c)[draw]])
                for e, c in zip(usable, clips, strict=True)
            ]
            over_clips.append(_spearman(np.array(p), np.array(r)))
    return {
        "predictor": predictor,
        "n_representations": n,
        "n_clips": len(clips[0]) if clips else 0,
        "spearman": None if math.isnan(rho) else rho,
        "interval_over_clips": _interval(over_clips) if over_clips else (None, None),
        "interval_over_representations": _interval(over_reps),
        "rows": sorted(rows, key=lambda r: r["realized_esr"]),
    }


def report(paths: list[Path], *, seed: int = 0, n_boot: int = 2000) -> list[dict[str, Any]]:
    """Per comparable group of the results under ``paths``: its description and the rank
    correlation of every predictor the group has."""
    groups: dict[str, list[RealizedEntry]] = {}
    for e in find_entries(paths):
        groups.setdefault(e.group, []).append(e)
    out = []
    for key, members in groups.items():
        out.append(
            {
                "group": json.loads(key),
                "correlations": [
                    rank_correlation(members, p, seed=seed, n_boot=n_boot) for p in PREDICTORS
                ],
            }
        )
    return out
