"""Generation quality (SPEC 4.5): train a generator on a representation, score its sounds.

The generator (``ctx.generator``, the SPEC section 2 protocol) is fitted on the encoded
training clips, with their MIDI labels when every clip has one, and samples ``n_samples``
images (default: as many as the test set). With labels, the intended notes are the test
set's labels (drawn from them when ``n_samples`` differs), or drawn from the training
labels when the test set has notes the generator never saw. The images go
through the codec (``png8`` by default, as a GAN's images are stored) and are decoded.

An *audio generator* (one with ``fit_audio(audio (N, ch, n), labels, sample_rate)`` and
``sample_audio(n, labels=None, seed=0) -> (n, ch, n)``, e.g. ``ddsp``) is fitted on the
training clips themselves and its clips are scored as they are: no images, codec or decode
(so its row has no ``clipped_fraction``).

Rows of the table, each a *candidate* set scored against the same *reference* set A, one
seeded half of the real test clips (the other half is B):

- ``generator``: the decoded samples;
- ``real-vs-real``: B, real clips the generator never saw: the floor of sampling noise;
- ``roundtrip``: B encoded, stored by the codec and decoded: the floor no generator on this
  representation and codec can beat (equal to ``real-vs-real`` for a lossless
  representation, up to the codec).

Because all rows share the reference A, their FD∞ and KID (both free of the candidate
set's size bias) compare directly; plain FD is biased by set size, so the generator row,
with more candidates, is not comparable to the reference rows on FD alone.

Metrics per row and embedding (condition ``{"row", "embedding"}``): ``fd``, ``fd_inf``
(interval: none; the fit's r² is in ``data``; only for rows of at least ``fd_inf_min_clips``
candidates, since a line fitted over a handful of tiny subsets extrapolates to noise, even
to negative values), ``kid`` (interval: mean ± std over subsets).
Per row: ``ndb`` and ``ndb_fraction`` (k-means on A's log-mel features, embedding
``log-mel``), ``pitch_accuracy`` (bootstrap interval over clips; only when the intended
notes are known) and ``pitch_score``, both from the CREPE model ``pitch_model``; and, for
the rows that pass the codec, ``clipped_fraction``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from grainbench import guard  # noqa: E402
from grainbench.artifacts import save_wav  # noqa: E402
from grainbench.codecs import CODECS, get_codec  # noqa: E402
from grainbench.errors import UserError  # noqa: E402
from grainbench.metrics import distances as dist  # noqa: E402
from grainbench.metrics.embeddings import (  # noqa: E402
    CrepeEmbedding,
    Embedding,
    cached_features,
    embedding_from_spec,
    ndb_features,
)
from grainbench.metrics.stats import bootstrap_ci  # noqa: E402
from grainbench.registry import TASKS  # noqa: E402
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskResult  # noqa: E402
from grainbench.tasks.params import MAX_BOOT, Choice, Int, ListOf, Real, Text  # noqa: E402

ROWS = ("generator", "real-vs-real", "roundtrip")


def _as_list(value: Any) -> list[str]:
    """A list parameter given as a list or a comma-separated string."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _batched(fn: Any, x: torch.Tensor, batch: int, ctx: RunContext, desc: str) -> torch.Tensor:
    """``fn`` applied to ``x`` in batches on ``ctx.device``; results gathered on the CPU."""
    out = [
        fn(x[i : i + batch].to(ctx.device)).detach().cpu()
        for i in ctx.progress(range(0, len(x), batch), desc=desc, total=-(-len(x) // batch))
    ]
    return torch.cat(out)


def _call(ctx: RunContext, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call the generator's ``method``; whatever it throws becomes a one-line UserError
    (:func:`grainbench.guard.call`: ``SystemExit`` and time-outs included)."""
    what = f"generator {ctx.generator_spec}: {method}"
    return guard.call(what, getattr(ctx.generator, method), *args, **kwargs)


def _stored(codec_name: str, images: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Images after the codec (through real files for PNG codecs) and the clipped share."""
    codec = get_codec(codec_name)
    with tempfile.TemporaryDirectory(prefix="grainbench-gen-") as tmp:
        back, clipped = codec.roundtrip(images, Path(tmp))
    return back, float(clipped.double().sum()) / images.numel()


class GenerationTask:
    """Fit ``ctx.generator``, sample, decode and score against held-out real clips."""

    name = "generation"
    in_default_run = False
    uses_generator = True
    #: the board's sort key and columns (see grainbench.leaderboard); the reference rows
    #: (real vs real, round trip) are in the entry's own tables
    headline = "fd[embedding=crepe-tiny,row=generator]"
    key_metrics = [
        "fd[embedding=crepe-tiny,row=generator]",
        "kid[embedding=crepe-tiny,row=generator]",
        "fd[embedding=spectral-stats,row=generator]",
        "pitch_accuracy[embedding=crepe-tiny,row=generator]",
        "ndb_fraction[embedding=log-mel,row=generator]",
        "fd[embedding=crepe-tiny,row=roundtrip]",
    ]

    def default_params(self) -> dict[str, Any]:
        """Sample count, embeddings, codec, pitch model and the distances' settings."""
        return {
            "n_samples": None,
            "embeddings": ["crepe-tiny", "spectral-stats"],
            "codec": "png8",
            "pitch_model": "crepe-tiny",
            "voicing_threshold": 0.5,
            "kid_subsets": 100,
            "kid_subset_size": 1000,
            "fd_inf_points": 25,
            "fd_inf_min_clips": 50,
            "ndb_bins": 50,
            "ndb_alpha": 0.05,
            "batch_size": 16,
            "n_boot": 1000,
            "n_wavs": 4,
            "n_grid": 16,
        }

    param_schema = {
        "n_samples": Int(4, none=True),
        "embeddings": ListOf(Text(), comma_string=True),
        "codec": Choice(*CODECS),
        "pitch_model": Text(),
        "voicing_threshold": Real(0, 1),
        "kid_subsets": Int(1, 100_000),
        "kid_subset_size": Int(2),
        "fd_inf_points": Int(2, 10_000),
        "fd_inf_min_clips": Int(4),
        "ndb_bins": Int(1),
        "ndb_alpha": Real(0, 1, low_open=True),
        "batch_size": Int(1),
        "n_boot": Int(1, MAX_BOOT),
        "n_wavs": Int(0),
        "n_grid": Int(0),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Fit, sample, decode, and score the three rows with every embedding."""
        if ctx.generator is None:
            raise UserError("the generation task needs a generator: --gen gmm|oracle|FILE.py:Class")
        ds, rep = ctx.dataset, ctx.rep
        sr, bs = int(rep.sample_rate), int(params["batch_size"])
        test = torch.from_numpy(ds.test)
        if len(test) < 8:
            raise UserError(
                f"the generation task needs at least 8 test clips (two halves of 4), got {len(test)}"
            )
        result = TaskResult()
        rng = np.random.default_rng(ctx.seed)

        train_labels = np.asarray(ds.train_labels, dtype=np.int64)
        test_labels = np.asarray(ds.test_labels, dtype=np.int64)
        labelled = bool(len(train_labels)) and bool((train_labels >= 0).all())
        audio_gen = is_audio_generator(ctx.generator)
        if audio_gen:
            fit_labels = torch.from_numpy(train_labels) if labelled else None
            _call(ctx, "fit_audio", torch.from_numpy(ds.train), fit_labels, sr)
        else:
            train_images = _batched(rep.encode, torch.from_numpy(ds.train), bs, ctx, "encode train")
            _call(ctx, "fit", train_images, torch.from_numpy(train_labels) if labelled else None)
            del train_images

        n = len(test) if params["n_samples"] is None else int(params["n_samples"])
        if n < 4:
            raise UserError(f"generation.n_samples must be at least 4, got {n}")
        intended: np.ndarray | None = None
        pool = test_labels if np.isin(test_labels, train_labels).all() else train_labels
        if labelled:
            intended = pool.copy() if n == len(pool) else rng.choice(pool, n)
        codec = str(params["codec"])
        images: torch.Tensor | None = None
        if audio_gen:
            generated = self._sample(
                ctx, n, intended, (ds.n_channels, ds.n_samples), "sample_audio"
            )
        else:
            images = self._sample(ctx, n, intended, rep.image_shape)
            stored, gen_clipped = _stored(codec, images)
            generated = _batched(rep.decode, stored, bs, ctx, "decode generated")
            result.metrics.append(
                MetricValue("clipped_fraction", gen_clipped, condition={"row": "generator"})
            )

        order = rng.permutation(len(test))
        half = len(test) // 2
        a_idx, b_idx = np.sort(order[:half]), np.sort(order[half:])
        b_images = _batched(rep.encode, test[b_idx], bs, ctx, "encode test")
        b_stored, rt_clipped = _stored(codec, b_images)
        roundtrip = _batched(rep.decode, b_stored, bs, ctx, "decode round trip")
        result.metrics.append(
            MetricValue("clipped_fraction", rt_clipped, condition={"row": "roundtrip"})
        )

        b_labels = test_labels[b_idx] if (test_labels >= 0).all() else None
        candidates = {
            "generator": (generated, None, intended),
            "real-vs-real": (None, b_idx, b_labels),
            "roundtrip": (roundtrip, None, b_labels),
        }
        data: dict[str, Any] = {
            "n_generated": n,
            "n_reference": int(half),
            "n_real_candidates": int(len(b_idx)),
            "codec": codec,
            "generator_output": "audio" if audio_gen else "images",
            "labelled": intended is not None,
            "intended_from": None
            if intended is None
            else ("test" if pool is test_labels else "train"),
            "fd_inf": {},
            "kid_subset_size": {},
        }
        embeds = [embedding_from_spec(s, str(ctx.device)) for s in _as_list(params["embeddings"])]
        pitch = embedding_from_spec(str(params["pitch_model"]), str(ctx.device))
        if not isinstance(pitch, CrepeEmbedding):
            raise UserError(
                f"generation.pitch_model must be crepe-tiny or crepe-full, not {pitch.name}"
            )
        pitch = next((e for e in embeds if e.cache_name == pitch.cache_name), pitch)
        feats: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        for emb in dict.fromkeys([*embeds, pitch]):
            feats[emb.cache_name] = self._features(ctx, emb, candidates, a_idx, sr)
        for emb in embeds:
            self._distances(ctx, params, emb, feats[emb.cache_name], result, data)
        self._ndb(ctx, params, test, a_idx, candidates, sr, result, data)
        self._pitch(ctx, params, pitch, feats[pitch.cache_name], candidates, result, data)
        self._artifacts(ctx, images, generated, sr, params, result)
        result.data = data
        return result

    @staticmethod
    def _sample(
        ctx: RunContext,
        n: int,
        labels: np.ndarray | None,
        shape: tuple[int, ...],
        method: str = "sample",
    ) -> torch.Tensor:
        """``n`` images (or clips, ``method="sample_audio"``) from the generator, checked
        for shape and finiteness."""
        lab = None if labels is None else torch.from_numpy(labels)
        out = _call(ctx, method, n, labels=lab, seed=ctx.seed)
        try:
            images = torch.as_tensor(out).detach().float().cpu()
        except (TypeError, ValueError, RuntimeError):
            raise UserError(
                f"generator {ctx.generator_spec}: sample returned {type(out).__name__}, "
                "expected a tensor"
            ) from None
        if tuple(images.shape) != (n, *shape):
            raise UserError(
                f"generator {ctx.generator_spec}: sample returned shape {tuple(images.shape)}, "
                f"expected {(n, *shape)}"
            )
        if not bool(torch.isfinite(images).all()):
            raise UserError(f"generator {ctx.generator_spec}: sample returned NaN or inf")
        return images

    @staticmethod
    def _features(
        ctx: RunContext,
        emb: Embedding,
        candidates: dict[str, tuple[torch.Tensor | None, np.ndarray | None, Any]],
        a_idx: np.ndarray,
        sr: int,
    ) -> dict[str, dict[str, np.ndarray]]:
        """Features of the reference ("reference") and each row's candidates."""
        ds = ctx.dataset
        test_feats = cached_features(emb, ds.test, sr, ds.fingerprint, "test")
        out = {"reference": {k: v[a_idx] for k, v in test_feats.items()}}
        for row, (audio, idx, _) in candidates.items():
            if audio is None:
                out[row] = {k: v[idx] for k, v in test_feats.items()}
            else:
                out[row] = emb.features(audio, sr)
        return out

    @staticmethod
    def _distances(
        ctx: RunContext,
        params: dict[str, Any],
        emb: Embedding,
        feats: dict[str, dict[str, np.ndarray]],
        result: TaskResult,
        data: dict[str, Any],
    ) -> None:
        """FD, FD∞ (rows with enough candidates) and KID of every row against the reference."""
        ref = feats["reference"]["embedding"]
        for row in ROWS:
            cand = feats[row]["embedding"]
            cond = {"row": row, "embedding": emb.name}
            key = f"{row}/{emb.name}"
            result.metrics.append(
                MetricValue("fd", dist.frechet_distance(ref, cand), condition=cond)
            )
            if len(cand) >= int(params["fd_inf_min_clips"]):
                fd_inf = dist.fd_infinity(
                    ref, cand, seed=ctx.seed, n_points=int(params["fd_inf_points"])
                )
                result.metrics.append(MetricValue("fd_inf", fd_inf.value, condition=cond))
                data["fd_inf"][key] = {
                    "slope": fd_inf.slope,
                    "r2": fd_inf.r2,
                    "sizes": fd_inf.sizes,
                    "fds": fd_inf.fds,
                }
            else:
                data["fd_inf"][key] = {"skipped": f"{len(cand)} clips < fd_inf_min_clips"}
            k = dist.kid(
                ref,
                cand,
                seed=ctx.seed,
                n_subsets=int(params["kid_subsets"]),
                subset_size=int(params["kid_subset_size"]),
            )
            result.metrics.append(
                MetricValue("kid", k.mean, k.mean - k.std, k.mean + k.std, condition=cond)
            )
            data["kid_subset_size"][key] = k.subset_size

    @staticmethod
    def _ndb(
        ctx: RunContext,
        params: dict[str, Any],
        test: torch.Tensor,
        a_idx: np.ndarray,
        candidates: dict[str, tuple[torch.Tensor | None, np.ndarray | None, Any]],
        sr: int,
        result: TaskResult,
        data: dict[str, Any],
    ) -> None:
        """NDB of every row, on k-means cells of the reference's log-mel features."""
        ref = ndb_features(test[a_idx], sr)
        k = min(int(params["ndb_bins"]), len(ref))
        centroids = dist.kmeans(ref, k, seed=ctx.seed)
        for row, (audio, idx, _) in candidates.items():
            cand = ndb_features(test[idx] if audio is None else audio, sr)
            r = dist.ndb(ref, cand, alpha=float(params["ndb_alpha"]), centroids=centroids)
            cond = {"row": row, "embedding": "log-mel"}
            result.metrics += [
                MetricValue("ndb", r.count, condition=cond),
                MetricValue("ndb_fraction", r.fraction, condition=cond),
            ]
        data["ndb_bins"] = k

    @staticmethod
    def _pitch(
        ctx: RunContext,
        params: dict[str, Any],
        pitch: CrepeEmbedding,
        feats: dict[str, dict[str, np.ndarray]],
        candidates: dict[str, tuple[torch.Tensor | None, np.ndarray | None, Any]],
        result: TaskResult,
        data: dict[str, Any],
    ) -> None:
        """Pitch accuracy (when the intended notes are known) and pitch score of every row."""
        threshold = float(params["voicing_threshold"])
        data["pitch"] = {}
        for row, (_, _, intended) in candidates.items():
            analysis = pitch.analysis(feats[row])
            cond = {"row": row, "embedding": pitch.name}
            hz = analysis.median_pitch_hz(threshold)
            probs, _ = dist.pitch_class_probs(analysis.salience_sum)
            result.metrics.append(
                MetricValue("pitch_score", dist.pitch_score(probs), condition=cond)
            )
            info: dict[str, Any] = {"unvoiced_clips": int(np.isnan(hz).sum())}
            if intended is not None:
                hits = dist.pitch_hits(hz, intended).astype(np.float64)
                mean, lo, hi = bootstrap_ci(hits, seed=ctx.seed, n_boot=int(params["n_boot"]))
                result.metrics.append(MetricValue("pitch_accuracy", mean, lo, hi, condition=cond))
                off = dist.cents_off(hz, dist.midi_to_hz(intended))
                info["median_abs_cents"] = (
                    float(np.nanmedian(np.abs(off))) if np.isfinite(off).any() else None
                )
            data["pitch"][row] = info

    @staticmethod
    def _artifacts(
        ctx: RunContext,
        images: torch.Tensor | None,
        audio: torch.Tensor,
        sr: int,
        params: dict[str, Any],
        result: TaskResult,
    ) -> None:
        """A few generated clips as WAV and a grid picture of generated images."""
        for i in range(min(int(params["n_wavs"]), len(audio))):
            path = save_wav(ctx.out_dir / f"generated_{i}.wav", audio[i].numpy(), sr)
            result.artifacts.append(Artifact(ctx.relpath(path), "wav", f"generated clip {i}"))
        n = 0 if images is None else min(int(params["n_grid"]), len(images))
        if images is None or n == 0:
            return
        path = save_image_grid(ctx.out_dir / "generated_images.png", images[:n].numpy())
        caption = f"{n} generated images (channel 0, before the codec)"
        result.artifacts.append(Artifact(ctx.relpath(path), "png", caption))


def is_audio_generator(generator: Any) -> bool:
    """Whether ``generator`` has the optional audio protocol (``fit_audio``, ``sample_audio``)."""
    return all(callable(getattr(generator, m, None)) for m in ("fit_audio", "sample_audio"))


def save_image_grid(path: Path, images: np.ndarray) -> Path:
    """A grid picture of images ``(n, C, H, W)`` (channel 0), colour scale fixed to [-1, 1]."""
    n, _, h, w = images.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    aspect = "auto" if max(h, w) / max(1, min(h, w)) > 8 else "equal"
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.8 * cols + 1.0, 2.7 * rows), squeeze=False, layout="constrained"
    )
    im = None
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        im = ax.imshow(
            images[i, 0], cmap="RdBu_r", vmin=-1, vmax=1, aspect=aspect, interpolation="nearest"
        )
        ax.set_title(f"sample {i}", fontsize=8)
        ax.set_xlabel("column (pixel)", fontsize=7)
        ax.set_ylabel("row (pixel)", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.02, label="pixel value")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(path)
    return path


TASKS.register("generation", GenerationTask(), "generation quality: FD, FD∞, KID, NDB and pitch")
