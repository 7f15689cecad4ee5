"""How the generation task (:mod:`grainbench.tasks.generation`) scores its rows: the
reference split of real clips, and FD, FD∞, KID, NDB and pitch of every row against the
reference side A."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from grainbench.errors import UserError
from grainbench.metrics import distances as dist
from grainbench.metrics import ndb as ndb_metric
from grainbench.metrics import pitch as pm
from grainbench.metrics.embeddings import (
    CrepeEmbedding,
    Embedding,
    Standardisation,
    cached_features,
)
from grainbench.metrics.memo import cached_json, content_key, entry_path
from grainbench.metrics.stats import bootstrap_ci
from grainbench.tasks.base import MetricValue, RunContext, TaskResult

ROWS = ("generator", "real-vs-real", "roundtrip")

Candidates = dict[str, tuple[torch.Tensor | None, np.ndarray | None, Any]]
"""Per row: decoded audio (None for real pool clips), pool indices (or None), intended notes."""


@dataclass(frozen=True)
class ReferenceSplit:
    """Which real clips the generator trains on and which form the reference sides.

    Pool indices count the test clips first (``0 … n_test − 1``), then the held-out
    training clips in the order of ``held_out``.
    """

    fit: np.ndarray
    held_out: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def describe(self, n_test: int, n_reference: int) -> dict[str, Any]:
        """What a result records about the split (counts, indices, and a note when short)."""
        side = len(self.a)
        info: dict[str, Any] = {
            "generator_trained_on": len(self.fit),
            "held_out_train_clips": len(self.held_out),
            "test_clips": n_test,
            "per_side": side,
            "n_reference_requested": n_reference,
            "held_out_train_indices": self.held_out.tolist(),
            "a_pool_indices": self.a.tolist(),
            "b_pool_indices": self.b.tolist(),
        }
        if side < n_reference:
            info["note"] = (
                f"{side} clips per side, fewer than n_reference={n_reference}: the dataset "
                f"has {n_test} test clips and at most {len(self.held_out)} training clips "
                "could be held out"
            )
        return info


def reference_split(
    n_train: int, n_test: int, n_reference: int, seed: int, holdout_max_fraction: float = 1 / 3
) -> ReferenceSplit:
    """The seeded split of real clips into generator training clips and reference sides A, B.

    The pool is every test clip plus ``min(2·n_reference − n_test, ⌊holdout_max_fraction ·
    n_train⌋)`` training clips (none when the test set is large enough), chosen at random;
    A and B are disjoint random halves of it (``min(n_reference, pool // 2)`` clips each).
    The generator fits on the training clips not held out.
    """
    if n_reference < 1 or not 0.0 <= holdout_max_fraction < 1.0:
        raise UserError(
            "generation needs n_reference ≥ 1 and 0 ≤ holdout_max_fraction < 1, got "
            f"{n_reference} and {holdout_max_fraction}"
        )
    rng = np.random.default_rng(seed)
    n_held = int(min(max(0, 2 * n_reference - n_test), np.floor(holdout_max_fraction * n_train)))
    held = np.sort(rng.permutation(n_train)[:n_held])
    side = min(n_reference, (n_test + n_held) // 2)
    order = rng.permutation(n_test + n_held)
    return ReferenceSplit(
        fit=np.setdiff1d(np.arange(n_train), held),
        held_out=held,
        a=np.sort(order[:side]),
        b=np.sort(order[side : 2 * side]),
    )


@dataclass(frozen=True)
class Scoring:
    """Where the scoring steps write: the run's context, the task's parameters, the result
    (metric rows) and its data."""

    ctx: RunContext
    params: dict[str, Any]
    result: TaskResult
    data: dict[str, Any]


def features(
    ctx: RunContext, emb: Embedding, candidates: Candidates, split: ReferenceSplit, sr: int
) -> dict[str, dict[str, np.ndarray]]:
    """Features of the reference ("reference") and each row's candidates.

    The pool's features (the test clips', the held-out training clips') and those of every
    row but the generator's come from the content-addressed disk cache
    (:func:`grainbench.metrics.embeddings.cached_features`): every run on one dataset
    setting shares the pool's, and every generator on one representation the round trip's.
    """
    ds = ctx.dataset
    parts = [cached_features(emb, ds.test, sr)]
    if len(split.held_out):
        parts.append(cached_features(emb, np.ascontiguousarray(ds.train[split.held_out]), sr))
    pool = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out = {"reference": {k: v[split.a] for k, v in pool.items()}}
    for row, (audio, idx, _) in candidates.items():
        if audio is None:
            out[row] = {k: v[idx] for k, v in pool.items()}
        elif row == "generator":
            out[row] = emb.features(audio, sr)
        else:
            out[row] = cached_features(emb, audio.numpy(), sr)
    return out


DISTANCE_PARAMS = (
    "fd_boot",
    "fd_inf_points",
    "fd_inf_draws",
    "fd_inf_min_r2",
    "fd_inf_min_clips",
    "kid_boot",
)
"""The task parameters that decide a row's FD, FD∞ and KID (with the seed and features)."""


def _row_distances(
    ref: np.ndarray, cand: np.ndarray, seed: int, params: dict[str, Any]
) -> dict[str, Any]:
    """FD, FD∞ and KID of candidate features against the reference, as JSON-able fields."""
    boot = int(params["fd_boot"])
    fd = dist.frechet_distance_ci(ref, cand, seed=seed, n_boot=boot)
    inf = dist.fd_infinity(
        ref,
        cand,
        seed=seed,
        n_points=int(params["fd_inf_points"]),
        draws=int(params["fd_inf_draws"]),
        n_boot=boot,
        min_r2=float(params["fd_inf_min_r2"]),
        min_clips=int(params["fd_inf_min_clips"]),
    )
    k = dist.kid(ref, cand, seed=seed, n_boot=int(params["kid_boot"]))
    return {"fd": asdict(fd), "fd_inf": asdict(inf), "kid": asdict(k)}


def row_distances(
    row: str, ref: np.ndarray, cand: np.ndarray, seed: int, params: dict[str, Any]
) -> tuple[dist.Estimate, dist.FDInfinity, dist.Estimate]:
    """FD, FD∞ and KID of one row's features ``cand (M, d)`` against ``ref (N, d)``.

    Every row but the generator's is read from (or written to) the content-addressed disk
    cache (:mod:`grainbench.metrics.memo`, kind ``distances``), keyed by both feature
    arrays, the seed and :data:`DISTANCE_PARAMS`: the real-vs-real row is the same in every
    run on a dataset setting, the round-trip row in every run of one representation.
    """
    settings = {name: params[name] for name in DISTANCE_PARAMS}
    if row == "generator":
        out = _row_distances(ref, cand, seed, settings)
    else:
        key = content_key({"ref": ref, "cand": cand}, seed=seed, **settings)
        path = entry_path("distances", key)
        out = cached_json(path, lambda: _row_distances(ref, cand, seed, settings))
    return dist.Estimate(**out["fd"]), dist.FDInfinity(**out["fd_inf"]), dist.Estimate(**out["kid"])


def distances(
    out: Scoring,
    emb: Embedding,
    feats: dict[str, dict[str, np.ndarray]],
) -> None:
    """FD, FD∞ (where its fit holds) and KID of every row against the reference.

    Raw-unit embeddings are first standardised with the reference's statistics only.
    """
    ctx, params, result, data = out.ctx, out.params, out.result, out.data
    ref = feats["reference"]["embedding"]
    scaling = Standardisation.of(ref) if emb.raw_units else None
    data["standardisation"][emb.name] = None if scaling is None else scaling.describe()
    if scaling is not None:
        ref = scaling.apply(ref)
    for row in ROWS:
        cand = feats[row]["embedding"]
        if scaling is not None:
            cand = scaling.apply(cand)
        cond = {"row": row, "embedding": emb.name}
        fd, inf, k = row_distances(row, ref, cand, ctx.seed, params)
        result.metrics.append(MetricValue("fd", fd.value, fd.low, fd.high, condition=cond))
        if inf.reported:
            result.metrics.append(
                MetricValue("fd_inf", inf.value, inf.low, inf.high, condition=cond)
            )
        data["fd_inf"][f"{row}/{emb.name}"] = {
            "reported": inf.reported,
            "reason": inf.reason,
            "value": inf.value,
            "r2": inf.r2,
            "n_points": inf.n_points,
            "draws_per_point": inf.draws,
            "slope": inf.slope,
            "sizes": inf.sizes,
            "ref_sizes": inf.ref_sizes,
            "fds": inf.fds,
        }
        result.metrics.append(MetricValue("kid", k.value, k.low, k.high, condition=cond))


def ndb(
    out: Scoring,
    pool: torch.Tensor,
    split: ReferenceSplit,
    candidates: Candidates,
    sr: int,
) -> None:
    """NDB of every row on candidate subsets of one size, in cells of A's log-mel features."""
    ctx, params, result, data = out.ctx, out.params, out.result, out.data
    ref = ndb_metric.ndb_features(pool[split.a], sr)
    k = min(int(params["ndb_bins"]), len(ref))
    centroids = ndb_metric.kmeans(ref, k, seed=ctx.seed)
    cands = {
        row: ndb_metric.ndb_features(pool[idx] if audio is None else audio, sr)
        for row, (audio, idx, _) in candidates.items()
    }
    size = min(len(c) for c in cands.values()) // 2
    for row, cand in cands.items():
        r = ndb_metric.ndb_subsets(
            ref,
            cand,
            centroids,
            size,
            n_subsets=int(params["ndb_subsets"]),
            alpha=float(params["ndb_alpha"]),
            seed=ctx.seed,
        )
        cond = {"row": row, "embedding": "log-mel"}
        result.metrics += [
            MetricValue(name, mean, max(mean - std, 0.0), mean + std, condition=cond)
            for name, mean, std in (
                ("ndb", r.count, r.count_std),
                ("ndb_fraction", r.fraction, r.fraction_std),
            )
        ]
    data["ndb"] = {
        "bins": k,
        "subset_size": size,
        "n_subsets": int(params["ndb_subsets"]),
        "interval": "mean ± std over the subsets, clipped at 0",
    }


def pitch(
    out: Scoring,
    pitch: CrepeEmbedding,
    feats: dict[str, dict[str, np.ndarray]],
    candidates: Candidates,
) -> None:
    """Pitch accuracy (when the intended notes are known) and pitch score of every row."""
    ctx, params, result, data = out.ctx, out.params, out.result, out.data
    threshold = float(params["voicing_threshold"])
    data["pitch"] = {}
    for row, (_, _, intended) in candidates.items():
        analysis = pitch.analysis(feats[row])
        cond = {"row": row, "embedding": pitch.name}
        hz = analysis.median_pitch_hz(threshold)
        probs, _ = pm.pitch_class_probs(analysis.salience_sum)
        result.metrics.append(MetricValue("pitch_score", pm.pitch_score(probs), condition=cond))
        info: dict[str, Any] = {"unvoiced_clips": int(np.isnan(hz).sum())}
        if intended is not None:
            hits = pm.pitch_hits(hz, intended).astype(np.float64)
            mean, lo, hi = bootstrap_ci(hits, seed=ctx.seed, n_boot=int(params["n_boot"]))
            result.metrics.append(MetricValue("pitch_accuracy", mean, lo, hi, condition=cond))
            off = pm.cents_off(hz, pm.midi_to_hz(intended))
            info["median_abs_cents"] = (
                float(np.nanmedian(np.abs(off))) if np.isfinite(off).any() else None
            )
        data["pitch"][row] = info
