"""Every timing benchmark (a test using pytest-benchmark's ``benchmark`` fixture) is
``slow``: the default ``pytest`` run skips them; run them with ``pytest tests/benchmarks -m
slow`` (pytest-benchmark prints the timing table). Plain unit tests here run by default."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's benchmarks ``slow`` before ``-m`` deselects anything."""
    for item in items:
        if HERE in Path(item.path).parents and "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
