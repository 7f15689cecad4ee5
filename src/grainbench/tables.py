"""Human tables through pandas: Markdown (``to_markdown``, tabulate), fixed-width text and
HTML (``to_html``), and the cell texts every table shares (value with interval, arrows).

Cells are formatted as strings first (:func:`format_value`), and
tabulate's number parsing is off, so that a table shows exactly those strings. Markdown
cells and headers are escaped with :func:`md_escape`; HTML escaping is
pandas' own.
"""

from __future__ import annotations

import math
from html import escape as html_escape
from typing import Any

import pandas as pd


def format_value(value: float | None) -> str:
    """A number for a table: 4 significant digits, or ``–`` when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"


def md_escape(text: Any) -> str:
    """``text`` safe inside Markdown (a table cell, a heading, a list item): raw HTML is
    escaped (``&``, ``<``, ``>``), ``|`` cannot end a cell, ``](`` cannot open a link or an
    image, and line breaks become spaces."""
    out = html_escape(str(text), quote=False).replace("|", "\\|").replace("](", "]\\(")
    return " ".join(out.splitlines())


ARROWS = {True: "↑", False: "↓", None: ""}


def arrow(higher_is_better: bool | None) -> str:
    """``↑`` (higher is better), ``↓`` (lower is better) or ``""`` (descriptive)."""
    return ARROWS[None if higher_is_better is None else bool(higher_is_better)]


def interval_text(low: float | None, high: float | None) -> str:
    """``[low, high]``, or ``""`` without an interval."""
    if low is None or high is None:
        return ""
    return f"[{format_value(low)}, {format_value(high)}]"


def value_text(row: dict[str, Any] | None) -> str:
    """``value [low, high]`` of a metric row (``–`` when there is no row)."""
    if row is None:
        return "–"
    ci = interval_text(row["low"], row["high"])
    return f"{format_value(row['value'])} {ci}".strip()


def condition_text(condition: dict[str, Any], sep: str = ", ") -> str:
    """``codec=png8, delta=2/255`` (in the condition's own order)."""
    return sep.join(f"{k}={v}" for k, v in condition.items())


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``frame``'s cells (strings), every cell escaped."""
    shown = frame.rename(columns=md_escape).map(md_escape)
    return shown.to_markdown(index=False, tablefmt="github", disable_numparse=True)


def text(frame: pd.DataFrame) -> str:
    """A fixed-width table for a terminal: header, dashes, left-aligned columns."""
    return frame.to_markdown(index=False, tablefmt="simple", disable_numparse=True)


def html(frame: pd.DataFrame, escape: bool = True, classes: str = "") -> str:
    """An HTML ``<table>`` of ``frame`` (cells escaped unless ``escape`` is False, for cells
    that the caller has escaped already because they hold links)."""
    return frame.to_html(
        index=False, escape=escape, border=0, na_rep="–", classes=classes or None
    ).replace(' style="text-align: right;"', "")
