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


@pytest.fixture
def one_thread():
    """Tiny tensors: one torch thread avoids oversubscription on a shared machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
