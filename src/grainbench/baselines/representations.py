"""The seeds' representations: whole-clip transforms folded into images.

Each factory takes the clip setting (``sample_rate``, ``n_samples``; ``None`` = Ki's
44,100 Hz and 65,536 samples) and returns a :class:`StagedRepresentation`. Names ending in
``-square`` fold N coefficients into the squarest power-of-two image (65,536 → 256×256,
16,384 → 128×128).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from grainbench.errors import UserError
from grainbench.stages import (
    DCT,
    Arrange,
    Compand,
    Fold,
    PolarFFT,
    RealImagFFT,
    Stage,
    StagedRepresentation,
    Waveform,
)

KI_RATE = 44100
KI_SAMPLES = 65536


def grid_shape(n: int) -> tuple[int, int]:
    """The squarest ``(h, w)`` with ``h·w = n``, ``h ≤ w``, both powers of two."""
    if n < 1 or n & (n - 1):
        raise UserError(f"clip length {n} is not a power of two; square layouts need one")
    bits = int(math.log2(n))
    return 1 << (bits // 2), 1 << (bits - bits // 2)


def _setting(sample_rate: int | None, n_samples: int | None) -> tuple[int, int]:
    return sample_rate or KI_RATE, n_samples or KI_SAMPLES


def whole_clip(
    name: str,
    doc: str,
    transform: Stage,
    n_planes: int,
    companding: Compand | None,
    sample_rate: int,
    n_samples: int,
    *,
    n_channels: int = 1,
    grid: tuple[int, int] | None = None,
    order: str = "row",
    channels: str = "channels",
    planes: str = "rows",
) -> StagedRepresentation:
    """Compose transform → companding → fold → arrange for a whole-clip 1-D transform.

    Each of the ``n_planes`` planes of ``n_samples // n_planes`` coefficients is folded into
    ``grid`` (default: the squarest power-of-two grid) in ``order``; planes and audio
    channels are then placed as image rows, columns or channels.
    """
    h, w = grid or grid_shape(n_samples // n_planes)
    stages = [transform, *([companding] if companding else []), Fold(h, w, order)]
    stages.append(Arrange(n_channels, n_planes, channels=channels, planes=planes))
    return StagedRepresentation(name, sample_rate, n_samples, n_channels, stages, doc=doc)


def waveform_square(sample_rate: int | None = None, n_samples: int | None = None):
    """Raw samples folded row-major into a square: each row is 256 consecutive samples.

    Grain to expect: an error in one pixel is a click (one sample); image noise is white,
    broadband waveform noise.
    """
    sr, n = _setting(sample_rate, n_samples)
    return whole_clip("waveform-square", waveform_square.__doc__, Waveform(), 1, None, sr, n)


def fft_square(sample_rate: int | None = None, n_samples: int | None = None):
    """Real parts (top half) and imaginary parts (bottom half) of the whole-clip FFT, μ-law.

    Orthonormal packing of the N/2 complex bins (DC and Nyquist share bin 0). A pixel is
    one sinusoid over the whole clip: errors are sustained tones, not clicks.
    """
    sr, n = _setting(sample_rate, n_samples)
    comp = Compand("mulaw")
    return whole_clip("fft-square", fft_square.__doc__, RealImagFFT(), 2, comp, sr, n)


def fft_polar_square(sample_rate: int | None = None, n_samples: int | None = None):
    """Magnitude (top half, μ-law) and phase/π (bottom half) of the whole-clip FFT.

    The seed's square "ArgAngle" image. Nonlinear, but a single pixel is proportionate on
    both halves: a phase step Δ rotates one whole-clip sinusoid, an error of 2|X|·sin(Δ/2)
    (|X| that bin's magnitude; nothing where the bin is empty), and a magnitude pixel
    changes |X| in proportion to |X| plus μ-law's floor. What phase adds is wrap edges:
    smoothing across a jump between +π and −π turns two nearly equal angles into a phase
    error of up to π (docs/metrics/transfer.md).
    """
    sr, n = _setting(sample_rate, n_samples)
    comp = Compand("mulaw", planes=[0])
    return whole_clip("fft-polar-square", fft_polar_square.__doc__, PolarFFT(), 2, comp, sr, n)


def fft_polar_2ch(sample_rate: int | None = None, n_samples: int | None = None):
    """Magnitude (μ-law) and phase/π of the whole-clip FFT as two channels of one image.

    The multi-channel variant of ``fft-polar-square``: a pixel's magnitude and phase sit at
    the same position, so a convolution sees them together. Image (2, N/2 as a grid).
    Grain per pixel as ``fft-polar-square``'s (proportionate on both channels).
    """
    sr, n = _setting(sample_rate, n_samples)
    comp = Compand("mulaw", planes=[0])
    return whole_clip(
        "fft-polar-2ch", fft_polar_2ch.__doc__, PolarFFT(), 2, comp, sr, n, planes="channels"
    )


def _dct_square(kind: str) -> Callable[..., StagedRepresentation]:
    name = "dct-square" if kind == "mulaw" else f"dct-square-{kind}"
    label = {"mulaw": "μ-law(255)", "linear": "linear", "sqrt": "signed square root"}[kind]

    def factory(sample_rate: int | None = None, n_samples: int | None = None):
        sr, n = _setting(sample_rate, n_samples)
        return whole_clip(name, factory.__doc__, DCT(), 1, Compand(kind), sr, n)

    factory.__doc__ = (
        f"Ki: orthonormal DCT-II of the whole clip, scaled by the largest training "
        f"coefficient, {label} companding, folded row-major into a square grey image.\n\n"
        "Horizontal neighbours are adjacent frequencies (local); vertical neighbours are "
        "one row (w bins) apart (the fold). A pixel error is a sustained cosine: grain is "
        "tonal, spread over the whole clip."
    )
    return factory


def dct_square_512_stereo(sample_rate: int | None = None, n_samples: int | None = None):
    """Ki's final: two channels × 131,072 samples, DCT, μ-law, 512×512 grey image.

    Left channel in the top 256 rows, right channel in the bottom 256 (each folded
    row-major, 512 bins a row). Fixed setting: 44,100 Hz, 131,072 samples, stereo (the
    arguments are accepted for a uniform factory signature and ignored).
    """
    sr, n = KI_RATE, 2 * KI_SAMPLES
    return whole_clip(
        "dct-square-512-stereo",
        dct_square_512_stereo.__doc__,
        DCT(),
        1,
        Compand("mulaw"),
        sr,
        n,
        n_channels=2,
        channels="rows",
    )


def dct_2x131072(sample_rate: int | None = None, n_samples: int | None = None):
    """The non-square image the seed asks about: a 2×131,072 image, one row per channel.

    Each stereo channel's DCT (μ-law) is one image row: frequency runs along the width, so
    every horizontal neighbour is the adjacent bin and there is no fold at all. Fixed
    setting: 44,100 Hz, 131,072 samples, stereo (arguments ignored).
    """
    sr, n = KI_RATE, 2 * KI_SAMPLES
    return whole_clip(
        "dct-2x131072",
        dct_2x131072.__doc__,
        DCT(),
        1,
        Compand("mulaw"),
        sr,
        n,
        n_channels=2,
        grid=(1, n),
        channels="rows",
    )


SEEDS: dict[str, Callable[..., StagedRepresentation]] = {
    "waveform-square": waveform_square,
    "fft-square": fft_square,
    "fft-polar-square": fft_polar_square,
    "fft-polar-2ch": fft_polar_2ch,
    "dct-square": _dct_square("mulaw"),
    "dct-square-linear": _dct_square("linear"),
    "dct-square-sqrt": _dct_square("sqrt"),
    "dct-square-512-stereo": dct_square_512_stereo,
    "dct-2x131072": dct_2x131072,
}
"""The seeds' representations by registered name (:mod:`grainbench.builtins`)."""
