"""The one-line renderings of errors and user text shared by the CLI, the guard and data."""

from __future__ import annotations

from grainbench.errors import exception_line, exception_text, printable


def test_exception_line_and_text() -> None:
    exc = ValueError("  bad value\nsecond line  ")
    assert exception_line(exc) == "ValueError: bad value"
    assert exception_text(exc) == "bad value"
    assert exception_line(KeyError()) == "KeyError"
    assert exception_text(OSError("")) == "OSError"


def test_printable_escapes_line_breaks_and_terminal_escapes() -> None:
    assert printable("a\nb\x1b[31mc") == "a\\nb\\x1b[31mc"
    assert printable("plain – text") == "plain – text"
