"""compare: differences with intervals against the normal closed form, refusal, tolerances, judging."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from scipy import stats as sps

from grainbench import results
from grainbench.cli import main
from grainbench.compare import (
    Tolerances,
    compare_results,
    difference,
    incompatibilities,
    judge,
    parse_tolerances,
    sigma_from_ci,
)
from grainbench.errors import UserError
from grainbench.tasks.base import MetricValue

Z = sps.norm.ppf(0.975)


def row(name: str, value: float | None, sigma: float | None, **condition: str) -> dict:
    """A metric row whose 95% interval is value ± 1.96·sigma (no interval when sigma is None)."""
    lo = hi = None
    if sigma is not None and value is not None:
        lo, hi = value - Z * sigma, value + Z * sigma
    r = MetricValue(name, 0.0 if value is None else value, lo, hi, condition).to_json()
    r["value"] = value
    return r


def result(
    rows: list[dict],
    *,
    suite: str = "0.1.0",
    fingerprint: str = "ab" * 32,
    params: dict | None = None,
) -> dict:
    return {
        "suite_version": suite,
        "dataset": {"spec": "synth-piano", "fingerprint": fingerprint},
        "tasks": {"roundtrip": {"params": params or {"codecs": ["png8"]}, "metrics": rows}},
    }


def test_sigma_and_difference_match_the_normal_closed_form() -> None:
    a, b = row("snr", 10.0, 1.0), row("snr", 13.0, 2.0)
    assert sigma_from_ci(a["value"], a["low"], a["high"]) == pytest.approx(1.0, rel=1e-6)
    d, lo, hi = difference(a, b)
    ref = sps.norm(loc=3.0, scale=math.sqrt(1.0**2 + 2.0**2)).interval(0.95)
    assert d == pytest.approx(3.0)
    assert (lo, hi) == pytest.approx(ref, rel=1e-6)


def test_hand_computed_significance_and_direction() -> None:
    a = result(
        [
            row("snr", 10.0, 1.0, codec="png8"),
            row("lsd", 2.0, 0.1, codec="png8"),
            row("time_centroid", 0.5, 0.01),
        ]
    )
    b = result(
        [
            row("snr", 11.0, 1.0, codec="png8"),
            row("lsd", 1.0, 0.1, codec="png8"),
            row("time_centroid", 0.9, 0.01),
        ]
    )
    cmp = compare_results(a, b, "old", "new")
    by = {r.key: r for r in cmp.rows}
    # snr: d = 1, half-width 1.96·√2 = 2.77 → not significant
    assert not by["snr[codec=png8]"].significant and by["snr[codec=png8]"].better == "="
    # lsd: d = −1, half-width 0.277 → significant, lower is better → B
    assert by["lsd[codec=png8]"].significant and by["lsd[codec=png8]"].better == "B"
    # descriptive metric: a significant difference, but never ranked
    assert by["time_centroid"].significant and by["time_centroid"].better is None
    # swapping A and B swaps the verdict
    assert {r.key: r.better for r in compare_results(b, a).rows}["lsd[codec=png8]"] == "A"


def test_missing_intervals_count_as_exact_and_missing_values_are_not_judged() -> None:
    a = result([row("snr", 10.0, None, codec="png8"), row("lsd", None, None, codec="png8")])
    b = result([row("snr", 10.0, None, codec="png8"), row("lsd", 1.0, None, codec="png8")])
    by = {r.key: r for r in compare_results(a, b).rows}
    assert by["snr[codec=png8]"].diff == (0.0, 0.0, 0.0) and by["snr[codec=png8]"].better == "="
    assert by["lsd[codec=png8]"].diff is None and by["lsd[codec=png8]"].better is None


def test_incompatibilities_name_each_difference() -> None:
    a = result([row("snr", 10.0, 1.0)])
    b = result(
        [row("snr", 10.0, 1.0)], suite="0.2.0", fingerprint="cd" * 32, params={"codecs": ["png16"]}
    )
    problems = incompatibilities(a, b)
    assert any("suite version differs: A 0.1.0, B 0.2.0" in p for p in problems)
    assert any("dataset fingerprint differs" in p for p in problems)
    assert any(
        'task roundtrip parameter codecs differs: A ["png8"], B ["png16"]' in p for p in problems
    )
    assert not compare_results(a, b).comparable
    assert incompatibilities(a, copy.deepcopy(a)) == []


def _save(folder: Path, body: dict) -> Path:
    results.write_json(folder / "result.json", body)
    return folder


def test_cli_summary_exit_codes_and_refusal(tmp_path: Path, capsys) -> None:
    a = _save(
        tmp_path / "a",
        result([row("snr", 10.0, 0.5, codec="png8"), row("lsd", 2.0, 0.1, codec="png8")]),
    )
    b = _save(
        tmp_path / "b",
        result([row("snr", 30.0, 0.5, codec="png8"), row("lsd", 2.1, 0.1, codec="png8")]),
    )
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert (
        "B (b) is better than A (a) on 1 of 2 ranked roundtrip metrics, worse on 0, indistinguishable on 1"
        in out
    )
    assert "headline snr[codec=png8]: B − A = +20 dB" in out
    assert main(["compare", str(a), str(b), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert (
        body["comparable"]
        and {m["key"]: m["better"] for m in body["metrics"]}["snr[codec=png8]"] == "B"
    )
    c = _save(tmp_path / "c", result([row("snr", 30.0, 0.5, codec="png8")], fingerprint="cd" * 32))
    assert main(["compare", str(a), str(c)]) == 1
    out = capsys.readouterr().out
    assert (
        "do not compare" in out
        and "dataset fingerprint differs" in out
        and "better than" not in out
    )
    assert main(["compare", str(a), str(tmp_path / "nothing")]) == 2
    assert "not a result folder" in capsys.readouterr().err


def test_tolerance_parsing() -> None:
    tol = parse_tolerances(["5%", "snr=0.5", "lsd=10%", "snr[codec=png8]=2"])
    assert tol.fraction == pytest.approx(0.05)
    assert tol.amount("snr[codec=png8]", "snr", 30.0) == 2.0  # a key beats a name
    assert tol.amount("snr[codec=float]", "snr", 30.0) == 0.5  # absolute
    assert tol.amount("lsd[codec=png8]", "lsd", 3.0) == pytest.approx(0.3)  # relative
    assert tol.amount("mrstft", "mrstft", 4.0) == pytest.approx(0.2)  # the global fraction
    for bad in ("bogus=1", "-0.1", "snr=abc", "7"):
        with pytest.raises(UserError):
            parse_tolerances([bad])


def test_judge_flags_only_worse_beyond_interval_plus_tolerance() -> None:
    entry = result(
        [
            row("snr", 20.0, 0.5, codec="png8"),
            row("lsd", 1.0, 0.05, codec="png8"),
            row("time_centroid", 0.5, None),
        ]
    )
    lo_snr = entry["tasks"]["roundtrip"]["metrics"][0]["low"]
    hi_lsd = entry["tasks"]["roundtrip"]["metrics"][1]["high"]

    def status(
        snr: float, lsd: float | None, centroid: float = 0.5, tol: Tolerances | None = None
    ) -> dict:
        rows = [row("snr", snr, 0.5, codec="png8"), row("time_centroid", centroid, None)]
        if lsd is not None:
            rows.append(row("lsd", lsd, 0.05, codec="png8"))
        return {v.key: v.status for v in judge(entry, result(rows), tol or Tolerances())}

    assert status(20.0, 1.0) == {
        "snr[codec=png8]": "ok",
        "lsd[codec=png8]": "ok",
        "time_centroid": "descriptive",
    }
    assert status(lo_snr - 0.01, hi_lsd + 0.01)["snr[codec=png8]"] == "worse"
    assert status(lo_snr - 0.01, hi_lsd + 0.01)["lsd[codec=png8]"] == "worse"
    assert status(lo_snr + 0.01, 0.5) == {
        "snr[codec=png8]": "ok",
        "lsd[codec=png8]": "better",
        "time_centroid": "descriptive",
    }
    assert status(25.0, 1.0, centroid=9.0)["snr[codec=png8]"] == "better"  # descriptive never fails
    assert status(20.0, None)["lsd[codec=png8]"] == "missing"
    assert status(lo_snr - 0.5, 1.0, tol=parse_tolerances(["snr=1"]))["snr[codec=png8]"] == "ok"
    assert status(lo_snr - 1.5, 1.0, tol=parse_tolerances(["snr=1"]))["snr[codec=png8]"] == "worse"
    assert (
        status(lo_snr - 0.5, 1.0, tol=parse_tolerances(["0.05"]))["snr[codec=png8]"] == "ok"
    )  # 5% of 20 dB
