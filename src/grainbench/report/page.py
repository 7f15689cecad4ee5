"""The HTML around a report or a board: one self-contained page (styles and scripts inline,
nothing loaded from anywhere else), so that it works from ``file://`` and when copied."""

from __future__ import annotations

import html
import json
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

STYLE = files("grainbench.report").joinpath("style.css").read_text(encoding="utf-8")


def page(title: str, body: str, script: str = "", style: str = "") -> str:
    """A complete HTML document with the inline stylesheet and optional inline script."""
    tail = f"<script>\n{script}\n</script>\n" if script else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<style>{STYLE}{style}</style>\n</head>\n<body>\n{body}\n{tail}</body>\n</html>\n"
    )


def href(path: str | Path) -> str:
    """A relative link to ``path`` (percent-encoded, forward slashes)."""
    return quote(Path(path).as_posix())


def json_script(element_id: str, data: Any) -> str:
    """``data`` as a ``<script type="application/json">`` element, safe inside HTML: ``<``,
    ``>`` and ``&`` are written as JSON escapes, so no text can close the element."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{html.escape(element_id)}">{text}</script>'
