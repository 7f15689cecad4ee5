"""The checked generator (grainbench.generator.Generator): a hostile generator plugin is
exit 2 with one line naming it, through the CLI; the wrapper checks every output and
passes the plugin's tensors through unchanged."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from grainbench.cli import main
from grainbench.errors import UserError
from grainbench.generator import Generator

BASE = """
import torch

class G:
    def __init__(self, image_shape):
        self.shape = tuple(image_shape)

    def fit(self, images, labels=None):
        pass

    def sample(self, n, labels=None, seed=0):
        return torch.zeros(n, *self.shape)
"""
"""A well-behaved generator plugin; a test's body is appended inside the class."""

RUN = ["run", "--rep", "waveform-square", "--data", "synth-piano?n=40", "--no-progress"]
RUN += ["--sample-rate", "16000", "--n-samples", "4096"]


def _gen(tmp_path: Path, body: str) -> str:
    """Write ``BASE`` with ``body`` appended to class ``G``; return its ``FILE:G`` spec."""
    path = tmp_path / "gen.py"
    path.write_text(textwrap.dedent(BASE) + textwrap.indent(textwrap.dedent(body), "    "))
    return f"{path}:G"


def _one_line_error(capsys: Any) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("grainbench: error:"), err
    assert "Traceback" not in err
    return err


_SAMPLE = "def sample(self, n, labels=None, seed=0):\n    return "
_RECONSTRUCT = "def reconstruct_audio(self, audio, sample_rate):\n    "

HOSTILE = {
    "nan": (_SAMPLE + "torch.full((n, *self.shape), float('nan'))\n", "sample returned NaN or inf"),
    "shape": (_SAMPLE + "torch.zeros(n, 1, 8, 8)\n", "sample returned shape ("),
    "count": (_SAMPLE + "torch.zeros(n - 1, *self.shape)\n", "items for"),
    "int-dtype": (
        _SAMPLE + "torch.zeros(n, *self.shape, dtype=torch.int64)\n",
        "sample returned dtype torch.int64, expected floating point",
    ),
    "not-a-tensor": (_SAMPLE + "'images'\n", "sample returned str, expected a tensor"),
    "fit-raises": (
        "def fit(self, images, labels=None):\n    raise ValueError('bad')\n",
        "fit raised",
    ),
    "property": (
        "@property\ndef sample(self):\n    raise RuntimeError('no sampler')\n",
        "attribute sample raised RuntimeError: no sampler",
    ),
    "no-sample": ("sample = None\n", "missing method sample()"),
    "reconstruct-raises": (
        _RECONSTRUCT + "raise ValueError('no')\n",
        "reconstruct_audio raised ValueError: no",
    ),
    "reconstruct-inf": (
        _RECONSTRUCT + "return audio * float('inf')\n",
        "reconstruct_audio returned NaN or inf",
    ),
    "reconstruct-shape": (
        _RECONSTRUCT + "return audio[:, :, :-1]\n",
        "reconstruct_audio returned shape (",
    ),
}
"""Case → (the plugin's hostile method, what the one-line error says)."""


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_generator_is_exit_2_in_one_line(tmp_path: Path, capsys: Any, case: str) -> None:
    body, expected = HOSTILE[case]
    spec = _gen(tmp_path, body)
    task = "reconstruction" if case.startswith("reconstruct") else "generation"
    args = [*RUN, "--task", task, "--gen", spec, "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = _one_line_error(capsys)
    assert f"generator {spec}" in err and expected in err


class _Plain:
    """A well-behaved plugin with every optional method, recording what it was given."""

    def __init__(self) -> None:
        self.out = torch.randn(3, 1, 4, 4, dtype=torch.float64)
        self.seen: dict[str, Any] = {}

    def fit(self, images: Any, labels: Any = None) -> str:
        return "fitted"

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        return self.out

    def project(self, images: torch.Tensor) -> np.ndarray:  # takes neither labels nor seed
        return images.numpy() * 0.5

    def reconstruct_audio(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        return audio.mean(1, keepdim=True)


def test_outputs_pass_through_unchanged_and_optional_methods_are_flagged() -> None:
    plugin = _Plain()
    gen = Generator(plugin, "plain", (1, 4, 4))
    assert gen.has_project and gen.has_reconstruct and not gen.is_audio
    assert gen.fit(torch.zeros(2, 1, 4, 4)) == "fitted"
    out = gen.sample(3, seed=1)
    assert out is plugin.out and out.dtype == torch.float64  # the very tensor, no copy
    images = torch.rand(2, 1, 4, 4)
    projected = gen.project(images, labels=torch.tensor([1, 2]), seed=3)
    assert projected.dtype == torch.float32 and torch.equal(projected, images * 0.5)
    stereo = torch.rand(2, 2, 64)
    assert gen.reconstruct_audio(stereo, 16000).shape == (2, 1, 64)
    assert gen.describe() is None
    bare = Generator(_NoExtras(), "bare", (1, 4, 4))
    assert not (bare.has_project or bare.has_reconstruct or bare.is_audio)
    with pytest.raises(UserError, match="generator bare has no project"):
        bare.project(images)


class _NoExtras:
    def fit(self, images: Any, labels: Any = None) -> None:
        pass

    def sample(self, n: int, labels: Any = None, seed: int = 0) -> torch.Tensor:
        return torch.zeros(n, 1, 4, 4)


class _BadProject(_NoExtras):
    def project(self, images: torch.Tensor, labels: Any = None, seed: int = 0) -> torch.Tensor:
        return torch.cat([images, images])


def test_a_projection_of_the_wrong_count_is_a_user_error() -> None:
    gen = Generator(_BadProject(), "doubling", (1, 4, 4))
    with pytest.raises(UserError, match=r"generator doubling: project returned 4 items for 2"):
        gen.project(torch.zeros(2, 1, 4, 4))
