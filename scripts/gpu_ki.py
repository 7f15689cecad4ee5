"""The phases of the prepared GPU run (issue 16; docs/gpu.md).

``scripts/gpu-ki.sh`` installs grainbench and then runs ``python scripts/gpu_ki.py run``,
which runs each phase as a subprocess under the run's time budget (an absolute deadline):
every phase gets at most what is left after the time kept for the phases that must follow,
and a phase that fails or runs out of time is logged and the run goes on. The phases:

1. ``render``: piano-c3 (cached under ``$GRAINBENCH_CACHE``) and its dct-square images.
   grainbench's SF2 player renders in one process: 1000 clips of 65,536 samples took
   15 s of one core on the 2-core reference box (1.5 s per 100), so no process pool.
2. ``preflight``: a tiny StyleGAN2 generation and throughput run on synth-piano, first on
   the run's device with float16 blocks, then on the CPU (the StyleGAN still on the GPU),
   then without float16: the first that passes sets the device of the tasks and whether
   the Ki configs keep their float16 blocks (none of those paths had run on a GPU before).
3. ``throughput-stylegan2`` / ``-stylegan3``: the ``throughput`` task with ``--gen`` at the
   Ki configs: training img/s and s/kimg over whole regularisation cycles, the memory a
   step needs, sampling clips/s at batches 1 and 64.
4. ``adapter``: ``grainbench train`` on the non-square ``dct-2x131072`` (stereo piano-c3
   subset) for a few hundred images or until its time limit: that it runs, and how fast.
5. ``generation``: the ``generation`` task with StyleGAN2 at ``ki`` (ADA on), trained
   inside the task on its own training clips until ``max_seconds`` (what is left after the
   evaluation's reserve), snapshots every quarter of the expected images, then 500
   generated clips scored against the task's real and round-trip reference rows.
6. ``pack``: ``summary.json``/``summary.md`` (with the measured s/kimg over the published
   anchors) and ``gpu-ki.tar.gz`` (the run folders without checkpoints) into ``$OUT``,
   which the device tool brings back (:data:`OUT_LIMITS`); docs/gpu.md says how to put
   them under ``leaderboards/``.

Settings come from ``GPU_KI_*`` environment variables (:meth:`Settings.from_env`); the
defaults are the GPU run's; ``GPU_KI_MODE=tiny`` (:data:`TINY`) is the CPU rehearsal the
slow test runs.
Only the standard library is imported at module level, so the tests import this file.

usage: python scripts/gpu_ki.py run --deadline EPOCH --out OUT [--work DIR]
       python scripts/gpu_ki.py render --data SPEC --rep NAME [--sample-rate N] [--n-samples N] --json FILE
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

#: published training speeds at 256×256 (seconds per 1000 images): stylegan2-ada-pytorch's
#: config on one V100 (the range its README gives) and StyleGAN3-T on one A100
ANCHORS = {
    "stylegan2": {"low": 21.6, "high": 24.2, "what": "stylegan2-ada-pytorch, 256², one V100"},
    "stylegan3": {"low": 49.8, "high": 49.8, "what": "StyleGAN3-T, 256², one A100"},
}

#: what the device tool brings back from $OUT: files, bytes per file, folder depth
OUT_LIMITS = {"files": 8, "file_bytes": 16 * 2**20, "depth": 2}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

ARCHIVE = "gpu-ki.tar.gz"
#: uncompressed bytes packed into the archive at most (gzip only shrinks the rest)
ARCHIVE_CAP = 15 * 2**20
#: order in which files enter the archive: text first, then pictures, then sounds
_PRIORITY = {".json": 0, ".jsonl": 0, ".md": 0, ".csv": 0, ".txt": 0, ".log": 0, ".html": 0}
_PRIORITY.update({".png": 1, ".wav": 2})
_SKIP_DIRS = {"checkpoints", "__pycache__"}


@dataclass
class Settings:
    """What the run does; every field is read from ``GPU_KI_<FIELD>`` (upper case)."""

    config: str = "ki"
    sg3_config: str = "ki-sg3"
    rep: str = "dct-square"
    data: str = "piano-c3"
    sample_rate: int | None = None
    n_samples: int | None = None
    device: str = "cuda"
    preflight: bool = True
    preflight_data: str = "synth-piano?n=80"
    preflight_cap_s: float = 90.0
    throughput_archs: str = "stylegan2,stylegan3"
    throughput_steps: int = 16
    throughput_batches: str = "[1,64]"
    throughput_repeats: int = 5
    throughput_budget_s: float = 3.0
    throughput_cap_s: float = 150.0
    bench: bool = True
    bench_budget_s: float = 1.0
    bench_cap_s: float = 60.0
    bench_reps: str = ""
    adapter_rep: str = "dct-2x131072"
    adapter_shape: str = ""
    adapter_data: str = "piano-c3?n=100"
    adapter_kimg: float = 0.3
    adapter_cap_s: float = 75.0
    n_generated: int = 500
    min_train_s: float = 20.0
    max_train_s: float = 3600.0
    first_step_s: float = 70.0
    eval_reserve_s: float = 200.0
    pack_reserve_s: float = 15.0
    startup_s: float = 30.0

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Settings:
        """Defaults (the GPU run's; :data:`TINY` on top with ``GPU_KI_MODE=tiny``) overridden
        by ``GPU_KI_*`` variables (empty sample rate/length: the data's own)."""
        mode = env.get("GPU_KI_MODE", "gpu")
        if mode not in ("gpu", "tiny"):
            raise SystemExit(f"gpu-ki: GPU_KI_MODE must be gpu or tiny, got {mode!r}")
        values: dict[str, Any] = dict(TINY) if mode == "tiny" else {}
        for f in fields(cls):
            raw = env.get(f"GPU_KI_{f.name.upper()}")
            if raw is None:
                continue
            kind = f.type
            if kind in ("int | None",):
                values[f.name] = int(raw) if raw.strip() else None
            elif kind == "bool":
                values[f.name] = raw.strip().lower() not in ("0", "false", "no", "")
            elif kind == "int":
                values[f.name] = int(raw)
            elif kind == "float":
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        return cls(**values)

    def setting_args(self) -> list[str]:
        """``--sample-rate``/``--n-samples`` when set."""
        out = []
        if self.sample_rate:
            out += ["--sample-rate", str(self.sample_rate)]
        if self.n_samples:
            out += ["--n-samples", str(self.n_samples)]
        return out


#: the CPU rehearsal (``GPU_KI_MODE=tiny``; the slow test): every phase of the GPU run at the
#: tiny config on synth-piano clips of 1,024 samples (80: the generation task's two halves of
#: at least 4 test clips; the adapter trains on 10), in seconds; the adapter lays
#: dct-square's 32×32 images out as 2×512
TINY: dict[str, Any] = {
    "config": "tiny",
    "sg3_config": "tiny",
    "data": "synth-piano?n=80",
    "sample_rate": 16000,
    "n_samples": 1024,
    "device": "cpu",
    "preflight_data": "synth-piano?n=80",
    "preflight_cap_s": 300.0,
    "throughput_batches": "[1]",
    "throughput_steps": 1,
    "throughput_repeats": 2,
    "throughput_budget_s": 1.0,
    "throughput_cap_s": 300.0,
    "bench_budget_s": 0.2,
    "bench_cap_s": 300.0,
    "bench_reps": "dct-square,stft-magif",
    "adapter_rep": "dct-square",
    "adapter_shape": "2x512",
    "adapter_data": "synth-piano?n=10",
    "adapter_kimg": 0.008,
    "adapter_cap_s": 300.0,
    "n_generated": 8,
    "min_train_s": 1.0,
    "max_train_s": 5.0,
    "first_step_s": 0.0,
    "eval_reserve_s": 60.0,
    "pack_reserve_s": 5.0,
    "startup_s": 10.0,
}


@dataclass
class Budget:
    """The run's deadline (epoch seconds) and the time left before it."""

    deadline: float
    clock: Callable[[], float] = time.time

    def left(self) -> float:
        """Seconds until the deadline (negative past it)."""
        return self.deadline - self.clock()

    def cap(self, want: float, keep: float = 0.0) -> float:
        """Seconds a phase may take: ``want``, but never more than what is left after
        ``keep`` seconds kept for the phases that must follow; 0 when nothing is left."""
        return max(0.0, min(want, self.left() - keep))


@dataclass
class Phase:
    """One phase's outcome."""

    name: str
    status: str  # ok | failed | timeout | skipped
    wall_s: float = 0.0
    rc: int | None = None
    note: str = ""


@dataclass
class Choice:
    """What the preflight chose: the tasks' device and whether float16 blocks stay on."""

    device: str
    fp16: bool
    tried: list[dict[str, Any]] = field(default_factory=list)


def run_phase(name: str, argv: Sequence[str], timeout_s: float, min_s: float = 1.0) -> Phase:
    """Run ``argv`` (output into ours) for at most ``timeout_s`` seconds; skipped below ``min_s``."""
    if timeout_s < min_s:
        print(f"gpu-ki: {name}: skipped ({timeout_s:.0f} s left for it)", flush=True)
        return Phase(name, "skipped", note=f"{timeout_s:.0f} s left for it")
    print(f"gpu-ki: {name}: start (at most {timeout_s:.0f} s): {' '.join(argv)}", flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(list(argv), start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        wall = time.monotonic() - start
        print(f"gpu-ki: {name}: stopped at its limit after {wall:.0f} s", flush=True)
        return Phase(name, "timeout", wall, None, f"stopped after {wall:.0f} s")
    wall = time.monotonic() - start
    status = "ok" if rc == 0 else "failed"
    print(f"gpu-ki: {name}: {status} (exit {rc}) in {wall:.0f} s", flush=True)
    return Phase(name, status, wall, rc)


def grainbench(*args: str) -> list[str]:
    """The command line of ``grainbench ARGS`` in this Python."""
    return [sys.executable, "-m", "grainbench", *args]


def fp16_off(fp16: bool, flag: str) -> list[str]:
    """``flag fp16_blocks=0`` when float16 was turned off, else nothing."""
    return [] if fp16 else [flag, "fp16_blocks=0"]


def preflight_candidates(device: str) -> list[tuple[str, bool]]:
    """(task device, float16 on) in the order the preflight tries them."""
    out = [(device, True), ("cpu", True), ("cpu", False)]
    return list(dict.fromkeys(out))


def preflight_argv(s: Settings, work: Path, device: str, fp16: bool, k: int) -> list[str]:
    """A tiny StyleGAN2 generation + throughput run on the preflight data."""
    argv = grainbench("run", "--rep", "dct-square", "--data", s.preflight_data)
    argv += ["--sample-rate", "16000", "--n-samples", "1024", "--task", "generation,throughput"]
    argv += ["--gen", "stylegan2", "--gen-opt", "config=tiny", "--gen-opt", "kimg=0.02"]
    if fp16:
        argv += ["--gen-opt", "fp16_blocks=2", "--gen-opt", "conv_clamp=256"]
    argv += ["--device", device, "--param", "generation.n_samples=16"]
    argv += ["--param", "throughput.repeats=1", "--param", "throughput.gen_steps=1"]
    argv += ["--param", "throughput.budget_s=1", "--param", "throughput.batches=[1]"]
    argv += ["--param", f'throughput.devices=["{"cuda" if device == "cuda" else "cpu"}"]']
    return argv + ["--out", str(work / "runs" / f"preflight-{k}"), "--no-progress", "--force"]


def choose(
    candidates: Sequence[tuple[str, bool]], attempt: Callable[[str, bool, int], bool]
) -> Choice:
    """The first candidate whose attempt passes (the last one when none does)."""
    tried = []
    for k, (device, fp16) in enumerate(candidates):
        ok = attempt(device, fp16, k)
        tried.append({"device": device, "fp16": fp16, "ok": ok})
        if ok:
            return Choice(device, fp16, tried)
    device, fp16 = candidates[-1]
    return Choice(device, fp16, tried)


def throughput_argv(s: Settings, work: Path, arch: str, choice: Choice) -> list[str]:
    """The throughput task with ``--gen ARCH`` at the Ki config of that architecture."""
    config = s.config if arch == "stylegan2" else s.sg3_config
    devices = ["cpu", "cuda"] if choice.device == "cuda" else ["cpu"]
    argv = grainbench("run", "--rep", s.rep, "--data", s.data, *s.setting_args())
    argv += ["--task", "throughput", "--gen", arch, "--gen-opt", f"config={config}"]
    argv += fp16_off(choice.fp16, "--gen-opt")
    argv += ["--device", choice.device]
    argv += ["--param", f"throughput.gen_steps={s.throughput_steps}"]
    argv += ["--param", f"throughput.repeats={s.throughput_repeats}"]
    argv += ["--param", f"throughput.budget_s={s.throughput_budget_s}"]
    argv += ["--param", "throughput.devices=" + json.dumps(devices)]
    argv += ["--param", f"throughput.batches={s.throughput_batches}"]
    argv += ["--param", "throughput.gen_sample_batches=[1,64]"]
    return argv + ["--out", str(work / "runs" / f"throughput-{arch}"), "--no-progress", "--force"]


def bench_argv(s: Settings, work: Path, choice: Choice) -> list[str]:
    """``grainbench bench`` of every built-in representation on the run's device (issue 15's
    encode/decode ratios against the bare transform, there measured on the GPU); only
    ``bench_reps`` when set."""
    argv = grainbench("bench", "--device", choice.device, "--batch", "1,64", "--repeats", "7")
    argv += ["--budget", f"{s.bench_budget_s:g}", *s.setting_args()]
    if s.bench_reps:
        argv += ["--rep", s.bench_reps]
    return argv + ["--out", str(work / "runs" / "bench")]


def adapter_argv(s: Settings, work: Path, choice: Choice, max_seconds: float) -> list[str]:
    """``grainbench train`` on the non-square layout for ``adapter_kimg`` thousand images or
    ``max_seconds`` of training, whichever comes first."""
    argv = grainbench("train", "--rep", s.adapter_rep, "--data", s.adapter_data)
    if s.adapter_shape:
        argv += ["--shape", s.adapter_shape]
    argv += ["--gen", "stylegan2", "--config", s.config, "--kimg", f"{s.adapter_kimg:g}"]
    argv += ["--max-seconds", f"{max(1.0, max_seconds):.0f}"]
    argv += fp16_off(choice.fp16, "--set")
    return argv + ["--eval", "none", "--wavs", "2", "--out", str(work / "adapter"), "--no-progress"]


def _sig(x: float, digits: int = 2) -> float:
    """``x`` rounded to ``digits`` significant digits."""
    return float(f"{x:.{digits}g}")


def train_plan(
    left_s: float, s: Settings, s_per_kimg: float | None, startup_s: float
) -> dict[str, Any] | None:
    """The generation phase's time limit and training options for ``left_s`` seconds left.

    Training may take what is left after the pack's reserve, the evaluation's reserve and
    the process start (``startup_s``), at most ``max_train_s``; None when that is under
    ``min_train_s`` plus the first step's one-off cost (``first_step_s``: 65 s on the H200
    at ``ki``, docs/gpu.md), which the expected images leave out. The phase may run until the pack's reserve (``timeout_s``). With a
    measured ``s_per_kimg`` the options name the expected images (``kimg``, 1.5× what
    should fit, so that the time limit ends the run) and snapshots every quarter of them.
    """
    timeout_s = left_s - s.pack_reserve_s
    max_seconds = min(s.max_train_s, timeout_s - s.eval_reserve_s - startup_s)
    if max_seconds < s.min_train_s + s.first_step_s:
        return None
    plan: dict[str, Any] = {"timeout_s": timeout_s, "max_seconds": round(max_seconds, 1)}
    if s_per_kimg and s_per_kimg > 0:
        expected = (max_seconds - s.first_step_s) / s_per_kimg
        plan["expected_kimg"] = expected
        plan["kimg"] = _sig(1.5 * expected, 3)
        plan["snapshot_kimg"] = _sig(expected / 4)
    return plan


def generation_argv(s: Settings, work: Path, choice: Choice, plan: dict[str, Any]) -> list[str]:
    """The generation task with StyleGAN2 at ``config``, trained inside it under a time limit."""
    argv = grainbench("run", "--rep", s.rep, "--data", s.data, *s.setting_args())
    argv += ["--task", "generation", "--gen", "stylegan2", "--gen-opt", f"config={s.config}"]
    argv += ["--gen-opt", f"max_seconds={plan['max_seconds']}"]
    for key in ("kimg", "snapshot_kimg"):
        if key in plan:
            argv += ["--gen-opt", f"{key}={plan[key]:g}"]
    argv += ["--gen-opt", "ada_target=0.6", "--gen-opt", "keep_checkpoints=2"]
    argv += ["--gen-opt", f"out_dir={work / 'train'}", *fp16_off(choice.fp16, "--gen-opt")]
    argv += ["--device", choice.device, "--param", f"generation.n_samples={s.n_generated}"]
    return argv + ["--out", str(work / "runs" / "generation"), "--no-progress", "--force"]


# ---------------------------------------------------------------------- reading results
def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def metrics_of(result: dict[str, Any] | None, task: str) -> dict[str, float | None]:
    """``{key: value}`` of a result's task (empty when the task is missing)."""
    body = ((result or {}).get("tasks") or {}).get(task) or {}
    return {m["key"]: m.get("value") for m in body.get("metrics", [])}


def anchor_ratios(arch: str, s_per_kimg: float | None) -> dict[str, Any] | None:
    """Measured s/kimg over the published anchor's (low and high end): below 1 is faster."""
    anchor = ANCHORS.get(arch)
    if anchor is None or not s_per_kimg:
        return None
    return {
        **anchor,
        "ratio_low": s_per_kimg / anchor["high"],
        "ratio_high": s_per_kimg / anchor["low"],
    }


def throughput_summary(result: dict[str, Any] | None, arch: str) -> dict[str, Any] | None:
    """Training and sampling speed of one throughput run, with its anchor ratios."""
    body = ((result or {}).get("tasks") or {}).get("throughput")
    if not body or "generator" not in (body.get("data") or {}):
        return None
    gen = body["data"]["generator"]
    dev = gen["device"].split(":")[0]
    m = metrics_of(result, "throughput")
    s_per_kimg = m.get(f"train_s_per_kimg[device={dev}]")
    sampling = {
        b: m.get(f"sample_clips_per_s[batch={b},device={dev}]") for b in gen.get("sample_s", {})
    }
    return {
        "arch": arch,
        "config": gen.get("config"),
        "device": gen["device"],
        "image_shape": gen.get("image_shape"),
        "batch": gen.get("batch"),
        "steps": gen.get("steps"),
        "train_images_per_s": m.get(f"train_images_per_s[device={dev}]"),
        "train_s_per_kimg": s_per_kimg,
        "train_peak_memory_mib": m.get(f"train_peak_memory[device={dev}]"),
        "cuda_max_allocated_mib": None
        if gen.get("cuda_max_allocated_bytes") is None
        else gen["cuda_max_allocated_bytes"] / 2**20,
        "train_GFLOP_per_image": gen.get("train_GFLOP_per_image"),
        "sample_clips_per_s": sampling,
        "anchor": anchor_ratios(arch, s_per_kimg),
        "wall_s": body.get("wall_s"),
    }


def bench_summary(record: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """Per representation and batch: encode/decode ms per clip and their ratio to the
    same-size library transform (the bench's own choice of reference, on the same device)."""
    if not record:
        return None
    rows = []
    for r in record.get("results", []):
        for batch, b in (r.get("batches") or {}).items():
            lib = b.get("library") or {}
            ref = (b.get("references") or {}).get(lib.get("label"), {})
            rows.append(
                {
                    "rep": r.get("rep"),
                    "batch": int(batch),
                    "encode_ms": 1e3 * b["encode_s"],
                    "decode_ms": 1e3 * b["decode_s"],
                    "library": lib.get("name"),
                    "encode_vs_library": ref.get("encode_ratio"),
                    "decode_vs_library": ref.get("decode_ratio"),
                }
            )
    return rows


def generation_summary(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """The generation task's headline numbers per row, and what the generator trained."""
    body = ((result or {}).get("tasks") or {}).get("generation")
    if not body:
        return None
    rows: dict[str, dict[str, Any]] = {}
    for m in body.get("metrics", []):
        cond = m.get("condition") or {}
        row = cond.get("row")
        if row is None:
            continue
        emb = cond.get("embedding")
        name = m["name"] if emb in (None, "crepe-tiny", "log-mel") else f"{m['name']}[{emb}]"
        rows.setdefault(row, {})[name] = m.get("value")
    return {"rows": rows, "generator": body.get("generator"), "wall_s": body.get("wall_s")}


def startup_estimate(phase: Phase | None, result: dict[str, Any] | None, default: float) -> float:
    """Seconds a ``grainbench run`` spends outside its tasks (imports, data, fitting),
    from a finished run: its phase's wall time less its tasks' (else ``default``)."""
    if phase is None or phase.status != "ok" or not result:
        return default
    tasks = sum(float(b.get("wall_s") or 0) for b in (result.get("tasks") or {}).values())
    return max(default / 3, phase.wall_s - tasks)


# ---------------------------------------------------------------------- summary and pack
def _fmt(x: Any, spec: str = ".3g") -> str:
    return "–" if x is None else format(x, spec) if isinstance(x, int | float) else str(x)


def render_summary(summary: dict[str, Any]) -> str:
    """summary.md: machine, phases, throughput against the anchors, generation rows."""
    lines = ["# GPU run at the Ki scale (scripts/gpu-ki.sh)", ""]
    man = summary.get("manifest", {})
    lines += [
        f"- commit {man.get('commit') or 'unknown'}, code hash {(man.get('code_hash') or '–')[:12]}",
        f"- machine: {man.get('machine') or '–'}; GPU: {man.get('gpu') or '–'}",
        f"- budget {_fmt(man.get('budget_s'), '.0f')} s; settings: {json.dumps(man.get('settings', {}))}",
        f"- preflight: {json.dumps(summary.get('preflight'))}",
        "",
        "| phase | status | wall s | note |",
        "|---|---|---|---|",
    ]
    for p in summary.get("phases", []):
        lines.append(f"| {p['name']} | {p['status']} | {p['wall_s']:.0f} | {p['note']} |")
    lines += ["", "## Training and sampling speed (throughput task, noise images)", ""]
    lines += [
        "| generator | config | image | device | img/s | s/kimg | anchor s/kimg | ratio "
        "| step peak MiB | CUDA peak MiB | clips/s (batch) |",
        "|" + "---|" * 11,
    ]
    for t in summary.get("throughput", []):
        if t is None:
            continue
        a = t.get("anchor") or {}
        anchor = "–" if not a else f"{a['low']:g}–{a['high']:g} ({a['what']})"
        ratio = "–" if not a else f"{a['ratio_low']:.2f}–{a['ratio_high']:.2f}×"
        shape = "×".join(str(v) for v in t.get("image_shape") or [])
        clips = ", ".join(f"{b}: {_fmt(v)}" for b, v in t["sample_clips_per_s"].items())
        lines.append(
            f"| {t['arch']} | {t['config']} | {shape} | {t['device']} | "
            f"{_fmt(t['train_images_per_s'])} | {_fmt(t['train_s_per_kimg'])} | {anchor} | "
            f"{ratio} | {_fmt(t['train_peak_memory_mib'], '.0f')} | "
            f"{_fmt(t['cuda_max_allocated_mib'], '.0f')} | {clips} |"
        )
    bench = summary.get("bench")
    if bench:
        lines += ["", "## Representations' encode/decode on the device (grainbench bench)", ""]
        lines += [
            "| representation | batch | encode ms | decode ms | library | enc / dec vs library |"
        ]
        lines += ["|" + "---|" * 6]
        for b in bench:
            ratio = f"{_fmt(b['encode_vs_library'])}× / {_fmt(b['decode_vs_library'])}×"
            lines.append(
                f"| {b['rep']} | {b['batch']} | {_fmt(b['encode_ms'])} | {_fmt(b['decode_ms'])} "
                f"| {b['library'] or '–'} | {ratio} |"
            )
    ad = summary.get("adapter")
    if ad:
        lines += ["", "## Non-square adapter", ""]
        lines.append(
            f"- {ad.get('rep')} {ad.get('image_shape')}: {_fmt(ad.get('kimg'))} kimg in "
            f"{_fmt(ad.get('wall_s'), '.0f')} s ({_fmt(ad.get('img_per_s'))} img/s; stopped by "
            f"the time limit: {ad.get('stopped_at_time_limit')})"
        )
    gen = summary.get("generation")
    if gen:
        g = gen.get("generator") or {}
        lines += ["", "## Generation row", ""]
        lines.append(
            f"- trained {_fmt(g.get('kimg_trained'))} kimg (time limit {_fmt(g.get('max_seconds'))} s, "
            f"stopped by it: {g.get('stopped_at_time_limit')}); task wall {_fmt(gen.get('wall_s'), '.0f')} s"
        )
        names = sorted({k for r in gen["rows"].values() for k in r})
        lines += ["", "| row | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
        for row, vals in gen["rows"].items():
            lines.append(f"| {row} | " + " | ".join(_fmt(vals.get(n)) for n in names) + " |")
    return "\n".join(lines) + "\n"


def _priority(path: Path) -> tuple[int, str]:
    return _PRIORITY.get(path.suffix.lower(), 3), str(path)


def archive_members(root: Path, cap: int = ARCHIVE_CAP) -> tuple[list[Path], list[str]]:
    """Files under ``root`` for the archive (no checkpoint folders), text before pictures
    before sounds, until ``cap`` bytes; and the relative paths left out."""
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and not _SKIP_DIRS.intersection(p.relative_to(root).parts)
    ]
    kept, left_out, total = [], [], 0
    for p in sorted(files, key=_priority):
        size = p.stat().st_size
        if total + size > cap:
            left_out.append(str(p.relative_to(root)))
            continue
        kept.append(p)
        total += size
    return kept, left_out


def write_archive(root: Path, out: Path, cap: int = ARCHIVE_CAP) -> list[str]:
    """``out/gpu-ki.tar.gz`` holding ``root``'s files as ``gpu-ki/…``; returns those left out."""
    kept, left_out = archive_members(root, cap)
    tmp = out / f".{ARCHIVE}.tmp"
    with tarfile.open(tmp, "w:gz") as tar:
        for p in kept:
            tar.add(p, arcname=str(Path("gpu-ki") / p.relative_to(root)))
    tmp.replace(out / ARCHIVE)
    return left_out


def out_problems(out: Path, limits: dict[str, int] = OUT_LIMITS) -> list[str]:
    """Why the device tool would not bring every file of ``out`` back (empty: all of them)."""
    problems = []
    files = [p for p in out.rglob("*") if p.is_file()]
    if len(files) > limits["files"]:
        problems.append(f"{len(files)} files, more than {limits['files']}")
    for p in files:
        rel = p.relative_to(out)
        if len(rel.parts) - 1 > limits["depth"]:
            problems.append(f"{rel}: more than {limits['depth']} folders down")
        if not all(_SAFE_NAME.match(part) for part in rel.parts):
            problems.append(f"{rel}: a name with characters other than letters, digits, . _ -")
        if p.stat().st_size > limits["file_bytes"]:
            problems.append(f"{rel}: {p.stat().st_size} bytes, over {limits['file_bytes']}")
    return problems


def pack(work: Path, out: Path, summary: dict[str, Any]) -> list[str]:
    """Write summary.json/.md into ``work`` and ``out`` and the archive into ``out``;
    returns the problems :func:`out_problems` finds."""
    out.mkdir(parents=True, exist_ok=True)
    summary["manifest"]["left_out_of_archive"] = archive_members(work)[1]
    text = render_summary(summary)
    for folder in (work, out):
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        (folder / "summary.md").write_text(text)
    write_archive(work, out)
    problems = out_problems(out)
    for line in problems:
        print(f"gpu-ki: $OUT: {line}", flush=True)
    return problems


# ---------------------------------------------------------------------- the run
def _nvidia_smi() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = "--query-gpu=name,memory.total,driver_version"
    try:
        out = subprocess.run(
            [exe, query, "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _commit() -> str | None:
    if os.environ.get("GPU_KI_COMMIT"):
        return os.environ["GPU_KI_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def run(deadline: float, out: Path, work: Path, s: Settings) -> int:
    """Every phase under the deadline, then the pack (always); 0 when the pack is fine."""
    budget = Budget(deadline)
    for name in ("runs", "train", "adapter"):  # a fresh run: nothing of an earlier one mixes in
        shutil.rmtree(work / name, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    phases: list[Phase] = []
    results: dict[str, Any] = {}
    summary: dict[str, Any] = {
        "manifest": {
            "command": " ".join(["scripts/gpu-ki.sh", *sys.argv[1:]]),
            "commit": _commit(),
            "settings": asdict(s),
            "budget_s": float(os.environ.get("GPU_KI_BUDGET_S", "nan")),
            "install_s": float(os.environ.get("GPU_KI_INSTALL_S", "nan")),
            "gpu": _nvidia_smi(),
        },
        "phases": [],
    }
    choice = Choice(s.device, True)
    try:
        keep = s.pack_reserve_s + s.eval_reserve_s + s.min_train_s + s.first_step_s
        keep += s.startup_s
        render_json = work / "render.json"
        argv = [sys.executable, __file__, "render", "--data", s.data, "--rep", s.rep]
        argv += [*s.setting_args(), "--json", str(render_json)]
        phases.append(run_phase("render", argv, budget.cap(300, keep)))
        summary["render"] = read_json(render_json)

        if s.preflight:

            def attempt(device: str, fp16: bool, k: int) -> bool:
                argv = preflight_argv(s, work, device, fp16, k)
                phase = run_phase(f"preflight-{k}", argv, budget.cap(s.preflight_cap_s, keep))
                phases.append(phase)
                return phase.status == "ok"

            choice = choose(preflight_candidates(s.device), attempt)
            summary["preflight"] = asdict(choice)

        for arch in [a.strip() for a in s.throughput_archs.split(",") if a.strip()]:
            argv = throughput_argv(s, work, arch, choice)
            phase = run_phase(f"throughput-{arch}", argv, budget.cap(s.throughput_cap_s, keep))
            phases.append(phase)
            results[arch] = read_json(work / "runs" / f"throughput-{arch}" / "result.json")
        summary["throughput"] = [throughput_summary(results[a], a) for a in results]

        if s.bench:
            argv = bench_argv(s, work, choice)
            phases.append(run_phase("bench", argv, budget.cap(s.bench_cap_s, keep)))
            summary["bench"] = bench_summary(read_json(work / "runs" / "bench" / "bench.json"))

        cap = budget.cap(s.adapter_cap_s, keep)  # training stops in time for its snapshot
        argv = adapter_argv(s, work, choice, cap - s.startup_s)
        phases.append(run_phase("adapter", argv, cap))
        train_json = read_json(work / "adapter" / "train.json")
        if train_json:
            stats = train_json.get("last_stats") or {}
            summary["adapter"] = {
                "rep": s.adapter_rep + (f" --shape {s.adapter_shape}" if s.adapter_shape else ""),
                "image_shape": train_json.get("image_shape"),
                "kimg": train_json.get("kimg"),
                "wall_s": train_json.get("wall_s"),
                "stopped_at_time_limit": train_json.get("stopped_at_time_limit"),
                "img_per_s": stats.get("img_per_s"),
            }

        sg2 = next((t for t in summary["throughput"] if t and t["arch"] == "stylegan2"), None)
        startup = startup_estimate(
            next((p for p in phases if p.name == "throughput-stylegan2"), None),
            results.get("stylegan2"),
            s.startup_s,
        )
        plan = train_plan(budget.left(), s, (sg2 or {}).get("train_s_per_kimg"), startup)
        summary["train_plan"] = plan
        if plan is None:
            phases.append(Phase("generation", "skipped", note="too little time left to train"))
        else:
            argv = generation_argv(s, work, choice, plan)
            phases.append(run_phase("generation", argv, budget.cap(plan["timeout_s"])))
        result = read_json(work / "runs" / "generation" / "result.json")
        summary["generation"] = generation_summary(result)
        for r in [result, *results.values()]:
            if r:
                summary["manifest"]["code_hash"] = r.get("code_hash")
                m = r.get("machine") or {}
                summary["manifest"]["machine"] = (
                    f"{m.get('cpu')}, {m.get('cores')} cores; torch {m.get('torch')}, "
                    f"Python {m.get('python')}; GPU {m.get('gpu')}"
                )
                break
    finally:
        summary["phases"] = [asdict(p) for p in phases]
        problems = pack(work, out, summary)
    return 1 if problems else 0


def render_phase(args: argparse.Namespace) -> int:
    """Render (or read from the cache) the data, fit the representation, encode every clip."""
    import numpy as np
    import torch

    from grainbench.data import load_dataset
    from grainbench.plugins import load_representation

    t0 = time.perf_counter()
    ds = load_dataset(args.data, sample_rate=args.sample_rate, n_samples=args.n_samples)
    t1 = time.perf_counter()
    rep = load_representation(args.rep, ds.sample_rate, ds.n_samples)
    audio = torch.from_numpy(np.concatenate([ds.train, ds.test]))
    rep.fit(torch.from_numpy(ds.train))
    images = torch.cat([rep.encode(audio[i : i + 64]) for i in range(0, len(audio), 64)])
    t2 = time.perf_counter()
    record = {
        "data": args.data,
        "clips": len(audio),
        "sample_rate": ds.sample_rate,
        "n_samples": ds.n_samples,
        "fingerprint": ds.fingerprint,
        "load_or_render_s": t1 - t0,
        "rep": args.rep,
        "image_shape": list(images.shape[1:]),
        "fit_and_encode_s": t2 - t1,
    }
    Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    print(f"gpu-ki: render: {json.dumps(record)}", flush=True)
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    """``run`` (every phase) or ``render`` (the render phase's worker)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--deadline", type=float, required=True, help="epoch seconds")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--work", type=Path, default=Path("runs/gpu-ki"))
    p = sub.add_parser("render")
    p.add_argument("--data", required=True)
    p.add_argument("--rep", required=True)
    p.add_argument("--sample-rate", type=int, default=None)
    p.add_argument("--n-samples", type=int, default=None)
    p.add_argument("--json", required=True)
    args = ap.parse_args(None if argv is None else list(argv))
    if args.cmd == "render":
        return render_phase(args)
    settings = Settings.from_env(dict(os.environ))
    print(
        f"gpu-ki: {math.floor(args.deadline - time.time())} s left; {asdict(settings)}", flush=True
    )
    return run(args.deadline, args.out, args.work, settings)


if __name__ == "__main__":
    sys.exit(main())
