"""``report.html``: one self-contained page per run folder (or leaderboard entry) to read,
listen to and look at.

In order: the **headline** (one card per task: a sentence from the numbers, the headline
metric with its interval, its rank on the board and its difference to Ki's dct-square,
:mod:`grainbench.report.headline`); **listen** (every task's listen rows side by side:
clean, grainy, the grain alone, :mod:`grainbench.tasks.listen`; then the other sounds);
**look** (the grain curve drawn large over the board's other representations, then every
task's pictures); **numbers** (every metric, folded per task); **provenance and
parameters** (folded). Links are relative to the folder, pictures the report draws itself
go to ``report/`` inside it, and nothing is loaded from anywhere else, so the page works
from ``file://`` and when the folder is copied. A leaderboard entry keeps pictures but not
sounds: its report says so where the players would be.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from grainbench import results, tables
from grainbench.leaderboard.cells import generator_text
from grainbench.leaderboard.entries import Entry, scan_entries
from grainbench.report.headline import Card, cards
from grainbench.report.page import href, page
from grainbench.tasks import plots
from grainbench.tasks.listen import listen_rows

PICTURES = "report"
"""The folder (inside the run folder) of the pictures the report draws itself."""
BOARD_ENV = "GRAINBENCH_BOARD"


def default_board() -> Path | None:
    """The board a report ranks against: ``$GRAINBENCH_BOARD``, else ``./leaderboards``, else
    the ``leaderboards`` folder of the checkout grainbench runs from; None when none exists."""
    here = Path(__file__).resolve().parents[3] / "leaderboards"
    for folder in (os.environ.get(BOARD_ENV), "leaderboards", here):
        if folder and (Path(folder) / "entries").is_dir():
            return Path(folder) / "entries"
    return None


def board_entries(folder: Path | None = None) -> list[Entry] | None:
    """The valid entries of ``folder`` (default :func:`default_board`); None without one."""
    folder = folder or default_board()
    if folder is None or not Path(folder).is_dir():
        return None
    return scan_entries(Path(folder))[0]


# ----------------------------------------------------------------------------- headline


def _card(card: Card) -> str:
    esc = html.escape
    parts = [f'<article class="card" data-task="{esc(card.task)}">', f"<h3>{esc(card.task)}</h3>"]
    parts.append(f'<p class="sentence">{esc(card.sentence)}</p>')
    if card.head is not None:
        head = card.head
        unit = " ".join(b for b in (head["unit"], tables.arrow(head["higher_is_better"])) if b)
        ci = tables.interval_text(head["low"], head["high"])
        parts.append(
            f'<p class="metric"><code>{esc(head["key"])}</code> '
            f"<strong>{esc(tables.format_value(head['value']))}</strong> "
            f"{esc(ci)} {esc(unit)}</p>"
        )
    if card.standing:
        parts.append("<ul>" + "".join(f"<li>{esc(s)}</li>" for s in card.standing) + "</ul>")
    return "\n".join(parts) + "</article>"


# ----------------------------------------------------------------------------- listen


def _player(run_dir: Path, path: str | None, label: str, entry: bool) -> str:
    esc = html.escape
    if not path:
        return "<td>–</td>"
    if not (run_dir / path).is_file():
        why = "not kept in a leaderboard entry" if entry else f"missing file: {path}"
        return f'<td class="missing">{esc(why)}</td>'
    return (
        f'<td><audio controls preload="metadata" src="{href(path)}" '
        f'aria-label="{esc(label)}"></audio></td>'
    )


def _listen(run_dir: Path, result: dict[str, Any]) -> str:
    esc = html.escape
    entry = bool(result.get("entry"))
    parts = ['<section id="listen"><h2>Listen</h2>']
    if entry:
        rep, ds = result["representation"], result["dataset"]
        parts.append(
            '<p class="note">Leaderboard entries keep pictures, not sounds: to hear them, run '
            f"<code>grainbench run --rep {esc(rep.get('spec', ''))} --data "
            f"{esc(ds.get('spec', ''))}</code>.</p>"
        )
    listed: set[str] = set()
    for task, body in (result.get("tasks") or {}).items():
        rows = listen_rows(body)
        if not rows:
            continue
        kinds = [k for k in ("clean", "grainy") if any(r.get(k) for r in rows)] + ["grain"]
        titles = {
            "clean": "clean",
            "grainy": "grainy",
            "grain": "the grain alone (level-normalised)",
        }
        parts.append(f"<h3>{esc(task)}</h3>")
        parts.append(
            '<table class="listen"><thead><tr><th>what</th>'
            + "".join(f"<th>{titles[k]}</th>" for k in kinds)
            + "</tr></thead><tbody>"
        )
        for row in rows:
            label = str(row.get("label", ""))
            gain = row.get("grain_gain_db")
            gain_text = f" (amplified {gain:+.1f} dB)" if isinstance(gain, int | float) else ""
            cells = [_player(run_dir, row.get(k), f"{label}: {k}", entry) for k in kinds]
            parts.append(f"<tr><th>{esc(label)}{esc(gain_text)}</th>{''.join(cells)}</tr>")
            listed.update(str(row[k]) for k in ("clean", "grainy", "grain") if row.get(k))
        parts.append("</tbody></table>")
    more = [
        (task, a)
        for task, body in (result.get("tasks") or {}).items()
        for a in body.get("artifacts", [])
        if a.get("kind") == "wav" and a["path"] not in listed
    ]
    if more:
        parts.append('<h3>More sounds</h3><div class="figs">')
        parts += [_figure(run_dir, a, f"{task}: ") for task, a in more]
        parts.append("</div>")
    if len(parts) == 1 + entry:
        parts.append('<p class="note">This result has no sounds.</p>')
    return "\n".join(parts) + "</section>"


# ----------------------------------------------------------------------------- look


def _figure(run_dir: Path, art: dict[str, Any], prefix: str = "") -> str:
    """A picture, a player or a link for an artefact, with its caption."""
    esc = html.escape
    path, kind = art["path"], art.get("kind", "")
    caption = str(art.get("caption") or path)
    if not (run_dir / path).is_file():
        return f'<p class="missing">missing file: {esc(path)} ({esc(caption)})</p>'
    src = href(path)
    if kind == "png":
        media = f'<a href="{src}"><img src="{src}" alt="{esc(caption)}"></a>'
    elif kind == "wav":
        media = (
            f'<audio controls preload="metadata" src="{src}" aria-label="{esc(caption)}"></audio>'
        )
    else:
        media = f'<a href="{src}">{esc(path)}</a>'
    return f"<figure>{media}<figcaption>{esc(prefix + caption)}</figcaption></figure>"


def grain_picture(run_dir: Path, result: dict[str, Any], entries: list[Entry] | None) -> str | None:
    """Draw the transfer task's grain curves large, with the noise curves of the board's
    other representations on the same data faintly behind; the picture's path relative to
    ``run_dir``, or None when the result has no grain curves."""
    curves = ((result.get("tasks") or {}).get("transfer") or {}).get("data", {}).get("curves")
    if not curves:
        return None
    rep = (result.get("representation") or {}).get("name")
    fingerprint = (result.get("dataset") or {}).get("fingerprint")
    others = {}
    for e in entries or []:
        other = e.result
        noise = (other["tasks"].get("transfer") or {}).get("data", {}).get("curves", {})
        noise = noise.get("noise")
        name = other["representation"]["name"]
        if noise and name != rep and other["dataset"]["fingerprint"] == fingerprint:
            others[name] = noise
    behind = f" over {len(others)} other representations (grey)" if others else ""
    path = plots.grain_curves(
        run_dir / PICTURES / "grain_curves.png",
        curves,
        f"{rep}: grain curves{behind}",
        background=others,
        size=(13.0, 5.0),
    )
    return path.relative_to(run_dir).as_posix()


def _look(run_dir: Path, result: dict[str, Any], grain: str | None) -> str:
    esc = html.escape
    parts = ['<section id="look"><h2>Look</h2>']
    if grain is not None and (run_dir / grain).is_file():
        caption = (
            "Grain curves: sound error (ESR, left) and its worst-frame audibility (NMR, right) "
            "against image PSNR for each error kind; grey: the noise curves of the board's "
            "other representations on the same data"
        )
        parts.append(_figure(run_dir, {"path": grain, "kind": "png", "caption": caption}))
    for task, body in (result.get("tasks") or {}).items():
        pictures = [a for a in body.get("artifacts", []) if a.get("kind") == "png"]
        if pictures:
            parts.append(f"<h3>{esc(task)}</h3>")
            parts.append('<div class="figs">' + "".join(_figure(run_dir, a) for a in pictures))
            parts.append("</div>")
    return "\n".join(parts) + "</section>"


# ----------------------------------------------------------------------------- numbers


def _numbers(run_dir: Path, result: dict[str, Any]) -> str:
    esc = html.escape
    parts = ['<section id="numbers"><h2>Numbers</h2>']
    frame = results.table_frame(result)
    for task, body in (result.get("tasks") or {}).items():
        mine = frame[frame["task"] == task].drop(columns="task")
        parts.append(
            f'<details id="task-{esc(task)}"><summary>{esc(task)}: {len(mine)} metrics, '
            f"wall time {esc(tables.format_value(body.get('wall_s')))} s</summary>"
        )
        parts.append(tables.html(mine, classes="metrics"))
        others = [a for a in body.get("artifacts", []) if a.get("kind") not in ("png", "wav")]
        if others:
            parts.append("<p>Files: " + ", ".join(_link(run_dir, a) for a in others) + "</p>")
        parts.append("</details>")
    files = [f for f in ("results.md", "results.csv", "result.json") if (run_dir / f).is_file()]
    if files:
        parts.append(
            "<p>Machine-readable: "
            + ", ".join(f'<a href="{f}">{f}</a>' for f in files)
            + " (or <code>grainbench.load_result(folder)</code>, a pandas DataFrame).</p>"
        )
    return "\n".join(parts) + "</section>"


def _link(run_dir: Path, art: dict[str, Any]) -> str:
    esc = html.escape
    path = art["path"]
    if not (run_dir / path).is_file():
        return f'<span class="missing">{esc(path)} (not here)</span>'
    return f'<a href="{href(path)}">{esc(path)}</a>'


# ----------------------------------------------------------------------------- provenance


def _provenance(result: dict[str, Any]) -> str:
    esc = html.escape
    rep, ds = result.get("representation") or {}, result.get("dataset") or {}
    gen = result.get("generator") or {}
    m = result.get("machine") or {}
    items = [
        (
            "representation",
            f"{rep.get('name')} ({rep.get('spec')}), image {rep.get('image_shape')}, "
            f"linear {rep.get('linear')}, lossless {rep.get('lossless')}",
        ),
        ("representation source hash", rep.get("source_hash")),
        ("representation parameters", json.dumps(rep.get("params"), sort_keys=True)),
        (
            "dataset",
            f"{ds.get('spec')}: {ds.get('n_train')} train / {ds.get('n_test')} test clips, "
            f"{ds.get('sample_rate')} Hz, {ds.get('n_samples')} samples, "
            f"{ds.get('n_channels')} channel(s)",
        ),
        ("dataset fingerprint", ds.get("fingerprint")),
        ("generator", f"{gen.get('spec')} {json.dumps(gen.get('options') or {})}" if gen else "–"),
        ("seed", result.get("seed")),
        (
            "suite",
            f"{result.get('suite_version')}, code {result.get('code_hash')}, "
            f"git {result.get('git_commit') or '–'}"
            + (" (with uncommitted changes)" if result.get("git_dirty") else ""),
        ),
        ("created", result.get("created")),
        ("command", " ".join(result.get("command") or []) or "–"),
        ("machine", ", ".join(f"{k} {v}" for k, v in m.items())),
    ]
    items += [("dataset note", n) for n in ds.get("notes") or []]
    if result.get("entry"):
        entry = result["entry"]
        items.append(
            ("leaderboard entry", f"{entry.get('id')}, submitted {entry.get('submitted')}")
        )
    for task, body in (result.get("tasks") or {}).items():
        items.append((f"{task} parameters", json.dumps(body.get("params", {}), sort_keys=True)))
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td><code>{esc(str(v))}</code></td></tr>" for k, v in items
    )
    return (
        '<section id="provenance"><h2>Provenance and parameters</h2><details>'
        "<summary>where these numbers come from: code, data, machine, every parameter</summary>"
        f'<table class="provenance">{rows}</table></details></section>'
    )


# ----------------------------------------------------------------------------- the page


def render_report(
    run_dir: Path,
    result: dict[str, Any],
    entries: list[Entry] | None = None,
    grain: str | None = None,
) -> str:
    """The report page of the result stored in ``run_dir`` (links relative to it), ranked
    against the board ``entries`` (None: no board); ``grain`` is the large grain-curve
    picture (:func:`grain_picture`) when there is one."""
    from grainbench import frames

    esc = html.escape
    run_dir = Path(run_dir)
    rep, ds = result.get("representation") or {}, result.get("dataset") or {}
    title = f"grainbench: {rep.get('name')} on {ds.get('spec')}"
    board = frames.board_frame(entries) if entries is not None else None
    gen = generator_text(result)
    lede = (
        f"Representation <code>{esc(str(rep.get('spec')))}</code> on "
        f"<code>{esc(str(ds.get('spec')))}</code> ({esc(str(ds.get('sample_rate')))} Hz, "
        f"{esc(str(ds.get('n_samples')))} samples per clip), seed {esc(str(result.get('seed')))}"
        + (f", generator {esc(gen)}" if gen != "–" else "")
        + f"; {esc(str(result.get('created')))}. Provenance and parameters are at the end."
    )
    parts = [f"<h1>{esc(title)}</h1>", f'<p class="lede">{lede}</p>']
    missing = results.unfinished_tasks(result)
    if missing:
        parts.append(
            f'<p class="missing">Incomplete: {esc(", ".join(missing))} did not finish '
            "(rerun the same command to resume).</p>"
        )
    parts.append('<section id="headline"><h2>Headline</h2><div class="cards">')
    parts += [_card(c) for c in cards(result, board)]
    parts.append("</div></section>")
    parts.append(_listen(run_dir, result))
    parts.append(_look(run_dir, result, grain))
    parts.append(_numbers(run_dir, result))
    parts.append(_provenance(result))
    return page(title, "\n".join(parts))


def write_report(
    run_dir: Path,
    result: dict[str, Any],
    entries: list[Entry] | None = None,
    *,
    board: bool = True,
) -> Path:
    """Draw the report's own pictures into ``run_dir/report/`` and write
    ``run_dir/report.html`` atomically; returns its path. It ranks against ``entries``,
    else (with ``board``) against :func:`board_entries` of the default board."""
    run_dir = Path(run_dir)
    if entries is None and board:
        entries = board_entries()
    grain = grain_picture(run_dir, result, entries)
    path = run_dir / "report.html"
    results.atomic_write_text(path, render_report(run_dir, result, entries, grain))
    return path
