"""Results: what a run records (SPEC section 6), written atomically as JSON, Markdown and CSV.

A run folder holds ``run.json`` (what run it belongs to, see :mod:`grainbench.runfolder`),
``result.json`` (everything), ``results.md`` and ``results.csv`` (human tables),
``tasks/<task>.json`` (one finished task each, the unit of resuming) and one folder of
pictures and sounds per task. ``result.json`` names the tasks that were asked for
(``tasks_requested``) and says whether all of them finished (``complete``); a result
written before those fields existed counts as complete.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from grainbench.version import __version__

SCHEMA = 1


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    A reader (or a run interrupted half-way) never sees a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would hide results from other readers
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _clean(obj: Any) -> Any:
    """Replace non-finite floats by None so that the JSON is standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def write_json(path: Path, obj: Any) -> None:
    """Atomic, pretty, standard JSON (NaN/inf stored as null)."""
    text = json.dumps(_clean(json.loads(json.dumps(obj, default=_json_default))), indent=2)
    atomic_write_text(path, text + "\n")


@functools.cache
def code_hash() -> str:
    """sha256 over grainbench's own source files (path and content), the code that made a result."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _git(root: Path, *args: str) -> str | None:
    """stdout of ``git -C root ARGS``, or None when git or the checkout is not there."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the checkout grainbench runs from, when it is a git checkout."""
    out = _git(root or Path(__file__).parent, "rev-parse", "HEAD")
    return (out or "").strip() or None


def git_dirty(root: Path | None = None) -> bool | None:
    """Whether the source under ``root`` (grainbench's package folder) differs from the
    commit: then ``code_hash`` is the only record of the code; None outside a checkout."""
    folder = root or Path(__file__).parent
    if git_commit(folder) is None:
        return None
    out = _git(folder, "status", "--porcelain", "--untracked-files=all", "--", ".")
    return None if out is None else bool(out.strip())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def machine_info() -> dict[str, Any]:
    """The machine a result was measured on: CPU, cores, threads, GPU, OS, Python, torch."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def suite_info() -> dict[str, Any]:
    """Suite version, source hash and git commit."""
    return {
        "suite_version": __version__,
        "code_hash": code_hash(),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
    }


def load_result(path: Path) -> dict[str, Any]:
    """A result from a run folder (its ``result.json``) or a JSON file."""
    path = Path(path)
    file = path / "result.json" if path.is_dir() else path
    try:
        result = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        from grainbench.errors import UserError

        raise UserError(f"cannot read result {file}: {exc}") from None
    return result


def unfinished_tasks(result: dict[str, Any]) -> list[str]:
    """The requested tasks that have no finished result in ``result`` (in request order).

    Empty for a result older than ``tasks_requested`` (written only when every task of its
    run had finished).
    """
    requested = result.get("tasks_requested")
    if not isinstance(requested, list):
        return []
    done = result.get("tasks")
    done = done if isinstance(done, dict) else {}
    return [str(t) for t in requested if t not in done]


def require_complete(result: dict[str, Any], where: str) -> None:
    """Raise :class:`UserError` when ``result`` (read from ``where``) is an interrupted run's."""
    missing = unfinished_tasks(result)
    if missing or result.get("complete") is False:
        from grainbench.errors import UserError

        left = f" ({', '.join(missing)} not finished)" if missing else ""
        raise UserError(
            f"{where} is an incomplete result{left}: resume the run first "
            "(rerun the same grainbench run command)"
        )


def metric_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric row of a result, each with its task name added."""
    rows = []
    for task, body in result.get("tasks", {}).items():
        for row in body.get("metrics", []):
            rows.append({"task": task, **row})
    return rows


HEADER = ["task", "metric", "condition", "value", "95% CI", "unit", "better"]


def table_frame(result: dict[str, Any]) -> Any:
    """A pandas DataFrame of display strings, one row per metric, columns :data:`HEADER`."""
    import pandas as pd

    from grainbench import tables

    rows = [
        [
            row["task"],
            row["name"],
            tables.condition_text(row["condition"]),
            tables.format_value(row["value"]),
            tables.interval_text(row["low"], row["high"]),
            row["unit"],
            tables.arrow(row["higher_is_better"]),
        ]
        for row in metric_rows(result)
    ]
    return pd.DataFrame(rows, columns=HEADER, dtype=object)


def render_markdown(result: dict[str, Any]) -> str:
    """The result as Markdown: a header of provenance and one table of every metric."""
    from grainbench import tables

    rep = result["representation"]
    ds = result["dataset"]
    esc = tables.md_escape
    lines = [
        f"# grainbench: {esc(rep['name'])} on {esc(ds['spec'])}",
        "",
        f"- suite {esc(result['suite_version'])} (code {result['code_hash'][:12]}), seed {result['seed']}",
        f"- dataset fingerprint {ds['fingerprint'][:16]}…, {ds['n_train']} train / {ds['n_test']} test clips,"
        f" {ds['sample_rate']} Hz, {ds['n_samples']} samples",
        f"- image {tuple(rep['image_shape'])}, machine {esc(result['machine']['cpu'])}"
        f" ({result['machine']['cores']} cores)",
    ]
    missing = unfinished_tasks(result)
    if missing:
        lines.append(f"- **incomplete**: not finished: {esc(', '.join(missing))} (rerun to resume)")
    lines += [f"- note: {esc(n)}" for n in ds.get("notes", [])]
    lines += ["", tables.markdown(table_frame(result))]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ["task", "key", "name", "condition", "value", "low", "high", "unit"]
CSV_COLUMNS += ["higher_is_better"]


def render_csv(result: dict[str, Any]) -> str:
    """One CSV row per metric, with every column a script needs (conditions as ``k=v;k=v``)."""
    import pandas as pd

    from grainbench import tables

    rows = [
        {**row, "condition": tables.condition_text(row["condition"], ";")}
        for row in metric_rows(result)
    ]
    return pd.DataFrame(rows, columns=CSV_COLUMNS, dtype=object).to_csv(index=False)


def render_terminal(result: dict[str, Any]) -> str:
    """A fixed-width table for the terminal."""
    from grainbench import tables

    return tables.text(table_frame(result))


def write_result(run_dir: Path, result: dict[str, Any]) -> None:
    """Write ``result.json``, ``results.md`` and ``results.csv`` into ``run_dir`` atomically."""
    write_json(run_dir / "result.json", result)
    atomic_write_text(run_dir / "results.md", render_markdown(result))
    atomic_write_text(run_dir / "results.csv", render_csv(result))
