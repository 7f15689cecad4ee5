"""The texts of the board's cells and group tables, shared by the board's files
(:mod:`~grainbench.leaderboard.render`, :mod:`grainbench.report.board`) and the data frames
of :mod:`grainbench.frames`."""

from __future__ import annotations

import json
from typing import Any

from grainbench import tables
from grainbench.leaderboard.ranking import Group
from grainbench.version import __version__


def machine_text(result: dict[str, Any]) -> str:
    """``CPU (N cores[, GPU])`` of a result's machine."""
    m = result.get("machine") or {}
    gpu = f", {m['gpu']}" if m.get("gpu") else ""
    return f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores{gpu})"


def generator_text(result: dict[str, Any]) -> str:
    """The generator spec of a result with its options (``stylegan2 (config=cpu, kimg=2)``),
    or ``–``: two rows of one generator trained differently must be told apart."""
    gen = result.get("generator") or {}
    spec = gen.get("spec")
    if not spec:
        return "–"
    options = gen.get("options") or {}
    if not options:
        return str(spec)
    return f"{spec} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"


def column_title(row: dict[str, Any]) -> str:
    """``key (unit ↑)`` for a metric column."""
    bits = " ".join(b for b in (row["unit"], tables.arrow(row["higher_is_better"])) if b)
    return f"{row['key']} ({bits})" if bits else row["key"]


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items()))


def group_heading(g: Group) -> str:
    """``piano-c3 — 44100 Hz, 65536 samples, 900 train / 100 test clips``."""
    ds = g.dataset
    return (
        f"{ds['spec']} — {ds.get('sample_rate', '?')} Hz, {ds.get('n_samples', '?')} samples, "
        f"{ds['n_train']} train / {ds['n_test']} test clips"
    )


def group_facts(g: Group) -> str:
    """Suite version, fingerprint, parameters and the sort key of a group, on one line."""
    head = next((r for r in g.rows if r["key"] == g.headline), None)
    sort = (
        f"sorted by {column_title(head)}"
        if head and head["higher_is_better"] is not None
        else "not ranked"
    )
    stale = (
        f"STALE: made by suite {g.suite_version}, not {__version__} (metric "
        "definitions changed; rerun: grainbench sweep scripts/board.toml --submit) · "
        if g.stale
        else ""
    )
    return (
        f"{stale}suite {g.suite_version} · dataset fingerprint {g.dataset['fingerprint'][:12]} · "
        f"parameters {_params_text(g.params)} · {sort}"
    )


def group_table(g: Group) -> Any:
    """A group's table as display strings (a pandas DataFrame), best first: rank, entry,
    representation, generator, a column per key metric (value [interval]), seed, machine,
    wall time."""
    import pandas as pd

    by_key = {r["key"]: r for r in g.rows}
    header = ["#", "entry", "representation", "generator"]
    header += [column_title(by_key[k]) for k in g.columns]
    header += ["seed", "machine", "wall s"]
    body = []
    for rank, e in g.ranked():
        r = e.result
        line = [str(rank) if rank else "–", e.id, r["representation"]["name"], generator_text(r)]
        line += [tables.value_text(g.row(e, k)) for k in g.columns]
        line += [
            str(r["seed"]),
            machine_text(r),
            tables.format_value(r["tasks"][g.task]["wall_s"]),
        ]
        body.append(line)
    return pd.DataFrame(body, columns=header, dtype=object)
