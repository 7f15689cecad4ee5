"""A stage brings its own fast path: how its one-pixel errors are computed
(:class:`grainbench.analysis.pixel_errors.PixelErrors`) and which library transform the
throughput task times it against are declared by the stage, not looked up by its class."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grainbench.analysis.pixel_errors import PixelErrors
from grainbench.baselines.representations import whole_clip
from grainbench.stages import DCT, Compand, RealImagFFT, StagedRepresentation, Waveform
from grainbench.stages.base import Stage
from grainbench.tasks.throughput_representation import family

SR, N = 8000, 256
DELTAS = torch.tensor([2 / 255, 0.05], dtype=torch.float64)


def _cbrt(x: torch.Tensor) -> torch.Tensor:
    return x.sign() * x.abs().pow(1 / 3)


class Transpose(Stage):
    """A layout of its own: the image ``(B, C, H, W)`` transposed."""

    def __init__(self, permutes: bool) -> None:
        super().__init__()
        self.permutes = permutes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(-1, -2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.transpose(-1, -2)


class Cube(Stage):
    """A non-linear waveform stage ``y = x³`` whose one-pixel error is one sample."""

    linear = False
    exact_errors = "test_stage_hooks:CubeErrors"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.pow(3).unsqueeze(2)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return _cbrt(y.squeeze(2))


class CubeErrors:
    """Exact errors of :class:`Cube`: sample k moves from ∛y to ∛(y + δ)."""

    mode = "cube"
    calls = 0

    def __init__(self, stage: Cube) -> None:
        self.stage = stage

    def dense(self, shape: tuple[int, ...], coeffs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(coeffs), dtype=torch.bool)

    def errors(self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor):
        CubeErrors.calls += 1
        ch, _, n = planes.shape
        y = planes.reshape(-1)[coeffs].double()
        change = _cbrt(y[:, None] + deltas.double()[None, :]) - _cbrt(y)[:, None]  # (P, D)
        out = torch.zeros(len(coeffs), len(deltas), ch * n, dtype=torch.float32)
        out[torch.arange(len(coeffs)), :, coeffs] = change.float()
        return out.reshape(len(coeffs), len(deltas), ch, n)


def _clips(n_clips: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return 0.3 * torch.randn(n_clips, 1, N, generator=gen)


def _brute(rep, image: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    errors = PixelErrors(rep)
    errors.mode, errors.exact = "decode", None
    with torch.no_grad():
        decoded = rep.decode(image[None])[0]
    return errors.decoded_errors(image, decoded, pixels, DELTAS)


@pytest.mark.parametrize("permutes", [True, False])
def test_a_layout_that_declares_a_permutation_keeps_the_exact_route(permutes: bool) -> None:
    base = whole_clip("t", "", DCT(), 1, Compand("mulaw"), SR, N)
    rep = StagedRepresentation("t", SR, N, 1, [*base.stages, Transpose(permutes)])
    rep.fit(_clips())
    errors = PixelErrors(rep)
    assert errors.mode == ("staged" if permutes else "decode")
    if not permutes:
        return
    assert errors.cosines(torch.arange(4)) is not None
    image = rep.encode(_clips(1))[0]
    pixels = torch.tensor([0, 5, 17, 200])
    exact = (
        errors.gains(image[None], pixels, DELTAS)[0, :, :, None, None]
        * errors.atoms(pixels)[:, None].double()
    )
    np.testing.assert_allclose(exact.numpy(), _brute(rep, image, pixels).numpy(), atol=2e-6)


def test_a_stage_names_its_exact_errors() -> None:
    rep = whole_clip("cube", "", Cube(), 1, None, SR, N)
    errors = PixelErrors(rep)
    assert errors.mode == "cube" and isinstance(errors.exact, CubeErrors)
    image = rep.encode(_clips(1))[0]
    with torch.no_grad():
        decoded = rep.decode(image[None])[0]
    pixels = torch.tensor([1, 30, 255])
    before = CubeErrors.calls
    fast = errors.decoded_errors(image, decoded, pixels, DELTAS)
    assert CubeErrors.calls == before + 1
    np.testing.assert_allclose(fast.numpy(), _brute(rep, image, pixels).numpy(), atol=2e-6)


def test_stages_declare_their_library_family() -> None:
    assert [family(s) for s in (DCT(), RealImagFFT(), Waveform())] == ["dct", "fft", "identity"]

    class Hadamard(Stage):
        family = "fft"

    assert family(Hadamard()) == "fft"
    assert family(Cube()) == "cube"
