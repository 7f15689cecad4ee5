"""The headline card of each task: a sentence from the numbers, the headline metric with
its interval, and where it stands on the board.

The sentence is written from the task's metric rows (one function per known task, keyed by
task name; any other task gets the catalogue's description of its headline metric). The
headline metric is the task's ``headline`` attribute where the result has it
(:func:`grainbench.leaderboard.headline_key`), so a task that changes its headline key
(e.g. adds ``weight=energy``) changes the card with it.

*Standing*: the rank of the headline value among the board's entries of the same task on
the same data (dataset fingerprint: same clips, rate and length) and, where there are
some, with the same suite version and task parameters (else among all of them, marked as
indicative); and the difference to Ki's ``dct-square`` on the same data, judged as
``grainbench compare`` does (:func:`grainbench.compare.metric_diff`: the two 95 %
intervals as independent normal errors; significant when the difference's interval
excludes 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from grainbench import tables
from grainbench.compare import metric_diff
from grainbench.leaderboard.cells import generator_text
from grainbench.leaderboard.entries import REFERENCE_REP
from grainbench.leaderboard.ranking import headline_key, params_id
from grainbench.metrics.catalog import CATALOG
from grainbench.tables import format_value


@dataclass
class Card:
    """One task's headline: the sentence, the headline metric row and the standing lines."""

    task: str
    sentence: str
    head: dict[str, Any] | None
    standing: list[str] = field(default_factory=list)


class Rows:
    """A task's metric rows, found by name and condition."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def find(self, name: str, condition: dict[str, Any]) -> dict[str, Any] | None:
        """The row of metric ``name`` whose condition equals ``condition`` (compared as text)."""
        want = {k: str(v) for k, v in condition.items()}
        for row in self.rows:
            if row["name"] == name and {k: str(v) for k, v in row["condition"].items()} == want:
                return row
        return None

    def value(self, name: str, condition: dict[str, Any]) -> float | None:
        """The finite value of :meth:`find`'s row, or None."""
        row = self.find(name, condition)
        if row is None or row["value"] is None or not math.isfinite(row["value"]):
            return None
        return float(row["value"])


def db(value: float) -> str:
    """A level difference for a sentence: ``14 dB`` (one decimal below 10 dB), sign dropped."""
    x = abs(value)
    return f"{x:.1f} dB" if x < 10 else f"{x:.0f} dB"


def share(value: float) -> str:
    """A fraction as a percentage for a sentence: ``97 %``."""
    return f"{100.0 * value:.0f} %"


def _delta_text(delta: str) -> str:
    return (
        "a GAN-sized pixel error (2/255, one 8-bit step)"
        if delta == "2/255"
        else (f"a pixel error of {delta}")
    )


def _who(condition: dict[str, Any]) -> str:
    """Which pixels a summary is over: energy-weighted ones carry the sound."""
    return "pixel that carries sound" if condition.get("weight") == "energy" else "pixel"


def perturbation_sentence(rows: Rows, head: dict[str, Any], params: dict[str, Any]) -> str:
    """How far below (or above) the masking threshold the median one-pixel error is, and
    whether 5 % of pixels reach it (from the 95th percentile)."""
    cond = dict(head["condition"])
    value = float(head["value"])
    side = "below" if value < 0 else "above"
    what = _delta_text(str(cond.get("delta", "?")))
    text = (
        f"{what[:1].upper()}{what[1:]} is {db(value)} {side} the masking threshold in the "
        f"median {_who(cond)}"
    )
    p95 = rows.value(head["name"], {**cond, "stat": "p95"})
    if p95 is not None:
        many = "at least 5 %" if p95 > 0 else "fewer than 5 %"
        who = "such pixels" if cond.get("weight") == "energy" else "pixels"
        text += (
            f"; {many} of {who} are audible (the 95th percentile is {db(p95)} "
            f"{'above' if p95 > 0 else 'below'} it)"
        )
    return text + "."


def transfer_sentence(rows: Rows, head: dict[str, Any], params: dict[str, Any]) -> str:
    """The sound error of image noise at 40 dB PSNR, its audibility and the grain slope."""
    value = float(head["value"])
    text = (
        f"White image noise at 40 dB PSNR (a good generator's error) comes back as a sound "
        f"error {db(value)} {'below' if value < 0 else 'above'} the sound itself"
    )
    nmr = rows.value("audibility", {"error": "noise", "psnr": 40})
    if nmr is not None:
        text += (
            f", {db(nmr)} {'below' if nmr < 0 else 'above'} the masking threshold in its "
            f"worst frame{'' if nmr < 0 else ' (audible)'}"
        )
    slope = rows.value("grain_slope", head["condition"])
    if slope is not None:
        how = "lowers" if slope < 0 else "raises"
        text += f"; every 10 dB cleaner image {how} it by {db(10.0 * slope)}"
    return text + "."


_CODECS = {
    "png8": "an 8-bit PNG (what StyleGAN's dataset tool stores)",
    "png16": "a 16-bit PNG",
    "float": "floats (no codec)",
}


def roundtrip_sentence(rows: Rows, head: dict[str, Any], params: dict[str, Any]) -> str:
    """The round trip's SNR through the headline codec, and through the others."""
    codec = str(head["condition"].get("codec", "?"))
    text = (
        f"Stored as {_CODECS.get(codec, codec)}, a clip comes back at "
        f"{float(head['value']):.1f} dB SNR"
    )
    others = [
        f"{v:.1f} dB as {_CODECS.get(c, c).split(' (')[0]}"
        for c in ("png16", "float")
        if c != codec and (v := rows.value("snr", {"codec": c})) is not None
    ]
    return text + (f" ({'; '.join(others)})" if others else "") + "."


_DIRECTIONS = {
    "down": "Vertically neighbouring pixels",
    "right": "Horizontally neighbouring pixels",
    "channel": "Pixels in neighbouring channels",
}


def locality_sentence(rows: Rows, head: dict[str, Any], params: dict[str, Any]) -> str:
    """How far apart in sound neighbouring pixels are, and the share of local pairs."""
    cond = dict(head["condition"])
    who = _DIRECTIONS.get(str(cond.get("direction")), "Neighbouring pixels")
    if cond.get("weight") == "energy":
        who += " that carry sound"
    ms = 1000.0 * float(params.get("time_scale_s", 0.01))
    erb = float(params.get("freq_scale_erb", 1.0))
    text = (
        f"{who} make sounds a median distance of {float(head['value']):.2g} apart "
        f"(1 = {ms:g} ms or {erb:g} ERB)"
    )
    local = rows.value("local_fraction", cond)
    if local is not None:
        text += f"; {share(local)} of such pairs are local (distance ≤ 1)"
    return text + "."


def generation_sentence(rows: Rows, head: dict[str, Any], params: dict[str, Any]) -> str:
    """The generator's Fréchet distance next to the real-vs-real and round-trip rows, and
    its pitch accuracy."""
    cond = dict(head["condition"])
    emb = str(cond.get("embedding", "?"))
    text = (
        f"Generated clips lie at Fréchet distance {float(head['value']):.3g} from real ones on "
        f"{emb} embeddings"
    )
    refs = [
        f"{label} {v:.3g}"
        for row, label in (("real-vs-real", "real vs real"), ("roundtrip", "round trip"))
        if (v := rows.value(head["name"], {**cond, "row": row})) is not None
    ]
    if refs:
        text += f" ({', '.join(refs)})"
    acc = rows.value("pitch_accuracy", cond)
    if acc is not None:
        text += f"; {share(acc)} are within 50 cents of the intended note"
    return text + "."


def throughput_sentence(rows: Rows, head: dict[str, Any], params: dict[str, Any]) -> str:
    """Decoding speed as a real-time factor, one clip at a time and in batches."""
    cond = dict(head["condition"])
    device = str(cond.get("device", "?"))
    text = (
        f"Decoding runs {float(head['value']):.3g}× faster than real time one clip at a time "
        f"on the {device.upper() if device == 'cpu' else device}"
    )
    batch = rows.value(head["name"], {**cond, "batch": 64})
    if batch is not None and str(cond.get("batch")) != "64":
        text += f" ({batch:.3g}× in batches of 64)"
    return text + "."


def generic_sentence(rows: Rows, head: dict[str, Any], params: dict[str, Any]) -> str:
    """The catalogue's description of the headline metric and its value."""
    spec = CATALOG.get(head["name"])
    what = spec.description if spec else head["name"]
    unit = f" {head['unit']}" if head["unit"] else ""
    return f"{what[:1].upper()}{what[1:]} ({head['key']}): {format_value(head['value'])}{unit}."


Sentence = Callable[[Rows, dict[str, Any], dict[str, Any]], str]
SENTENCES: dict[str, tuple[str, Sentence]] = {
    "perturbation": ("audibility", perturbation_sentence),
    "transfer": ("grain_level", transfer_sentence),
    "roundtrip": ("snr", roundtrip_sentence),
    "locality": ("neighbour_distance", locality_sentence),
    "generation": ("fd", generation_sentence),
    "throughput": ("decode_rtf", throughput_sentence),
}
"""Per task: the headline metric its sentence is written for, and the sentence. A task
whose headline is another metric (its catalogue headline was not measured, e.g. FD on
CREPE embeddings when the run used others) gets :func:`generic_sentence`."""


def _frame_row(row: pd.Series) -> dict[str, Any]:
    """A board-frame row as a metric row (NaN → None)."""

    def num(x: Any) -> float | None:
        return None if pd.isna(x) else float(x)

    return {
        "key": row["key"],
        "name": row["name"],
        "value": num(row["value"]),
        "low": num(row["low"]),
        "high": num(row["high"]),
        "unit": row["unit"],
    }


def _better(hib: bool, a: float, b: float) -> bool:
    """True when ``a`` ranks before ``b``."""
    return a > b if hib else a < b


def standing(
    result: dict[str, Any], task: str, head: dict[str, Any], board: pd.DataFrame | None
) -> list[str]:
    """Rank on the board and the difference to ``dct-square`` (see the module docstring)."""
    if board is None:
        return ["no leaderboard to rank against (set GRAINBENCH_BOARD to a board folder)"]
    hib = head["higher_is_better"]
    if hib is None or head["value"] is None:
        return ["descriptive metric: not ranked"]
    ds = result.get("dataset") or {}
    body = result["tasks"][task]
    own = str((result.get("entry") or {}).get("id") or "")
    same = board[
        (board["task"] == task)
        & (board["key"] == head["key"])
        & (board["fingerprint"] == ds.get("fingerprint"))
        & (board["entry"] != own)
        & board["value"].notna()
    ]
    comparable = same[
        (same["params_id"] == params_id(body.get("params") or {}))
        & (same["suite_version"] == result.get("suite_version"))
    ]
    pool = comparable if len(comparable) else same
    where = f"{ds.get('spec')} at {ds.get('sample_rate')} Hz, {ds.get('n_samples')} samples"
    if pool.empty:
        return [f"no board entry of {task} on {where} to rank against"]
    value = float(head["value"])
    rank = 1 + int(sum(_better(hib, float(v), value) for v in pool["value"]))
    lines = [f"rank {rank} of {len(pool) + 1} among the board's {task} entries on {where}"]
    if not len(comparable):
        lines[0] += " (their task parameters differ from this run's: indicative)"
    return lines + [_versus(result, task, head, pool)]


def _versus(result: dict[str, Any], task: str, head: dict[str, Any], pool: pd.DataFrame) -> str:
    """This result against Ki's dct-square in ``pool`` (same generator preferred)."""
    ref = REFERENCE_REP
    if (result.get("representation") or {}).get("name") == ref:
        return f"this is {ref} (Ki's layout), the reference"
    refs = pool[pool["representation"] == ref]
    if refs.empty:
        return f"no {ref} entry on the same data to compare with"
    gen = generator_text(result)
    mine = refs[refs["generator"] == ("" if gen == "–" else gen)]
    other = _frame_row((mine if len(mine) else refs).iloc[0])
    diff = metric_diff(task, other, head)
    if diff.diff is None:
        return f"against {ref}: not comparable"
    d, lo, hi = diff.diff
    unit = f" {head['unit']}" if head["unit"] else ""
    verdict = {
        "B": "significantly better",
        "A": "significantly worse",
        "=": "no significant difference",
    }.get(diff.better or "", "not ranked")
    return (
        f"against {ref} (Ki's layout; {tables.value_text(other)}): "
        f"{d:+.3g}{unit} [{lo:+.3g}, {hi:+.3g}], {verdict}"
    )


def cards(result: dict[str, Any], board: pd.DataFrame | None) -> list[Card]:
    """One card per task of ``result``, in the result's task order."""
    out = []
    for task, body in (result.get("tasks") or {}).items():
        metrics = body.get("metrics") or []
        key = headline_key(task, metrics)
        head = next((r for r in metrics if r["key"] == key), None)
        if head is None or head["value"] is None:
            out.append(Card(task, f"{task}: no headline metric was measured.", None))
            continue
        name, write = SENTENCES.get(task, ("", generic_sentence))
        if name and head["name"] != name:
            write = generic_sentence
        sentence = write(Rows(metrics), head, body.get("params") or {})
        out.append(Card(task, sentence, head, standing(result, task, head, board)))
    return out
