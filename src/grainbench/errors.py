"""Errors that mean "the user asked for something wrong" rather than "grainbench is broken"."""


class UserError(Exception):
    """A user mistake (bad plugin, bad option, unreadable input).

    The CLI prints its message as one line and exits with code 2; no traceback.
    """
