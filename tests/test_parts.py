"""Named image parts: derived from the stages of built-ins, declared by plugins, checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grainbench.errors import UserError
from grainbench.parts import Box, image_parts, part_box, phase_parts
from grainbench.plugins import Representation, load_representation

SR, N = 16000, 16384


def _rows_cols(mask: torch.Tensor) -> tuple[list[int], list[int], list[int]]:
    where = torch.nonzero(mask)
    return (
        sorted(set(where[:, 0].tolist())),
        [int(where[:, 1].min()), int(where[:, 1].max())],
        [int(where[:, 2].min()), int(where[:, 2].max())],
    )


@pytest.mark.parametrize(
    ("name", "expected", "phases"),
    [
        # magnitude plane stacked above phase/π: 8,192 bins, 64×128 each
        ("fft-polar-square", {"magnitude": ([0], [0, 63]), "phase": ([0], [64, 127])}, ("phase",)),
        ("fft-polar-2ch", {"magnitude": ([0], [0, 63]), "phase": ([1], [0, 63])}, ("phase",)),
        ("fft-square", {"real": ([0], [0, 63]), "imag": ([0], [64, 127])}, ()),
        ("stft-complex", {"real": ([0], [0, 255]), "imag": ([1], [0, 255])}, ()),
        ("stft-magif", {"magnitude": ([0], [0, 255]), "if": ([1], [0, 255])}, ("if",)),
        ("stft-magif-mel", {"magnitude": ([0], [0, 255]), "if": ([1], [0, 255])}, ("if",)),
    ],
)
def test_builtin_parts_follow_the_layout(name: str, expected: dict, phases: tuple) -> None:
    rep = load_representation(name, SR, N)
    parts = image_parts(rep)
    assert list(parts) == list(expected)
    total = torch.zeros(rep.image_shape, dtype=torch.bool)
    for part, (channels, rows) in expected.items():
        got_channels, got_rows, cols = _rows_cols(parts[part])
        assert (got_channels, got_rows, cols) == (channels, rows, [0, rep.image_shape[2] - 1])
        assert part_box(parts[part]) is not None  # every built-in part is one rectangle
        total |= parts[part]
    assert bool(total.all())  # the parts tile the image
    assert phase_parts(rep) == phases


@pytest.mark.parametrize("name", ["fft-polar-square", "fft-polar-2ch"])
def test_phase_part_holds_numpy_angles_in_bin_order(name: str) -> None:
    """Independent of the layout code: read in (C, H, W) order, the phase part of a
    row-major fold holds numpy's FFT angles / π of bins 1 … N/2 − 1 in order (bin 0
    packs DC and Nyquist)."""
    rep = load_representation(name, SR, N)
    x = 0.1 * np.random.default_rng(0).standard_normal(N).astype(np.float32)
    image = rep.encode(torch.from_numpy(x)[None, None])
    phase = image[0][image_parts(rep)["phase"]].double().numpy()
    np.testing.assert_allclose(phase[1:], np.angle(np.fft.rfft(x))[1 : N // 2] / np.pi, atol=1e-4)


@pytest.mark.parametrize("name", ["dct-square", "waveform-square", "mdct", "mfcc"])
def test_representations_without_named_planes_have_no_parts(name: str) -> None:
    rep = load_representation(name, SR, N)
    assert image_parts(rep) == {} and phase_parts(rep) == ()


class _Plugin:
    """A two-channel plugin image: channel 0 a copy of the clip, channel 1 its negative."""

    sample_rate, n_samples, n_channels = SR, 1024, 1

    def __init__(self, parts=None, phases=None) -> None:
        self._parts, self._phases = parts, phases

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        x = audio.reshape(-1, 1, 32, 32)
        return torch.cat([x, -x], dim=1)

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        return ((image[:, :1] - image[:, 1:]) / 2).reshape(-1, 1, 1024)

    def image_parts(self):
        return self._parts

    def phase_parts(self):
        return self._phases


def test_plugin_declares_parts_and_they_are_checked() -> None:
    first = torch.zeros(2, 32, 32, dtype=torch.bool)
    first[0] = True
    good = {"a": first.numpy(), "b": (~first).numpy()}
    rep = Representation(_Plugin(good, ["b"]), "test:plugin", "0")
    parts = image_parts(rep)
    assert set(parts) == {"a", "b"} and bool(parts["a"][0].all()) and not bool(parts["a"][1].any())
    assert phase_parts(rep) == ("b",)
    for bad in (
        {"a": first, "b": first},  # overlap
        {"a": torch.zeros(2, 32, 32, dtype=torch.bool)},  # empty
        {"a": torch.ones(32, 32, dtype=torch.bool)},  # wrong shape
    ):
        with pytest.raises(UserError):
            image_parts(Representation(_Plugin(bad), "test:plugin", "0"))
    with pytest.raises(UserError, match="not image parts"):
        phase_parts(Representation(_Plugin(good, ["c"]), "test:plugin", "0"))
    assert image_parts(Representation(_Plugin(None), "test:plugin", "0")) == {}


def test_part_box_by_hand() -> None:
    mask = torch.zeros(3, 6, 5, dtype=torch.bool)
    mask[1, 2:5, 1:4] = True
    mask[2, 2:5, 1:4] = True
    box = part_box(mask)
    assert box == Box((1, 2), slice(2, 5), slice(1, 4))
    images = torch.arange(2 * 3 * 6 * 5, dtype=torch.float32).reshape(2, 3, 6, 5)
    crop = box.crop(images)
    assert crop.shape == (2, 2, 3, 3) and torch.equal(crop[:, 0], images[:, 1, 2:5, 1:4])
    pasted = box.paste(images, torch.zeros_like(crop))
    assert (
        torch.equal(pasted[:, 0], images[:, 0]) and float(pasted[:, 1, 2:5, 1:4].abs().sum()) == 0
    )
    mask[2, 0, 0] = True  # no longer one rectangle
    assert part_box(mask) is None
    mask[2, 0, 0] = False
    mask[2, 2, 1] = False  # a hole
    assert part_box(mask) is None
