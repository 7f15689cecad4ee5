"""Griffin–Lim one-pixel errors replayed on the frames a pixel reaches
(:mod:`grainbench.analysis.griffinlim_errors`) against decoding the moved image: the same
numbers to the bit, near the clip's ends (the cone wraps around), when the cone outgrows
the clip, through MFCC and for a stereo log-mel."""

from __future__ import annotations

import pytest
import torch

from grainbench.analysis.griffinlim_errors import GriffinLimErrors
from grainbench.analysis.pixel_errors import PixelErrors, exact_errors
from grainbench.baselines.tf_representations import framed
from grainbench.data import load_dataset
from grainbench.plugins import load_representation
from grainbench.stages.logmel import LogMel

SR = 16000
DELTAS = torch.tensor([2 / 255, 0.05, -0.3])


def _audio(n: int, channels: int = 1) -> torch.Tensor:
    data = load_dataset(
        "synth-piano?n=12", sample_rate=SR, n_samples=n, n_channels=channels, seed=0, progress=False
    )
    return torch.from_numpy(data.train[:6]), torch.from_numpy(data.test[:1])


def _decoded_errors(rep, image: torch.Tensor, pixels: list[int]) -> torch.Tensor:
    """``decode(image + s·1_p) − decode(image)`` ``(P, D, Ch, n)`` by decoding."""
    image = image.contiguous()
    base = rep.decode(image)
    out = []
    for p in pixels:
        for s in DELTAS:
            moved = image.clone()
            moved.view(-1)[p] += s
            out.append(rep.decode(moved)[0] - base[0])
    return torch.stack(out).reshape(len(pixels), len(DELTAS), *base.shape[1:])


def _pixels(rep, rows: list[int]) -> list[int]:
    """Pixels of ``rows`` in the first, second, a middle and the last frame (column)."""
    width = rep.image_shape[-1]
    return [r * width + c for r in rows for c in (0, 1, width // 2, width - 1)]


@pytest.mark.parametrize(
    ("name", "n"),
    [
        ("mel-griffinlim", 16384),  # 128 frames: the cone outgrows the clip after 19 iterations
        ("mel-griffinlim", 65536),  # 512 frames: it never does
        ("mfcc", 16384),
    ],
)
@torch.no_grad()
def test_replayed_errors_are_the_decoded_ones(name: str, n: int) -> None:
    train, test = _audio(n)
    rep = load_representation(name, SR, n)
    rep.fit(train)
    image = rep.encode(test)
    errors = PixelErrors(rep)
    assert errors.mode == "griffinlim"
    pixels = _pixels(rep, [5, 70])
    planes = errors._unlayout(image)[0]
    coeffs = errors.coeff_position[torch.tensor(pixels)]
    replayed = errors.exact.errors(planes, coeffs, DELTAS)
    decoded = _decoded_errors(rep, image, pixels)
    assert torch.equal(replayed, decoded)
    assert bool((replayed.flatten(2).abs().amax(-1) > 0).all())
    assert torch.equal(errors.exact._trajectory(planes).audio, rep.decode(image)[0])


@torch.no_grad()
def test_stereo_log_mel_moves_one_channel() -> None:
    n = 16384
    train, test = _audio(n, channels=2)
    stage = LogMel(512, 128, 64, SR, n_iter=8)
    rep = framed("stereo-mel", None, [stage], SR, n, 1, n_channels=2)
    rep.fit(train)
    image = rep.encode(test)
    errors = PixelErrors(rep)
    assert errors.mode == "griffinlim"
    _, height, width = rep.image_shape
    pixels = [3 * width + 40, (height + 9) * width + 100]  # channel 0, channel 1
    planes = errors._unlayout(image)[0]
    coeffs = errors.coeff_position[torch.tensor(pixels)]
    replayed = errors.exact.errors(planes, coeffs, DELTAS)
    assert torch.equal(replayed, _decoded_errors(rep, image, pixels))
    assert bool((replayed[0, :, 1] == 0).all()) and bool((replayed[1, :, 0] == 0).all())


def test_only_frame_local_stages_may_follow() -> None:
    """A stage after the log-mel that mixes frames has no replay: the errors are decoded."""
    stage = LogMel(512, 128, 64, SR)

    class Mixing(torch.nn.Module):
        frame_local = False

    assert exact_errors(stage, [Mixing()]) is None
    assert isinstance(exact_errors(stage), GriffinLimErrors)
