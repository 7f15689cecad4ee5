"""``report.html``: one self-contained page per run folder to read, look at and listen to.

The page holds the provenance of the result, every task's metric table, every PNG artefact
as a picture and every WAV artefact as an audio player with its caption (originals, codec
round trips, perturbations, transfer examples, generated samples: whatever the tasks
listed), with the grain curves first. Links are relative to the run folder; the page loads
nothing from anywhere else (styles are inline), so it works from ``file://`` and when the
folder is copied.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grainbench import results

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px;
       padding: 0 1em; color: #1d1d1f; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
thead th { background: #f3f3f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f3f3f5; padding: 0 .2em; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; max-width: 100%; }
figure img { max-width: 640px; width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #555; }
.gallery img { max-width: 360px; }
.missing { color: #a00; }
nav ul { columns: 3; }
"""


def page(title: str, body: str) -> str:
    """A complete HTML document with the inline stylesheet (no external resources)."""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _href(path: str) -> str:
    return quote(Path(path).as_posix())


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
            f"{ds.get('sample_rate')} Hz, {ds.get('n_samples')} samples, {ds.get('n_channels')} channel(s)",
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
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td><code>{esc(str(v))}</code></td></tr>" for k, v in items
    )
    return f'<table class="provenance">{rows}</table>'


def _metric_table(body: dict[str, Any]) -> str:
    esc = html.escape
    header = "".join(f"<th>{esc(h)}</th>" for h in results.HEADER[1:])
    rows = []
    for row in body.get("metrics", []):
        cond = ", ".join(f"{k}={v}" for k, v in row["condition"].items())
        interval = ""
        if row["low"] is not None and row["high"] is not None:
            interval = f"[{results.format_value(row['low'])}, {results.format_value(row['high'])}]"
        arrow = {True: "↑", False: "↓", None: ""}[row["higher_is_better"]]
        cells = [
            f"<td>{esc(row['name'])}</td>",
            f"<td>{esc(cond)}</td>",
            f'<td class="num">{esc(results.format_value(row["value"]))}</td>',
            f'<td class="num">{esc(interval)}</td>',
            f"<td>{esc(row['unit'])}</td>",
            f"<td>{arrow}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _artifact(run_dir: Path, art: dict[str, Any]) -> str:
    esc = html.escape
    path, kind = art["path"], art.get("kind", "")
    caption = esc(art.get("caption") or path)
    if not (run_dir / path).is_file():
        return f'<p class="missing">missing file: {esc(path)} ({caption})</p>'
    src = _href(path)
    if kind == "png":
        media = f'<a href="{src}"><img src="{src}" alt="{caption}"></a>'
    elif kind == "wav":
        media = f'<audio controls preload="metadata" src="{src}"></audio>'
    else:
        media = f'<a href="{src}">{esc(path)}</a>'
    return f"<figure>{media}<figcaption>{caption}</figcaption></figure>"


def _is_grain_curve(art: dict[str, Any]) -> bool:
    text = f"{art.get('path', '')} {art.get('caption', '')}".lower()
    return art.get("kind") == "png" and "grain" in text


def render_report(run_dir: Path, result: dict[str, Any]) -> str:
    """The report page of the result stored in ``run_dir`` (links relative to it)."""
    esc = html.escape
    run_dir = Path(run_dir)
    rep, ds = result.get("representation") or {}, result.get("dataset") or {}
    title = f"grainbench: {rep.get('name')} on {ds.get('spec')}"
    tasks: dict[str, Any] = result.get("tasks") or {}
    parts = [f"<h1>{esc(title)}</h1>", _provenance(result)]
    nav = "".join(f'<li><a href="#task-{esc(t)}">{esc(t)}</a></li>' for t in tasks)
    if nav:
        parts.append(f"<nav><ul>{nav}</ul></nav>")
    curves = [a for body in tasks.values() for a in body.get("artifacts", []) if _is_grain_curve(a)]
    if curves:
        parts.append("<h2>Grain curves</h2>")
        parts.append(
            '<div class="figs">' + "".join(_artifact(run_dir, a) for a in curves) + "</div>"
        )
    for name, body in tasks.items():
        params = json.dumps(body.get("params", {}), sort_keys=True)
        parts.append(f'<h2 id="task-{esc(name)}">{esc(name)}</h2>')
        parts.append(
            f"<p>parameters <code>{esc(params)}</code>; wall time "
            f"{esc(results.format_value(body.get('wall_s')))} s</p>"
        )
        parts.append(_metric_table(body))
        arts = body.get("artifacts", [])
        for kind, heading in (("png", "Pictures"), ("wav", "Sounds")):
            chosen = [a for a in arts if a.get("kind") == kind]
            if chosen:
                parts.append(f"<h3>{heading}</h3>")
                parts.append(
                    '<div class="figs">' + "".join(_artifact(run_dir, a) for a in chosen) + "</div>"
                )
        others = [a for a in arts if a.get("kind") not in ("png", "wav")]
        if others:
            parts.append("<h3>Files</h3><ul>")
            parts += [f"<li>{_artifact(run_dir, a)}</li>" for a in others]
            parts.append("</ul>")
    tables = [f for f in ("results.md", "results.csv", "result.json") if (run_dir / f).is_file()]
    if tables:
        links = ", ".join(f'<a href="{f}">{f}</a>' for f in tables)
        parts.append(f"<p>Machine-readable: {links}.</p>")
    return page(title, "\n".join(parts))


def write_report(run_dir: Path, result: dict[str, Any]) -> Path:
    """Write ``run_dir/report.html`` for ``result`` atomically; returns its path."""
    path = Path(run_dir) / "report.html"
    results.atomic_write_text(path, render_report(Path(run_dir), result))
    return path
