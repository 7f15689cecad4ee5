"""Helpers for the hardening tests: plugin sources, tiny runs, folder snapshots, subprocesses."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from test_plugins import GOOD

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = GOOD
"""A well-behaved representation plugin (SPEC section 2), at the synth-piano setting."""

TINY = [
    "--data",
    "synth-piano?n=8",
    "--task",
    "roundtrip",
    "--param",
    "roundtrip.n_boot=20",
    "--param",
    "roundtrip.n_examples=0",
    "--param",
    'roundtrip.codecs=["float"]',
    "--no-progress",
]
"""``grainbench run`` options for a run of a few seconds."""


def plugin(tmp_path: Path, body: str = "", name: str = "rep.py", base: str = PLUGIN) -> str:
    """Write ``base`` with ``body`` appended inside the class; return its ``FILE:Folded`` spec."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(base) + textwrap.indent(textwrap.dedent(body), "    "))
    return f"{path}:Folded"


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder`` (hidden ones included) → ``dir`` or its content's sha256."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        rel = str(path.relative_to(folder))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def env() -> dict[str, str]:
    """The environment for a ``python -m grainbench`` child: this checkout's sources first."""
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }


def grainbench(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m grainbench ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "grainbench", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env(),
        timeout=timeout,
    )
