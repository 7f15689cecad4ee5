"""Grain as an effect: put a representation's grain on any audio (``grainbench apply``).

The audio — any length, any channel count, any sample rate — is converted to the
representation's sample rate (polyphase resampling, :func:`scipy.signal.resample_poly`),
cut into clips of the representation's length that are joined again by windowed
overlap-add (:mod:`grainbench.ola`: no seams), and each clip is encoded, changed in the
image domain, and decoded. The change is either an image error of the transfer task
(:mod:`grainbench.imageerrors`: ``noise:psnr=40``, ``blur:psnr=50``, ``quant8``, ``none``) or a
trained generator's projection (:mod:`grainbench.effectgen`): the clip re-synthesised as
the generator's closest output. The result goes back to the input's sample rate and is
mixed with the dry input (``mix``: 0 dry, 1 wet).

Channels: a mono representation processes every channel on its own; a representation of
``k`` channels takes audio of exactly ``k`` channels. Clip ``i`` of channel ``c`` draws its
noise (or projection start) from its own seed (:func:`clip_seed`).

:func:`build_effect` makes an :class:`GrainEffect` once (the representation fitted on its
data, the generator loaded or fitted); :meth:`GrainEffect.process` then runs on numpy
arrays, as a plugin host or a notebook calls it; :func:`apply` does both in one call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from scipy.signal import resample_poly

from grainbench.errors import UserError
from grainbench.ola import overlap_add

MAX_RATE_FACTOR = 1000
"""The largest up or down factor of the polyphase conversion (44.1 ↔ 48 kHz is 147/160)."""


def _resample(x: np.ndarray, ratio: Fraction) -> np.ndarray:
    """``x (channels, n)`` resampled by ``ratio`` (new rate / old rate)."""
    if ratio == 1:
        return x
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)


def clip_seed(seed: int, signal: int, clip: int) -> int:
    """The seed of clip ``clip`` of signal (channel) ``signal``: distinct per channel and
    clip, so that two channels do not get the same noise (``numpy.random.SeedSequence``)."""
    words = np.random.SeedSequence([int(seed), int(signal), int(clip)]).generate_state(2)
    return (int(words[0]) << 31) ^ int(words[1])


def rate_ratio(from_rate: int, to_rate: int) -> Fraction:
    """``to_rate / from_rate`` as a reduced fraction; a :class:`UserError` when either factor
    exceeds :data:`MAX_RATE_FACTOR` (the conversion filter would be impractically long)."""
    ratio = Fraction(int(to_rate), int(from_rate))
    if max(ratio.numerator, ratio.denominator) > MAX_RATE_FACTOR:
        raise UserError(
            f"cannot convert {from_rate} Hz to the representation's {to_rate} Hz "
            f"(ratio {ratio.numerator}/{ratio.denominator}: factors above {MAX_RATE_FACTOR})"
        )
    return ratio


def _as_channels(audio: Any) -> np.ndarray:
    """``audio`` as float64 ``(channels, samples)``, checked."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] < 1:
        raise UserError(f"audio must be (samples,) or (channels, samples), got shape {x.shape}")
    if x.shape[1] == 0:
        raise UserError("the audio is empty")
    if not np.isfinite(x).all():
        raise UserError("the audio holds NaN or infinite samples")
    return x


@dataclass
class GrainEffect:
    """A fitted representation and an image change, ready to process audio.

    ``change(images (B, C, H, W), seed) -> images``; ``encoder`` encodes and decodes (the
    representation, or its reshaped layout for a generator trained on one); ``description``
    says what the effect does (for messages).
    """

    encoder: Any
    change: Callable[[torch.Tensor, int], torch.Tensor]
    description: str
    batch: int = 16
    device: torch.device = torch.device("cpu")

    @property
    def sample_rate(self) -> int:
        """The representation's sample rate (Hz)."""
        return int(self.encoder.sample_rate)

    def _clips(self, clips: np.ndarray, index: np.ndarray, seed: int, signal: int) -> np.ndarray:
        """Encode, change, decode clips ``(k, ch, n)`` → float64; clip ``i`` of signal
        (channel) ``signal`` is changed with the seed :func:`clip_seed` gives it."""
        x = torch.from_numpy(clips.astype(np.float32)).to(self.device)
        with torch.no_grad():
            images = self.encoder.encode(x)
        changed = torch.cat(
            [
                self.change(images[j : j + 1].detach().cpu(), clip_seed(seed, signal, int(i)))
                for j, i in enumerate(index)
            ]
        )
        with torch.no_grad():
            out = self.encoder.decode(changed.to(self.device))
        return out.detach().cpu().double().numpy()

    def process(
        self, audio: Any, sample_rate: int, *, mix: float = 1.0, seed: int = 0
    ) -> np.ndarray:
        """``audio`` ((samples,) or (channels, samples), any rate) with the grain; float64 of
        the input's shape at the input's rate. ``mix`` in [0, 1] blends dry (0) and wet (1)."""
        if not 0.0 <= float(mix) <= 1.0:
            raise UserError(f"--mix must be between 0 (dry) and 1 (wet), got {mix}")
        if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate < 1:
            raise UserError(f"the sample rate must be a positive integer, got {sample_rate!r}")
        dry = _as_channels(audio)
        squeeze = np.ndim(audio) == 1
        ch, length = dry.shape
        k = int(self.encoder.n_channels)
        if k != 1 and k != ch:
            raise UserError(
                f"the representation takes {k}-channel audio; the input has {ch} channel(s)"
            )
        ratio = rate_ratio(int(sample_rate), self.sample_rate)
        x = _resample(dry, ratio)
        groups = x[:, None, :] if k == 1 else x[None]  # (signals, k, samples)
        wet = np.concatenate(
            [
                overlap_add(
                    g,
                    int(self.encoder.n_samples),
                    lambda clips, idx, c=c: self._clips(clips, idx, seed, c),
                    self.batch,
                )
                for c, g in enumerate(groups)
            ]
        )
        back = _resample(wet, 1 / ratio)
        fitted = np.zeros_like(dry)
        fitted[:, : min(length, back.shape[1])] = back[:, :length]
        out = (1.0 - mix) * dry + mix * fitted
        return out[0] if squeeze else out


def build_effect(
    rep: str | None = "dct-square",
    *,
    error: str | None = None,
    gen: str | None = None,
    data: str = "piano-c3",
    sample_rate: int | None = None,
    n_samples: int | None = None,
    gen_options: dict[str, Any] | None = None,
    pitch: int | None = None,
    split_seed: int = 0,
    batch: int = 16,
    device: str = "cpu",
) -> GrainEffect:
    """A :class:`GrainEffect` for representation ``rep`` with an image ``error`` spec or a
    generator ``gen`` (exactly one; see :mod:`grainbench.effectgen` for what ``gen`` may be).

    The representation is built at ``sample_rate``/``n_samples`` (default: ``data``'s own
    setting; a trained generator's own setting when ``gen`` fixes one) and fitted on
    ``data``'s training clips (split ``split_seed``) when it has a ``fit`` or a generator must
    be fitted on the fly. ``gen_options`` are the generator's options (as ``--gen-opt``);
    ``pitch`` (MIDI) is the label a pitch-conditional generator projects with.
    """
    from grainbench.imageerrors import parse_error
    from grainbench.runner import RunSpec, load_and_fit, load_rep

    if (error is None) == (gen is None):
        raise UserError("give exactly one of --error KIND[:psnr=DB] and --gen RUN_DIR|NAME")
    dev = torch.device(device)
    if error is not None:
        change = parse_error(error)
        what = f"image error {change.describe()}"
        spec = RunSpec(
            rep=rep or "dct-square",
            data=data,
            sample_rate=sample_rate,
            n_samples=n_samples,
            seed=split_seed,
            progress=False,
        )
        representation = load_rep(spec)
        if callable(getattr(representation.plugin, "fit", None)):
            load_and_fit(spec, representation)
        return GrainEffect(representation.to(dev), change, what, batch, dev)
    return _generator_effect(
        rep,
        str(gen),
        data,
        sample_rate,
        n_samples,
        gen_options or {},
        pitch,
        split_seed,
        batch,
        dev,
    )


def _generator_effect(
    rep: str | None,
    gen: str,
    data: str,
    sample_rate: int | None,
    n_samples: int | None,
    gen_options: dict[str, Any],
    pitch: int | None,
    split_seed: int,
    batch: int,
    dev: torch.device,
) -> GrainEffect:
    """:func:`build_effect` for a generator: the source's setting, fitted data, projection."""
    from grainbench.baselines.generators.stylegan.adapters import ReshapeLayout
    from grainbench.effectgen import build_generator, find_source
    from grainbench.runner import RunSpec, load_and_fit, load_rep
    from grainbench.tasks.realized import fit_generator

    source = find_source(gen, str(dev), gen_options)
    if source.rep and rep and rep != source.rep:
        raise UserError(f"--gen {gen} was made with --rep {source.rep}, not {rep}")
    fixed = source.rep is not None
    spec = RunSpec(
        rep=source.rep or rep or "dct-square",
        data=source.data or data,
        sample_rate=source.sample_rate if fixed else sample_rate,
        n_samples=source.n_samples if fixed else n_samples,
        seed=source.seed if fixed else split_seed,
        progress=False,
    )
    representation = load_rep(spec)
    dataset = load_and_fit(spec, representation)
    if source.fingerprint and dataset.fingerprint != source.fingerprint:
        raise UserError(
            f"--gen {gen}: the data {spec.data} is not what the generator was made on "
            "(its fingerprint differs)"
        )
    representation.to(dev)
    encoder: Any = representation
    if source.shape:
        encoder = ReshapeLayout(representation, representation.image_shape, source.shape)
    generator = build_generator(source, encoder.image_shape)
    if not generator.has_project:
        raise UserError(f"--gen {gen}: the generator has no project()")
    if not source.fitted:
        fit_generator(generator, encoder, dataset, batch, dev)

    def change(images: torch.Tensor, seed: int) -> torch.Tensor:
        labels = None if pitch is None else torch.full((len(images),), int(pitch))
        return generator.project(images, labels, seed).detach().float().cpu()

    return GrainEffect(encoder, change, f"projection onto {source.spec}", batch, dev)


def apply(
    audio: Any,
    sample_rate: int,
    rep: str | None = "dct-square",
    *,
    error: str | None = None,
    gen: str | None = None,
    mix: float = 1.0,
    seed: int = 0,
    **options: Any,
) -> np.ndarray:
    """Put ``rep``'s grain on ``audio`` ((samples,) or (channels, samples) at ``sample_rate``
    Hz): :func:`build_effect` with ``error`` or ``gen`` (and ``options``: ``data``,
    ``sample_rate`` of the representation as ``rep_sample_rate``, ``n_samples``,
    ``gen_options``…), then :meth:`GrainEffect.process`. Returns float64 of the input's
    shape, e.g. ``grainbench.apply(x, 48000, "dct-square", error="noise:psnr=40", mix=0.5)``.
    """
    setting = dict(options)
    if "rep_sample_rate" in setting:
        setting["sample_rate"] = setting.pop("rep_sample_rate")
    effect = build_effect(rep, error=error, gen=gen, **setting)
    return effect.process(audio, sample_rate, mix=mix, seed=seed)


def level_db(signal: np.ndarray, reference: np.ndarray) -> float:
    """``10·log10(‖signal‖² / ‖reference‖²)`` (dB); −inf for a zero signal."""
    num, den = float(np.sum(np.square(signal))), float(np.sum(np.square(reference)))
    if num == 0.0:
        return -math.inf
    return 10.0 * math.log10(num / den) if den > 0 else math.inf
