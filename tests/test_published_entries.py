"""Published entries still hold: a sample of the board's small-setting entries is re-run with
each entry's own dataset, task parameters and seed (the code path of ``grainbench check``,
as ``ci/check-builtins.sh`` runs it) and every number must come back unchanged."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from grainbench.commands.check import rerun
from grainbench.compare import incompatibilities, judge, parse_tolerances
from grainbench.result_schema import parse

ENTRIES = Path(__file__).resolve().parents[1] / "leaderboards" / "entries"
SAMPLE = [
    "dct-square__synth-piano__seed0",  # about 5 s on two idle cores
    pytest.param("stft-magif__synth-piano__seed0", marks=pytest.mark.slow),
]
REL = 1e-6
"""Allowed relative difference of a value or interval end (float summation order)."""
REL_QUANTIZED = 2e-3
"""The same behind a quantizing codec (``codec=png8``/``png16``): an ulp of difference
before the codec moves a pixel by one quantization step (max_abs_error of dct-square on
synth-piano moves 0.1 % when the companding's float32 order changes)."""


def _same(key: str, a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    rel = REL_QUANTIZED if "codec=png" in key else REL
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel * 1e-6)


@pytest.mark.parametrize("entry_id", SAMPLE)
def test_a_published_entry_recomputes_to_the_same_numbers(entry_id: str, tmp_path: Path) -> None:
    entry = json.loads((ENTRIES / entry_id / "result.json").read_text())
    new = rerun(parse(entry), entry["representation"]["spec"], tmp_path / "rerun")
    assert incompatibilities(entry, new) == []  # suite version, fingerprint, parameters
    assert [v for v in judge(entry, new, parse_tolerances(["0"])) if v.failed] == []
    for task, body in entry["tasks"].items():
        got = {row["key"]: row for row in new["tasks"][task]["metrics"]}
        assert list(got) == [row["key"] for row in body["metrics"]]
        for row in body["metrics"]:
            for field in ("value", "low", "high"):
                assert _same(row["key"], row[field], got[row["key"]][field]), (
                    task,
                    row["key"],
                    field,
                )
