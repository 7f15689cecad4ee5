"""Generation quality (SPEC 4.5): train a generator on a representation, score its sounds.

Real clips the generator never sees form a *reference pool*: the test clips plus, when the
test set is smaller than two sides of ``n_reference`` clips, training clips held out of the
generator's training set (seeded; at most ``holdout_max_fraction`` of the training clips,
so a small dataset uses what it has and says so). The pool is split at random into two
disjoint sides of equal size: A, the *reference*, and B. The generator (``ctx.generator``,
the SPEC section 2 protocol) is fitted on the remaining training clips' encoded images, with
their MIDI labels when every clip has one, and samples ``n_samples`` images (default: as
many as B). With labels, the intended notes are B's labels (drawn from them when
``n_samples`` differs), or drawn from the training labels when B has notes the generator
never saw. The images go through the codec (``png8`` by default, as a GAN's images are
stored) and are decoded. :func:`~grainbench.tasks.generation_scores.reference_split` is
the split; the result's data records it (``reference``: how many clips the generator
trained on, how many per side, which ones).

An *audio generator* (one with ``fit_audio(audio (N, ch, n), labels, sample_rate)`` and
``sample_audio(n, labels=None, seed=0) -> (n, ch, n)``, e.g. ``ddsp``) is fitted on the
same training clips themselves and its clips are scored as they are: no images, codec or
decode (so its row has no ``clipped_fraction``).

Rows of the table, each a *candidate* set scored against the same reference A:

- ``generator``: the decoded samples;
- ``real-vs-real``: B, real clips the generator never saw: the floor of sampling noise;
- ``roundtrip``: B encoded, stored by the codec and decoded: the floor no generator on this
  representation and codec can beat (equal to ``real-vs-real`` for a lossless
  representation, up to the codec).

Metrics per row and embedding (condition ``{"row", "embedding"}``), each with a bootstrap
interval over clips (both sets resampled, seeded; :func:`grainbench.metrics.distances.centred_interval`):

- ``fd``: Fréchet distance at the rows' own set sizes (biased upward by about c/n; by
  default every row has as many candidates as A has clips, so the rows share the bias);
- ``fd_inf``: FD extrapolated to infinitely many clips on both sides (subsets without
  replacement, a 1/n fit), an estimate of the population FD, so rows of any size compare
  directly; reported only when the fit holds (r² ≥ ``fd_inf_min_r2``, ≥ ``fd_inf_min_clips``
  clips per side, subsets larger than the embedding's effective dimension), the fit's r²
  and points in ``data["fd_inf"]`` either way;
- ``kid``: the unbiased MMD² (cubic kernel) of the whole sets, free of the set-size bias.

Embeddings in raw units (``spectral-stats``) are standardised with A's mean and standard
deviation (floored at the median spread) before FD and KID (``data["standardisation"]``).
Per row: ``ndb`` and ``ndb_fraction`` (k-means on A's log-mel features, embedding
``log-mel``) as the mean ± std (clipped at 0) over ``ndb_subsets`` random candidate subsets
of one size for every row (half the smallest candidate set: every row gets a real spread,
and a larger candidate set does not test with more power), ``pitch_accuracy`` (bootstrap
interval over clips; only when the intended notes are known) and ``pitch_score``, both from
the CREPE model ``pitch_model``; and, for the rows that pass the codec,
``clipped_fraction``. The specification is docs/metrics/generation.md.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grainbench.artifacts import save_wav
from grainbench.codecs import CODECS, get_codec
from grainbench.errors import UserError
from grainbench.metrics import distances as dist
from grainbench.metrics.embeddings import (
    CrepeEmbedding,
    embedding_from_spec,
)
from grainbench.tasks import generation_scores as scores
from grainbench.tasks import plots
from grainbench.tasks.base import Artifact, MetricValue, RunContext, TaskDefaults, TaskResult
from grainbench.tasks.generation_scores import ROWS, Candidates, reference_split
from grainbench.tasks.params import MAX_BOOT, Choice, Int, ListOf, Real, Text


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


def _fit_images(ctx: RunContext, rows: np.ndarray, audio: torch.Tensor, batch: int) -> torch.Tensor:
    """Images ``(len(rows), C, H, W)`` of the training clips ``rows`` (whose audio is
    ``audio``) for the generator: those the representation's fit returned when the run kept
    them (:meth:`RunContext.training_images`; the same as encoding them), else encoded."""
    kept = None if ctx.training is None else ctx.training.images
    if kept is not None and len(kept) == len(ctx.dataset.train):
        return kept[torch.from_numpy(np.asarray(rows, dtype=np.int64))]
    return _batched(ctx.rep.encode, audio, batch, ctx, "encode train")


def _stored(codec_name: str, images: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Images after the codec (through real files for PNG codecs) and the clipped share."""
    codec = get_codec(codec_name)
    with tempfile.TemporaryDirectory(prefix="grainbench-gen-") as tmp:
        back, clipped = codec.roundtrip(images, Path(tmp))
    return back, float(clipped.double().sum()) / images.numel()


class GenerationTask(TaskDefaults):
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
        """Reference sizes, sample count, embeddings, codec, pitch model, distance settings."""
        return {
            "n_reference": 200,
            "holdout_max_fraction": 1 / 3,
            "n_samples": None,
            "embeddings": ["crepe-tiny", "spectral-stats"],
            "codec": "png8",
            "pitch_model": "crepe-tiny",
            "voicing_threshold": 0.5,
            "fd_boot": 200,
            "fd_inf_points": 10,
            "fd_inf_draws": 3,
            "fd_inf_min_clips": dist.FD_INF_MIN_CLIPS,
            "fd_inf_min_r2": dist.FD_INF_MIN_R2,
            "kid_boot": 1000,
            "ndb_bins": 50,
            "ndb_alpha": 0.05,
            "ndb_subsets": 50,
            "batch_size": 16,
            "n_boot": 1000,
            "n_wavs": 4,
            "n_grid": 16,
        }

    param_schema = {
        "n_reference": Int(1),
        "holdout_max_fraction": Real(0, 0.99),
        "n_samples": Int(4, none=True),
        "embeddings": ListOf(Text(), comma_string=True),
        "codec": Choice(*CODECS),
        "pitch_model": Text(),
        "voicing_threshold": Real(0, 1),
        "fd_boot": Int(1, MAX_BOOT),
        "fd_inf_points": Int(2, 10_000),
        "fd_inf_draws": Int(1, 1000),
        "fd_inf_min_clips": Int(4),
        "fd_inf_min_r2": Real(high=1),
        "kid_boot": Int(1, MAX_BOOT),
        "ndb_bins": Int(1),
        "ndb_alpha": Real(0, 1, low_open=True),
        "ndb_subsets": Int(1, 100_000),
        "batch_size": Int(1),
        "n_boot": Int(1, MAX_BOOT),
        "n_wavs": Int(0),
        "n_grid": Int(0),
    }

    def run(self, ctx: RunContext, params: dict[str, Any]) -> TaskResult:
        """Split, fit, sample, decode, and score the three rows with every embedding."""
        if ctx.generator is None:
            raise UserError("the generation task needs a generator: --gen gmm|oracle|FILE.py:Class")
        ds, rep = ctx.dataset, ctx.rep
        sr, bs = int(rep.sample_rate), int(params["batch_size"])
        n_reference = int(params["n_reference"])
        split = reference_split(
            len(ds.train),
            len(ds.test),
            n_reference,
            ctx.seed,
            float(params["holdout_max_fraction"]),
        )
        if len(split.a) < 4:
            raise UserError(
                "the generation task needs at least 8 real clips outside the generator's "
                f"training set (two sides of 4), got {2 * len(split.a)}"
            )
        result = TaskResult()
        rng = np.random.default_rng(ctx.seed)

        train_labels = np.asarray(ds.train_labels, dtype=np.int64)
        pool = torch.from_numpy(np.concatenate([ds.test, ds.train[split.held_out]]))
        pool_labels = np.concatenate(
            [np.asarray(ds.test_labels, np.int64), train_labels[split.held_out]]
        )
        fit_labels = train_labels[split.fit]
        labelled = bool(len(fit_labels)) and bool((fit_labels >= 0).all())
        fit_audio = torch.from_numpy(ds.train[split.fit])
        fit_label_tensor = torch.from_numpy(fit_labels) if labelled else None
        audio_gen = ctx.generator.is_audio
        if audio_gen:
            ctx.generator.fit_audio(fit_audio, fit_label_tensor, sr)
        else:
            train_images = _fit_images(ctx, split.fit, fit_audio, bs)
            ctx.generator.fit(train_images, fit_label_tensor)
            del train_images
        del fit_audio

        b_labels = pool_labels[split.b] if (pool_labels >= 0).all() else None
        n = len(split.b) if params["n_samples"] is None else int(params["n_samples"])
        if n < 4:
            raise UserError(f"generation.n_samples must be at least 4, got {n}")
        intended: np.ndarray | None = None
        seen = b_labels is not None and bool(np.isin(b_labels, fit_labels).all())
        source = b_labels if seen else fit_labels
        if labelled:
            intended = source.copy() if n == len(source) else rng.choice(source, n)
        codec = str(params["codec"])
        images: torch.Tensor | None = None
        lab = None if intended is None else torch.from_numpy(intended)
        if audio_gen:
            clip_shape = (ds.n_channels, ds.n_samples)
            out = ctx.generator.sample_audio(n, clip_shape, labels=lab, seed=ctx.seed)
            generated = out.detach().float().cpu()
        else:
            images = ctx.generator.sample(n, labels=lab, seed=ctx.seed).detach().float().cpu()
            stored, gen_clipped = _stored(codec, images)
            generated = _batched(rep.decode, stored, bs, ctx, "decode generated")
            result.metrics.append(
                MetricValue("clipped_fraction", gen_clipped, condition={"row": "generator"})
            )

        b_images = _batched(rep.encode, pool[split.b], bs, ctx, "encode reference")
        b_stored, rt_clipped = _stored(codec, b_images)
        roundtrip = _batched(rep.decode, b_stored, bs, ctx, "decode round trip")
        result.metrics.append(
            MetricValue("clipped_fraction", rt_clipped, condition={"row": "roundtrip"})
        )

        candidates: Candidates = {
            "generator": (generated, None, intended),
            "real-vs-real": (None, split.b, b_labels),
            "roundtrip": (roundtrip, None, b_labels),
        }
        data: dict[str, Any] = {
            "reference": split.describe(len(ds.test), n_reference),
            "rows": {
                row: {
                    "n_candidates": n if row == "generator" else len(split.b),
                    "n_reference": len(split.a),
                }
                for row in ROWS
            },
            "n_generated": n,
            "codec": codec,
            "generator_output": "audio" if audio_gen else "images",
            "labelled": intended is not None,
            "intended_from": None if intended is None else ("real-candidates" if seen else "train"),
            "standardisation": {},
            "fd_inf": {},
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
            feats[emb.cache_name] = scores.features(ctx, emb, candidates, split, sr)
        out = scores.Scoring(ctx, params, result, data)
        for emb in embeds:
            scores.distances(out, emb, feats[emb.cache_name])
        scores.ndb(out, pool, split, candidates, sr)
        scores.pitch(out, pitch, feats[pitch.cache_name], candidates)
        self._artifacts(ctx, images, generated, sr, params, result)
        result.data = data
        return result

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
        path = plots.save_image_grid(ctx.out_dir / "generated_images.png", images[:n].numpy())
        caption = f"{n} generated images (channel 0, before the codec)"
        result.artifacts.append(Artifact(ctx.relpath(path), "png", caption))
