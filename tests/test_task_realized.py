"""The realized task: projection through codec and decode, the prediction check, colour, WAVs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from grainbench.baselines.generators.gmm import GMMGenerator
from grainbench.baselines.generators.oracle import NoiseOracle
from grainbench.cli import main
from grainbench.data import load_dataset
from grainbench.errors import UserError
from grainbench.generator import Generator
from grainbench.metrics.erb import erb_band_count
from grainbench.plugins import load_representation
from grainbench.runner import RunSpec, run_benchmark
from taskrun import run_task

SR, N = 16000, 16384
FAST = {"n_boot": 200, "n_wavs": 1}


@pytest.fixture(scope="module")
def synth() -> Any:
    return load_dataset(
        "synth-piano?n=60", sample_rate=SR, n_samples=N, n_channels=1, progress=False
    )


def _rep(name: str, ds: Any) -> Any:
    rep = load_representation(name, sample_rate=ds.sample_rate, n_samples=ds.n_samples)
    rep.fit(torch.from_numpy(ds.train))
    return rep


def _rows(result: Any) -> dict[str, Any]:
    return {m.key: m for m in result.metrics}


def test_oracle_realized_grain_is_its_known_noise(synth: Any, tmp_path: Path) -> None:
    """The oracle's projection is the image plus white noise at its PSNR: realized grain and
    the noise prediction are the same error, so their difference's interval holds 0."""
    rep = _rep("dct-square", synth)
    oracle = NoiseOracle(rep.image_shape, psnr=40.0)
    result = run_task(
        "realized", rep, synth, tmp_path, "realized", {**FAST, "codec": "float"}, oracle
    )
    rows = _rows(result)
    psnr = rows["projection_psnr"]
    assert psnr.low <= 40.0 <= psnr.high and abs(psnr.value - 40.0) < 0.1
    err = rows["prediction_error[row=noise]"]
    assert err.low <= 0.0 <= err.high
    noise = rows["esr[row=noise]"]
    assert noise.low <= rows["esr[row=realized]"].value <= noise.high


def test_gmm_realized_writes_rows_colour_and_wavs(synth: Any, tmp_path: Path) -> None:
    rep = _rep("waveform-square", synth)
    gen = GMMGenerator(rep.image_shape, n_components=8, n_mixtures=2)
    result = run_task("realized", rep, synth, tmp_path, "realized", FAST, gen)
    rows = _rows(result)
    for key in ("esr[row=realized]", "mrstft[row=realized]", "audibility[row=realized]"):
        assert np.isfinite(rows[key].value) and rows[key].low <= rows[key].value <= rows[key].high
    assert "esr[row=transfer-curve]" not in rows  # no transfer task in this folder
    n = len(synth.test)
    per_clip = result.data["per_clip"]
    assert len(per_clip["esr_realized"]) == n == result.data["n_clips"]
    np.testing.assert_allclose(
        np.mean(per_clip["esr_realized"]) - np.mean(per_clip["esr_noise"]),
        rows["prediction_error[row=noise]"].value,
        atol=1e-9,
    )
    colour = json.loads((tmp_path / "realized" / "grain_colour.json").read_text())
    assert len(colour["realized"]["ratio_db"]) == erb_band_count(SR)
    assert (tmp_path / "realized" / "grain_colour.png").stat().st_size > 0
    residual, sr = sf.read(tmp_path / "realized" / "clip0_residual.wav")
    assert sr == SR and abs(np.abs(residual).max() - 0.5) < 1e-3  # level-normalised
    real, _ = sf.read(tmp_path / "realized" / "clip0_real.wav")
    np.testing.assert_allclose(real, synth.test[0, 0], atol=1.0 / 32767)
    kinds = {a.path.rsplit("_", 1)[-1] for a in result.artifacts if a.kind == "wav"}
    assert kinds == {"real.wav", "projected.wav", "residual.wav"}


def test_transfer_curve_row_reads_the_grain_line(synth: Any, tmp_path: Path) -> None:
    """With a finished transfer task in the folder, its line level + slope·(PSNR − 40) is
    read at each clip's projection PSNR (its mean is the line at the mean PSNR)."""
    (tmp_path / "tasks").mkdir()
    body = {
        "params": {"psnr": [30, 40, 50]},
        "data": {"n_clips": 8, "grain": {"slope": -1.5, "level_at_40db": -20.0}},
    }
    (tmp_path / "tasks" / "transfer.json").write_text(json.dumps(body))
    rep = _rep("dct-square", synth)
    oracle = NoiseOracle(rep.image_shape, psnr=35.0)
    result = run_task("realized", rep, synth, tmp_path, "realized", FAST, oracle)
    rows = _rows(result)
    want = -20.0 - 1.5 * (rows["projection_psnr"].value - 40.0)
    assert rows["esr[row=transfer-curve]"].value == pytest.approx(want, abs=1e-9)
    assert result.data["transfer_curve"]["clips_outside_levels"] == 0


class _NoProject:
    def __init__(self, image_shape: tuple[int, ...]) -> None:
        self.shape = image_shape

    def fit(self, images: Any, labels: Any = None) -> None:
        pass

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        return torch.zeros(n, *self.shape)


def test_generator_without_project_is_refused(synth: Any, tmp_path: Path, capsys) -> None:
    rep = _rep("dct-square", synth)
    with pytest.raises(UserError, match="has no project"):
        run_task("realized", rep, synth, tmp_path, "r", FAST, _NoProject(rep.image_shape))
    plugin = tmp_path / "noproject.py"
    plugin.write_text(
        "import torch\n"
        "class G:\n"
        "    def __init__(self, shape):\n"
        "        self.shape = shape\n"
        "    def fit(self, images, labels=None):\n"
        "        pass\n"
        "    def sample(self, n, labels=None, seed=0):\n"
        "        return torch.zeros(n, *self.shape)\n"
    )
    args = ["run", "--rep", "dct-square", "--data", "synth-piano?n=8", "--no-progress"]
    args += ["--task", "realized", "--out", str(tmp_path / "run"), "--gen", f"{plugin}:G"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no project()" in err
    assert not (tmp_path / "run").exists()  # refused before the run folder is claimed
    assert main(["run", "--rep", "dct-square", "--task", "realized"]) == 2
    assert "realized task needs a generator" in capsys.readouterr().err


class _CountingGMM(GMMGenerator):
    fits = 0

    def fit(self, images: torch.Tensor, labels: Any = None) -> None:
        type(self).fits += 1
        super().fit(images, labels)


def test_generation_and_realized_share_one_fit(tmp_path: Path, monkeypatch) -> None:
    from grainbench import runner

    monkeypatch.setattr(
        runner,
        "load_generator",
        lambda spec, shape, **kw: Generator(_CountingGMM(shape, n_components=4), spec, shape),
    )
    spec = RunSpec(
        rep="waveform-square",
        data="synth-piano?n=80",
        sample_rate=SR,
        n_samples=N,
        tasks=["generation", "realized"],
        params={
            "generation": {
                "embeddings": ["spectral-stats"],
                "pitch_model": "crepe-tiny?hop=800",
                "kid_boot": 20,
                "n_boot": 20,
                "n_grid": 0,
                "n_wavs": 0,
            },
            "realized": {"n_boot": 20, "n_wavs": 0},
        },
        gen="gmm",
        out=tmp_path / "run",
        progress=False,
    )
    result, _ = run_benchmark(spec)
    assert result["complete"] and _CountingGMM.fits == 1
