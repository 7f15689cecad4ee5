"""Shared fixtures: a private dataset cache per test session, tiny settings."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep rendered datasets of the test session out of the user's cache (unless set)."""
    if "GRAINBENCH_CACHE" not in os.environ:
        os.environ["GRAINBENCH_CACHE"] = str(tmp_path_factory.mktemp("grainbench-cache"))
    torch.set_num_threads(min(2, torch.get_num_threads()))
