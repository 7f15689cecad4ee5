"""A closed pipe on stdout (``grainbench … | head -1``) ends the command quietly."""

from __future__ import annotations

import subprocess
import sys


def test_a_closed_stdout_pipe_gives_no_traceback() -> None:
    # a command whose output (1 MB) outlasts the pipe's buffer, so the write meets the closed pipe
    code = (
        "import sys; import grainbench.commands.list as cmd; from grainbench.cli import main\n"
        "cmd.run = lambda args: [print('x' * 999) for _ in range(1000)] and 0\n"
        "sys.exit(main(['list']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    proc.stdout.read(1)
    proc.stdout.close()  # the reader goes away after one byte, as `head -c 1` does
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    rc = proc.wait(timeout=120)
    assert "Traceback" not in stderr, stderr
    assert rc == 141
