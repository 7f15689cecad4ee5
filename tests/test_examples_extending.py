"""The extension examples of docs/architecture.md: each is in the page verbatim, and works."""

from __future__ import annotations

import json
import math
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from grainbench.cli import main
from grainbench.plugins import load_generator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "extending"
TINY = ["--data", "synth-piano?n=8", "--no-progress", "--param", "roundtrip.n_boot=20"]
TINY += ["--param", "roundtrip.n_examples=0", "--param", 'roundtrip.codecs=["float"]']


def _metrics(run_dir: Path, task: str) -> dict[str, float]:
    result = json.loads((run_dir / "result.json").read_text())
    return {m["key"]: m["value"] for m in result["tasks"][task]["metrics"]}


def _in_fresh_process(code: str) -> str:
    """Run ``code`` in a new interpreter (registrations stay out of this one); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_every_example_stands_verbatim_in_the_architecture_page() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    files = sorted(EXAMPLES.glob("*.py"))
    assert [f.stem for f in files] == ["dataset", "generator", "metric", "representation", "task"]
    for path in files:
        assert f"```python\n{path.read_text()}```" in page, path.name


def test_representation_example_runs_the_round_trip(tmp_path: Path) -> None:
    spec = f"{EXAMPLES / 'representation.py'}:Waveform128"
    assert main(["run", "--rep", spec, "--task", "roundtrip", *TINY, "--out", str(tmp_path)]) == 0
    assert _metrics(tmp_path, "roundtrip")["max_abs_error[codec=float]"] == 0.0


def test_generator_example_fits_and_samples_seeded() -> None:
    gen = load_generator(f"{EXAMPLES / 'generator.py'}:PixelGaussian", (1, 8, 8))
    images = torch.randn(50, 1, 8, 8) * 2.0 + 1.0
    gen.fit(images)
    a, b = gen.sample(400, seed=3), gen.sample(400, seed=3)
    assert a.shape == (400, 1, 8, 8) and torch.equal(a, b)
    assert float((a.mean(0) - images.mean(0)).abs().max()) < 1.0


def test_metric_example_and_its_closed_form_test() -> None:
    ns = runpy.run_path(str(EXAMPLES / "metric.py"))
    ns["test_crest_factor_of_a_sine_is_3_db"]()
    square = torch.ones(2, 1, 64)
    assert ns["crest_factor_db"](square).tolist() == [0.0, 0.0]
    assert not math.isclose(float(ns["crest_factor_db"](torch.randn(1, 1, 4096))[0]), 0.0)


def test_task_example_registers_and_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _in_fresh_process(
        f"""
        import runpy
        from grainbench.cli import main
        runpy.run_path({str(EXAMPLES / "task.py")!r})
        args = ["run", "--rep", "dct-square", "--task", "worst-error", "--data", "synth-piano?n=8"]
        raise SystemExit(main([*args, "--no-progress", "--out", {str(out)!r}]))
        """
    )
    assert 0.0 < _metrics(out, "worst-error")["max_abs_error"] < 1e-4


def test_dataset_example_registers_and_builds() -> None:
    out = _in_fresh_process(
        """
        import runpy
        from grainbench.data.core import Setting
        from grainbench.registries import DATASETS
        runpy.run_path("examples/extending/dataset.py")
        plan = DATASETS.get("noise").plan(None, {"n": "3"})
        clips = plan.build(Setting(8000, 64, 2), progress=False)
        print(plan.defaults().as_tuple(), clips.clips.shape, clips.clips.dtype, clips.labels.tolist())
        from grainbench.data import load_dataset  # by name, through the registry
        ds = load_dataset("noise?n=10", n_samples=64, progress=False)
        print(ds.train.shape, ds.test.shape, ds.sample_rate)
        """
    )
    lines = out.split("\n")
    assert lines[0] == "(16000, 16384, 1) (3, 2, 64) float32 [-1, -1, -1]"
    assert lines[1] == "(9, 1, 64) (1, 1, 64) 16000"
