"""StyleGAN training: resume equals an uninterrupted run, checkpoints hold no pickle, DDP on
gloo keeps ranks identical, the TorchScript export matches Python in a fresh process, and the
``train`` / ``export`` commands."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from grainbench.baselines.generators.stylegan.checkpoint import load_generator
from grainbench.baselines.generators.stylegan.configs import get_config
from grainbench.baselines.generators.stylegan.export import (
    DecodeModule,
    build_exportable,
    export_torchscript,
    measure_latency,
)
from grainbench.baselines.generators.stylegan.generator import StyleGANGenerator
from grainbench.baselines.generators.stylegan.train import Trainer
from grainbench.baselines.generators.training import STATE_FILE, list_checkpoints
from grainbench.errors import UserError
from grainbench.plugins import load_generator as load_plugin_generator
from grainbench.registries import GENERATORS

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n: int = 24, shape: tuple[int, int, int] = (1, 16, 16), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.tanh(torch.randn(n, *shape, generator=g))


def _cfg(arch: str = "stylegan2", **kw):
    # every phase exercised: style mixing, path length, R1 every 2 steps, ADA moving quickly
    base = dict(
        batch=4,
        r1_interval=2,
        pl_weight=1.0 if arch == "stylegan2" else 0.0,
        pl_interval=2,
        ada_interval=1,
        ada_kimg=0.05,
        ada_target=-1.0,  # r_t ≥ -1 always: p rises every step
        snapshot_kimg=0.012,
        keep_checkpoints=10,
        augment_ops=("gain", "noise", "sign"),
    )
    base.update(kw)
    return get_config("tiny", arch, **base)


# ----------------------------------------------------------------------------- resume
@pytest.mark.parametrize("arch", ["stylegan2", "stylegan3"])
def test_resume_after_interruption_is_bitwise_identical(tmp_path: Path, arch: str) -> None:
    cfg = _cfg(arch)
    x = _images()
    labels = torch.tensor([i % 2 for i in range(len(x))])
    kimg = 0.024  # 6 steps of 4; checkpoints every 3 steps
    full = Trainer(cfg, x, labels, num_classes=2, seed=3, out_dir=tmp_path / "full", progress=False)
    full.train(kimg)
    assert full.step == 6 and float(full.augment.p) > 0

    cut = Trainer(cfg, x, labels, num_classes=2, seed=3, out_dir=tmp_path / "cut", progress=False)
    cut.train(kimg, stop_after_steps=5)  # "killed" after step 5: the last checkpoint is step 3
    assert [int(p.name) for p in list_checkpoints(tmp_path / "cut")] == [0, 3]
    resumed = Trainer(
        cfg, x, labels, num_classes=2, seed=3, out_dir=tmp_path / "cut", progress=False
    )
    assert resumed.resume_latest() and resumed.step == 3
    resumed.train(kimg)

    a = load_file(str(list_checkpoints(tmp_path / "full")[-1] / STATE_FILE))
    b = load_file(str(list_checkpoints(tmp_path / "cut")[-1] / STATE_FILE))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any(k.startswith("opt_G/") for k in a) and "augment/p" in a


class _Clock:
    """A stand-in for the ``time`` module whose clock moves one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now

    def time(self) -> float:
        return time.time()


def test_time_limit_stops_training_with_a_final_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from grainbench.baselines.generators.stylegan import train as train_module

    # start at 1 s; step 1 checks 2 s (1 s in), step 2 checks 4 s (3 s in), the next check
    # 6 s (5 s in ≥ 4.5): two steps of 4 images, short of the 6 that kimg asks
    monkeypatch.setattr(train_module, "time", _Clock())
    t = Trainer(_cfg(), _images(), seed=0, out_dir=tmp_path, progress=False)
    t.train(0.024, time_limit_s=4.5)
    assert t.step == 2 and t.nimg == 8 and t.stopped_at_time_limit
    # checkpoints every 3 steps: step 0, then the state reached at the limit
    assert [int(p.name) for p in list_checkpoints(tmp_path)] == [0, 2]
    t.train(0.024, time_limit_s=1e9)  # the rest, within the limit
    assert t.step == 6 and not t.stopped_at_time_limit


def test_time_limit_is_refused_under_ddp() -> None:
    from grainbench.baselines.generators.stylegan.ddp import DistInfo

    t = Trainer(_cfg(), _images(), seed=0, progress=False)
    t.info = DistInfo(world_size=2)  # as a rank of two sees itself (no process group here)
    with pytest.raises(UserError, match="one process"):
        t.train(0.004, time_limit_s=10)


def test_generator_max_seconds_is_checked_and_described() -> None:
    with pytest.raises(UserError, match="max_seconds"):
        StyleGANGenerator((1, 16, 16), config="tiny", max_seconds=0, progress=False)
    gen = StyleGANGenerator(
        (1, 16, 16), config="tiny", kimg=0.008, max_seconds=1e9, device="cpu", progress=False
    )
    before = gen.describe()
    assert before["kimg_trained"] is None and before["stopped_at_time_limit"] is None
    gen.fit(_images(12).numpy())
    after = gen.describe()
    assert after["max_seconds"] == 1e9 and not after["stopped_at_time_limit"]
    assert after["kimg_trained"] == pytest.approx(0.008)  # 2 steps of the tiny config's 4


def test_resume_refuses_another_config(tmp_path: Path) -> None:
    x = _images()
    t = Trainer(_cfg(), x, seed=0, out_dir=tmp_path, progress=False)
    t.train(0.004)
    other = Trainer(_cfg(lr_g=0.001), x, seed=0, out_dir=tmp_path, progress=False)
    with pytest.raises(UserError, match="lr_g"):
        other.resume_latest()


def test_checkpoints_are_safetensors_and_json_only(tmp_path: Path) -> None:
    t = Trainer(_cfg(), _images(), seed=0, out_dir=tmp_path, progress=False)
    t.train(0.004)
    ckpt = list_checkpoints(tmp_path)[-1]
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint.json", "state.safetensors"]
    raw = (ckpt / "state.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])  # safetensors: u64 length + JSON header
    assert header["__metadata__"]["format"] == "grainbench-stylegan/1"
    assert b"\x80\x04" not in raw[:2] and not raw.startswith(b"PK")  # no pickle, no zip
    with safe_open(str(ckpt / "state.safetensors"), "pt") as f:
        assert any(k.startswith("G_ema/") for k in f.keys())
    meta = json.loads((ckpt / "checkpoint.json").read_text())
    assert meta["step"] == 1 and meta["config"]["name"] == "tiny"
    for p in tmp_path.rglob("*"):
        assert p.suffix not in (".pt", ".pth", ".pkl", ".pickle")
    G, _ = load_generator(tmp_path)
    torch.testing.assert_close(G.mapping.w_avg, t.G_ema.mapping.w_avg)


def test_same_seed_same_training_different_seed_differs() -> None:
    x = _images()
    a = Trainer(_cfg(), x, seed=1, progress=False)
    b = Trainer(_cfg(), x, seed=1, progress=False)
    c = Trainer(_cfg(), x, seed=2, progress=False)
    for t in (a, b, c):
        for _ in range(2):
            t.train_step()
    pa, pb, pc = (torch.cat([p.flatten() for p in t.G.parameters()]) for t in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


# ----------------------------------------------------------------------------- protocol
def test_generator_protocol_conditional_and_registry() -> None:
    assert {"stylegan2", "stylegan3"} <= {e.name for e in GENERATORS.entries()}
    gen = GENERATORS.get("stylegan2")(
        (1, 16, 16), config="tiny", kimg=0.008, device="cpu", progress=False
    )
    assert isinstance(gen, StyleGANGenerator)
    x = _images(12).numpy()
    pitches = np.array([48, 60] * 6)
    gen.fit(x, pitches)
    assert gen.classes == [48, 60]
    a = gen.sample(3, labels=[60, 48, 60], seed=5)
    b = gen.sample(3, labels=[60, 48, 60], seed=5)
    assert a.shape == (3, 1, 16, 16) and a.dtype == torch.float32 and torch.equal(a, b)
    assert not torch.equal(a, gen.sample(3, labels=[60, 48, 60], seed=6))
    with pytest.raises(UserError, match="pitch 61"):
        gen.sample(1, labels=[61])
    single = StyleGANGenerator(
        (2, 8, 32), arch="stylegan3", config="tiny", kimg=0.004, device="cpu", progress=False
    )
    single.fit(_images(8, (2, 8, 32)), np.full(8, 48))  # one pitch: unconditional
    assert single.classes is None and single.sample(2).shape == (2, 2, 8, 32)


def test_run_progress_setting_reaches_the_stylegan_generator() -> None:
    # `grainbench run --no-progress` must silence the training bar too; a user's
    # --gen-opt progress=… wins; generators without a progress option are unaffected
    quiet = load_plugin_generator("stylegan3", (1, 16, 16), show_progress=False, config="tiny")
    assert quiet.plugin.progress is False
    loud = load_plugin_generator("stylegan2", (1, 16, 16), show_progress=False, progress=True)
    assert loud.plugin.progress is True
    assert load_plugin_generator("gmm", (1, 16, 16), show_progress=False) is not None


# ----------------------------------------------------------------------------- DDP
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    torch.set_num_threads(1)
    from grainbench.baselines.generators.stylegan.ddp import cleanup, init_distributed

    info = init_distributed("cpu")
    try:
        cfg = _cfg(batch=4)
        trainer = Trainer(cfg, _images(), seed=7, dist=info, progress=False)
        init = torch.cat([p.detach().flatten() for p in trainer.G.parameters()])
        for _ in range(2):
            trainer.train_step()
        params = torch.cat([p.detach().flatten() for p in trainer.G.parameters()])
        d_params = torch.cat([p.detach().flatten() for p in trainer.D.parameters()])
        buffers = torch.cat([b.detach().flatten().float() for b in trainer.G.buffers()])
        from safetensors.torch import save_file

        save_file(
            {
                "init": init,
                "G": params,
                "D": d_params,
                "buffers": buffers,
                "p": trainer.augment.p.reshape(1),
            },
            os.path.join(out, f"rank{rank}.safetensors"),
        )
    finally:
        cleanup()


def test_ddp_two_cpu_processes_agree(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    for key in ("G", "D", "buffers", "p"):
        assert torch.equal(r0[key], r1[key]), key
    assert not torch.equal(r0["init"], r0["G"])  # it trained


# ----------------------------------------------------------------------------- export
class _ScaleDecode(torch.nn.Module):
    """A tiny decoder with a buffer: (B, 1, 16, 16) → (B, 1, 256)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("gain", torch.linspace(0.5, 1.0, 256))

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        return image.reshape(image.shape[0], 1, -1) * self.gain


_FRESH = r"""
import json, sys
import torch
results = []
for path, z, pitch in json.loads(sys.argv[1]):
    m = torch.jit.load(path)
    z = torch.tensor(z, dtype=torch.float32)
    out = m(z) if pitch is None else m(z, torch.tensor(pitch, dtype=torch.long))
    results.append({"out": out.flatten().tolist(), "shape": list(out.shape)})
print(json.dumps({"results": results, "grainbench": any(k.startswith("grainbench") for k in sys.modules)}))
"""


def test_export_loads_in_fresh_process_and_matches(tmp_path: Path) -> None:
    """Unconditional and pitch-conditional exports, with a decoder, checked in one fresh
    process that imports only torch."""
    decode = DecodeModule(_ScaleDecode())
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(9))
    pitch = torch.tensor([60, 48])
    jobs, wanted = [], []
    for conditional in (False, True):
        x = _images(8)
        run = tmp_path / f"run{int(conditional)}"
        t = Trainer(
            _cfg(),
            x,
            torch.tensor([0, 1] * 4) if conditional else None,
            num_classes=2 if conditional else 0,
            seed=0,
            out_dir=run,
            progress=False,
            metadata={"classes": [48, 60] if conditional else None},
        )
        t.train(0.008)
        out = tmp_path / f"model{int(conditional)}.pt"
        info = export_torchscript(run, out, decode)
        assert info["check"]["ok"] and info["output"] == {
            "kind": "waveform",
            "shape": ["B", 1, 256],
        }
        assert ("pitch" in info["inputs"]) == conditional
        ref_module, _ = build_exportable(run, decode)
        with torch.no_grad():
            wanted.append(ref_module(z, pitch) if conditional else ref_module(z))
        jobs.append([str(out), z.tolist(), pitch.tolist() if conditional else None])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _FRESH, json.dumps(jobs)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=True,
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["grainbench"]
    for result, want in zip(got["results"], wanted, strict=True):
        assert result["shape"] == [2, 1, 256]
        np.testing.assert_allclose(
            np.array(result["out"]), want.flatten().numpy(), rtol=0, atol=1e-5
        )
    assert measure_latency(tmp_path / "model1.pt", repeats=2, warmup=1)["median_s"] > 0


# ----------------------------------------------------------------------------- commands
def test_train_and_export_commands(tmp_path: Path) -> None:
    from grainbench.cli import main

    out = tmp_path / "run"
    common = [
        "train",
        "--rep",
        "dct-square",
        "--gen",
        "stylegan2",
        "--config",
        "tiny",
        "--data",
        "synth-piano?n=12",
        "--n-samples",
        "256",
        "--out",
        str(out),
        "--eval",
        "none",
        "--wavs",
        "1",
        "--eval-samples",
        "4",
        "--no-progress",
        "--set",
        "batch=2",
    ]
    assert main([*common, "--kimg", "0.002"]) == 0
    assert main([*common, "--kimg", "0.002"]) == 2  # checkpoints present, no --resume
    assert main([*common, "--kimg", "0.004", "--resume"]) == 0
    summary = json.loads((out / "train.json").read_text())
    assert summary["step"] == 2 and summary["image_shape"] == [1, 16, 16]
    names = {p.name for p in (out / "samples").iterdir()}
    assert {"000000000.png", "000000002.png", "000000002-0.wav"} <= names
    assert (
        main(["export", str(out), "--format", "torchscript", "--out", str(tmp_path / "g.pt")]) == 0
    )
    info = json.loads((tmp_path / "g.pt.json").read_text())
    assert info["output"]["kind"] == "waveform" and info["output"]["shape"] == ["B", 1, 256]
    assert info["check"]["ok"]


@pytest.mark.slow
def test_train_command_loads_the_data_at_a_fixed_representation_setting(tmp_path: Path) -> None:
    """dct-2x131072 is stereo 44.1 kHz × 131,072 samples whatever the config's clip setting
    (tiny: 16 kHz × 1,024): the data are loaded at the representation's setting, as
    ``grainbench run`` loads them (this refused before)."""
    from grainbench.cli import main

    out = tmp_path / "run"
    argv = ["train", "--rep", "dct-2x131072", "--config", "tiny", "--data", "synth-piano?n=8"]
    argv += ["--kimg", "0.002", "--eval", "none", "--wavs", "0", "--eval-samples", "2"]
    assert main([*argv, "--out", str(out), "--no-progress", "--set", "batch=2"]) == 0
    summary = json.loads((out / "train.json").read_text())
    assert summary["image_shape"] == [1, 2, 131072] and summary["step"] == 1
    meta = summary["metadata"]
    assert (meta["sample_rate"], meta["n_samples"], meta["n_channels"]) == (44100, 131072, 2)


@pytest.mark.slow
def test_killed_cli_run_resumes_to_the_same_numbers(tmp_path: Path) -> None:
    """A training process killed with SIGKILL resumes from its last checkpoint and ends with
    the same weights as an uninterrupted run."""
    args = [
        sys.executable,
        "-m",
        "grainbench",
        "train",
        "--rep",
        "dct-square",
        "--config",
        "tiny",
        "--data",
        "synth-piano?n=12",
        "--n-samples",
        "256",
        "--eval",
        "none",
        "--wavs",
        "0",
        "--eval-samples",
        "2",
        "--no-progress",
        "--threads",
        "1",
        "--kimg",
        "0.4",
        "--set",
        "snapshot_kimg=0.02",
    ]
    subprocess.run(
        [*args, "--out", str(tmp_path / "full")], check=True, capture_output=True, timeout=900
    )
    proc = subprocess.Popen(
        [*args, "--out", str(tmp_path / "cut")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 600
    while time.time() < deadline and len(list_checkpoints(tmp_path / "cut")) < 3:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    steps = [int(p.name) for p in list_checkpoints(tmp_path / "cut")]
    assert steps and steps[-1] < 100
    subprocess.run(
        [*args, "--out", str(tmp_path / "cut"), "--resume"],
        check=True,
        capture_output=True,
        timeout=900,
    )
    a = load_file(str(list_checkpoints(tmp_path / "full")[-1] / STATE_FILE))
    b = load_file(str(list_checkpoints(tmp_path / "cut")[-1] / STATE_FILE))
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.gpu
def test_training_step_on_cuda() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    for arch in ("stylegan2", "stylegan3"):
        from grainbench.baselines.generators.stylegan.ddp import DistInfo

        t = Trainer(
            _cfg(arch),
            _images(),
            seed=0,
            dist=DistInfo(device=torch.device("cuda")),
            progress=False,
        )
        for _ in range(3):
            stats = t.train_step()
        assert all(np.isfinite(v) for k, v in stats.items() if k not in ("r1", "rt"))
        assert t.sample(2).shape == (2, 1, 16, 16)
