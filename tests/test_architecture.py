"""The shape of the source tree: small modules with one job (DEVELOPERS.md)."""

from __future__ import annotations

from pathlib import Path

import grainbench

MAX_LINES = 450
"""No module in src/ may be longer than this."""


def _line_count(path: Path) -> int:
    """Lines of a text file, as ``wc -l`` counts them (a last line without a newline too)."""
    text = path.read_text(encoding="utf-8")
    return text.count("\n") + (0 if not text or text.endswith("\n") else 1)


def test_line_count_counts_like_wc(tmp_path: Path) -> None:
    for text, lines in (("", 0), ("a\n", 1), ("a\nb", 2), ("a\n\n", 2)):
        path = tmp_path / "m.py"
        path.write_text(text, encoding="utf-8")
        assert _line_count(path) == lines


def test_no_module_over_450_lines() -> None:
    """Every module of the grainbench package is at most :data:`MAX_LINES` lines long."""
    root = Path(grainbench.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 50  # the package itself, not an empty folder
    long = {
        str(p.relative_to(root.parent)): n for p in modules if (n := _line_count(p)) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
