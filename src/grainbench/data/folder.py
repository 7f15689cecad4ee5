"""``folder:PATH`` and ``nsynth:PATH``: the user's own audio files as a dataset.

``folder:PATH`` (or just an existing directory) takes every file under ``PATH``, recursively
and sorted by relative path, whose extension is one of soundfile's formats (wav, flac, ogg,
aiff, ...); other files are ignored and counted in ``notes``. ``nsynth:PATH`` reads NSynth's
own layout: ``PATH/examples.json`` (one entry per note, keyed by ``note_str``) and
``PATH/audio/<note_str>.wav``; options other than ``n`` and ``seed`` filter on the json fields
(``instrument_family=keyboard`` matches ``instrument_family_str`` or ``instrument_family``;
comma-separated values mean any of them). Both take ``n`` (a random subset of that many
files, drawn with the ``seed`` option, default 0).

The default setting, when none is asked, is the most common sample rate and channel count
among the readable files (ties go to the larger value) and 65,536 samples.

Conversion of each file to the setting, in this order:

1. unreadable or corrupt files (soundfile cannot open or decode them) are skipped with the
   reader's one-line reason; NaN or infinite samples: skipped;
2. channels: mono target = mean of the channels; from mono = the channel duplicated; more
   channels than the target = the first ones; fewer (but more than one) = skipped;
3. sample rate: any rate to the target rate with ``scipy.signal.resample_poly`` (the exact
   rational ratio, Kaiser-windowed FIR);
4. length: longer files are trimmed (the first ``n_samples`` are kept), shorter ones are
   zero-padded at the end;
5. values beyond +-1 (float files) are clipped to +-1 and reported;
6. silent files (peak below 1e-5 in the kept part) are skipped with reason "silent";
7. clipped recordings (at least 8 samples at |x| >= 0.999) are kept and reported as
   "clipped: N samples".

Each file gets a ``file_report`` entry ``{path, action, reason}``: ``path`` relative to the
folder; ``action`` is ``skipped``, else ``padded``, else ``converted`` (rate, channels or
values changed), else ``trimmed``, else ``used`` (in that priority); ``reason`` lists every
step applied. Fewer than two usable files is an error. Labels are MIDI pitches: from the json
for NSynth, else parsed from NSynth-like names (``..._004-060-127.wav`` gives 60), else -1.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from scipy.signal import resample_poly

from grainbench.data.core import (
    RawClips,
    Setting,
    check_options,
    expand_path,
    int_option,
    progress_bar,
    stable_permutation,
)
from grainbench.errors import UserError, exception_text

VERSION = "folder-1"
DEFAULT_N_SAMPLES = 65536
SILENCE_PEAK = 1e-5
CLIP_LEVEL = 0.999
CLIPPED_MIN_SAMPLES = 8

# Extensions soundfile reads besides its format names (RAW needs a declared layout: left out).
_EXTRA_SUFFIXES = {"aif", "aifc", "wave", "oga", "opus", "snd"}
_NSYNTH_NAME = re.compile(r"[-_](\d{3})-(\d{3})$")
_ACTION_ORDER = ("skipped", "padded", "converted", "trimmed", "used")


def audio_suffixes() -> frozenset[str]:
    """Lower-case file extensions (without the dot) treated as audio."""
    names = {name.lower() for name in soundfile.available_formats()} - {"raw"}
    return frozenset(names | _EXTRA_SUFFIXES)


def label_from_name(stem: str) -> int:
    """MIDI pitch from an NSynth-like file name stem (``bass_synthetic_033-022-100`` -> 22), else -1."""
    match = _NSYNTH_NAME.search(stem)
    if match is None:
        return -1
    pitch = int(match.group(1))
    return pitch if pitch <= 127 else -1


@dataclass(frozen=True)
class AudioFile:
    """One input file and what ``soundfile.info`` says about it (``error`` when it cannot)."""

    path: Path
    rel: str
    label: int
    size: int
    mtime_ns: int
    sample_rate: int | None
    channels: int | None
    frames: int | None
    error: str | None


def probe(path: Path, rel: str, label: int) -> AudioFile:
    """Stat and ``soundfile.info`` one file; failures are recorded, never raised."""
    try:
        stat = path.stat()
    except OSError as exc:
        return AudioFile(path, rel, label, -1, -1, None, None, None, exception_text(exc))
    try:
        info = soundfile.info(str(path))
    except Exception as exc:  # soundfile raises several error types for bad files
        return AudioFile(
            path, rel, label, stat.st_size, stat.st_mtime_ns, None, None, None, exception_text(exc)
        )
    return AudioFile(
        path,
        rel,
        label,
        stat.st_size,
        stat.st_mtime_ns,
        int(info.samplerate),
        int(info.channels),
        int(info.frames),
        None,
    )


def _most_common(values: Iterable[int]) -> int:
    counts = Counter(values)
    return max(counts, key=lambda v: (counts[v], v))


def _report(file: AudioFile, action: str, facts: list[str]) -> dict[str, str]:
    return {"path": file.rel, "action": action, "reason": "; ".join(facts) if facts else "as is"}


def convert_file(file: AudioFile, setting: Setting) -> tuple[np.ndarray | None, dict[str, str]]:
    """The file as a float32 ``(n_channels, n_samples)`` clip, or ``None``, and its report entry."""
    if file.error is not None:
        return None, _report(file, "skipped", [file.error])
    if not file.frames:
        return None, _report(file, "skipped", ["empty (0 frames)"])
    rate_in, rate_out, target = file.sample_rate, setting.sample_rate, setting.n_samples
    common = math.gcd(rate_in, rate_out)
    up, down = rate_out // common, rate_in // common
    margin = 0 if up == down else 10 * max(up, down) // up + 16
    needed = math.ceil(target * down / up) + margin
    try:
        data, _ = soundfile.read(
            str(file.path), frames=min(file.frames, needed), dtype="float64", always_2d=True
        )
    except Exception as exc:  # decoding errors of every kind: report, never crash
        return None, _report(file, "skipped", [exception_text(exc)])
    if data.size == 0:
        return None, _report(file, "skipped", ["empty (no samples decoded)"])
    if not np.all(np.isfinite(data)):
        return None, _report(file, "skipped", ["contains NaN or infinite values"])

    facts: list[str] = []
    modified = False
    have, want = data.shape[1], setting.n_channels
    if have != want:
        if want == 1:
            data = data.mean(axis=1, keepdims=True)
            facts.append(f"{have} -> 1 channels (mean)")
        elif have == 1:
            data = np.repeat(data, want, axis=1)
            facts.append(f"1 -> {want} channels (duplicated)")
        elif have > want:
            data = data[:, :want]
            facts.append(f"{have} -> {want} channels (first {want})")
        else:
            return None, _report(file, "skipped", [f"has {have} channels, cannot make {want}"])
        modified = True
    if up != down:
        data = resample_poly(data, up, down, axis=0)
        facts.append(f"{rate_in} -> {rate_out} Hz (resample_poly {up}/{down})")
        modified = True

    full_length = file.frames * up // down
    padded = trimmed = False
    if full_length > target or len(data) > target:
        data = data[:target]
        trimmed = full_length > target
        if trimmed:
            facts.append(f"trimmed {full_length} -> {target} samples")
    if len(data) < target:
        data = np.concatenate([data, np.zeros((target - len(data), want))])
        padded = True
        facts.append(f"padded {min(full_length, target)} -> {target} samples with zeros")

    beyond = int(np.sum(np.abs(data) > 1.0))
    if beyond:
        data = np.clip(data, -1.0, 1.0)
        facts.append(f"{beyond} values beyond +-1 clipped")
        modified = True
    peak = float(np.max(np.abs(data)))
    if peak < SILENCE_PEAK:
        return None, _report(file, "skipped", [f"silent (peak {peak:.1e} < {SILENCE_PEAK:.0e})"])
    at_limit = int(np.sum(np.abs(data) >= CLIP_LEVEL))
    if at_limit >= CLIPPED_MIN_SAMPLES:
        facts.append(f"clipped: {at_limit} samples at |x| >= {CLIP_LEVEL}")

    action = "padded" if padded else "converted" if modified else "trimmed" if trimmed else "used"
    return data.T.astype(np.float32), _report(file, action, facts)


def build_from_files(
    files: list[AudioFile], setting: Setting, progress: bool, desc: str, notes: list[str]
) -> RawClips:
    """Convert every file; ``UserError`` when fewer than two are usable."""
    clips: list[np.ndarray] = []
    labels: list[int] = []
    report: list[dict[str, str]] = []
    for file in progress_bar(files, len(files), desc, progress):
        clip, entry = convert_file(file, setting)
        report.append(entry)
        if clip is not None:
            clips.append(clip)
            labels.append(file.label)
    if len(clips) < 2:
        reasons = "; ".join(
            f"{e['path']}: {e['reason']}" for e in report if e["action"] == "skipped"
        )[:300]
        raise UserError(
            f"{desc}: {len(clips)} usable audio file(s), need at least 2 ({reasons or 'no files'})"
        )
    counts = Counter(e["action"] for e in report)
    summary = ", ".join(f"{counts[a]} {a}" for a in _ACTION_ORDER if counts[a])
    all_notes = [f"{len(clips)} of {len(files)} audio files usable ({summary})", *notes]
    rates = sorted(
        {f.sample_rate for f in files if f.sample_rate and f.sample_rate != setting.sample_rate}
    )
    if rates:
        listed = ", ".join(f"{r:,}" for r in rates)
        all_notes.append(
            f"resampled to {setting.sample_rate:,} Hz with scipy.signal.resample_poly from {listed} Hz"
        )
    clipped = sum(1 for e in report if "clipped:" in e["reason"])
    if clipped:
        all_notes.append(
            f"{clipped} files are clipped recordings (>= {CLIPPED_MIN_SAMPLES} samples at full scale)"
        )
    unknown = sum(1 for label in labels if label < 0)
    if unknown:
        all_notes.append(f"{unknown} clips have no pitch label (-1)")
    return RawClips(
        clips=np.stack(clips),
        labels=np.array(labels, dtype=np.int64),
        notes=all_notes,
        file_report=report,
        params={"n_files": len(files), "n_usable": len(clips)},
    )


@dataclass(frozen=True)
class FilesPlan:
    """A checked folder or NSynth request: the files to convert."""

    name: str
    root: Path
    files: tuple[AudioFile, ...]
    options: dict[str, Any]
    notes: tuple[str, ...]
    extra_material: dict[str, Any]

    def defaults(self) -> Setting:
        """Most common rate and channel count of the readable files; 65,536 samples."""
        readable = [f for f in self.files if f.error is None and f.frames]
        if not readable:
            raise UserError(f"no readable audio file in {self.root}")
        return Setting(
            _most_common(f.sample_rate for f in readable),
            DEFAULT_N_SAMPLES,
            _most_common(f.channels for f in readable),
        )

    def key_material(self) -> dict[str, Any]:
        """The folder, options, and every file's path, size, modification time and label."""
        return {
            "root": str(self.root),
            "options": self.options,
            "files": [[f.rel, f.size, f.mtime_ns, f.label] for f in self.files],
            **self.extra_material,
        }

    def build(self, setting: Setting, progress: bool) -> RawClips:
        """Convert the files to ``setting``."""
        raw = build_from_files(
            list(self.files),
            setting,
            progress,
            f"reading {self.name}:{self.root}",
            list(self.notes),
        )
        raw.params.update({"root": str(self.root), **self.options})
        return raw


def _existing_folder(path: str | None, dataset: str) -> Path:
    if not path:
        raise UserError(f"dataset {dataset} needs a path: {dataset}:PATH")
    root = Path(expand_path(path))
    if not root.exists():
        raise UserError(f"dataset folder not found: {path}")
    if not root.is_dir():
        raise UserError(f"not a folder: {path}")
    return root.resolve()


def _subset(items: list[Any], n: int | None, seed: int) -> list[Any]:
    if n is None or n >= len(items):
        return items
    chosen = np.sort(stable_permutation(len(items), seed)[:n])
    return [items[i] for i in chosen]


class FolderSource:
    """``folder:PATH``: every audio file under a folder (options ``n``, ``seed``)."""

    name = "folder"
    summary = (
        "folder:PATH - every audio file soundfile can read under PATH, converted to one setting"
    )
    version = VERSION
    cached = True
    takes_path = True

    def plan(self, path: str | None, options: dict[str, str]) -> FilesPlan:
        """List and probe the folder's audio files."""
        check_options(options, ("n", "seed"), self.name)
        root = _existing_folder(path, self.name)
        n = int_option(options, "n", 0, self.name, minimum=1) if "n" in options else None
        seed = int_option(options, "seed", 0, self.name, minimum=0)
        suffixes = audio_suffixes()
        candidates: list[Path] = []
        ignored = 0
        for folder, subfolders, names in os.walk(root):
            subfolders.sort()
            for file_name in names:
                if file_name.rsplit(".", 1)[-1].lower() in suffixes and "." in file_name:
                    candidates.append(Path(folder) / file_name)
                else:
                    ignored += 1
        candidates.sort(key=lambda p: p.relative_to(root).as_posix())
        candidates = _subset(candidates, n, seed)
        files = tuple(
            probe(p, p.relative_to(root).as_posix(), label_from_name(p.stem)) for p in candidates
        )
        if not files:
            raise UserError(f"no audio file in {root} (extensions: wav, flac, ogg, aiff, ...)")
        notes = (f"{ignored} files with other extensions ignored",) if ignored else ()
        return FilesPlan(self.name, root, files, {"n": n, "seed": seed}, notes, {})


class NSynthSource:
    """``nsynth:PATH``: NSynth's ``examples.json`` + ``audio/*.wav`` (filters, ``n``, ``seed``)."""

    name = "nsynth"
    summary = "nsynth:PATH - NSynth layout (examples.json + audio/*.wav), json pitch labels, field filters"
    version = VERSION
    cached = True
    takes_path = True

    def plan(self, path: str | None, options: dict[str, str]) -> FilesPlan:
        """Read ``examples.json``, apply the filters and the subset, probe the wav files."""
        root = _existing_folder(path, self.name)
        index = root / "examples.json"
        if not index.is_file():
            raise UserError(f"no examples.json in {root}: not an NSynth folder")
        try:
            examples = json.loads(index.read_text())
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read {index}: {exception_text(exc)}") from None
        if not isinstance(examples, dict) or not all(
            isinstance(v, dict) for v in examples.values()
        ):
            raise UserError(f"{index} is not an NSynth index (a json object of note objects)")
        n = int_option(options, "n", 0, self.name, minimum=1) if "n" in options else None
        seed = int_option(options, "seed", 0, self.name, minimum=0)
        filters = {k: v.split(",") for k, v in options.items() if k not in ("n", "seed")}
        fields = {key for entry in examples.values() for key in entry}
        for key in filters:
            if key not in fields and f"{key}_str" not in fields:
                listed = ", ".join(sorted({f.removesuffix("_str") for f in fields}))
                raise UserError(
                    f"unknown option {key!r} for dataset nsynth; options: n, seed, or a field of examples.json ({listed})"
                )
        selected = [
            note
            for note in sorted(examples)
            if all(
                str(examples[note].get(f"{key}_str")) in values
                or str(examples[note].get(key)) in values
                for key, values in filters.items()
            )
        ]
        if not selected:
            raise UserError(f"no NSynth example in {root} matches {options}")
        selected = _subset(selected, n, seed)
        files = []
        for note in selected:
            pitch = examples[note].get("pitch", -1)
            label = int(pitch) if isinstance(pitch, int) and 0 <= pitch <= 127 else -1
            wav = root / "audio" / f"{note}.wav"
            rel = f"audio/{note}.wav"
            if wav.is_file():
                files.append(probe(wav, rel, label))
            else:
                files.append(AudioFile(wav, rel, label, -1, -1, None, None, None, "missing file"))
        stat = index.stat()
        notes = (f"NSynth examples: {len(selected)} of {len(examples)} selected",)
        return FilesPlan(
            self.name,
            root,
            tuple(files),
            {"n": n, "seed": seed, "filters": filters},
            notes,
            {"index": [stat.st_size, stat.st_mtime_ns]},
        )
