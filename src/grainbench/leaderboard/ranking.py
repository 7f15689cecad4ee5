"""Ranking: which entries compare (groups), the headline metric and the order of a group.

Tables group entries that compare (SPEC section 6: same suite version, dataset
fingerprint and task parameters) and sort each group by the task's *headline* metric using
the catalogue's ``higher_is_better``; descriptive metrics (``None``) are never ranked.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from grainbench.leaderboard.entries import Entry
from grainbench.registries import TASKS
from grainbench.version import __version__


def _task_attr(task: str, attr: str) -> Any:
    return getattr(TASKS.get(task), attr, None) if task in TASKS else None


def headline_key(task: str, rows: list[dict[str, Any]]) -> str | None:
    """The metric key a task's table is sorted by (see the module docstring), or None."""
    keys = [r["key"] for r in rows]
    declared = _task_attr(task, "headline")
    if declared in keys:
        return declared
    ranked = [r["key"] for r in rows if r["higher_is_better"] is not None]
    return ranked[0] if ranked else (keys[0] if keys else None)


def key_metric_keys(task: str, rows: list[dict[str, Any]]) -> list[str]:
    """The metric keys shown as columns for a task: declared, else the headline's condition."""
    keys = [r["key"] for r in rows]
    declared = _task_attr(task, "key_metrics")
    if declared:
        return [k for k in declared if k in keys]
    head = headline_key(task, rows)
    if head is None:
        return []
    cond = next(r["condition"] for r in rows if r["key"] == head)
    picked = [
        r["key"] for r in rows if r["condition"] == cond and r["higher_is_better"] is not None
    ]
    return picked if head in picked else [head, *picked]


def sort_value(row: dict[str, Any] | None) -> float:
    """A row's value as a sort key where smaller ranks first (better by ``higher_is_better``)."""
    if row is None or row["value"] is None or row["higher_is_better"] is None:
        return math.inf
    value = float(row["value"])
    if not math.isfinite(value):
        return math.inf
    return -value if row["higher_is_better"] else value


def params_id(params: dict[str, Any]) -> str:
    """A short stable id of a task's parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:8]


@dataclass
class Group:
    """Entries of one task that compare: same suite version, fingerprint and parameters."""

    task: str
    suite_version: str
    dataset: dict[str, Any]
    params: dict[str, Any]
    entries: list[Entry]
    rows: list[dict[str, Any]]  # the union of metric rows, in first-seen order
    headline: str | None
    columns: list[str]

    def row(self, entry: Entry, key: str) -> dict[str, Any] | None:
        """``entry``'s metric row ``key`` in this task, or None."""
        for r in entry.result["tasks"][self.task]["metrics"]:
            if r["key"] == key:
                return r
        return None

    def ranked(self) -> list[tuple[int | None, Entry]]:
        """Entries sorted by the headline metric, with ranks (None when not ranked)."""
        head = self.headline
        order = sorted(
            self.entries, key=lambda e: (sort_value(self.row(e, head) if head else None), e.id)
        )
        out: list[tuple[int | None, Entry]] = []
        for i, e in enumerate(order):
            ranked = head is not None and sort_value(self.row(e, head)) != math.inf
            out.append((i + 1 if ranked else None, e))
        return out

    @property
    def stale(self) -> bool:
        """True when the group's entries were made by another suite version than this one
        (its metric definitions may differ: the numbers are kept, marked, and ranked apart)."""
        return self.suite_version != __version__

    @property
    def id(self) -> str:
        """A short id: task, dataset fingerprint prefix and parameter id."""
        return f"{self.task}-{self.dataset['fingerprint'][:8]}-{params_id(self.params)}"


def group_entries(entries: list[Entry]) -> dict[str, list[Group]]:
    """Task name → groups of comparable entries (tasks and groups in a stable order)."""
    buckets: dict[str, dict[tuple[str, str, str], list[Entry]]] = {}
    for e in entries:
        for task, body in e.result["tasks"].items():
            key = (
                e.result["suite_version"],
                e.result["dataset"]["fingerprint"],
                params_id(body["params"]),
            )
            buckets.setdefault(task, {}).setdefault(key, []).append(e)
    out: dict[str, list[Group]] = {}
    for task in sorted(buckets):
        groups = []
        for members in buckets[task].values():
            rows: dict[str, dict[str, Any]] = {}
            for e in members:
                for r in e.result["tasks"][task]["metrics"]:
                    rows.setdefault(r["key"], r)
            row_list = list(rows.values())
            first = members[0].result
            groups.append(
                Group(
                    task=task,
                    suite_version=first["suite_version"],
                    dataset=first["dataset"],
                    params=first["tasks"][task]["params"],
                    entries=members,
                    rows=row_list,
                    headline=headline_key(task, row_list),
                    columns=key_metric_keys(task, row_list),
                )
            )
        groups.sort(key=lambda g: (g.dataset["spec"], g.stale, g.suite_version, g.id))
        out[task] = groups
    return out
