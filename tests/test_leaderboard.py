"""Leaderboard: validation, submission (pictures in, sounds out) and the rendered board."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

import grainbench
from grainbench import results
from grainbench.artifacts import save_wav
from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.leaderboard import (
    entry_id,
    generator_text,
    headline_key,
    load_entries,
    render_markdown,
    submit,
    validate_result,
    write_leaderboard,
)
from grainbench.pngio import write_png
from grainbench.registries import TASKS
from grainbench.tasks.base import MetricValue

FINGERPRINT = "ab" * 32


def make_result(
    rep: str,
    snr: float,
    lsd: float,
    *,
    seed: int = 0,
    fingerprint: str = FINGERPRINT,
    params: dict | None = None,
    suite: str = grainbench.__version__,
) -> dict:
    """A valid result with one roundtrip task: snr and lsd under png8, and their intervals."""
    metrics = [
        MetricValue("snr", snr, snr - 1.0, snr + 1.0, {"codec": "png8"}).to_json(),
        MetricValue("lsd", lsd, lsd - 0.1, lsd + 0.1, {"codec": "png8"}).to_json(),
    ]
    return {
        "schema": results.SCHEMA,
        "suite_version": suite,
        "code_hash": "c" * 64,
        "git_commit": None,
        "created": "2025-01-01T00:00:00+00:00",
        "command": ["grainbench", "run"],
        "seed": seed,
        "machine": {"cpu": "Test CPU", "cores": 2, "torch_threads": 2, "gpu": None},
        "representation": {
            "spec": rep,
            "name": rep,
            "source_hash": "d" * 64,
            "image_shape": [1, 128, 128],
        },
        "generator": None,
        "dataset": {
            "spec": "synth-piano?n=20",
            "fingerprint": fingerprint,
            "sample_rate": 16000,
            "n_samples": 16384,
            "n_train": 18,
            "n_test": 2,
            "notes": [],
        },
        "tasks": {
            "roundtrip": {
                "signature": "e" * 64,
                "params": params or {"codecs": ["png8"], "n_boot": 100},
                "wall_s": 1.5,
                "metrics": metrics,
                "artifacts": [
                    {
                        "path": "roundtrip/clip0_image.png",
                        "kind": "png",
                        "caption": "encoded image",
                    },
                    {
                        "path": "roundtrip/clip0_original.wav",
                        "kind": "wav",
                        "caption": "clip 0: original",
                    },
                ],
                "data": {},
            }
        },
    }


def write_run(folder: Path, result: dict) -> Path:
    """A run folder with ``result`` and the PNG and WAV it lists."""
    (folder / "roundtrip").mkdir(parents=True)
    write_png(folder / "roundtrip" / "clip0_image.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    save_wav(folder / "roundtrip" / "clip0_original.wav", np.zeros((1, 1600), np.float32), 16000)
    results.write_json(folder / "result.json", result)
    return folder


def test_a_complete_result_is_valid(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", make_result("dct-square", 37.0, 1.0))
    assert validate_result(json.loads((run / "result.json").read_text()), run) == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.pop("code_hash"), "code_hash"),
        (lambda r: r["dataset"].update(fingerprint="short"), "dataset.fingerprint"),
        (lambda r: r["representation"].pop("source_hash"), "representation.source_hash"),
        (
            lambda r: r["tasks"]["roundtrip"]["metrics"][0].update(name="bogus"),
            "not in the metric catalogue",
        ),
        (
            lambda r: r["tasks"]["roundtrip"]["metrics"][0].update(higher_is_better=False),
            "disagree",
        ),
        (
            lambda r: r["tasks"]["roundtrip"]["metrics"][1].update(key="snr[codec=png8]"),
            "does not match",
        ),
        (lambda r: r["tasks"]["roundtrip"]["metrics"][0].update(low=99.0), "low > high"),
        (lambda r: r["tasks"]["roundtrip"].pop("signature"), "signature"),
        (lambda r: r["tasks"]["roundtrip"]["artifacts"][0].update(path="../x.png"), "relative"),
        (
            lambda r: r["tasks"]["roundtrip"]["artifacts"][0].update(path="roundtrip/none.png"),
            "missing",
        ),
        (lambda r: r.update(tasks={}), "tasks"),
    ],
)
def test_invalid_results_are_refused_with_the_reason(tmp_path: Path, edit, message: str) -> None:
    result = make_result("dct-square", 37.0, 1.0)
    edit(result)
    run = write_run(tmp_path / "run", result)
    assert any(message in p for p in validate_result(result, run))
    with pytest.raises(UserError, match=re.escape(message)):
        submit(run, tmp_path / "entries")
    assert not (tmp_path / "entries" / entry_id(make_result("dct-square", 0, 0))).exists()


def test_entry_id_names_rep_dataset_generator_and_seed() -> None:
    result = make_result("dct-square", 37.0, 1.0, seed=3)
    assert entry_id(result) == "dct-square__synth-piano_n_20__seed3"
    result["generator"] = {"spec": "gmm", "options": {}}
    assert entry_id(result) == "dct-square__synth-piano_n_20__gmm__seed3"
    assert generator_text(result) == "gmm"
    result["generator"] = {"spec": "stylegan2", "options": {"kimg": 3, "config": "cpu-sparse"}}
    assert generator_text(result) == "stylegan2 (config=cpu-sparse, kimg=3)"
    assert generator_text(make_result("dct-square", 37.0, 1.0)) == "–"


def test_submit_keeps_pictures_drops_sounds_and_refuses_to_overwrite(
    tmp_path: Path, capsys
) -> None:
    run = write_run(tmp_path / "run", make_result("dct-square", 37.0, 1.0))
    entries = tmp_path / "entries"
    assert main(["submit", str(run), "--entries", str(entries)]) == 0
    assert "grainbench leaderboard" in capsys.readouterr().out
    entry = entries / "dct-square__synth-piano_n_20__seed0"
    stored = json.loads((entry / "result.json").read_text())
    assert (entry / "roundtrip" / "clip0_image.png").is_file()
    assert not (entry / "roundtrip" / "clip0_original.wav").exists()
    assert [a["kind"] for a in stored["tasks"]["roundtrip"]["artifacts"]] == ["png"]
    assert stored["entry"]["left_out"] == ["roundtrip/clip0_original.wav"]
    assert (entry / "report.html").is_file()
    assert validate_result(stored, entry) == []
    assert main(["submit", str(run), "--entries", str(entries)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["submit", str(run), "--entries", str(entries), "--force"]) == 0
    assert [e.id for e in load_entries(entries)] == [entry.name]
    assert not [p for p in entries.iterdir() if p.name.startswith(".")]


def _board(tmp_path: Path, specs: list[tuple[str, float, float, dict]]) -> Path:
    entries = tmp_path / "entries"
    for i, (rep, snr, lsd, extra) in enumerate(specs):
        run = write_run(tmp_path / f"run{i}", make_result(rep, snr, lsd, **extra))
        submit(run, entries)
    return entries


def _table_order(markdown: str, heading: str) -> list[str]:
    """Representation column of the table under the first ``###`` line containing ``heading``."""
    block = markdown.split(heading, 1)[1].split("\n### ", 1)[0]
    rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line]
    return [row.split("|")[3].strip() for row in rows[1:]]


def test_board_sorts_by_headline_direction_and_splits_incomparable(tmp_path: Path) -> None:
    entries = _board(
        tmp_path,
        [
            ("rep-a", 10.0, 3.0, {}),
            ("rep-b", 30.0, 2.0, {}),
            ("rep-c", 20.0, 1.0, {}),
            ("rep-d", 50.0, 0.5, {"fingerprint": "cd" * 32}),
        ],
    )
    out = tmp_path / "board"
    paths = write_leaderboard(entries, out)
    assert {p.name for p in paths} == {"README.md", "leaderboard.csv", "leaderboard.html"}
    md = (out / "README.md").read_text()
    # snr (higher is better) is the first ranked metric: descending
    assert _table_order(md, "fingerprint abababababab") == ["rep-b", "rep-c", "rep-a"]
    # another fingerprint is another table: never ranked against the others
    assert _table_order(md, "fingerprint cdcdcdcdcdcd") == ["rep-d"]
    assert f"suite {grainbench.__version__}" in md and "Test CPU (2 cores)" in md
    assert "STALE" not in md
    assert "30 [29, 31]" in md  # value with its interval
    rows = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert len(rows) == 8
    ranks = {(r["representation"], r["key"]): r["rank"] for r in rows}
    assert ranks[("rep-b", "snr[codec=png8]")] == "1" and ranks[("rep-a", "lsd[codec=png8]")] == "3"


def test_a_declared_lower_is_better_headline_sorts_ascending(tmp_path: Path, monkeypatch) -> None:
    entries = _board(
        tmp_path, [("rep-a", 10.0, 3.0, {}), ("rep-b", 30.0, 2.0, {}), ("rep-c", 20.0, 1.0, {})]
    )
    monkeypatch.setattr(TASKS.get("roundtrip"), "headline", "lsd[codec=png8]", raising=False)
    loaded = load_entries(entries)
    rows = loaded[0].result["tasks"]["roundtrip"]["metrics"]
    assert headline_key("roundtrip", rows) == "lsd[codec=png8]"
    md = render_markdown(loaded)
    assert _table_order(md, "fingerprint abababababab") == ["rep-c", "rep-b", "rep-a"]
    assert "sorted by lsd[codec=png8] (dB ↓)" in md


def test_html_is_self_contained_and_every_picture_exists(tmp_path: Path) -> None:
    entries = _board(tmp_path, [("rep-a", 10.0, 3.0, {}), ("rep-b", 30.0, 2.0, {})])
    out = tmp_path / "board"
    assert main(["leaderboard", "--entries", str(entries), "--out", str(out)]) == 0
    page = (out / "leaderboard.html").read_text()
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 2  # one picture per entry, side by side
    assert all((out / unquote(s)).is_file() for s in sources)
    tables = page.split('<section id="groups">', 1)[1]  # after the explorer (id order)
    assert tables.index("rep-b__") < tables.index("rep-a__")  # best first


def test_leaderboard_of_a_missing_folder_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert main(["leaderboard", "--entries", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_entries_of_an_older_suite_are_marked_stale_and_listed_after(tmp_path: Path) -> None:
    """Entries made before a metric definition changed keep their numbers but are marked."""
    entries = tmp_path / "entries"
    for rep, suite in (("rep-old", "0.0.1"), ("rep-new", grainbench.__version__)):
        submit(write_run(tmp_path / rep, make_result(rep, 30.0, 1.0, suite=suite)), entries)
    out = tmp_path / "board"
    write_leaderboard(entries, out)
    md = (out / "README.md").read_text()
    stale_at = md.index("STALE: made by suite 0.0.1")
    assert md.index("rep-new") < stale_at < md.index("rep-old")
    assert md.count("STALE") == 1
    assert "STALE: made by suite 0.0.1" in (out / "leaderboard.html").read_text()
