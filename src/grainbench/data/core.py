"""Shared pieces of the datasets package: the dataset object, spec parsing, split, fingerprint.

A dataset *source* (synthetic piano, soundfont pianos, folder, NSynth) turns a spec's path and
options into a :class:`Plan`; the plan knows the dataset's own default setting and renders or
converts the clips. :func:`grainbench.data.load_dataset` then caches, splits and fingerprints.

Random draws that decide what a dataset contains (rendering parameters, subsets, the
train/test split) come from the raw output of numpy's ``PCG64`` bit generator seeded through
``SeedSequence``: both are frozen by numpy's stability policy, unlike the ``Generator``
distribution methods, so a numpy upgrade cannot change a dataset's fingerprint.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from grainbench.errors import UserError

TEST_FRACTION = 0.1
"""Share of the clips that go to the test split."""

PROGRESS_MIN_ITEMS = 20
"""Fewer items than this are processed without a progress bar."""


@dataclass(frozen=True)
class Setting:
    """The audio setting of a dataset: sample rate (Hz), clip length (samples), channels."""

    sample_rate: int
    n_samples: int
    n_channels: int

    def as_tuple(self) -> tuple[int, int, int]:
        """``(sample_rate, n_samples, n_channels)``."""
        return (self.sample_rate, self.n_samples, self.n_channels)


@dataclass
class RawClips:
    """What a plan builds: every clip (before the split) with labels and the facts to report."""

    clips: np.ndarray
    labels: np.ndarray
    notes: list[str] = field(default_factory=list)
    file_report: list[dict[str, str]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


class Plan(Protocol):
    """A resolved dataset request: options checked, inputs listed, nothing rendered yet."""

    def defaults(self) -> Setting:
        """The dataset's own setting (used for every ``None`` in the request)."""
        ...

    def key_material(self) -> dict[str, Any]:
        """JSON-able description of everything besides the setting that decides the clips."""
        ...

    def build(self, setting: Setting, progress: bool) -> RawClips:
        """Render or convert the clips at ``setting``."""
        ...


@runtime_checkable
class BandLimitedPlan(Plan, Protocol):
    """A plan that also states each clip's content limit (optional; piano sources have it)."""

    def band_limits(self, setting: Setting) -> np.ndarray:
        """Per clip in build order, the highest frequency (Hz) it can contain at ``setting``."""
        ...


class DatasetSource(Protocol):
    """A kind of dataset, as registered in ``grainbench.registries.DATASETS``."""

    name: str
    summary: str
    version: str
    cached: bool
    takes_path: bool

    def plan(self, path: str | None, options: dict[str, str]) -> Plan:
        """Check the spec's path and options (``UserError`` on mistakes) and list the inputs."""
        ...


@dataclass
class AudioDataset:
    """A dataset of equal-length clips split into train and test.

    ``train`` / ``test`` are float32 ``(N, n_channels, n_samples)`` arrays in [-1, 1];
    labels are int64 MIDI pitches (-1 when unknown). ``fingerprint`` is the sha256 of the
    clip bytes (train then test) followed by the label bytes. ``notes`` are one-line facts a
    result must carry; ``file_report`` has one ``{path, action, reason}`` dict per input file
    (empty for synthetic sets); ``params`` records every parameter used.

    ``train_band_limits`` / ``test_band_limits`` are float64 ``(N,)``: per clip, the highest
    frequency in Hz it can contain as the source states it (e.g. a soundfont sample's
    Nyquist frequency times its playback ratio), at most the Nyquist frequency; NaN for a
    clip without a stated limit, and None when the source states none. They follow from
    how the clips were made, so they are not part of the fingerprint.
    """

    name: str
    spec: str
    sample_rate: int
    n_samples: int
    n_channels: int
    train: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray
    test_labels: np.ndarray
    fingerprint: str
    notes: list[str]
    file_report: list[dict[str, str]]
    params: dict[str, Any]
    train_band_limits: np.ndarray | None = None
    test_band_limits: np.ndarray | None = None

    @property
    def setting(self) -> Setting:
        """The dataset's :class:`Setting`."""
        return Setting(self.sample_rate, self.n_samples, self.n_channels)


def uniforms(seed: int, count: int, stream: int = 0) -> np.ndarray:
    """``count`` floats in [0, 1) from the raw PCG64 stream of ``(seed, stream)``; version-stable."""
    bits = np.random.PCG64(np.random.SeedSequence([seed, stream])).random_raw(count)
    return (np.asarray(bits, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def stable_permutation(n: int, seed: int, stream: int = 0) -> np.ndarray:
    """A permutation of ``range(n)`` drawn from :func:`uniforms` (ties broken by index)."""
    return np.argsort(uniforms(seed, n, stream), kind="stable")


def split_indices(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and test indices of a 90/10 split of ``n`` clips drawn with ``seed``."""
    n_test = max(1, int(round(n * TEST_FRACTION))) if n >= 2 else 0
    order = stable_permutation(n, seed, stream=1)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def fingerprint(
    train: np.ndarray, test: np.ndarray, train_labels: np.ndarray, test_labels: np.ndarray
) -> str:
    """sha256 hex of the train clips, the test clips, then the train and test labels."""
    digest = hashlib.sha256()
    for clips in (train, test):
        digest.update(np.ascontiguousarray(clips, dtype="<f4").tobytes())
    for labels in (train_labels, test_labels):
        digest.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return digest.hexdigest()


def content_hash(clips: np.ndarray, labels: np.ndarray) -> str:
    """sha256 hex of all clips then all labels, in build order (used to check cache entries)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(clips, dtype="<f4").tobytes())
    digest.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return digest.hexdigest()


def parse_query(query: str, dataset: str) -> dict[str, str]:
    """Parse ``n=200&seed=1`` into a dict; ``UserError`` on malformed or repeated options."""
    if not query:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise UserError(
            f"bad options {query!r} for dataset {dataset}: use key=value&key=value"
        ) from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in options:
            raise UserError(f"option {key!r} is given twice for dataset {dataset}")
        options[key] = value
    return options


def check_options(options: dict[str, str], allowed: Iterable[str], dataset: str) -> None:
    """``UserError`` naming the allowed options when ``options`` has another key."""
    allowed = sorted(allowed)
    for key in options:
        if key not in allowed:
            listed = ", ".join(allowed) if allowed else "none"
            raise UserError(f"unknown option {key!r} for dataset {dataset}; options: {listed}")


MAX_CLIPS = 1_000_000
"""The most clips a rendered dataset may ask for (a million piano-c3 clips are 262 GB)."""


def int_option(
    options: dict[str, str],
    key: str,
    default: int,
    dataset: str,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """The integer option ``key`` (``default`` when absent); ``UserError`` when bad."""
    if key not in options:
        return default
    text = options[key]
    try:
        value = int(text)
    except ValueError:
        raise UserError(
            f"option {key}={text[:40]!r} of dataset {dataset} is not an integer"
        ) from None
    if minimum is not None and value < minimum:
        raise UserError(f"option {key}={value} of dataset {dataset} must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise UserError(f"option {key}={value} of dataset {dataset} must be at most {maximum}")
    return value


def count_and_seed(options: dict[str, str], default_n: int, dataset: str) -> tuple[int, int]:
    """A rendered dataset's options: ``n`` clips (2 to :data:`MAX_CLIPS`, ``default_n`` when
    absent) and ``seed`` (at least 0, default 0); ``UserError`` for another option."""
    check_options(options, ("n", "seed"), dataset)
    n = int_option(options, "n", default_n, dataset, minimum=2, maximum=MAX_CLIPS)
    return n, int_option(options, "seed", 0, dataset, minimum=0)


def resolve_setting(
    own: Setting, sample_rate: int | None, n_samples: int | None, n_channels: int | None
) -> Setting:
    """Fill ``None`` with the dataset's own values; ``UserError`` for non-positive values."""
    chosen = Setting(
        own.sample_rate if sample_rate is None else sample_rate,
        own.n_samples if n_samples is None else n_samples,
        own.n_channels if n_channels is None else n_channels,
    )
    for label, value in zip(
        ("sample_rate", "n_samples", "n_channels"), chosen.as_tuple(), strict=True
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise UserError(f"{label} must be a positive integer, got {value!r}")
    return Setting(int(chosen.sample_rate), int(chosen.n_samples), int(chosen.n_channels))


def require_channels(setting: Setting, dataset: str) -> None:
    """``UserError`` unless the setting asks for 1 or 2 channels (rendered datasets)."""
    if setting.n_channels not in (1, 2):
        raise UserError(f"dataset {dataset} renders 1 or 2 channels, not {setting.n_channels}")


def progress_bar(items: Iterable[Any], total: int, desc: str, enabled: bool) -> Iterator[Any]:
    """Iterate ``items`` with a tqdm bar on stderr when enabled and ``total`` is not tiny."""
    show = enabled and total >= PROGRESS_MIN_ITEMS
    with tqdm(items, total=total, desc=desc, unit="clip", disable=not show, file=sys.stderr) as bar:
        yield from bar


def expand_path(path: str) -> str:
    """``~`` and environment variables expanded."""
    return os.path.expandvars(os.path.expanduser(path))
