"""Architecture checks on the source tree itself: small modules with one job (DEVELOPERS.md)
and a static import graph without a circle."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "grainbench"
MAX_LINES = 450
"""No module in src/ may be longer than this."""


def _module_names(root: Path) -> dict[str, Path]:
    """Every module of the package: dotted name → file (a package is its ``__init__.py``)."""
    names = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import …`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _literal_import_module(node: ast.Call) -> str | None:
    """The literal argument of ``importlib.import_module("x")`` / ``import_module("x")``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "import_module" or not node.args:
        return None
    arg = node.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """Edges module → grainbench modules it imports anywhere in its body.

    ``import a.b`` and ``from a import b`` (``b`` a module) point at ``a.b``; ``from a import
    name`` at ``a``; relative imports are resolved; ``importlib.import_module("literal")``
    counts as an import. Only edges inside the package are kept, self-edges dropped.
    """
    modules = _module_names(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            elif isinstance(node, ast.Call):
                literal = _literal_import_module(node)
                targets = [literal] if literal else []
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or None when it is acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_reports_a_cycle_and_accepts_a_dag() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_import_graph_sees_every_import_form(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from grainbench.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import thing\n")
    (pkg / "sub" / "b.py").write_text("import importlib\nimportlib.import_module('grainbench.c')\n")
    (pkg / "c.py").write_text("from . import a\nimport grainbench.sub.b as alias\n")
    graph = import_graph(tmp_path)
    assert graph["grainbench.a"] == {"grainbench.sub.b"}
    assert graph["grainbench.sub"] == {"grainbench.sub.b"}
    assert graph["grainbench.sub.b"] == {"grainbench.c"}
    assert graph["grainbench.c"] == {"grainbench.a", "grainbench.sub.b"}
    assert find_cycle(graph) is not None


def test_no_import_circle() -> None:
    """No module reaches itself through imports, counting function-level and type-only ones."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_the_registry_is_a_pure_container() -> None:
    """registry.py imports nothing that registers (grainbench.builtins wires the built-ins)."""
    assert import_graph()["grainbench.registry"] <= {"grainbench.errors"}


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
    modules = sorted((SRC / PACKAGE).rglob("*.py"))
    assert len(modules) > 50  # the package itself, not an empty folder
    long = {str(p.relative_to(SRC)): n for p in modules if (n := _line_count(p)) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
