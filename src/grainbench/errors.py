"""Errors that mean "the user asked for something wrong" rather than "grainbench is broken"."""


class UserError(Exception):
    """A user mistake (bad plugin, bad option, unreadable input).

    The CLI prints its message as one line and exits with code 2; no traceback.
    """


def printable(text: str) -> str:
    """``text`` with every unprintable character (line breaks, terminal escapes) shown as
    its escape sequence, so that a message quoting user input stays one harmless line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def exception_text(exc: BaseException) -> str:
    """The first line of ``exc``'s message (the type's name when the message is empty)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def exception_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (just ``Type`` when the message is empty)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
