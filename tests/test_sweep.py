"""``grainbench sweep``: grid expansion and validation (unit), Slurm submission through a
stand-in ``sbatch``, and real sweeps of synth-piano runs in real processes (submitit's
local executor, the pool) that are killed mid-way and resumed."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.runner import RunSpec, default_run_dir, default_tasks
from grainbench.sweep import plan
from grainbench.sweep.execute import Options, submit_slurm
from grainbench.sweep.grid import SweepRun, finished, load_grid, parse_grid

SMALL = """
runs = "out"

[[grid]]
name = "small"
reps = ["dct-square", "waveform-square"]
datasets = ["synth-piano?n=8"]
seeds = [0, 1]
tasks = ["roundtrip"]

[grid.params.roundtrip]
codecs = ["png8"]
n_boot = 20
n_examples = 1
"""


def test_a_block_is_the_product_of_its_lists(tmp_path: Path) -> None:
    grid = parse_grid(
        """
        runs = "board"
        [[grid]]
        reps = ["dct-square", "mfcc", "stft-magif"]
        datasets = ["piano-c3", "synth-piano"]
        seeds = [0, 3]
        [grid.params.perturbation]
        n_clips = 4
        [grid.rep_params.mfcc.perturbation]
        n_pixels = 128
        [grid.rep_params.mfcc.locality]
        n_gabor = 32

        [[grid]]
        reps = ["dct-square"]
        gens = ["gmm", "stylegan2"]
        tasks = ["generation", "throughput"]
        sample_rate = 16000
        n_samples = 16384
        [grid.gen_options.stylegan2]
        config = "cpu-sparse"
        kimg = 3
        """,
        base=tmp_path,
    )
    assert grid.root == tmp_path / "board"
    standard, gens = grid.runs[:12], grid.runs[12:]
    assert len(standard) == 3 * 2 * 2 and len(gens) == 2
    assert {(r.rep, r.data, r.seed) for r in standard} == {
        (rep, data, seed)
        for rep in ("dct-square", "mfcc", "stft-magif")
        for data in ("piano-c3", "synth-piano")
        for seed in (0, 3)
    }
    for run in grid.runs:
        spec = RunSpec(
            run.rep, run.data, run.sample_rate, run.n_samples, seed=run.seed, gen=run.gen
        )
        assert Path(run.out) == grid.root / default_run_dir(spec, run.rep).name
    mfcc = next(r for r in standard if r.rep == "mfcc")
    assert mfcc.tasks == default_tasks()
    assert mfcc.params == {
        "perturbation": {"n_clips": 4, "n_pixels": 128},
        "locality": {"n_gabor": 32},
    }
    assert next(r for r in standard if r.rep == "dct-square").params == {
        "perturbation": {"n_clips": 4}
    }
    gmm, sg2 = gens
    assert gmm.gen_options == {} and sg2.gen_options == {"config": "cpu-sparse", "kimg": 3}
    assert Path(sg2.out).name == "dct-square__piano-c3__16000Hz-16384__stylegan2__seed0"
    cmd = sg2.command()
    assert cmd[:2] == ["grainbench", "run"] and "--gen-opt" in cmd
    assert cmd[cmd.index("--out") + 1] == sg2.out
    spec = sg2.spec(["generation"])
    assert spec.tasks == ["generation"] and spec.gen_options == {"config": "cpu-sparse", "kimg": 3}
    assert SweepRun.from_json(json.loads(json.dumps(sg2.to_json()))) == sg2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runs = ", "not valid TOML"),
        ("colour = 1\n[[grid]]\nreps = ['dct-square']", "unknown top-level key"),
        ("runs = 'x'", "no [[grid]] block"),
        ("[[grid]]\nseeds = [0]", "reps is missing"),
        ("[[grid]]\nreps = ['dct-square']\nsizes = [1]", "unknown key(s) sizes"),
        ("[[grid]]\nreps = ['no-such-rep']", "unknown representation 'no-such-rep'"),
        ("[[grid]]\nreps = 'dct-square'", "reps must be a list"),
        ("[[grid]]\nreps = ['dct-square', 'dct-square']", "repeats a value"),
        ("[[grid]]\nreps = ['dct-square']\nseeds = [-1]", "seeds must be an integer"),
        ("[[grid]]\nreps = ['dct-square']\ntasks = ['nap']", "unknown task"),
        ("[[grid]]\nreps = ['dct-square']\ndatasets = ['nowhere']", "nowhere"),
        ("[[grid]]\nreps = ['dct-square']\ntasks = ['generation']", "needs gens"),
        ("[[grid]]\nreps = ['dct-square']\nsample_rate = 0", "sample_rate must be"),
        (
            "[[grid]]\nreps = ['dct-square']\n[grid.params.roundtrip]\nn_boot = 2024-01-01",
            "a result cannot store",
        ),
        (
            "[[grid]]\nreps = ['dct-square']\ntasks = ['roundtrip']\n[grid.params.locality]\nn_pixels = 1",
            "names task 'locality'",
        ),
        (
            "[[grid]]\nreps = ['dct-square']\n[grid.params.roundtrip]\nspeed = 1",
            "has no parameter(s) speed",
        ),
        (
            "[[grid]]\nreps = ['dct-square']\n[grid.rep_params.mfcc.roundtrip]\nn_boot = 1",
            "rep_params names 'mfcc'",
        ),
        (
            "[[grid]]\nreps = ['dct-square']\ngens = ['gmm']\ntasks = ['generation']\n"
            "[grid.gen_options.oracle]\npsnr = 30",
            "gen_options names 'oracle'",
        ),
        (
            "[[grid]]\nname = 'a'\nreps = ['dct-square']\n[[grid]]\nname = 'b'\nreps = ['dct-square']",
            "(b) and grid block 1 (a) both write",
        ),
    ],
)
def test_bad_grids_exit_2_with_one_line(tmp_path: Path, capsys, text: str, message: str) -> None:
    with pytest.raises(UserError, match=None) as info:
        parse_grid(text, base=tmp_path)
    assert message in str(info.value)
    path = tmp_path / "grid.toml"
    path.write_text(text)
    assert main(["sweep", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_missing_grid_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "cannot read grid" in capsys.readouterr().err


def _fake_result(run: SweepRun, tasks: dict, code: str | None = None) -> None:
    from grainbench import results

    body = {
        "code_hash": code or results.code_hash(),
        "representation": {"spec": run.rep},
        "dataset": {"spec": run.data, "sample_rate": 16000, "n_samples": 16384},
        "seed": run.seed,
        "generator": None,
        "tasks": tasks,
    }
    Path(run.out).mkdir(parents=True, exist_ok=True)
    (Path(run.out) / "result.json").write_text(json.dumps(body))


def test_finished_needs_every_task_with_its_parameters_and_this_code(tmp_path: Path) -> None:
    from grainbench.registries import TASKS

    text = SMALL.replace('tasks = ["roundtrip"]', 'tasks = ["roundtrip", "throughput"]')
    run = parse_grid(text, base=tmp_path).runs[0]
    rt = {**TASKS.get("roundtrip").default_params(), **run.params["roundtrip"]}
    tp = TASKS.get("throughput").default_params()
    assert not finished(run)  # no folder yet
    _fake_result(run, {"roundtrip": {"params": rt}})
    assert finished(run, ["roundtrip"]) and not finished(run)
    _fake_result(run, {"roundtrip": {"params": rt}, "throughput": {"params": tp}})
    assert finished(run)
    _fake_result(run, {"roundtrip": {"params": {**rt, "n_boot": 21}}, "throughput": {"params": tp}})
    assert not finished(run)  # other parameters
    _fake_result(run, {"roundtrip": {"params": rt}, "throughput": {"params": tp}}, code="0" * 64)
    assert not finished(run)  # other code
    (Path(run.out) / "result.json").write_text("{ truncated")
    assert not finished(run)


def test_a_label_gives_a_variant_its_own_folder_command_and_finished_check(
    tmp_path: Path,
) -> None:
    """Two blocks of the same runs, one labelled, are two sets of runs side by side; a
    result without the label does not finish the labelled run."""
    from grainbench.registries import TASKS

    labelled = SMALL.split("[grid.params")[0].replace('name = "small"', 'name = "tp"')
    labelled = labelled.replace(
        'tasks = ["roundtrip"]', 'tasks = ["roundtrip"]\nlabel = "png8-only"'
    )
    grid = parse_grid(SMALL + labelled.split('runs = "out"')[1], base=tmp_path)
    ids = [r.id for r in grid.runs]
    assert len(ids) == len(set(ids)) == 8
    run = next(r for r in grid.runs if r.label)
    assert run.id == "dct-square__synth-piano_n_8__png8-only__seed0"
    assert run.command()[-5:-3] == ["--label", "png8-only"]
    assert run.spec().label == "png8-only"
    rt = TASKS.get("roundtrip").default_params()
    _fake_result(run, {"roundtrip": {"params": rt}})
    assert not finished(run)  # the folder's result has no label
    body = json.loads((Path(run.out) / "result.json").read_text())
    (Path(run.out) / "result.json").write_text(json.dumps({**body, "label": "png8-only"}))
    assert finished(run)
    with pytest.raises(UserError, match="label 'Bad Label' is not allowed"):
        parse_grid(SMALL.replace('name = "small"', 'name = "small"\nlabel = "Bad Label"'))


def test_plan_runs_alone_tasks_in_a_second_phase(tmp_path: Path) -> None:
    from grainbench.registries import TASKS

    text = SMALL.replace('tasks = ["roundtrip"]', 'tasks = ["roundtrip", "throughput"]')
    grid = parse_grid(text, base=tmp_path)
    first = grid.runs[0]
    rt = {**TASKS.get("roundtrip").default_params(), **first.params["roundtrip"]}
    _fake_result(first, {"roundtrip": {"params": rt}})
    work = plan(grid)
    assert [r.id for r, _ in work.together] == [r.id for r in grid.runs[1:]]
    assert all(t == ["roundtrip"] for _, t in work.together)
    assert [r.id for r, _ in work.alone] == [r.id for r in grid.runs]
    assert all(t == ["roundtrip", "throughput"] for _, t in work.alone)


def test_slurm_submission_is_one_job_array(tmp_path: Path, monkeypatch) -> None:
    """submitit writes the sbatch file; a stand-in ``sbatch`` on PATH keeps it and answers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        f'#!/bin/sh\ncp "$1" {tmp_path}/submitted.sh\necho "Submitted batch job 4242"\n'
    )
    sbatch.chmod(0o755)
    (bin_dir / "srun").write_text("#!/bin/sh\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    grid = parse_grid(SMALL, base=tmp_path)
    opts = Options("slurm", workers=2, threads=3, logs=tmp_path / "logs", time_min=30, mem_gb=8)
    opts.partition = "cpu-long"
    jobs = submit_slurm(grid.runs, [r.tasks for r in grid.runs], opts, parallel=2)
    assert [j.job.job_id for j in jobs] == [f"4242_{i}" for i in range(4)]
    script = (tmp_path / "submitted.sh").read_text()
    for line in (
        "#SBATCH --array=0-3%2",
        "#SBATCH --partition=cpu-long",
        "#SBATCH --time=30",
        "#SBATCH --mem=8GB",
        "#SBATCH --cpus-per-task=3",
        "#SBATCH --job-name=grainbench-sweep",
    ):
        assert line in script, line
    assert str(tmp_path / "logs" / "submitit") in script


# ----------------------------------------------------------------------- real processes

HOLD_PLUGIN = '''
import os, time

HOLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "HOLD")


class Hold:
    """Samples as a 128×128 image; ``fit`` waits while the file HOLD exists."""

    name = "hold"
    sample_rate = 16000
    n_samples = 16384
    n_channels = 1

    def fit(self, audio):
        while os.path.exists(HOLD):
            time.sleep(0.1)

    def encode(self, audio):
        return audio.reshape(len(audio), 1, 128, 128).clone()

    def decode(self, image):
        return image.reshape(len(image), 1, 16384).clone()
'''


def _digests(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every file of a run folder."""
    return {
        str(p.relative_to(folder)): (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            p.stat().st_mtime_ns,
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _wait(predicate, what: str, timeout: float = 600.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _held_grid(tmp_path: Path) -> Path:
    (tmp_path / "hold.py").write_text(HOLD_PLUGIN)
    (tmp_path / "HOLD").touch()
    text = SMALL.replace('"waveform-square"', f'"{tmp_path}/hold.py:Hold"')
    path = tmp_path / "grid.toml"
    path.write_text(text)
    return path


def _sweep(grid: Path, *extra: str) -> subprocess.Popen:
    """``grainbench sweep`` in a process group of its own (killed as a whole)."""
    cmd = [sys.executable, "-m", "grainbench", "sweep", str(grid), "--workers", "2", *extra]
    return subprocess.Popen(
        cmd,
        cwd=grid.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_mid_way_then_resume(tmp_path: Path, executor: str, whole_group: bool) -> str:
    """Sweep 2 representations × 2 seeds; when the dct-square runs are finished and both
    runs of the held representation are inside their run, kill -9 the sweep (and, with
    ``whole_group``, its workers); rerun: finished runs are untouched, the rest complete."""
    grid_path = _held_grid(tmp_path)
    grid = load_grid_at(grid_path)
    dct = [r for r in grid.runs if r.rep == "dct-square"]
    held = [r for r in grid.runs if r.rep.endswith("hold.py:Hold")]
    logs = tmp_path / "out" / "logs"
    proc = _sweep(grid_path, "--executor", executor)
    try:
        _wait(lambda: all(finished(r) for r in dct), "the dct-square runs")
        _wait(
            lambda: all("sweep: grainbench run" in _read(logs / f"{r.id}.log") for r in held),
            "the held runs to start",
        )
        before = {r.id: _digests(Path(r.out)) for r in dct}
        os.killpg(proc.pid, signal.SIGKILL) if whole_group else proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not any(finished(r) for r in held)
    (tmp_path / "HOLD").unlink()
    # the pool's workers end with the sweep; submitit's may linger a moment after the kill
    _wait(lambda: all(_unlocked(logs / f"{r.id}.lock") for r in held), "the killed workers")
    again = _sweep(grid_path, "--executor", executor)
    out, _ = again.communicate(timeout=900)
    assert again.returncode == 0, out
    assert "4 runs, 2 finished before, 2 to run" in out
    assert all(finished(r) for r in grid.runs)
    assert {r.id: _digests(Path(r.out)) for r in dct} == before  # byte-identical, not rewritten
    return out


def load_grid_at(path: Path):
    """The grid as the sweep sees it from the grid's own folder (its working folder)."""
    return parse_grid(path.read_text(), base=path.parent)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _unlocked(path: Path) -> bool:
    import fcntl

    if not path.exists():
        return True
    with open(path, "a") as fh:
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.lockf(fh, fcntl.LOCK_UN)
        return True


def test_submitit_local_sweep_resumes_after_kill_9(tmp_path: Path) -> None:
    """The issue's acceptance test: a 2×2 synth-piano grid through submitit's LocalExecutor
    (real processes), killed mid-way with every worker, then resumed."""
    out = _kill_mid_way_then_resume(tmp_path, "local", whole_group=True)
    assert "[2] done" in out
    assert (tmp_path / "out" / "logs" / "submitit").is_dir()


@pytest.mark.slow
def test_pool_workers_end_with_a_killed_sweep_and_resume(tmp_path: Path) -> None:
    """Only the sweep is killed; its pool workers end with it (no orphan holds a run)."""
    _kill_mid_way_then_resume(tmp_path, "pool", whole_group=False)


def test_sweep_runs_are_the_commands_it_prints(tmp_path: Path, capsys) -> None:
    """A finished sweep run is what its printed ``grainbench run`` command makes: running
    that command reuses every task and changes no task file."""
    path = tmp_path / "grid.toml"
    path.write_text(
        SMALL.replace('reps = ["dct-square", "waveform-square"]', 'reps = ["dct-square"]').replace(
            "seeds = [0, 1]", "seeds = [0]"
        )
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["sweep", str(path), "--workers", "1"]) == 0
        run = load_grid(path).runs[0]
        before = _digests(Path(run.out) / "tasks")
        assert main(run.command()[1:]) == 0
        assert _digests(Path(run.out) / "tasks") == before
        assert main(["sweep", str(path), "--dry-run"]) == 0
    finally:
        os.chdir(cwd)
    out = capsys.readouterr()
    assert "reusing finished result" in out.err
    assert "1 runs, 1 finished" in out.out


@pytest.mark.parametrize(
    ("extra", "workers", "threads"),
    [
        (["--workers", "2"], 2, 4),
        (["--workers", "3"], 3, 2),
        (["--workers", "16"], 16, 1),
        (["--threads", "2"], 4, 2),
        ([], 8, 1),
        (["--workers", "2", "--threads", "1"], 2, 1),
        (["--workers", "2", "--executor", "slurm"], 2, 1),
    ],
)
def test_parallel_runs_share_the_cores(
    tmp_path: Path, monkeypatch, extra: list[str], workers: int, threads: int
) -> None:
    """On 8 cores, ``--workers N`` alone gives each run 8 // N torch threads, not every core."""
    from grainbench.commands import sweep as command

    monkeypatch.setattr(command, "available_cores", lambda: 8)
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    opts = command._options(parser.parse_args(["grid.toml", *extra]), tmp_path)
    assert (opts.workers, opts.threads) == (workers, threads)


def test_slurm_without_slurm_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun, no sbatch
    path = tmp_path / "grid.toml"
    path.write_text(SMALL)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(path), "--executor", "slurm"]) == 2
    assert "--executor slurm" in capsys.readouterr().err


def test_the_board_grid_covers_every_published_entry(tmp_path: Path) -> None:
    """scripts/board.toml expands to a run for every entry on the board (same ids)."""
    root = Path(__file__).parent.parent
    grid = parse_grid((root / "scripts" / "board.toml").read_text(), base=tmp_path)
    ids = [r.id for r in grid.runs]
    assert len(ids) == len(set(ids)) == 102
    published = {p.name for p in (root / "leaderboards" / "entries").iterdir() if p.is_dir()}
    assert published <= set(ids)
    stylegan = next(r for r in grid.runs if r.gen == "stylegan2" and r.rep == "dct-square")
    assert stylegan.gen_options == {"config": "cpu-sparse", "kimg": 3}
    speed = [r for r in grid.runs if r.label == "throughput"]
    assert len(speed) == 18 and all(r.tasks == ["throughput"] for r in speed)
    assert "throughput" not in next(r for r in grid.runs if r.rep == "mfcc").tasks
