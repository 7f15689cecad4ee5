"""The library runs without its test-only references (torchmetrics, auraloss)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = ("torchmetrics", "auraloss")

# Hide the packages from imports and from importlib.metadata, then import every module.
_PROBE = f"""
import importlib, importlib.abc, importlib.metadata as md, pkgutil, sys
HIDDEN = {TEST_ONLY!r}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ImportError(f"{{name}} is hidden")
sys.meta_path.insert(0, Hide())
real_version = md.version
def version(name):
    if name in HIDDEN:
        raise md.PackageNotFoundError(name)
    return real_version(name)
md.version = version
import grainbench
names = [m.name for m in pkgutil.walk_packages(grainbench.__path__, "grainbench.")]
names = [n for n in names if not n.endswith("__main__")]  # __main__ runs the CLI
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_test_only_references_are_not_runtime_dependencies() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    runtime = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
    test = re.search(r"^test = \[(.*?)\]$", text, re.M).group(1)
    for name in TEST_ONLY:
        assert name not in runtime and name in test


def test_every_module_imports_without_the_test_only_references() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 50
