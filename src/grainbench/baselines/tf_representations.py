"""Time-frequency representations the field uses, and the whole-clip DCT with better layouts.

Each factory takes the clip setting (``sample_rate``, ``n_samples``; ``None`` = Ki's
44,100 Hz and 65,536 samples) and returns a :class:`StagedRepresentation`. Framed
transforms use the natural layout: frequency down the rows (lowest first), time along the
columns, planes (real/imaginary, magnitude/IF) as image channels. STFT-based ones use a
window of about 23 ms rounded to a power of two (1024 at 44.1 kHz, 512 at 16 kHz) and a
hop of a quarter of it, so every size is a power of two at both settings.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from grainbench.baselines.representations import KI_RATE, KI_SAMPLES, grid_shape, whole_clip
from grainbench.errors import UserError
from grainbench.stages import DCT, Arrange, Compand, Stage, StagedRepresentation
from grainbench.stages.cqt import CQT
from grainbench.stages.logmel import MFCC, LogMel
from grainbench.stages.magif import MagIF
from grainbench.stages.mdct import MDCT
from grainbench.stages.melscale import FreqWarp, triangular_filterbank
from grainbench.stages.stft import STFT

N_MELS = 128


def setting(sample_rate: int | None, n_samples: int | None) -> tuple[int, int]:
    """The clip setting with Ki's defaults, checked to be a power-of-two length."""
    sr, n = sample_rate or KI_RATE, n_samples or KI_SAMPLES
    grid_shape(n)  # raises UserError unless n is a power of two
    return sr, n


def fft_size(sample_rate: int, seconds: float = 0.0232) -> int:
    """The power of two nearest (in octaves) to ``seconds`` of audio: 1024 at 44.1 kHz."""
    return 1 << int(round(math.log2(seconds * sample_rate)))


def framed(
    name: str,
    doc: str | None,
    stages: list[Stage],
    sample_rate: int,
    n_samples: int,
    n_planes: int,
    n_channels: int = 1,
) -> StagedRepresentation:
    """Compose framed stages ``(B, Ch, P, F, T)`` with the natural time × frequency layout.

    Audio channels and planes both become image channels (audio channel outermost), so
    an image is ``(Ch·P, F, T)``.
    """
    stages = [*stages, Arrange(n_channels, n_planes, channels="channels", planes="channels")]
    return StagedRepresentation(name, sample_rate, n_samples, n_channels, stages, doc=doc or "")


def stft_complex(sample_rate: int | None = None, n_samples: int | None = None):
    """Complex STFT, real and imaginary parts as two channels (μ-law): (2, L/2, N/hop).

    Periodic Hann of L ≈ 23 ms, 75 % overlap, circular framing, Parseval-normalised;
    row 0 packs DC + i·Nyquist. Lossless. Grain: a pixel is one windowed sinusoid of
    ~23 ms — a short tone blip at that time and frequency; errors in neighbouring
    pixels interfere (the frame is 4× redundant), so uncorrelated noise rings.
    """
    sr, n = setting(sample_rate, n_samples)
    size = fft_size(sr)
    stages = [STFT(size, size // 4), Compand("mulaw")]
    return framed("stft-complex", stft_complex.__doc__, stages, sr, n, 2)


def stft_magif(sample_rate: int | None = None, n_samples: int | None = None):
    """GANSynth's magnitude + instantaneous frequency: log-magnitude and IF/π channels.

    Same STFT as ``stft-complex``; exact in float but nonlinear. Grain: magnitude errors
    are local and proportionate in dB; an IF error at one frame shifts the phase of that
    bin for the rest of the clip, so IF noise becomes phasiness and drifting partials.
    """
    sr, n = setting(sample_rate, n_samples)
    size = fft_size(sr)
    return framed("stft-magif", stft_magif.__doc__, [MagIF(size, size // 4)], sr, n, 2)


def stft_magif_mel(sample_rate: int | None = None, n_samples: int | None = None):
    """GANSynth's "IF-Mel": log-magnitude and IF resampled onto L/2 mel-spaced rows (lossy).

    The rows are mel triangles over the L/2 STFT rows (interpolation where mel rows are
    denser than bins, averaging where sparser); decoding uses the pseudo-inverse, so
    detail above the frequency where mel rows get sparser than bins (about 5.6 kHz at
    44.1 kHz / L = 1024) is averaged away. Grain: as ``stft-magif``, with errors at high
    frequencies spread over several bins.
    """
    sr, n = setting(sample_rate, n_samples)
    size = fft_size(sr)
    rows = size // 2
    warp = FreqWarp(triangular_filterbank(rows, rows, sr, top_hz=sr / 2 * (rows - 1) / rows))
    stages = [MagIF(size, size // 4), warp]
    return framed("stft-magif-mel", stft_magif_mel.__doc__, stages, sr, n, 2)


def mdct(sample_rate: int | None = None, n_samples: int | None = None):
    """MDCT (sine window, 50 % overlap, circular), μ-law, frequency × time in a square image.

    Critically sampled and orthonormal: N samples → N coefficients, exact by TDAC. Grain:
    a pixel is one basis function, a sine-windowed cosine two hops long (11.6 ms at Ki's
    setting) — a short tone blip, local in time and frequency; noise that a frame spreads
    before a sharp attack is heard as pre-echo.
    """
    sr, n = setting(sample_rate, n_samples)
    m = grid_shape(n)[0]
    return framed("mdct", mdct.__doc__, [MDCT(m), Compand("mulaw")], sr, n, 1)


def cqt(sample_rate: int | None = None, n_samples: int | None = None):
    """Constant-Q (non-stationary Gabor) transform, real and imaginary channels, μ-law.

    F bands (F = the square grid side: 256 at 65,536 samples) from 0 Hz through 32.7 Hz
    (C1) to Nyquist, constant-Q below a few kHz (about 13 bands an octave at 44.1 kHz)
    and tending to a constant width above; 2N/F time slots per band (redundancy 4).
    A Parseval frame with an exact inverse. Grain: a pixel is a band-limited blip whose
    length grows at low frequencies (long, pitched at the bottom, short and bright at
    the top); neighbouring rows are neighbouring pitches, as a musician would read it.
    """
    sr, n = setting(sample_rate, n_samples)
    bands = grid_shape(n)[0]
    stages = [CQT(n, sr, bands, 2 * n // bands), Compand("mulaw")]
    return framed("cqt", cqt.__doc__, stages, sr, n, 2)


def mel_griffinlim(sample_rate: int | None = None, n_samples: int | None = None):
    """Log-mel power spectrogram, 128 mel rows × frames, inverted by Griffin-Lim (lossy).

    80 dB range from the fitted peak; decoding pseudo-inverts the mel filterbank and
    runs 32 fast Griffin-Lim iterations from a fixed seeded phase. Grain: errors are
    local and proportionate in dB, but the decoder invents phase, so even a perfect
    image sounds phasey (the floor); waveform SNR is meaningless here.
    """
    sr, n = setting(sample_rate, n_samples)
    size = fft_size(sr)
    stages = [LogMel(size, size // 4, N_MELS, sr)]
    return framed("mel-griffinlim", mel_griffinlim.__doc__, stages, sr, n, 1)


def mfcc(sample_rate: int | None = None, n_samples: int | None = None):
    """MFCC: the ``mel-griffinlim`` log-mel with an orthonormal DCT over its 128 rows.

    All 128 coefficients kept (each scaled by its fitted peak), so it inverts exactly to
    the log-mel and then through Griffin-Lim (lossy, the same floor). Grain: a pixel is a
    cosine ripple across the whole mel spectrum of one frame — timbre-wide, not local in
    frequency.
    """
    sr, n = setting(sample_rate, n_samples)
    size = fft_size(sr)
    stages = [LogMel(size, size // 4, N_MELS, sr), MFCC(N_MELS)]
    return framed("mfcc", mfcc.__doc__, stages, sr, n, 1)


def _dct_layout(order: str) -> Callable[..., StagedRepresentation]:
    name = f"dct-{order}"

    def factory(sample_rate: int | None = None, n_samples: int | None = None):
        sr, n = setting(sample_rate, n_samples)
        return whole_clip(name, factory.__doc__, DCT(), 1, Compand("mulaw"), sr, n, order=order)

    what = {
        "snake": "boustrophedon: odd rows reversed, so bin k and k+1 are always 4-neighbours",
        "hilbert": "along a Hilbert curve: nearby bins stay nearby in both image directions",
        "morton": "in Z (Morton) order: bits of the bin index interleaved into row and column",
    }[order]
    factory.__doc__ = (
        f"Ki's ``dct-square`` (whole-clip DCT, μ-law) folded {what}.\n\n"
        "Same coefficients as ``dct-square``, only their positions change, so it is "
        "lossless and its round trip equals dct-square's. Grain: a pixel is still a "
        "sustained cosine; what changes is how far apart in frequency a convolution's "
        "neighbouring pixels are."
    )
    return factory


def dct_stereo_2ch(sample_rate: int | None = None, n_samples: int | None = None):
    """Stereo whole-clip DCT (μ-law), left and right channels as two image channels.

    Each channel's N coefficients fold row-major into the squarest grid, so a stereo
    clip of 65,536 samples a channel is a (2, 256, 256) image and a pixel's two channels
    are the same frequency in both ears. Lossless. Grain: as ``dct-square``, per ear.
    """
    sr, n = setting(sample_rate, n_samples)
    doc = dct_stereo_2ch.__doc__
    return whole_clip(
        "dct-stereo-2ch", doc, DCT(), 1, Compand("mulaw"), sr, n, n_channels=2, channels="channels"
    )


def user_errors(
    name: str, factory: Callable[..., StagedRepresentation]
) -> Callable[..., StagedRepresentation]:
    """Wrap ``name``'s factory so that a setting its stages cannot take is a ``UserError``.

    (Clips shorter than a frame, a hop that does not divide the clip, too few constant-Q
    bands to reach Nyquist: the stages raise ``ValueError`` on them.)
    """

    @functools.wraps(factory)
    def checked(*args: Any, **kwargs: Any) -> StagedRepresentation:
        try:
            return factory(*args, **kwargs)
        except ValueError as exc:
            raise UserError(f"representation {name}: {exc}") from None

    return checked


TF: dict[str, Callable[..., StagedRepresentation]] = {
    "stft-complex": stft_complex,
    "stft-magif": stft_magif,
    "stft-magif-mel": stft_magif_mel,
    "mdct": mdct,
    "cqt": cqt,
    "mel-griffinlim": mel_griffinlim,
    "mfcc": mfcc,
    "dct-snake": _dct_layout("snake"),
    "dct-hilbert": _dct_layout("hilbert"),
    "dct-morton": _dct_layout("morton"),
    "dct-stereo-2ch": dct_stereo_2ch,
}
"""The time-frequency representations by registered name (:mod:`grainbench.builtins`)."""
