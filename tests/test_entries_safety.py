"""Leaderboard entries: safe ids, atomic replacement, one winner among concurrent submits
(real processes), a board that skips a broken entry, Markdown without raw HTML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from grainbench import results
from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.leaderboard import load_entries, scan_entries, submit, validate_result
from grainbench.locks import folder_lock
from grainbench.pngio import write_png
from hostile import env, snapshot
from test_leaderboard import make_result, write_run

ENTRY = "dct-square__synth-piano_n_20__seed0"


@pytest.fixture
def board(tmp_path: Path) -> tuple[Path, Path]:
    """A run folder and an entries folder holding that run's entry and one other."""
    run = write_run(tmp_path / "run", make_result("dct-square", 37.0, 1.0))
    other = write_run(tmp_path / "other", make_result("fft-square", 30.0, 2.0))
    entries = tmp_path / "board" / "entries"
    submit(run, entries)
    submit(other, entries)
    (tmp_path / "board" / "keep.txt").write_text("a file beside the entries folder")
    return run, entries


@pytest.mark.parametrize(
    "bad_id", [".", "..", "../x", "a/b", "/tmp/x", ".hidden", "", "-x", "x" * 161, "a b", "é"]
)
def test_unsafe_entry_ids_are_refused_and_nothing_is_touched(
    board: tuple[Path, Path], bad_id: str, capsys
) -> None:
    run, entries = board
    parent = entries.parent
    before = snapshot(parent)
    assert main(["submit", str(run), "--entries", str(entries), f"--id={bad_id}", "--force"]) == 2
    err = capsys.readouterr().err
    assert "not allowed" in err and err.count("\n") == 1
    assert snapshot(parent) == before


def test_a_replacement_that_fails_half_way_keeps_the_old_entry(
    board: tuple[Path, Path], monkeypatch
) -> None:
    """The new entry is moved into place by a rename; when that fails the old one stays."""
    run, entries = board
    before = snapshot(entries)
    real_rename, real_replace = os.rename, os.replace

    def failing(move):
        def wrapper(src, dst, *args, **kwargs):
            if ".staging" in Path(src).name:  # moving the new entry's folder into place
                raise OSError(28, "No space left on device")
            return move(src, dst, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(os, "rename", failing(real_rename))
    monkeypatch.setattr(os, "replace", failing(real_replace))
    with pytest.raises(OSError):
        submit(run, entries, force=True)
    monkeypatch.undo()
    assert snapshot(entries) == before
    assert [e.id for e in load_entries(entries)] == [ENTRY, "fft-square__synth-piano_n_20__seed0"]


def test_force_replaces_the_entry_in_place(board: tuple[Path, Path]) -> None:
    run, entries = board
    old = json.loads((entries / ENTRY / "result.json").read_text())["entry"]["submitted"]
    time.sleep(1.1)  # submitted is stored to the second
    submit(run, entries, force=True)
    new = json.loads((entries / ENTRY / "result.json").read_text())
    assert new["entry"]["submitted"] != old
    assert validate_result(new, entries / ENTRY) == []
    assert not [p for p in entries.iterdir() if p.name.startswith(".")]


_SUBMITTER = r"""
import contextlib, io, json, os, sys, time
from pathlib import Path
from grainbench.cli import build_parser, main
build_parser()  # every command module imported: main() starts at once when released
folder, argv = Path(sys.argv[1]), sys.argv[2:]
(folder / f"ready-{os.getpid()}").touch()
for round, extra in enumerate([[], ["--force"]]):
    while not (folder / f"go{round}").exists():
        time.sleep(0.002)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv + extra)
    (folder / f"done{round}-{os.getpid()}").write_text(json.dumps([code, err.getvalue()]))
"""


def _many_pictures(folder: Path, n: int = 24) -> Path:
    """A valid run folder whose result lists ``n`` incompressible 256×256 pictures (so that
    a submit takes long enough for concurrent ones to overlap)."""
    result = make_result("dct-square", 37.0, 1.0)
    run = write_run(folder, result)
    rng = np.random.default_rng(0)
    arts = result["tasks"]["roundtrip"]["artifacts"]
    for i in range(n):
        write_png(run / "roundtrip" / f"p{i}.png", rng.integers(0, 256, (256, 256), np.uint8))
        arts.append({"path": f"roundtrip/p{i}.png", "kind": "png", "caption": f"picture {i}"})
    results.write_json(run / "result.json", result)
    return run


def _wait_for(folder: Path, pattern: str, count: int, procs: list) -> None:
    """Until ``count`` files match ``pattern``; fails when a process died on the way."""
    deadline = time.monotonic() + 240
    while len(list(folder.glob(pattern))) < count:
        assert time.monotonic() < deadline, f"{count} × {pattern} not in {folder}"
        assert not [p.returncode for p in procs if p.poll()], "a submitter crashed"
        time.sleep(0.02)


def test_concurrent_submits_of_one_run_one_wins(tmp_path: Path) -> None:
    """Four processes submit one run at the same instant: exactly one writes the entry, the
    others exit 2 with a reason. Then all four again with --force: each either replaces the
    entry whole or exits 2. The entry is complete and nothing stray is left either way."""
    run = _many_pictures(tmp_path / "run")
    entries, sync = tmp_path / "entries", tmp_path / "sync"
    entries.mkdir()
    sync.mkdir()
    argv = ["submit", str(run), "--entries", str(entries)]
    procs = [
        subprocess.Popen([sys.executable, "-c", _SUBMITTER, str(sync), *argv], env=env())
        for _ in range(4)
    ]
    try:
        _wait_for(sync, "ready-*", 4, procs)
        for round in (0, 1):
            (sync / f"go{round}").touch()  # all four call main() within milliseconds
            _wait_for(sync, f"done{round}-*", 4, procs)
            outcome = [json.loads(f.read_text()) for f in sorted(sync.glob(f"done{round}-*"))]
            codes = sorted(code for code, _ in outcome)
            if round == 0:
                assert codes == [0, 2, 2, 2], outcome
            assert 0 in codes and set(codes) <= {0, 2}, outcome
            for code, err in outcome:
                assert "Traceback" not in err
                if code == 2:
                    assert "submit is writing" in err or "exists" in err, err
            (entry,) = load_entries(entries)
            assert entry.id == ENTRY
            assert sorted(p.name for p in entries.iterdir()) == [ENTRY]
            assert len(list((entries / ENTRY / "roundtrip").glob("*.png"))) == 25
    finally:
        for round in (0, 1):
            (sync / f"go{round}").touch()  # release whoever still waits
        for proc in procs:
            proc.wait(timeout=240)


def test_leaderboard_reports_and_skips_a_broken_entry(board: tuple[Path, Path], capsys) -> None:
    _, entries = board
    (entries / "broken").mkdir()
    (entries / "broken" / "result.json").write_text("{ half a file")
    (entries / "no-result").mkdir()
    out = entries.parent / "site"
    assert main(["leaderboard", "--entries", str(entries), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    lines = printed.err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("grainbench: skipped ") for line in lines)
    assert "broken" in lines[0] and "no-result" in lines[1]
    assert "2 skipped" in printed.out
    board_md = (out / "README.md").read_text()
    assert "dct-square" in board_md and "fft-square" in board_md
    good, skipped = scan_entries(entries)
    assert len(good) == 2 and len(skipped) == 2


def test_markdown_outputs_escape_raw_html(tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)">|![t](http://example.invalid/p.png)'
    result = make_result("dct-square", 37.0, 1.0)
    result["representation"]["name"] = hostile
    result["dataset"]["notes"] = ["<script>alert(2)</script>"]
    run = write_run(tmp_path / "run", result)
    entries = tmp_path / "entries"
    submit(run, entries, entry_name="hostile")
    main(["leaderboard", "--entries", str(entries), "--out", str(tmp_path / "site")])
    for text in (
        results.render_markdown(result),
        (tmp_path / "site" / "README.md").read_text(),
    ):
        assert "<img" not in text and "<script" not in text
        assert "](http" not in text
        assert "&lt;img" in text


def test_a_submit_waits_for_the_lock_only_as_long_as_asked(board: tuple[Path, Path]) -> None:
    run, entries = board
    before = snapshot(entries)
    with folder_lock(entries, busy="held by the test"):
        with pytest.raises(UserError, match="another grainbench submit is writing"):
            submit(run, entries, force=True, lock_wait_s=0.3)
    assert snapshot(entries) == before
    submit(run, entries, force=True, lock_wait_s=0.3)
