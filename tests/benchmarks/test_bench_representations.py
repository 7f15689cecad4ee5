"""Throughput: pytest-benchmark timings of encode / decode beside the bare first stage, and
checks of ``grainbench bench`` itself (these run in the normal suite; the timings run with
``pytest tests/benchmarks --benchmark-only``).

Compare within a group (one representation, one batch): encode ÷ bare-forward and
decode ÷ bare-inverse are the overheads of the companding and layout stages; ``grainbench
bench`` judges the 1.5× goal of the DCT and STFT families against the library transform.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import torch

from grainbench.bench import goal_verdicts, render_markdown, run_bench
from grainbench.cli import main
from grainbench.plugins import load_representation
from grainbench.tasks.throughput_representation import family, probe_clips, stft_framing

SR, N, BATCH = 16000, 16384, 64
REPS = [
    "dct-square",
    "dct-square-linear",
    "dct-square-sqrt",
    "fft-square",
    "fft-polar-square",
    "waveform-square",
    "stft-complex",
    "stft-magif",
]


@pytest.fixture(scope="module")
def clips() -> torch.Tensor:
    return probe_clips(BATCH, 1, N)


def _plugin(rep: str, clips: torch.Tensor):
    plugin = load_representation(rep, sample_rate=SR, n_samples=N).plugin
    plugin.fit(clips)
    return plugin


@pytest.mark.parametrize("batch", [1, BATCH])
@pytest.mark.parametrize("rep", REPS)
@pytest.mark.parametrize("what", ["encode", "decode", "bare-forward", "bare-inverse"])
def test_speed(benchmark, rep: str, what: str, batch: int, clips: torch.Tensor) -> None:
    plugin = _plugin(rep, clips)
    clips = clips[:batch]
    first = plugin.stages[0]
    image = plugin.encode(clips)
    coeffs = first(clips)
    fn, arg, shape = {
        "encode": (plugin.encode, clips, image.shape),
        "decode": (plugin.decode, image, clips.shape),
        "bare-forward": (first, clips, coeffs.shape),
        "bare-inverse": (first.inverse, coeffs, clips.shape),
    }[what]
    benchmark.group = f"{rep} batch {batch}"
    benchmark.extra_info["family"] = family(first)
    with torch.no_grad():
        out = benchmark(fn, arg)
    assert out.shape == shape and bool(torch.isfinite(out).all())


def test_references_are_the_same_transform(clips: torch.Tensor) -> None:
    """The scipy reference of a DCT representation computes its first stage's coefficients."""
    stage = _plugin("dct-square", clips).stages[0]
    ours = stage(clips[:2]).squeeze(2).numpy()
    ref = scipy.fft.dct(clips[:2].numpy(), type=2, norm="ortho")
    np.testing.assert_allclose(ours, ref, atol=1e-5 * np.abs(ref).max())
    assert family(stage) == "dct"
    assert family(_plugin("fft-polar-square", clips).stages[0]) == "fft"
    for rep in ("stft-complex", "stft-magif"):
        first = _plugin(rep, clips).stages[0]
        assert family(first) == "stft"
        framing = stft_framing(first)
        described = first.describe() if rep == "stft-complex" else first.stft.describe()
        assert framing == (described["n_fft"], described["hop"])


def test_bench_record_is_consistent() -> None:
    reps = ["dct-square", "waveform-square"]
    # 50 rounds asked, but a budget of 1 ns: one timed round after the warm-up, never 0
    record = run_bench(reps, (1, 4), repeats=50, sample_rate=SR, n_samples=N, budget_s=1e-9)
    assert record["machine"]["cpu"] and record["settings"]["batches"] == [1, 4]
    assert {b["rounds"] for r in record["results"] for b in r["batches"].values()} == {1}
    dct = record["results"][0]
    assert dct["family"] == "dct" and dct["clip_seconds"] == pytest.approx(N / SR)
    for row in dct["batches"].values():
        # one round: the median of per-round ratios is that round's ratio
        assert row["encode_overhead"] == pytest.approx(row["encode_s"] / row["bare_forward_s"])
        assert row["decode_rtf"] == pytest.approx(N / SR / row["decode_s"])
        assert row["encode_peak_bytes"] > 0 and row["intervals"]["encode_s"] is None
        assert [s["stage"] for s in row["stages"]] == ["DCT", "Compand", "Fold", "Arrange"]
        assert set(row["references"]) == {"scipy", "torch"}
        assert row["references"]["scipy"]["encode_ratio"] == pytest.approx(
            row["encode_s"] / row["references"]["scipy"]["forward_s"]
        )
    assert record["results"][1]["batches"]["1"]["references"] == {}
    text = render_markdown(record)
    assert "| dct-square | dct | 4 |" in text and "overhead" in text
    # the goal line judges against scipy's DCT and gives the overhead over the own stage
    worst_scipy = max(
        max(b["references"]["scipy"]["encode_ratio"], b["references"]["scipy"]["decode_ratio"])
        for b in dct["batches"].values()
    )
    worst_own = max(
        max(b["encode_overhead"], b["decode_overhead"]) for b in dct["batches"].values()
    )
    line = next(g for g in goal_verdicts(record) if g.startswith("dct-square: worst "))
    assert f"{worst_scipy:.2f}× scipy.fft.dct/idct" in line
    assert f"{worst_own:.2f}× its own transform stage" in line
    assert ("MISSES" in line) == (worst_scipy > 1.5) and f"- {line}" in text
    assert "waveform-square: worst" not in text  # the goal covers the DCT and STFT families only


def test_bench_command_writes_json_and_markdown(tmp_path: Path, capsys) -> None:
    args = [
        "bench",
        "--rep",
        "dct-square",
        "--batch",
        "2",
        "--repeats",
        "1",
        "--sample-rate",
        str(SR),
    ]
    threads = torch.get_num_threads()
    try:
        assert main([*args, "--n-samples", str(N), "--threads", "1", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["settings"]["torch_threads"] == 1
    assert list(record["results"][0]["batches"]) == ["2"]
    assert record["results"][0]["batches"]["2"]["rounds"] == 1
    assert (tmp_path / "bench.md").read_text() in capsys.readouterr().out
    assert main(["bench", "--batch", "0"]) == 2
    assert main(["bench", "--rep", "no-such-rep", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("kind", ["mulaw", "sqrt", "linear"])
@pytest.mark.parametrize("planes", [None, [0]])
def test_compand_in_place_path_equals_the_autograd_path(
    kind: str, planes: list[int] | None
) -> None:
    """Compand works in place when autograd is off (the speed fix): same bits as the
    recorded path, and both match the numpy closed form."""
    from grainbench.stages import Compand

    x = torch.randn(3, 1, 2, 512, generator=torch.Generator().manual_seed(0))
    stage = Compand(kind, planes=planes, scale=2.0)
    with torch.no_grad():
        fast = stage(x)
        fast_back = stage.inverse(fast)
    graph_in = x.clone().requires_grad_(True)
    graph = stage(graph_in)
    graph_back = stage.inverse(graph)
    assert torch.equal(fast, graph.detach()) and torch.equal(fast_back, graph_back.detach())
    graph_back.sum().backward()
    assert graph_in.grad is not None and bool(torch.isfinite(graph_in.grad).all())
    u = x.double().numpy() / 2.0
    sel = slice(None) if planes is None else slice(0, 1)
    want = {
        "mulaw": np.sign(u) * np.log1p(255 * np.abs(u)) / np.log1p(255),
        "sqrt": np.sign(u) * np.sqrt(np.abs(u)),
        "linear": u,
    }[kind]
    np.testing.assert_allclose(fast.numpy()[:, :, sel], want[:, :, sel], rtol=1e-5, atol=1e-6)
    if planes:
        np.testing.assert_array_equal(fast.numpy()[:, :, 1:], x.numpy()[:, :, 1:])
    np.testing.assert_allclose(fast_back.numpy(), x.numpy(), rtol=1e-5, atol=1e-6)


def test_bench_command_times_stylegan_training_and_sampling(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        args = ["bench", "--rep", "dct-square", "--batch", "1", "--repeats", "1", "--threads", "1"]
        args += ["--sample-rate", str(SR), "--n-samples", str(N)]
        args += ["--gen", "stylegan2", "--gen-config", "tiny", "--gen-steps", "2"]
        assert main([*args, "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    record = json.loads((tmp_path / "bench.json").read_text())
    (g,) = record["generators"]
    assert g["arch"] == "stylegan2" and g["image_shape"] == [1, 32, 32]  # tiny: 1,024 samples
    assert g["train_img_per_s"] > 0 and g["sample_decoded"] and g["train_peak_bytes"] > 0
    assert list(g["sample_clips_per_s"]) == ["1"] and g["sample_clips_per_s"]["1"] > 0  # --batch
    # a training step is G and D forwards and backwards on fakes and reals: between 3× and
    # 12× one G plus one D forward per image (backward ≈ 2× forward)
    one = g["G_forward_GFLOP_per_image"] + g["D_forward_GFLOP_per_image"]
    assert 3 * one < g["train_GFLOP_per_image"] < 12 * one
    assert "| stylegan2 | tiny | dct-square | 1×32×32 |" in (tmp_path / "bench.md").read_text()
    assert main(["bench", "--gen", "biggan", "--out", str(tmp_path)]) == 2
