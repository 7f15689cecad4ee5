"""``grainbench apply``: put a representation's grain on an audio file (grain as an effect)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from grainbench.errors import UserError

NAME = "apply"
HELP = "put a representation's grain on any audio file (an image error or a generator's projection)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``grainbench apply``."""
    parser.add_argument("input", type=Path, metavar="IN", help="audio file to read (WAV, FLAC…)")
    parser.add_argument("output", type=Path, metavar="OUT", help="audio file to write")
    parser.add_argument(
        "--rep", default=None, help="representation (default dct-square; --gen may fix it)"
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--error",
        default=None,
        metavar="KIND[:psnr=DB]",
        help="image error: noise:psnr=40, blur:psnr=50, quant8 or none",
    )
    what.add_argument(
        "--gen",
        default=None,
        metavar="RUN_DIR|NAME",
        help="re-synthesise through a generator's projection: a grainbench train folder, a "
        "grainbench run folder (gmm/oracle, refitted), or gmm/oracle fitted on --data",
    )
    parser.add_argument(
        "--gen-opt", action="append", default=[], metavar="KEY=VALUE", help="generator option"
    )
    parser.add_argument(
        "--pitch", type=int, default=None, metavar="MIDI", help="note of a pitch-conditional --gen"
    )
    parser.add_argument("--mix", type=float, default=1.0, help="dry/wet: 0 dry … 1 wet (default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise / projection")
    parser.add_argument(
        "--data", default="piano-c3", help="data the representation is fitted on (piano-c3)"
    )
    parser.add_argument(
        "--sample-rate", type=int, default=None, help="the representation's sample rate"
    )
    parser.add_argument("--n-samples", type=int, default=None, help="the representation's clip")
    parser.add_argument("--device", default="cpu", help="torch device")
    parser.add_argument(
        "--force", action="store_true", help="allow OUT to be IN (overwrite the input)"
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    """Read, process, write; print one line saying what was done."""
    import soundfile as sf

    from grainbench.commands.run import _gen_options
    from grainbench.effect import build_effect, level_db

    if _same_file(args.input, args.output) and not args.force:
        raise UserError(f"{args.output} is the input file: choose another OUT or add --force")
    try:
        info = sf.info(str(args.input))
        audio, rate = sf.read(str(args.input), dtype="float64", always_2d=True)
    except (OSError, RuntimeError, TypeError, ValueError) as exc:  # soundfile's own errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot read {args.input}: {first}") from None
    effect = build_effect(
        args.rep,
        error=args.error,
        gen=args.gen,
        data=args.data,
        sample_rate=args.sample_rate,
        n_samples=args.n_samples,
        gen_options=_gen_options(args.gen_opt),
        pitch=args.pitch,
        device=args.device,
    )
    dry = audio.T
    out = effect.process(dry, int(rate), mix=args.mix, seed=args.seed)
    clipped = int((np.abs(out) > 1.0).sum())
    suffix = args.output.suffix or ".wav"
    tmp = args.output.with_name(f".{args.output.stem}.tmp-{os.getpid()}{suffix}")
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        try:  # the input's sample format, where the output's container takes it
            sf.write(str(tmp), out.T, int(rate), subtype=info.subtype)
        except (TypeError, ValueError, RuntimeError):  # else the container's default
            sf.write(str(tmp), out.T, int(rate))
        tmp.replace(args.output)
    except (OSError, RuntimeError, TypeError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot write {args.output}: {first}") from None
    grain = level_db(out - dry, dry)
    note = f"; {clipped} samples beyond ±1 clipped in the file" if clipped else ""
    print(
        f"wrote {args.output}: {dry.shape[0]} channel(s), {dry.shape[1] / rate:.2f} s at "
        f"{rate} Hz; {effect.description} through {effect.encoder.name} at "
        f"{effect.sample_rate} Hz, mix {args.mix:g}: change {grain:.1f} dB re the input{note}"
    )
    return 0
