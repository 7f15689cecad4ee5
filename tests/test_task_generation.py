"""The generation task: rows, metrics, artefacts, reference rows and the noise oracle."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grainbench.data import load_dataset
from grainbench.errors import UserError
from grainbench.generator import Generator
from grainbench.metrics import distances as D
from grainbench.metrics.catalog import CATALOG
from grainbench.metrics.embeddings import get_embedding
from grainbench.plugins import load_generator, load_representation
from grainbench.registries import TASKS
from grainbench.tasks.base import RunContext, TaskResult
from grainbench.tasks.generation import reference_split
from grainbench.training_images import TrainingImages
from taskrun import FAST_GENERATION as FAST

SR, N = 16000, 16384


@pytest.fixture(scope="module")
def synth() -> Any:
    return load_dataset(
        "synth-piano?n=100", sample_rate=SR, n_samples=N, n_channels=1, progress=False
    )


def _rep(name: str, ds: Any) -> Any:
    rep = load_representation(name, sample_rate=ds.sample_rate, n_samples=ds.n_samples)
    rep.fit(torch.from_numpy(ds.train))
    return rep


def _run(
    rep: Any, ds: Any, gen: Any, folder: Path, training: Any = None, **params: Any
) -> TaskResult:
    """The generation task with ``gen`` (a plain plugin is checked first, as a run does);
    ``training``: the run's training images (:class:`TrainingImages`), if any."""
    if gen is not None and not isinstance(gen, Generator):
        gen = Generator(gen, "test", rep.image_shape)
    task = TASKS.get("generation")
    out = folder / "generation"
    out.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(
        rep=rep,
        dataset=ds,
        seed=0,
        run_dir=folder,
        out_dir=out,
        device=torch.device("cpu"),
        progress=lambda iterable, desc="", total=None: iterable,
        generator=gen,
        generator_spec="test",
        training=training,
    )
    return task.run(ctx, {**task.default_params(), **params})


def _value(result: TaskResult, name: str, **condition: str) -> float:
    (match,) = [m for m in result.metrics if m.name == name and m.condition == condition]
    return match.value


def test_task_is_registered_and_not_in_the_default_run() -> None:
    task = TASKS.get("generation")
    assert task.name == "generation" and task.in_default_run is False
    assert task.default_params()["embeddings"] == ["crepe-tiny", "spectral-stats"]
    assert task.default_params()["codec"] == "png8"


def test_reference_split_holds_out_training_clips_for_two_sides() -> None:
    split = reference_split(900, 100, 200, seed=0)  # piano-c3
    assert (len(split.fit), len(split.held_out), len(split.a), len(split.b)) == (600, 300, 200, 200)
    assert not set(split.fit) & set(split.held_out)
    assert set(split.fit) | set(split.held_out) == set(range(900))
    assert not set(split.a) & set(split.b) and max(*split.a, *split.b) < 400
    again = reference_split(900, 100, 200, seed=0)
    assert np.array_equal(again.held_out, split.held_out) and np.array_equal(again.a, split.a)
    assert not np.array_equal(reference_split(900, 100, 200, seed=1).held_out, split.held_out)
    # A test set of 400 or more needs no held-out clip; a small set holds out a third.
    big = reference_split(900, 500, 200, seed=0)
    assert (len(big.fit), len(big.held_out), len(big.a)) == (900, 0, 200)
    small = reference_split(90, 10, 200, seed=0)
    assert (len(small.held_out), len(small.a)) == (30, 20)
    assert "fewer than n_reference=200" in small.describe(10, 200)["note"]
    with pytest.raises(UserError):
        reference_split(90, 10, 0, seed=0)


def test_rows_metrics_and_artifacts(synth: Any, tmp_path: Path) -> None:
    rep = _rep("dct-square", synth)
    gen = load_generator("gmm", rep.image_shape, n_components=8, n_mixtures=2)
    params = {**FAST, "embeddings": "crepe-tiny?hop=800,spectral-stats"}
    result = _run(rep, synth, gen, tmp_path, **params)
    assert all(m.name in CATALOG for m in result.metrics)
    by_key = {m.key: m for m in result.metrics}
    for row in ("generator", "real-vs-real", "roundtrip"):
        for emb in ("crepe-tiny", "spectral-stats"):
            for name in ("fd", "kid"):
                m = by_key[f"{name}[embedding={emb},row={row}]"]
                assert m.low is not None and m.low < m.high  # a real interval on every row
            fit = result.data["fd_inf"][f"{row}/{emb}"]
            assert fit["n_points"] == len(fit["sizes"]) and -1 <= fit["r2"] <= 1
            # 20 clips a side is below fd_inf_min_clips: the fit is recorded, not reported
            assert not fit["reported"] and "clips on a side" in fit["reason"]
            assert f"fd_inf[embedding={emb},row={row}]" not in by_key
        for name in ("ndb", "ndb_fraction"):
            m = by_key[f"{name}[embedding=log-mel,row={row}]"]
            assert m.low <= m.value <= m.high
        assert f"pitch_score[embedding=crepe-tiny,row={row}]" in by_key
        assert f"pitch_accuracy[embedding=crepe-tiny,row={row}]" in by_key
    # 10 test clips: 30 of the 90 training clips (a third) are held out, 20 clips a side.
    ref = result.data["reference"]
    assert (ref["generator_trained_on"], ref["held_out_train_clips"], ref["per_side"]) == (
        60,
        30,
        20,
    )
    assert "fewer than n_reference=200" in ref["note"]
    assert result.data["rows"]["generator"] == {"n_candidates": 20, "n_reference": 20}
    assert result.data["n_generated"] == 20 and result.data["ndb"]["subset_size"] == 10
    # Intended notes come from B's labels when the generator has seen all of them.
    held = ref["held_out_train_indices"]
    pool_labels = np.concatenate([synth.test_labels, synth.train_labels[held]])
    seen = np.isin(pool_labels[ref["b_pool_indices"]], np.delete(synth.train_labels, held)).all()
    assert result.data["intended_from"] == ("real-candidates" if seen else "train")
    assert result.data["standardisation"]["crepe-tiny"] is None
    assert result.data["standardisation"]["spectral-stats"]["n_reference"] == 20
    assert all(m.value >= 0 for m in result.metrics if m.name in ("fd", "ndb", "ndb_fraction"))
    files = {a.path: a.kind for a in result.artifacts}
    assert files == {
        "generation/generated_0.wav": "wav",
        "generation/generated_1.wav": "wav",
        "generation/generated_images.png": "png",
    }
    assert all((tmp_path / p).stat().st_size > 0 for p in files)


def test_lossless_round_trip_row_equals_real_vs_real(synth: Any, tmp_path: Path) -> None:
    rep = _rep("dct-square", synth)
    assert rep.lossless
    result = _run(
        rep,
        synth,
        load_generator("oracle", rep.image_shape, psnr=40),
        tmp_path,
        codec="float",
        **FAST,
    )
    assert "fd_inf" not in {m.name for m in result.metrics}  # 20 clips < fd_inf_min_clips
    for name in ("fd", "kid"):
        rvr = _value(result, name, row="real-vs-real", embedding="spectral-stats")
        rt = _value(result, name, row="roundtrip", embedding="spectral-stats")
        assert rt == pytest.approx(rvr, rel=1e-4, abs=1e-6)
    assert _value(result, "ndb", row="roundtrip", embedding="log-mel") == _value(
        result, "ndb", row="real-vs-real", embedding="log-mel"
    )
    assert _value(result, "clipped_fraction", row="roundtrip") == 0.0


def test_raw_unit_features_are_standardised_on_the_reference_only(
    synth: Any, tmp_path: Path
) -> None:
    # The real-vs-real row never passes through the representation: any one gives it.
    rep = _rep("waveform-square", synth)
    gen = load_generator("oracle", rep.image_shape, psnr=40)
    result = _run(rep, synth, gen, tmp_path, codec="float", **FAST)
    ref = result.data["reference"]
    pool = np.concatenate([synth.test, synth.train[ref["held_out_train_indices"]]])
    emb = get_embedding("spectral-stats")
    a = emb.embed(pool[ref["a_pool_indices"]], SR)
    b = emb.embed(pool[ref["b_pool_indices"]], SR)

    def scaled(x: np.ndarray, on: np.ndarray) -> np.ndarray:
        std = on.std(0, ddof=1)
        return (x - on.mean(0)) / np.maximum(std, np.median(std[std > 0]))

    own = D.frechet_distance(scaled(a, a), scaled(b, a))
    both = np.concatenate([a, b])
    pooled = D.frechet_distance(scaled(a, both), scaled(b, both))
    fd = _value(result, "fd", row="real-vs-real", embedding="spectral-stats")
    assert fd == pytest.approx(own, rel=1e-6) and abs(pooled - own) > 0.01 * own
    assert result.data["standardisation"]["spectral-stats"]["n_reference"] == len(a)
    # Standardised, a real-vs-real KID sits at 0 within its interval (raw units: −164).
    (kid,) = [
        m for m in result.metrics if m.key == "kid[embedding=spectral-stats,row=real-vs-real]"
    ]
    assert kid.low < 0.0 < kid.high


def test_oracle_scores_worsen_as_psnr_falls(synth: Any, tmp_path: Path) -> None:
    rep = _rep("dct-square", synth)
    scores = []
    for psnr in (60, 30, 10):
        gen = load_generator("oracle", rep.image_shape, psnr=psnr)
        result = _run(rep, synth, gen, tmp_path / str(psnr), codec="float", **FAST)
        scores.append(
            [_value(result, m, row="generator", embedding="spectral-stats") for m in ("fd", "kid")]
        )
    fd, kid = np.array(scores).T
    assert fd[0] < fd[1] < fd[2] and kid[0] < kid[1] < kid[2]


def test_unlabelled_data_has_no_pitch_accuracy(synth: Any, tmp_path: Path) -> None:
    unlabelled = dataclasses.replace(
        synth,
        train_labels=np.full_like(synth.train_labels, -1),
        test_labels=np.full_like(synth.test_labels, -1),
    )
    rep = _rep("dct-square", unlabelled)
    gen = load_generator("oracle", rep.image_shape, psnr=40)
    result = _run(rep, unlabelled, gen, tmp_path, **FAST)
    assert not [m for m in result.metrics if m.name == "pitch_accuracy"]
    assert [m for m in result.metrics if m.name == "pitch_score"]
    assert result.data["labelled"] is False


class _WrongShape:
    def fit(self, images: torch.Tensor, labels: Any = None) -> None:
        self.shape = images.shape[1:]

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        return torch.zeros(n, 1, 4, 4)


class _NaN(_WrongShape):
    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        return torch.full((n, *self.shape), float("nan"))


class _Raises(_WrongShape):
    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        raise ZeroDivisionError("division by zero\nsecond line")


def test_generator_mistakes_are_user_errors(synth: Any, tmp_path: Path) -> None:
    rep = _rep("dct-square", synth)
    with pytest.raises(UserError, match="needs a generator"):
        _run(rep, synth, None, tmp_path)
    with pytest.raises(UserError, match="shape"):
        _run(rep, synth, _WrongShape(), tmp_path)
    with pytest.raises(UserError, match="NaN"):
        _run(rep, synth, _NaN(), tmp_path)
    with pytest.raises(UserError, match="sample raised ZeroDivisionError: division by zero$"):
        _run(rep, synth, _Raises(), tmp_path)
    with pytest.raises(UserError, match="pitch_model"):
        _run(
            rep,
            synth,
            load_generator("oracle", rep.image_shape),
            tmp_path,
            **{**FAST, "pitch_model": "spectral-stats"},
        )


def test_too_few_test_clips_is_a_user_error(tmp_path: Path) -> None:
    ds = load_dataset("synth-piano?n=20", sample_rate=SR, n_samples=N, n_channels=1, progress=False)
    rep = _rep("dct-square", ds)
    # 2 test clips plus a third of 18 training clips: 8 clips, two sides of 4, is enough ...
    _run(rep, ds, load_generator("oracle", rep.image_shape), tmp_path / "ok", **FAST)
    # ... holding out none leaves two sides of 1.
    with pytest.raises(UserError, match="at least 8 real clips"):
        _run(rep, ds, load_generator("oracle", rep.image_shape), tmp_path, holdout_max_fraction=0)


# Must-show checks on piano-c3 (slow: rendering and several task runs on 1.5 s clips at 44.1 kHz).
PIANO = {
    **FAST,
    "embeddings": ["spectral-stats", "crepe-tiny?hop=800"],
    "pitch_model": "crepe-tiny?hop=800",
}


@pytest.fixture(scope="module")
def piano() -> Any:
    return load_dataset("piano-c3", seed=0, progress=False)  # 1,000 clips: two sides of 200


def _oracle_rows(rep: Any, piano: Any, folder: Path, psnr: float, **params: Any) -> TaskResult:
    gen = load_generator("oracle", rep.image_shape, psnr=psnr)
    return _run(rep, piano, gen, folder / f"psnr{psnr}", **{**PIANO, **params})


@pytest.mark.slow
def test_piano_c3_reference_rows(piano: Any, tmp_path: Path) -> None:
    rep = _rep("dct-square", piano)
    near = _oracle_rows(rep, piano, tmp_path, 60, codec="png16")
    far = _oracle_rows(rep, piano, tmp_path, 20, codec="png16")
    for emb in ("spectral-stats", "crepe-tiny"):
        for name in ("fd", "kid"):
            rvr = _value(near, name, row="real-vs-real", embedding=emb)
            rt = _value(near, name, row="roundtrip", embedding=emb)
            bad = _value(far, name, row="generator", embedding=emb)
            # real vs real is near zero on the scale of a clearly wrong generator ...
            assert abs(rvr) < 0.1 * bad
            # ... and a lossless representation's round trip (16-bit PNG) is close to it.
            assert abs(rt - rvr) < 0.1 * (bad - rvr)
    assert _value(near, "pitch_accuracy", row="real-vs-real", embedding="crepe-tiny") >= 0.95


@pytest.mark.slow
def test_piano_c3_oracle_worsens_monotonically_and_by_representation(
    piano: Any, tmp_path: Path
) -> None:
    crepe_rise, real_rows = {}, {}
    for name in ("dct-square", "waveform-square"):
        rep = _rep(name, piano)
        scores, crepe_fd = [], []
        for psnr in (60, 40, 30, 20):
            result = _oracle_rows(rep, piano, tmp_path / name, psnr, codec="float")
            real_rows[name, psnr] = {
                m.key: (m.value, m.low, m.high)
                for m in result.metrics
                if m.condition.get("row") == "real-vs-real"
            }
            scores.append(
                [
                    _value(result, metric, row="generator", embedding="spectral-stats")
                    for metric in ("fd", "kid")
                ]
            )
            crepe_fd.append(_value(result, "fd", row="generator", embedding="crepe-tiny"))
        table = np.array(scores)
        assert (np.diff(table, axis=0) > 0).all(), (name, table)
        crepe_rise[name] = crepe_fd[2] - crepe_fd[0]  # from 60 dB to 30 dB
    # CREPE's pitch features notice white noise on the waveform long before the same image
    # PSNR of noise on the companded DCT: the grain differs by representation.
    assert crepe_rise["waveform-square"] > 3 * max(crepe_rise["dct-square"], 0.0), crepe_rise
    # The real-vs-real row (FD, FD∞, KID, NDB, pitch) depends on the dataset, sample rate and
    # seed only: one run's reference rows hold for every representation.
    assert len({str(rows) for rows in real_rows.values()}) == 1
    keys = {
        f"{m}[embedding={e},row=real-vs-real]"
        for m in ("fd", "kid")
        for e in ("crepe-tiny", "spectral-stats")
    }
    assert keys <= real_rows["dct-square", 60].keys()


def test_the_generator_fits_on_the_images_the_representation_fit_returned(
    synth: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the run's training images (what ``fit`` returned), no training clip is encoded
    again for the generator, and every number is the same as encoding them."""
    rep = load_representation("dct-square", sample_rate=SR, n_samples=N)
    images = rep.fit(torch.from_numpy(synth.train))
    assert images is not None and len(images) == len(synth.train)
    encoded: list[int] = []
    encode = type(rep).encode

    def counting(self: Any, audio: torch.Tensor) -> torch.Tensor:
        encoded.append(len(audio))
        return encode(self, audio)

    monkeypatch.setattr(type(rep), "encode", counting)

    def run(folder: str, training: Any) -> tuple[TaskResult, int]:
        gen = load_generator("gmm", rep.image_shape, n_components=4, n_mixtures=2)
        before = sum(encoded)
        result = _run(rep, synth, gen, tmp_path / folder, training, **FAST, n_samples=8)
        return result, sum(encoded) - before

    alone, alone_clips = run("alone", None)
    shared, shared_clips = run("shared", TrainingImages(rep, synth.train, images=images))
    fit_clips = len(reference_split(len(synth.train), len(synth.test), 200, seed=0).fit)
    assert alone_clips - shared_clips == fit_clips > 0
    assert [(m.name, m.value, m.condition) for m in alone.metrics] == [
        (m.name, m.value, m.condition) for m in shared.metrics
    ]
