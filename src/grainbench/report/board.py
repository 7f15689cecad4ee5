"""``leaderboard.html``: every entry in one table to sort, filter and plot, then every
comparable group's table with its pictures side by side.

The explorer table has one row per entry and one column per task headline metric (a task
whose headline changed between entries gets a column per key), each cell the value with
its 95 % interval. Rows filter by dataset (with its clip setting), task and representation
family (the name up to its first ``-``) and by text; headers sort (missing values last).
Each cell is marked against Ki's ``dct-square`` in the entry's comparable group (same
suite version, dataset fingerprint and task parameters; the reference with the same
generator where there is one): ▲ significantly better, ▼ significantly worse, ≈ not
distinguishable, judged as ``grainbench compare`` does: each interval read as a normal
error (σ = (high − low) / 3.92), the difference's interval d ± 1.96·√(σa² + σb²)
significant when it excludes 0 (a value without an interval counts as exact). The scatter
plots any two key metrics of the visible entries against each other.

The page is plain HTML with an inline script (``board.js``, written for grainbench); the
data the script needs is embedded as JSON (:func:`grainbench.report.page.json_script`),
every name is escaped, and the script writes text only through ``textContent``. Nothing is
loaded from the network.
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grainbench import tables
from grainbench.compare import metric_diff
from grainbench.frames import family
from grainbench.leaderboard.cells import generator_text, group_facts, group_heading, group_table
from grainbench.leaderboard.entries import REFERENCE_REP, Entry
from grainbench.leaderboard.ranking import Group, group_entries
from grainbench.report.page import json_script, page
from grainbench.tables import format_value
from grainbench.tasks import SPEC_ORDER

SCRIPT = files("grainbench.report").joinpath("board.js").read_text(encoding="utf-8")
MARKS = {
    "better": ("▲", "significantly better than dct-square in the same comparable group"),
    "worse": ("▼", "significantly worse than dct-square in the same comparable group"),
    "same": ("≈", "not distinguishable from dct-square in the same comparable group"),
    "ref": ("ref", "the reference: Ki's dct-square"),
}
STYLE = """
.controls { display: flex; flex-wrap: wrap; gap: .6em 1.2em; align-items: center; margin: .6em 0; }
.controls label { font-size: .92em; color: var(--muted); }
table.explorer th button { all: unset; cursor: pointer; font-weight: 600; }
table.explorer th[aria-sort="ascending"] button::after { content: " ▴"; }
table.explorer th[aria-sort="descending"] button::after { content: " ▾"; }
.scroll { overflow-x: auto; }
table.explorer { font-size: .9em; }
table.explorer td { white-space: nowrap; }
table.explorer td:first-child { white-space: normal; min-width: 13em; max-width: 19em; }
table.explorer .what { font-size: .82em; color: var(--muted); }
table.explorer th .key { font-weight: 400; font-size: .85em; color: var(--muted); }
table.explorer .ci { color: var(--muted); font-size: .85em; }
.mark { font-size: .85em; margin-left: .3em; }
.mark.better { color: var(--good); } .mark.worse { color: var(--bad); }
.mark.same, .mark.ref { color: var(--muted); }
#scatter { width: 100%; max-width: 900px; height: auto; border: 1px solid var(--line); }
#scatter .axis { stroke: #999; } #scatter text { font: 12px system-ui, sans-serif; fill: #333; }
#scatter text.point { font-size: 10px; fill: #555; }
"""


@dataclass
class Column:
    """A metric column of the explorer: a task's metric key, its unit and direction."""

    task: str
    key: str
    unit: str
    higher_is_better: bool | None
    headline: bool

    @property
    def id(self) -> str:
        """``task:key``."""
        return f"{self.task}:{self.key}"

    @property
    def title(self) -> str:
        """``task: key (unit ↑)``."""
        bits = " ".join(b for b in (self.unit, tables.arrow(self.higher_is_better)) if b)
        return f"{self.task}: {self.key}" + (f" ({bits})" if bits else "")


@dataclass
class Row:
    """One entry in the explorer: what it is, and its cells by column id."""

    entry: Entry
    dataset: str
    report: str | None
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)


def dataset_label(result: dict[str, Any]) -> str:
    """``piano-c3 · 44100 Hz · 65536 samples``."""
    ds = result["dataset"]
    return f"{ds['spec']} · {ds.get('sample_rate', '?')} Hz · {ds.get('n_samples', '?')} samples"


def _reference(g: Group, e: Entry) -> Entry | None:
    """Ki's dct-square in group ``g``: the one with ``e``'s generator, else the first."""
    refs = [x for x in g.entries if x.result["representation"]["name"] == REFERENCE_REP]
    same = [x for x in refs if generator_text(x.result) == generator_text(e.result)]
    return (same or refs or [None])[0]


def mark(g: Group, e: Entry, key: str) -> str:
    """``better``, ``worse``, ``same`` (vs dct-square), ``ref`` or ``""`` (not judged)."""
    ref = _reference(g, e)
    row = g.row(e, key)
    if ref is None or row is None or row["higher_is_better"] is None:
        return ""
    if ref is e:
        return "ref"
    other = g.row(ref, key)
    if other is None:
        return ""
    verdict = metric_diff(g.task, other, row).better
    return {"B": "better", "A": "worse", "=": "same"}.get(verdict or "", "")


def _href(path: Path, base: Path) -> str:
    return quote(Path(os.path.relpath(path, base)).as_posix())


def explorer(entries: list[Entry], out_dir: Path) -> tuple[list[Column], list[Row]]:
    """The explorer's columns (headline metrics first, then the other key metrics) and
    rows (one per entry, in id order)."""
    groups = group_entries(entries)
    columns: dict[str, Column] = {}
    rows = {
        e.id: Row(
            e,
            dataset_label(e.result),
            _href(e.path / "report.html", out_dir) if (e.path / "report.html").is_file() else None,
        )
        for e in entries
    }
    order = sorted(groups, key=lambda t: (SPEC_ORDER.index(t) if t in SPEC_ORDER else 99, t))
    for head_pass in (True, False):
        for task in order:
            task_groups = groups[task]
            for g in task_groups:
                keys = [g.headline] if head_pass else g.columns
                for key in [k for k in keys if k]:
                    spec = next(r for r in g.rows if r["key"] == key)
                    col = Column(task, key, spec["unit"], spec["higher_is_better"], head_pass)
                    columns.setdefault(col.id, col)
    for task_groups in groups.values():
        for g in task_groups:
            for rank, e in g.ranked():
                for key in {g.headline, *g.columns} - {None}:
                    row = g.row(e, key)
                    if row is not None:
                        cell = {k: row[k] for k in ("value", "low", "high")}
                        cell.update(rank=rank, mark=mark(g, e, key), group=g.id)
                        rows[e.id].cells[f"{g.task}:{key}"] = cell
    return list(columns.values()), list(rows.values())


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _cell_html(cell: dict[str, Any] | None) -> str:
    esc = html.escape
    if cell is None or _number(cell["value"]) is None:
        return '<td class="num" data-v="">–</td>'
    ci = tables.interval_text(cell["low"], cell["high"])
    sign = ""
    if cell["mark"]:
        symbol, title = MARKS[cell["mark"]]
        sign = f' <span class="mark {cell["mark"]}" title="{esc(title)}">{esc(symbol)}</span>'
    return (
        f'<td class="num" data-v="{cell["value"]!r}" title="group {esc(cell["group"])}">'
        f'{esc(format_value(cell["value"]))} <span class="ci">{esc(ci)}</span>{sign}</td>'
    )


def _select(element_id: str, label: str, options: list[str]) -> str:
    esc = html.escape
    opts = "".join(f'<option value="{esc(o)}">{esc(o)}</option>' for o in options)
    return (
        f'<label>{esc(label)} <select id="{esc(element_id)}"><option value="">all</option>'
        f"{opts}</select></label>"
    )


def _explorer_html(columns: list[Column], rows: list[Row]) -> str:
    esc = html.escape
    heads = [c for c in columns if c.headline]
    controls = [
        _select("f-dataset", "dataset", sorted({r.dataset for r in rows})),
        _select("f-task", "task", sorted({c.task for c in heads})),
        _select(
            "f-family",
            "family",
            sorted({family(r.entry.result["representation"]["name"]) for r in rows}),
        ),
        '<label>search <input id="f-text" type="search" placeholder="entry, representation, '
        'generator"></label>',
        f'<span id="f-count" aria-live="polite">{len(rows)} of {len(rows)} entries</span>',
    ]
    header = '<th data-type="text" aria-sort="none"><button type="button">entry</button></th>'
    for c in heads:
        bits = " ".join(b for b in (c.unit, tables.arrow(c.higher_is_better)) if b)
        header += (
            f'<th data-type="num" data-task="{esc(c.task)}" aria-sort="none">'
            f'<button type="button">{esc(c.task)}<br><span class="key">{esc(c.key)}'
            f"{esc(f' ({bits})' if bits else '')}</span></button></th>"
        )
    body = []
    for r in rows:
        res = r.entry.result
        rep = res["representation"]["name"]
        gen = generator_text(res)
        name = f'<a href="{esc(r.report)}">{esc(rep)}</a>' if r.report else esc(rep)
        what = " · ".join([r.dataset] + ([gen] if gen != "–" else []))
        line = (
            f'<td data-v="{esc(r.entry.id)}" title="{esc(r.entry.id)}">{name}'
            f'<br><span class="what">{esc(what)}</span></td>'
        )
        line += "".join(_cell_html(r.cells.get(c.id)) for c in heads)
        search = " ".join([r.entry.id, rep, gen]).lower()
        body.append(
            f'<tr data-dataset="{esc(r.dataset)}" data-family="{esc(family(rep))}" '
            f'data-tasks="{esc(" ".join(sorted(res["tasks"])))}" data-text="{esc(search)}">'
            f"{line}</tr>"
        )
    legend = (
        "Marks against Ki's dct-square in the same comparable group (same suite version, "
        "dataset fingerprint and task parameters): ▲ significantly better, ▼ significantly "
        "worse, ≈ not distinguishable, ref the reference itself. Each 95 % interval is read as "
        "a normal error, σ = (high − low) / 3.92; the difference's interval is d ± 1.96·√(σa² + "
        "σb²) and is significant when it excludes 0 (a value without an interval counts as "
        "exact), as in <code>grainbench compare</code>. Click a header to sort (missing values "
        "last); hover a value for its group."
    )
    return (
        '<section id="explore"><h2>Explore</h2>'
        f'<div class="controls">{"".join(controls)}</div>'
        f'<p class="note">{legend}</p>'
        f'<div class="scroll"><table id="board" class="explorer"><thead><tr>{header}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div></section>"
    )


def _scatter_html(columns: list[Column], rows: list[Row]) -> str:
    metrics = [
        {"id": c.id, "title": c.title, "unit": c.unit, "hib": c.higher_is_better} for c in columns
    ]
    data = {
        "metrics": metrics,
        "entries": [
            {
                "id": r.entry.id,
                "rep": r.entry.result["representation"]["name"],
                "family": family(r.entry.result["representation"]["name"]),
                "values": {
                    k: [_number(v["value"]), _number(v["low"]), _number(v["high"])]
                    for k, v in r.cells.items()
                    if _number(v["value"]) is not None
                },
            }
            for r in rows
        ],
    }
    return (
        '<section id="scatter-section"><h2>Trade-off</h2>'
        '<div class="controls"><label>x <select id="x-metric"></select></label>'
        '<label><input type="checkbox" id="x-log"> log x</label>'
        '<label>y <select id="y-metric"></select></label>'
        '<label><input type="checkbox" id="y-log"> log y</label></div>'
        '<svg id="scatter" viewBox="0 0 900 480" role="img" '
        'aria-label="scatter of the two chosen metrics over the visible entries"></svg>'
        '<p class="note">One point per visible entry that has both metrics, coloured by '
        "family and labelled with its representation, with its 95 % intervals as whiskers; hover a "
        "point for its entry.</p>"
        f"{json_script('board-data', data)}</section>"
    )


def _group_html(g: Group, out_dir: Path) -> str:
    """A comparable group's table (pandas) with linked entry ids, and its pictures."""
    esc = html.escape
    frame = group_table(g).map(esc)
    ranked = g.ranked()
    links = []
    for _, e in ranked:
        report = e.path / "report.html"
        links.append(
            f'<a href="{_href(report, out_dir)}">{esc(e.id)}</a>' if report.is_file() else esc(e.id)
        )
    frame["entry"] = links
    frame.columns = [esc(c) for c in frame.columns]
    parts = [
        f'<section id="{esc(g.id)}"><h3>{esc(group_heading(g))}</h3>',
        f"<p>{esc(group_facts(g))}</p>",
        tables.html(frame, escape=False),
    ]
    pictures: dict[str, str] = {}
    for _, e in ranked:
        for art in e.result["tasks"][g.task].get("artifacts", []):
            if art.get("kind") == "png":
                pictures.setdefault(art["path"], art.get("caption") or art["path"])
    if pictures:
        parts.append('<div class="gallery"><table><thead><tr><th>picture</th>')
        parts += [f"<th>{esc(e.id)}</th>" for _, e in ranked]
        parts.append("</tr></thead><tbody>")
        for path, caption in pictures.items():
            parts.append(f"<tr><th>{esc(caption)}</th>")
            for _, e in ranked:
                file = e.path / path
                if file.is_file():
                    src = _href(file, out_dir)
                    parts.append(
                        f'<td><a href="{src}"><img src="{src}" alt="{esc(caption)}" '
                        'loading="lazy"></a></td>'
                    )
                else:
                    parts.append("<td>–</td>")
            parts.append("</tr>")
        parts.append("</tbody></table></div>")
    parts.append("</section>")
    return "\n".join(parts)


def render_board(entries: list[Entry], out_dir: Path) -> str:
    """The board as one self-contained HTML page (links relative to ``out_dir``)."""
    esc = html.escape
    groups = group_entries(entries)
    body = [
        "<h1>grainbench leaderboard</h1>",
        '<p class="lede">Values are estimates with their 95% intervals; ↑ higher is better, '
        "↓ lower is better (from the metric catalogue). Each entry links to its report. Below "
        "the explorer, one table per comparable group (same suite version, dataset "
        "fingerprint and task parameters) with each entry's pictures side by side, best first. "
        'Every metric: <a href="leaderboard.csv">leaderboard.csv</a>, or '
        "<code>grainbench.load_board()</code> (a pandas DataFrame).</p>",
    ]
    if not entries:
        body.append("<p>No entries yet.</p>")
        return page("grainbench leaderboard", "\n".join(body))
    columns, rows = explorer(entries, out_dir)
    body.append(_explorer_html(columns, rows))
    body.append(_scatter_html(columns, rows))
    body.append('<section id="groups"><h2>Every table</h2>')
    nav = [f'<li><a href="#task-{esc(t)}">{esc(t)}</a></li>' for t in groups]
    body.append("<nav><ul>" + "".join(nav) + "</ul></nav>")
    for task, task_groups in groups.items():
        body.append(f'<h2 id="task-{esc(task)}">{esc(task)}</h2>')
        body += [_group_html(g, out_dir) for g in task_groups]
    body.append("</section>")
    return page("grainbench leaderboard", "\n".join(body), script=SCRIPT, style=STYLE)
