"""The throughput task: definitions checked on hand-made timings, interval and memory
against independent references, and the task's result structure on synth-piano (no timed
asserts: structure, positivity and the ratio definitions only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch

from grainbench.cli import main
from grainbench.data import load_dataset
from grainbench.errors import UserError
from grainbench.leaderboard import headline_key, key_metric_keys
from grainbench.plugins import load_representation
from grainbench.registries import GENERATORS
from grainbench.runner import default_tasks
from grainbench.tasks.throughput import ThroughputTask
from grainbench.tasks.throughput_generator import generator_metrics
from grainbench.tasks.throughput_representation import _row, representation_metrics
from grainbench.timing import median_interval, peak_memory
from taskrun import run_task

SR, N = 16000, 16384


def _order_statistic_interval(x: np.ndarray) -> tuple[float, float]:
    """The textbook 95 % interval of a median: [x_(k), x_(n-k+1)] with k the largest
    integer such that P(Binomial(n, 1/2) ≤ k - 1) ≤ 2.5 %."""
    n = len(x)
    k = max(j for j in range(1, n + 1) if scipy.stats.binom.cdf(j - 1, n, 0.5) <= 0.025)
    s = np.sort(x)
    return float(s[k - 1]), float(s[n - k])


@pytest.mark.parametrize("n", [6, 7, 9, 20, 51])
def test_median_interval_is_the_order_statistic_interval(n: int) -> None:
    x = np.random.default_rng(n).lognormal(size=n)
    median, low, high = median_interval(x)
    assert median == pytest.approx(float(np.median(x)))
    assert (low, high) == pytest.approx(_order_statistic_interval(x))


def test_median_interval_needs_six_values() -> None:
    """Below 6 values no pair of order statistics covers the median with 95 %."""
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) == (3.0, None, None)
    assert median_interval([2.0]) == (2.0, None, None)


def test_peak_memory_counts_torch_and_numpy_allocations() -> None:
    """A call that fills 64 MiB (torch) or 48 MiB (NumPy) needs that much at its peak,
    and a call that allocates nothing needs (almost) nothing."""
    cpu = torch.device("cpu")
    mib = 2**20
    torch_peak = peak_memory(lambda: torch.ones(16 * mib), cpu)
    numpy_peak = peak_memory(lambda: float(np.ones(6 * mib).sum()), cpu)
    if torch_peak is None:
        pytest.skip("no resident-set high-water mark on this platform")
    # within 2 % below (the kernel may drop file-backed pages meanwhile) and 8 MiB above
    assert 0.98 * 64 * mib <= torch_peak < 72 * mib
    assert 0.98 * 48 * mib <= numpy_peak < 56 * mib
    assert peak_memory(lambda: None, cpu) < 4 * mib


def test_rtf_and_ratios_follow_their_definitions_on_a_hand_made_timing() -> None:
    """Batch 4 of 2-second clips, calls of 0.5 s (encode) and 0.25 s (decode): 0.125 s per
    clip, RTF 2 / 0.125 = 16, 8 images/s; the library ratio is the median of the per-round
    ratios (here 0.5 / 0.1, 0.5 / 0.2 …), not the ratio of medians."""
    rounds = 7
    samples = {
        "encode": [0.5] * rounds,
        "decode": [0.25] * rounds,
        "stage0.forward": [0.25] * rounds,
        "stage0.inverse": [0.125] * rounds,
        "scipy.forward": [0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.4],
        "scipy.inverse": [0.05] * rounds,
    }
    row = _row(samples, rounds, 4, 2.0, ["DCT"], ["scipy"], "dct")
    assert row["encode_s"] == 0.125 and row["decode_s"] == 0.0625
    assert row["encode_rtf"] == 16.0 and row["decode_rtf"] == 32.0
    assert row["encode_overhead"] == 2.0 and row["decode_overhead"] == 2.0
    ref = row["references"]["scipy"]
    assert ref["encode_ratio"] == pytest.approx(np.median([5, 2.5, 5, 2.5, 5, 2.5, 1.25]))
    assert ref["decode_ratio"] == pytest.approx(5.0)
    assert row["library"] == {"label": "scipy", "name": "scipy.fft.dct/idct"}
    row["encode_peak_bytes"], row["decode_peak_bytes"] = 3 * 2**20, None
    record = {"clip_seconds": 2.0, "batches": {"4": row}}
    got = {m.key: m for m in representation_metrics(record, "cpu")}
    assert got["encode_rtf[batch=4,device=cpu]"].value == 16.0
    assert got["encode_images_per_s[batch=4,device=cpu]"].value == 8.0
    assert got["decode_images_per_s[batch=4,device=cpu]"].value == 16.0
    assert got["encode_vs_library[batch=4,device=cpu]"].value == ref["encode_ratio"]
    assert got["encode_peak_memory[batch=4,device=cpu]"].value == 3.0
    assert "decode_peak_memory[batch=4,device=cpu]" not in got
    # constant samples: the interval is the point itself, and RTF's ends follow from it
    assert (
        got["encode_rtf[batch=4,device=cpu]"].low,
        got["encode_rtf[batch=4,device=cpu]"].high,
    ) == (16.0, 16.0)


def test_generator_metrics_follow_their_definitions() -> None:
    """A cycle of four 16-image steps, one slowed by a regulariser (2, 2, 2, 6 s): 64 images
    in 12 s, 5.33 images/s, 187.5 s per kimg (the median step, 2 s, would say 125: it
    leaves out the regularisation a long run pays for); sampling 16 clips in 4 s, 1 in 0.5 s."""
    record = {
        "kind": "stylegan",
        "device": "cpu",
        "train_images": 16,
        "train_step_s": [6.0, 2.0, 2.0, 2.0],
        "train_peak_bytes": 3 * 2**20,
        "sample_s": {"16": [4.0] * 3, "1": [0.5] * 6},
    }
    got = {m.key: m for m in generator_metrics(record)}
    assert got["train_images_per_s[device=cpu]"].value == pytest.approx(64 / 12)
    assert got["train_s_per_kimg[device=cpu]"].value == pytest.approx(187.5)
    assert got["train_s_per_kimg[device=cpu]"].low is None  # steps differ by design
    assert got["train_peak_memory[device=cpu]"].value == 3.0
    assert got["sample_clips_per_s[batch=16,device=cpu]"].value == 4.0
    assert got["sample_clips_per_s[batch=16,device=cpu]"].low is None  # 3 samples: no interval
    assert got["sample_clips_per_s[batch=1,device=cpu]"].value == 2.0
    assert got["sample_clips_per_s[batch=1,device=cpu]"].low == 2.0


@pytest.fixture(scope="module")
def small():
    rep = load_representation("dct-square", SR, N)
    data = load_dataset("synth-piano?n=20", sample_rate=SR, n_samples=N, progress=False)
    rep.fit(torch.from_numpy(data.train))
    return rep, data


def test_task_measures_each_batch_with_its_definitions(tmp_path: Path, small, one_thread) -> None:
    rep, data = small
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "roundtrip.json").write_text(json.dumps({"wall_s": 3.5}))
    params = {"batches": [1, 3], "repeats": 6, "budget_s": 60.0, "devices": ["cpu", "cuda"]}
    result = run_task("throughput", rep, data, tmp_path, "throughput", params)
    got = {m.key: m for m in result.metrics}
    clip_s = N / SR
    record = result.data["representation"]["cpu"]
    assert record["family"] == "dct" and record["clip_seconds"] == clip_s
    for batch in (1, 3):
        row = record["batches"][str(batch)]
        assert row["rounds"] == 6
        for what in ("encode", "decode"):
            cond = f"[batch={batch},device=cpu]"
            per_call = np.asarray(row["samples"][what])
            # seconds per clip: the median call over the batch; RTF and images/s from it
            assert row[f"{what}_s"] == pytest.approx(np.median(per_call) / batch)
            rtf = got[f"{what}_rtf{cond}"]
            assert rtf.value == pytest.approx(clip_s / row[f"{what}_s"])
            assert rtf.value > 0 and rtf.low <= rtf.value <= rtf.high
            ips = got[f"{what}_images_per_s{cond}"].value
            assert ips == pytest.approx(rtf.value / clip_s)
            lib = got[f"{what}_vs_library{cond}"]
            direction = "forward" if what == "encode" else "inverse"
            ratios = per_call / np.asarray(row["samples"][f"scipy.{direction}"])
            assert lib.value == pytest.approx(np.median(ratios)) and lib.value > 0
            assert got[f"{what}_peak_memory{cond}"].value > 0
        assert row["library"]["name"] == "scipy.fft.dct/idct"
    if not torch.cuda.is_available():
        assert result.data["not_measured"] == {"cuda": "no CUDA device"}
    assert got["wall_time[task=roundtrip]"].value == 3.5
    assert got["wall_time[task=throughput]"].value > 0
    keys = [m.key for m in result.metrics]
    rows = [
        {"key": m.key, "higher_is_better": True, "condition": m.condition} for m in result.metrics
    ]
    assert headline_key("throughput", rows) == "decode_rtf[batch=1,device=cpu]"
    assert "decode_rtf[batch=1,device=cpu]" in key_metric_keys("throughput", rows)
    assert len(keys) == len(set(keys))


def test_a_batch_over_max_call_s_is_skipped(tmp_path: Path, small, one_thread) -> None:
    rep, data = small
    params = {"batches": [1, 10**6], "repeats": 1, "max_call_s": 1.0, "devices": ["cpu"]}
    result = run_task("throughput", rep, data, tmp_path, "throughput", params)
    record = result.data["representation"]["cpu"]
    assert list(record["batches"]) == ["1"] and "max_call_s" in record["skipped"]["1000000"]


def test_generic_generator_is_fitted_and_sampled(tmp_path: Path, small, one_thread) -> None:
    rep, data = small
    gen = GENERATORS.get("gmm")(tuple(rep.image_shape), n_components=4, n_mixtures=2)
    params = {"batches": [1], "repeats": 2, "gen_fit_clips": 8, "gen_sample_batches": [1, 3]}
    params["devices"] = ["cpu"]
    result = run_task("throughput", rep, data, tmp_path, "throughput", params, generator=gen)
    g = result.data["generator"]
    assert g["kind"] == "generic" and g["train_images"] == 8
    assert sorted(g["sample_s"]) == ["1", "3"] and len(g["sample_s"]["3"]) == 2
    got = {m.key: m.value for m in result.metrics}
    assert got["train_images_per_s[device=cpu]"] == pytest.approx(8 / g["fit_s"])
    assert got["train_s_per_kimg[device=cpu]"] == pytest.approx(1000 / (8 / g["fit_s"]))
    for batch in (1, 3):
        want = batch / np.median(g["sample_s"][str(batch)])
        assert got[f"sample_clips_per_s[batch={batch},device=cpu]"] == pytest.approx(want)


@pytest.mark.parametrize(
    "bad",
    [
        {"batches": []},
        {"batches": [0]},
        {"repeats": 0},
        {"budget_s": -1},
        {"devices": ["tpu"]},
        {"gen_steps": True},
    ],
)
def test_bad_parameters_are_user_errors(tmp_path: Path, small, bad) -> None:
    rep, data = small
    with pytest.raises(UserError, match="throughput"):
        run_task("throughput", rep, data, tmp_path, "throughput", bad)


def test_not_in_the_default_run_and_runs_alone() -> None:
    task = ThroughputTask()
    assert "throughput" not in default_tasks() and task.runs_alone


def test_run_command_writes_throughput_rows(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["run", "--rep", "dct-square", "--data", "synth-piano?n=20", "--task", "throughput"]
    args += ["--param", "throughput.batches=[2]", "--param", "throughput.repeats=1"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    result = json.loads((out / "result.json").read_text())
    keys = {m["key"] for m in result["tasks"]["throughput"]["metrics"]}
    assert {"encode_rtf[batch=2,device=cpu]", "decode_vs_library[batch=2,device=cpu]"} <= keys
    assert "decode_rtf" in capsys.readouterr().out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rows_are_marked_by_device(tmp_path: Path, small) -> None:
    rep, data = small
    params = {"batches": [1, 4], "repeats": 6, "devices": ["cpu", "cuda"]}
    result = run_task("throughput", rep, data, tmp_path, "throughput", params)
    got = {m.key: m.value for m in result.metrics}
    assert got["decode_rtf[batch=4,device=cuda]"] > 0
    assert got["decode_peak_memory[batch=4,device=cuda]"] > 0
    assert result.data["representation"]["cuda"]["batches"]["4"]["library"]["label"] == "torch"


def test_stylegan_generator_is_timed_at_its_own_config(tmp_path: Path, one_thread) -> None:
    """A StyleGAN generator: training steps at its config (tiny, 1×32×32) and sampling with
    the decode; images/s is the config's batch over the median step."""
    rep = load_representation("dct-square", 16000, 1024)
    data = load_dataset("synth-piano?n=20", sample_rate=16000, n_samples=1024, progress=False)
    rep.fit(torch.from_numpy(data.train))
    gen = GENERATORS.get("stylegan2")(tuple(rep.image_shape), config="tiny", progress=False)
    params = {"batches": [1], "repeats": 2, "devices": ["cpu"], "gen_steps": 2}
    params["gen_sample_batches"] = [2]
    result = run_task("throughput", rep, data, tmp_path, "throughput", params, generator=gen)
    g = result.data["generator"]
    assert g["kind"] == "stylegan" and g["config"] == "tiny" and g["sample_decoded"]
    # tiny: R1 every 4 steps, no path length: 2 steps are rounded up to one whole cycle
    assert g["regularisation_cycle"] == 4 and len(g["train_step_s"]) == 4
    assert len(g["sample_s"]["2"]) == 2
    got = {m.key: m.value for m in result.metrics}
    rate = 4 * g["batch"] / sum(g["train_step_s"])
    assert got["train_images_per_s[device=cpu]"] == pytest.approx(rate)
    assert got["train_peak_memory[device=cpu]"] > 0
    want = 2 / np.median(g["sample_s"]["2"])
    assert got["sample_clips_per_s[batch=2,device=cpu]"] == pytest.approx(want)


def test_a_slow_first_call_is_a_warm_up_not_the_measurement() -> None:
    """A thunk whose first call outlasts the whole budget (a plan built at a new size) is
    still timed in one round after it: the result is the steady call, not the first."""
    import time

    from grainbench.timing import time_rounds

    calls = []

    def thunk() -> None:
        calls.append(1)
        time.sleep(0.2 if len(calls) == 1 else 0.001)

    samples, rounds = time_rounds(
        {"f": thunk}, repeats=5, budget_s=0.05, device=torch.device("cpu")
    )
    assert rounds >= 1 and len(calls) == rounds + 1
    assert max(samples["f"]) < 0.1


def test_a_fast_thunk_is_averaged_over_calls_of_at_least_min_sample_s() -> None:
    """A call far shorter than MIN_SAMPLE_S is repeated within each sample and the mean
    kept: each sample is one call's time, made of about MIN_SAMPLE_S of calls."""
    import time

    from grainbench.timing import MIN_SAMPLE_S, time_rounds

    calls = []

    def thunk() -> None:
        calls.append(1)
        time.sleep(0.001)

    samples, rounds = time_rounds(
        {"f": thunk}, repeats=3, budget_s=10.0, device=torch.device("cpu")
    )
    per_sample = (len(calls) - 2) / rounds  # after the warm-up and the calibrating call
    assert rounds == 3 and per_sample == int(per_sample) > 1
    assert per_sample * 0.001 <= MIN_SAMPLE_S * 1.01
    assert all(0.001 <= s < 0.005 for s in samples["f"])
