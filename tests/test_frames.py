"""Results as pandas DataFrames (load_result, load_board) and ``compare --format``, checked
against the result.json rows and the normal closed form of a difference."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats as sps

import grainbench
from grainbench import frames
from grainbench.cli import main
from grainbench.leaderboard import scan_entries
from test_leaderboard import _board, make_result, write_run


def test_load_result_has_one_row_per_metric_with_its_numbers(tmp_path: Path) -> None:
    result = make_result("rep-a", 30.0, 2.0)
    result["tasks"]["roundtrip"]["metrics"][1].update(low=None, high=None)
    run = write_run(tmp_path / "run", result)
    frame = grainbench.load_result(run)
    rows = result["tasks"]["roundtrip"]["metrics"]
    assert list(frame["key"]) == [r["key"] for r in rows]
    assert list(frame["value"]) == [30.0, 2.0]
    assert frame["low"].iloc[0] == 29.0 and math.isnan(frame["low"].iloc[1])
    assert list(frame["codec"]) == ["png8", "png8"]  # a column per condition key
    assert list(frame["condition"]) == ["codec=png8", "codec=png8"]
    assert list(frame["higher_is_better"]) == [True, False]
    assert set(frame["entry"]) == {"run"} and set(frame["family"]) == {"rep"}
    assert frame["seed"].dtype == "Int64" and frame["value"].dtype == "float64"
    ids, meta = frames.ID_COLUMNS, frames.META_COLUMNS
    assert list(frame.columns) == ids + ["codec"] + frames.VALUE_COLUMNS + meta
    assert frame.equals(grainbench.load_result(run / "result.json"))


def test_a_condition_key_never_shadows_a_fixed_column() -> None:
    result = make_result("rep-a", 30.0, 2.0)
    result["tasks"]["roundtrip"]["metrics"][0]["condition"] = {"value": "x"}
    frame = frames.result_frame(result)
    assert frame["condition.value"].iloc[0] == "x" and frame["value"].iloc[0] == 30.0


def test_load_board_ranks_within_groups_and_matches_the_csv(tmp_path: Path) -> None:
    specs = [
        ("rep-a", 10.0, 3.0, {}),
        ("rep-b", 30.0, 2.0, {}),
        ("fft-c", 20.0, 1.0, {}),
        ("rep-d", 50.0, 0.5, {"fingerprint": "cd" * 32}),
    ]
    entries = _board(tmp_path, specs)
    board = grainbench.load_board(tmp_path)  # the folder holding entries/
    assert board.equals(grainbench.load_board(entries))
    snr = board[board["name"] == "snr"].set_index("representation")
    # snr is the headline, higher is better: b > c > a in one group, d alone in its own
    assert snr.loc[["rep-b", "fft-c", "rep-a"], "rank"].tolist() == [1, 2, 3]
    assert snr.loc["rep-d", "rank"] == 1
    assert snr.loc["rep-d", "group"] != snr.loc["rep-a", "group"]
    assert snr.loc["fft-c", "family"] == "fft"
    assert len(board) == 2 * len(specs)
    main(["leaderboard", "--entries", str(entries), "--out", str(tmp_path / "out")])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "leaderboard.csv").read_text())))
    from_csv = {(r["entry"], r["key"]): (float(r["value"]), int(r["rank"])) for r in rows}
    from_frame = {(r.entry, r.key): (r.value, int(r.rank)) for r in board.itertuples(index=False)}
    assert from_csv == from_frame


def test_a_board_without_entries_is_an_empty_frame(tmp_path: Path) -> None:
    (tmp_path / "entries").mkdir()
    board = grainbench.load_board(tmp_path)
    assert board.empty and {"rank", "group", "value"} <= set(board.columns)
    assert scan_entries(tmp_path / "entries") == ([], [])


def _two_runs(tmp_path: Path) -> tuple[Path, Path]:
    return (
        write_run(tmp_path / "a", make_result("rep-a", 10.0, 3.0)),
        write_run(tmp_path / "b", make_result("rep-b", 13.0, 2.0)),
    )


def test_compare_csv_holds_the_closed_form_difference(tmp_path: Path, capsys) -> None:
    a, b = _two_runs(tmp_path)
    assert main(["compare", str(a), str(b), "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("key")
    snr = frame.loc["snr[codec=png8]"]
    # each interval ±1 is σ = 1/1.96; the difference's σ is √2 of that
    sigma = math.sqrt(2) / sps.norm.ppf(0.975)
    lo, hi = sps.norm(loc=3.0, scale=sigma).interval(0.95)
    assert (snr["a"], snr["b"], snr["difference"]) == pytest.approx((10.0, 13.0, 3.0))
    assert (snr["difference_low"], snr["difference_high"]) == pytest.approx((lo, hi))
    assert bool(snr["significant"]) and snr["better"] == "B"
    assert frame.loc["lsd[codec=png8]", "better"] == "B"  # lower is better: 2 < 3


def test_compare_markdown_and_json_agree(tmp_path: Path, capsys) -> None:
    a, b = _two_runs(tmp_path)
    assert main(["compare", str(a), str(b), "--format", "md"]) == 0
    md = capsys.readouterr().out
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in md.splitlines() if "|" in line]
    snr = next(c for c in cells if c[:2] == ["roundtrip", "snr[codec=png8]"])
    assert snr[3:5] == ["10 [9, 11]", "13 [12, 14]"] and snr[-1] == "B"
    assert main(["compare", str(a), str(b), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    by_key = {m["key"]: m for m in body["metrics"]}
    assert by_key["snr[codec=png8]"]["difference"][0] == pytest.approx(3.0)


def test_compare_csv_of_results_that_do_not_compare_is_empty(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "a", make_result("rep-a", 10.0, 3.0))
    b = write_run(tmp_path / "b", make_result("rep-b", 13.0, 2.0, suite="9.9.9"))
    assert main(["compare", str(a), str(b), "--format", "csv"]) == 1
    out = capsys.readouterr()
    assert out.out.strip().startswith("task,key") and len(out.out.strip().splitlines()) == 1
    assert "suite" in out.err
