"""Compare two results metric by metric, and judge a re-run against an entry (regressions).

``compare`` (A, B): for every metric both have, the difference d = B − A with a 95%
interval that treats the two estimates as independent and normal: each σ is derived from
its own 95% interval as (high − low) / (2 · 1.96), and the difference's interval is
d ± 1.96 · sqrt(σa² + σb²). A metric without an interval counts as exact (σ = 0). The
difference is significant when its interval excludes 0, and the better side follows the
catalogue's ``higher_is_better`` (descriptive metrics are never judged). Results compare
only when their suite version, dataset fingerprint and the parameters of every task they
share are equal (SPEC section 6); otherwise :func:`incompatibilities` says exactly which.

``judge`` (entry, re-run): a metric regresses when the re-run's value lies on the worse
side of the entry's 95% interval by more than the tolerance (plus a float slack of 1e-6
relative), e.g. for higher-is-better ``new < low − tolerance``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from grainbench import tables
from grainbench.errors import UserError
from grainbench.leaderboard.ranking import headline_key
from grainbench.metrics.catalog import CATALOG
from grainbench.tables import format_value, md_escape

Z95 = 1.959963984540054
FLOAT_SLACK = 1e-6


def sigma_from_ci(value: float, low: float | None, high: float | None) -> float:
    """Standard deviation implied by a 95% interval of a normal estimate (0 without one)."""
    if low is None or high is None:
        return 0.0
    return (float(high) - float(low)) / (2.0 * Z95)


def difference(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, float, float] | None:
    """``(d, low, high)``: B − A with its 95% interval, or None when a value is missing."""
    if a["value"] is None or b["value"] is None:
        return None
    d = float(b["value"]) - float(a["value"])
    sa = sigma_from_ci(a["value"], a["low"], a["high"])
    sb = sigma_from_ci(b["value"], b["low"], b["high"])
    half = Z95 * math.hypot(sa, sb)
    return d, d - half, d + half


@dataclass
class MetricDiff:
    """One metric of one task in both results, with the judged difference."""

    task: str
    key: str
    unit: str
    higher_is_better: bool | None
    a: dict[str, Any]
    b: dict[str, Any]
    diff: tuple[float, float, float] | None

    @property
    def significant(self) -> bool:
        """True when the difference's interval excludes 0."""
        return self.diff is not None and (self.diff[1] > 0 or self.diff[2] < 0)

    @property
    def better(self) -> str | None:
        """``"A"`` or ``"B"`` (significantly better), ``"="`` (not significant), None (not ranked)."""
        if self.higher_is_better is None or self.diff is None:
            return None
        if not self.significant:
            return "="
        return "B" if (self.diff[0] > 0) == self.higher_is_better else "A"


@dataclass
class Comparison:
    """The outcome of comparing result A with result B."""

    a_label: str
    b_label: str
    problems: list[str]  # why the two do not compare; empty when they do
    only_a: list[str]  # tasks only A has
    only_b: list[str]
    rows: list[MetricDiff]

    @property
    def comparable(self) -> bool:
        """True when suite version, dataset fingerprint and shared task parameters match."""
        return not self.problems


def metric_diff(task: str, a: dict[str, Any], b: dict[str, Any]) -> MetricDiff:
    """Metric row ``b`` judged against row ``a`` of the same key (unit and direction from the
    catalogue)."""
    spec = CATALOG.get(a["name"])
    hib = spec.higher_is_better if spec else None
    unit = spec.unit if spec else a.get("unit", "")
    return MetricDiff(task, a["key"], unit, hib, a, b, difference(a, b))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 40 else text[:37] + "…"


def incompatibilities(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Why two results do not compare: suite version, fingerprint, task parameters (each named)."""
    problems = []
    if a.get("suite_version") != b.get("suite_version"):
        problems.append(
            f"suite version differs: A {a.get('suite_version')}, B {b.get('suite_version')}"
        )
    fa, fb = (a.get("dataset") or {}), (b.get("dataset") or {})
    if fa.get("fingerprint") != fb.get("fingerprint"):
        problems.append(
            f"dataset fingerprint differs: A {str(fa.get('fingerprint'))[:12]} ({fa.get('spec')}), "
            f"B {str(fb.get('fingerprint'))[:12]} ({fb.get('spec')})"
        )
    ta, tb = a.get("tasks") or {}, b.get("tasks") or {}
    for task in [t for t in ta if t in tb]:
        pa, pb = ta[task].get("params") or {}, tb[task].get("params") or {}
        for name in sorted(set(pa) | set(pb)):
            if pa.get(name, "<unset>") != pb.get(name, "<unset>"):
                problems.append(
                    f"task {task} parameter {name} differs: A {_short(pa.get(name, '<unset>'))}, "
                    f"B {_short(pb.get(name, '<unset>'))}"
                )
    if not [t for t in ta if t in tb]:
        problems.append("no task in common")
    return problems


def compare_results(
    a: dict[str, Any], b: dict[str, Any], a_label: str = "A", b_label: str = "B"
) -> Comparison:
    """Compare every metric of every task both results have (see the module docstring)."""
    ta, tb = a.get("tasks") or {}, b.get("tasks") or {}
    rows = []
    for task in [t for t in ta if t in tb]:
        b_rows = {r["key"]: r for r in tb[task].get("metrics", [])}
        for ra in ta[task].get("metrics", []):
            rb = b_rows.get(ra["key"])
            if rb is None:
                continue
            rows.append(metric_diff(task, ra, rb))
    return Comparison(
        a_label=a_label,
        b_label=b_label,
        problems=incompatibilities(a, b),
        only_a=[t for t in ta if t not in tb],
        only_b=[t for t in tb if t not in ta],
        rows=rows,
    )


def _signed(value: float) -> str:
    text = format_value(value)
    return text if text.startswith("-") or text == "–" else "+" + text


COMPARISON_COLUMNS = ["task", "key", "unit", "higher_is_better", "a", "a_low", "a_high", "b"]
COMPARISON_COLUMNS += ["b_low", "b_high", "difference", "difference_low", "difference_high"]
COMPARISON_COLUMNS += ["significant", "better"]
DISPLAY_COLUMNS = ["metric", "unit", "A", "B", "B − A [95%]", "significant", "better"]


def comparison_frame(cmp: Comparison) -> Any:
    """A pandas DataFrame, one row per metric both results have: ``task, key, unit,
    higher_is_better, a, a_low, a_high, b, b_low, b_high, difference, difference_low,
    difference_high, significant, better`` (``A``, ``B``, ``=`` or empty when not ranked)."""
    import pandas as pd

    rows = []
    for r in cmp.rows:
        d = r.diff or (None, None, None)
        rows.append(
            {
                "task": r.task,
                "key": r.key,
                "unit": r.unit,
                "higher_is_better": r.higher_is_better,
                **{f"a{s}": r.a[f] for s, f in (("", "value"), ("_low", "low"), ("_high", "high"))},
                **{f"b{s}": r.b[f] for s, f in (("", "value"), ("_low", "low"), ("_high", "high"))},
                "difference": d[0],
                "difference_low": d[1],
                "difference_high": d[2],
                "significant": r.significant,
                "better": r.better or "",
            }
        )
    frame = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    frame["higher_is_better"] = frame["higher_is_better"].astype("boolean")
    return frame


def display_frame(cmp: Comparison, task: str | None = None) -> Any:
    """The comparison as display strings (columns :data:`DISPLAY_COLUMNS`, plus ``task``
    first when ``task`` is None), for the text and Markdown tables."""
    import pandas as pd

    body = []
    for r in cmp.rows:
        if task is not None and r.task != task:
            continue
        if r.diff is None:
            diff, sig = "–", "n/a"
        else:
            diff = f"{_signed(r.diff[0])} [{_signed(r.diff[1])}, {_signed(r.diff[2])}]"
            sig = "yes" if r.significant else "no"
        better = {None: "(descriptive)", "=": "="}.get(r.better, r.better or "")
        unit = f"{r.unit} {tables.arrow(r.higher_is_better)}".strip()
        line = [r.key, unit, tables.value_text(r.a), tables.value_text(r.b), diff, sig, better]
        body.append(line if task is not None else [r.task, *line])
    columns = DISPLAY_COLUMNS if task is not None else ["task", *DISPLAY_COLUMNS]
    return pd.DataFrame(body, columns=columns, dtype=object)


def task_summary(cmp: Comparison, task: str) -> str:
    """One line: on how many ranked metrics B is better / worse / indistinguishable, and the headline."""
    rows = [r for r in cmp.rows if r.task == task]
    ranked = [r for r in rows if r.better is not None]
    b_wins = sum(r.better == "B" for r in ranked)
    a_wins = sum(r.better == "A" for r in ranked)
    line = (
        f"{task}: B ({cmp.b_label}) is better than A ({cmp.a_label}) on {b_wins} of {len(ranked)} "
        f"ranked {task} metrics, worse on {a_wins}, indistinguishable on {len(ranked) - b_wins - a_wins}"
    )
    head = headline_key(task, [r.a for r in rows])
    row = next((r for r in rows if r.key == head), None)
    if row is not None and row.diff is not None:
        d, lo, hi = row.diff
        unit = f" {row.unit}" if row.unit else ""
        line += f"; headline {head}: B − A = {_signed(d)}{unit} [{_signed(lo)}, {_signed(hi)}]"
        verdict = {"A": "A is better", "B": "B is better", "=": "no significant difference"}
        if row.better in verdict:
            line += f" ({verdict[row.better]})"
    return line


def _refusal(cmp: Comparison) -> list[str]:
    return ["These results do not compare, so they are not ranked:"] + [
        f"  - {p}" for p in cmp.problems
    ]


def _tails(cmp: Comparison) -> list[str]:
    """Tasks only one side has, then one summary line per compared task."""
    lines = [f"{task}: only in A, not compared" for task in cmp.only_a]
    lines += [f"{task}: only in B, not compared" for task in cmp.only_b]
    return lines + [task_summary(cmp, t) for t in dict.fromkeys(r.task for r in cmp.rows)]


def render_comparison(cmp: Comparison) -> str:
    """The comparison as text: refusal with reasons, or a table per task and summary lines."""
    lines = [f"A = {cmp.a_label}", f"B = {cmp.b_label}", ""]
    if not cmp.comparable:
        return "\n".join(lines + _refusal(cmp))
    for task in dict.fromkeys(r.task for r in cmp.rows):
        lines.append(f"## {task}")
        lines += [tables.text(display_frame(cmp, task)), ""]
    return "\n".join(lines + _tails(cmp))


def render_comparison_markdown(cmp: Comparison) -> str:
    """The comparison as Markdown: one table of every metric (or the refusal), then the
    summary lines as a list."""
    esc = md_escape
    lines = [f"- A = {esc(cmp.a_label)}", f"- B = {esc(cmp.b_label)}", ""]
    if not cmp.comparable:
        return "\n".join(lines + [esc(line) for line in _refusal(cmp)]) + "\n"
    lines += [tables.markdown(display_frame(cmp)), ""]
    lines += [f"- {esc(line)}" for line in _tails(cmp)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- regressions


@dataclass
class Tolerances:
    """Allowed extra worsening beyond an interval: relative (a fraction of |value|) or absolute.

    ``per_metric`` maps a metric name or key to ``(amount, relative)``; a key beats a name,
    a name beats the global ``fraction``.
    """

    fraction: float = 0.0
    per_metric: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def amount(self, key: str, name: str, value: float) -> float:
        """The tolerance in the metric's own unit for a reference ``value``."""
        per = self.per_metric
        amount, relative = per.get(key) or per.get(name) or (self.fraction, True)
        return amount * abs(value) if relative else amount


def _parse_amount(text: str, item: str) -> tuple[float, bool]:
    relative = text.endswith("%")
    try:
        amount = float(text[:-1]) / 100.0 if relative else float(text)
    except ValueError:
        raise UserError(f"--tolerance {item!r}: {text!r} is not a number") from None
    if not math.isfinite(amount) or amount < 0:
        raise UserError(f"--tolerance {item!r}: must be a finite number ≥ 0")
    return amount, relative


def parse_tolerances(items: list[str]) -> Tolerances:
    """``["0.05"]`` (every metric, 5% of its value), ``["snr=0.5"]`` (0.5 dB), ``["lsd=10%"]``.

    ``METRIC`` is a catalogue name (every condition) or a key such as ``snr[codec=png8]``.
    """
    tol = Tolerances()
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep:
            amount, relative = _parse_amount(item, item)
            if not relative and amount > 1:
                raise UserError(
                    f"--tolerance {item!r}: a bare tolerance is a fraction (0.05 or 5%)"
                )
            tol.fraction = amount
            continue
        # a key contains "=" inside its condition: split at the last "=" after the "]"
        if "[" in name and "]" not in name:
            name, _, raw = item.rpartition("=")
        base = name.split("[", 1)[0]
        if base not in CATALOG:
            raise UserError(f"--tolerance {item!r}: {base!r} is not in the metric catalogue")
        tol.per_metric[name] = _parse_amount(raw, item)
    return tol


@dataclass
class Verdict:
    """One metric of a re-run judged against the entry it should match."""

    task: str
    key: str
    unit: str
    higher_is_better: bool | None
    entry: dict[str, Any]
    new: dict[str, Any] | None
    limit: float | None  # the worst value still accepted
    status: str  # ok, worse, better, missing, descriptive, n/a

    @property
    def failed(self) -> bool:
        """True for a regression (worse beyond interval and tolerance, or gone)."""
        return self.status in ("worse", "missing")


def judge(entry: dict[str, Any], new: dict[str, Any], tolerances: Tolerances) -> list[Verdict]:
    """Every metric of every task of ``entry`` judged against ``new`` (see module docstring)."""
    verdicts = []
    new_tasks = new.get("tasks") or {}
    for task, body in (entry.get("tasks") or {}).items():
        new_rows = {r["key"]: r for r in (new_tasks.get(task) or {}).get("metrics", [])}
        for ref in body.get("metrics", []):
            spec = CATALOG.get(ref["name"])
            hib = spec.higher_is_better if spec else None
            unit = spec.unit if spec else ref.get("unit", "")
            got = new_rows.get(ref["key"])
            args = (task, ref["key"], unit, hib, ref, got)
            if hib is None:
                verdicts.append(Verdict(*args, None, "descriptive"))
                continue
            if ref["value"] is None:
                verdicts.append(Verdict(*args, None, "n/a"))
                continue
            value = float(ref["value"])
            bound = ref["low" if hib else "high"]
            bound = value if bound is None else float(bound)
            slack = tolerances.amount(ref["key"], ref["name"], value) + FLOAT_SLACK * max(
                abs(value), 1e-12
            )
            limit = bound - slack if hib else bound + slack
            if got is None or got["value"] is None:
                verdicts.append(Verdict(*args, limit, "missing"))
                continue
            x = float(got["value"])
            good_bound = ref["high" if hib else "low"]
            good_bound = value if good_bound is None else float(good_bound)
            if (x < limit) if hib else (x > limit):
                status = "worse"
            elif (x > good_bound) if hib else (x < good_bound):
                status = "better"
            else:
                status = "ok"
            verdicts.append(Verdict(*args, limit, status))
    return verdicts


def render_verdicts(verdicts: list[Verdict]) -> str:
    """A table of verdicts: metric, entry value [interval], re-run value, limit, status."""
    import pandas as pd

    body = []
    for v in verdicts:
        new = format_value(v.new["value"]) if v.new is not None else "–"
        limit = (
            "–"
            if v.limit is None
            else ("≥ " if v.higher_is_better else "≤ ") + format_value(v.limit)
        )
        status = v.status.upper() if v.failed else v.status
        unit = f"{v.unit} {tables.arrow(v.higher_is_better)}".strip()
        body.append([v.task, v.key, unit, tables.value_text(v.entry), new, limit, status])
    columns = ["task", "metric", "unit", "entry [95%]", "re-run", "accepted", "status"]
    return tables.text(pd.DataFrame(body, columns=columns, dtype=object))
