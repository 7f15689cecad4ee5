"""The prepared GPU run (scripts/gpu-ki.sh, scripts/gpu_ki.py): its time plan, the anchors'
ratios, what $OUT may hold, and (slow) the whole script end to end on the CPU in tiny mode."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_gpu_ki():
    spec = importlib.util.spec_from_file_location("gpu_ki", ROOT / "scripts" / "gpu_ki.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_ki"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


gk = _load_gpu_ki()


def test_train_plan_leaves_the_reserves_and_sizes_kimg_from_the_measured_speed() -> None:
    s = gk.Settings(eval_reserve_s=100.0, first_step_s=0.0)  # pack 15 s; min 20 s training
    plan = gk.train_plan(400.0, s, 25.5, startup_s=30.0)
    # 400 - 15 = 385 s for the phase; 385 - 100 - 30 = 255 s of training = 10 kimg at 25.5
    assert plan["timeout_s"] == 385.0 and plan["max_seconds"] == 255.0
    assert plan["expected_kimg"] == pytest.approx(10.0)
    assert plan["kimg"] == 15.0 and plan["snapshot_kimg"] == 2.5  # 1.5× and a quarter
    assert gk.train_plan(164.0, s, 25.5, startup_s=30.0) is None  # 19 s of training: none
    no_speed = gk.train_plan(400.0, s, None, startup_s=30.0)
    assert no_speed == {"timeout_s": 385.0, "max_seconds": 255.0}  # the config's own kimg
    capped = gk.train_plan(400.0, gk.Settings(max_train_s=60.0), 25.5, startup_s=30.0)
    assert capped is None  # 60 s cannot hold the default 70 s first step and 20 s of training
    capped = gk.train_plan(400.0, gk.Settings(max_train_s=100.0), 25.5, startup_s=30.0)
    assert capped["max_seconds"] == 100.0 and capped["timeout_s"] == 385.0
    # the first step's one-off cost is left out of the expected images
    first = gk.train_plan(400.0, gk.Settings(eval_reserve_s=100.0), 25.5, startup_s=30.0)
    assert first["max_seconds"] == 255.0
    assert first["expected_kimg"] == pytest.approx((255.0 - 70.0) / 25.5)
    assert gk.train_plan(200.0, gk.Settings(eval_reserve_s=100.0), 25.5, startup_s=30.0) is None


def test_anchor_ratios_divide_by_the_published_range() -> None:
    r = gk.anchor_ratios("stylegan2", 12.1)
    assert r["ratio_low"] == pytest.approx(12.1 / 24.2) and r["ratio_high"] == pytest.approx(
        12.1 / 21.6
    )
    assert gk.anchor_ratios("stylegan3", 99.6)["ratio_low"] == pytest.approx(2.0)
    assert gk.anchor_ratios("gmm", 1.0) is None and gk.anchor_ratios("stylegan2", None) is None


def test_budget_caps_a_phase_by_what_the_later_ones_need() -> None:
    now = [1000.0]
    budget = gk.Budget(1300.0, clock=lambda: now[0])
    assert budget.cap(120, keep=100) == 120 and budget.cap(500, keep=100) == 200
    now[0] = 1250.0
    assert budget.cap(120, keep=100) == 0.0 and budget.left() == 50.0


def test_preflight_takes_the_first_candidate_that_passes() -> None:
    assert gk.preflight_candidates("cpu") == [("cpu", True), ("cpu", False)]
    cands = gk.preflight_candidates("cuda")
    assert cands == [("cuda", True), ("cpu", True), ("cpu", False)]
    got = gk.choose(cands, lambda device, fp16, k: device == "cpu")
    assert (got.device, got.fp16) == ("cpu", True) and [t["ok"] for t in got.tried] == [
        False,
        True,
    ]
    none = gk.choose(cands, lambda device, fp16, k: False)
    assert (none.device, none.fp16) == ("cpu", False) and len(none.tried) == 3


def test_settings_from_the_environment_and_the_tiny_mode() -> None:
    assert gk.Settings.from_env({}) == gk.Settings()
    tiny = gk.Settings.from_env({"GPU_KI_MODE": "tiny", "GPU_KI_N_SAMPLES": ""})
    assert tiny.config == "tiny" and tiny.device == "cpu" and tiny.n_samples is None
    over = gk.Settings.from_env({"GPU_KI_PREFLIGHT": "0", "GPU_KI_ADAPTER_KIMG": "0.5"})
    assert over.preflight is False and over.adapter_kimg == 0.5 and over.config == "ki"
    gen_only = gk.Settings.from_env({"GPU_KI_THROUGHPUT_ARCHS": "", "GPU_KI_BENCH": "0"})
    assert gen_only.throughput_archs == "" and gen_only.bench is False
    with pytest.raises(SystemExit, match="GPU_KI_MODE"):
        gk.Settings.from_env({"GPU_KI_MODE": "huge"})


def test_archive_keeps_text_before_pictures_before_sounds_and_no_checkpoints(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    for rel, size in [
        ("runs/g/result.json", 10),
        ("runs/g/generation/grid.png", 40),
        ("runs/g/generation/a.wav", 60),
        ("train/checkpoints/000001/state.safetensors", 5),
        ("summary.md", 10),
    ]:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(b"x" * size)
    kept, left_out = gk.archive_members(work, cap=70)  # 10 + 10 + 40 fit; the WAV does not
    assert sorted(p.name for p in kept) == ["grid.png", "result.json", "summary.md"]
    assert left_out == ["runs/g/generation/a.wav"]
    out = tmp_path / "out"
    out.mkdir()
    assert gk.write_archive(work, out, cap=70) == left_out
    with tarfile.open(out / gk.ARCHIVE) as tar:
        assert "gpu-ki/runs/g/generation/grid.png" in tar.getnames()


def test_out_problems_name_what_the_device_tool_would_not_bring_back(tmp_path: Path) -> None:
    assert gk.out_problems(tmp_path) == []
    for k in range(9):
        (tmp_path / f"f{k}.txt").write_text("x")
    (tmp_path / "bad name.txt").write_text("x")
    with open(tmp_path / "big.bin", "wb") as fh:
        fh.truncate(16 * 2**20 + 1)
    problems = gk.out_problems(tmp_path)
    assert any("11 files" in p for p in problems)
    assert any(p.startswith("bad name.txt") for p in problems)
    assert any(p.startswith("big.bin") for p in problems)


@pytest.mark.slow
def test_the_script_runs_end_to_end_on_the_cpu_in_tiny_mode(tmp_path: Path) -> None:
    """Every phase of scripts/gpu-ki.sh at the tiny config on synth-piano (minutes on a
    loaded 2-core box): what comes back is what the GPU run brings back."""
    out, work = tmp_path / "out", tmp_path / "work"
    env = {
        **os.environ,
        "GPU_KI_MODE": "tiny",
        "BUDGET_S": "1500",
        "PYTHON": sys.executable,
        "PYTHONPATH": str(ROOT / "src"),  # grainbench found here: nothing is pip-installed
        "GPU_KI_WHEELS": str(tmp_path / "no-wheels"),
        "GPU_KI_WORK": str(work),
        "GPU_KI_COMMIT": "test",
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu-ki.sh"), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["gpu-ki.log", "gpu-ki.tar.gz", "summary.json", "summary.md"]
    assert gk.out_problems(out) == []
    summary = json.loads((out / "summary.json").read_text())
    phases = {p["name"]: p["status"] for p in summary["phases"]}
    assert phases["render"] == "ok" and phases["preflight-0"] == "ok", phases
    for name in ("throughput-stylegan2", "throughput-stylegan3", "bench", "adapter", "generation"):
        assert phases[name] == "ok", phases
    assert summary["preflight"]["device"] == "cpu" and summary["manifest"]["commit"] == "test"

    sg2, sg3 = summary["throughput"]
    for t, arch in ((sg2, "stylegan2"), (sg3, "stylegan3")):
        assert t["arch"] == arch and t["config"] == "tiny" and t["image_shape"] == [1, 32, 32]
        assert t["train_s_per_kimg"] * t["train_images_per_s"] == pytest.approx(1000)
        assert t["train_peak_memory_mib"] > 0 and set(t["sample_clips_per_s"]) == {"1", "64"}
        ratio = t["train_s_per_kimg"] / t["anchor"]["high"]
        assert t["anchor"]["ratio_low"] == pytest.approx(ratio)
    bench = {(b["rep"], b["batch"]): b for b in summary["bench"]}
    assert set(bench) == {(r, b) for r in ("dct-square", "stft-magif") for b in (1, 64)}
    assert all(b["encode_ms"] > 0 and b["encode_vs_library"] > 0 for b in bench.values())
    assert summary["adapter"]["image_shape"] == [1, 2, 512] and summary["adapter"]["kimg"] > 0

    gen = summary["generation"]
    assert gen["generator"]["kimg_trained"] > 0 and gen["generator"]["max_seconds"] == 5.0
    assert {"generator", "roundtrip"} <= set(gen["rows"])
    assert gen["rows"]["generator"]["fd"] is not None

    with tarfile.open(out / "gpu-ki.tar.gz") as tar:
        members = tar.getnames()
    assert "gpu-ki/runs/generation/result.json" in members
    assert any(m.endswith(".wav") for m in members) and any(m.endswith(".png") for m in members)
    assert not any("checkpoints" in m for m in members)
    text = (out / "summary.md").read_text()
    assert "| generation | ok |" in text and "| stft-magif | 64 |" in text


@pytest.mark.slow
def test_the_stylegan_probe_times_steps_and_profiles_on_the_cpu() -> None:
    """scripts/gpu-stylegan-probe.py (what the first GPU run's diagnosis used) at the tiny
    config: first steps, one cycle per cuDNN/TF32 setting, the profile's operator table."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    argv = [sys.executable, str(ROOT / "scripts" / "gpu-stylegan-probe.py"), "--config", "tiny"]
    argv += ["--device", "cpu", "--shape", "1,16,16", "--batches", "4"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "== stylegan2 tiny batch 4 (1, 16, 16)" in out and "first three steps" in out
    assert out.count("img/s") == 3 and "profile of 2 steps: wall" in out
    assert "aten::" in out  # the operator table
