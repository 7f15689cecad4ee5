"""grainbench's own entries: every built-in representation, dataset, task and generator.

The one place where the built-ins meet the registries. :func:`register` has the form of a
plugin package's entry point (``grainbench.plugins`` group, see
:mod:`grainbench.registries`), which fills the registries with it before any package's.
"""

from __future__ import annotations

from collections.abc import Callable

from grainbench.baselines.generators import gmm, oracle
from grainbench.baselines.generators.ddsp.generator import factory as ddsp_factory
from grainbench.baselines.generators.stylegan.generator import (
    stylegan2_factory,
    stylegan3_factory,
)
from grainbench.baselines.harmonic_noise import harmonic_noise
from grainbench.baselines.representations import SEEDS
from grainbench.baselines.tf_representations import TF, user_errors
from grainbench.data.folder import FolderSource, NSynthSource
from grainbench.data.piano import PIANO_88, PIANO_C3
from grainbench.data.synth import SynthPianoSource
from grainbench.registry import Registries
from grainbench.tasks.generation import GenerationTask
from grainbench.tasks.locality import LocalityTask
from grainbench.tasks.perturbation import PerturbationTask
from grainbench.tasks.realized import RealizedTask
from grainbench.tasks.reconstruction import ReconstructionTask
from grainbench.tasks.roundtrip import RoundTripTask
from grainbench.tasks.throughput import ThroughputTask
from grainbench.tasks.transfer import TransferTask


def summary(factory: Callable[..., object]) -> str:
    """The first line of ``factory``'s docstring (empty when it has none)."""
    return (factory.__doc__ or "").strip().splitlines()[0]


def register(registries: Registries) -> None:
    """Register every built-in in ``registries``."""
    reps = registries.representations
    for name, factory in SEEDS.items():
        reps.register(name, factory, summary(factory))
    for name, factory in {**TF, "harmonic-noise": harmonic_noise}.items():
        reps.register(name, user_errors(name, factory), summary(factory))

    for source in (PIANO_C3, PIANO_88, SynthPianoSource(), FolderSource(), NSynthSource()):
        registries.datasets.register(source.name, source, source.summary)

    tasks = registries.tasks
    tasks.register(
        "roundtrip", RoundTripTask(), "round-trip fidelity through float, png16 and png8 codecs"
    )
    tasks.register(
        "perturbation",
        PerturbationTask(),
        "per-pixel sensitivity: ESR, proportionality, time/ERB spread, audibility of one-pixel "
        "errors",
    )
    tasks.register(
        "locality",
        LocalityTask(),
        "neighbour locality: time/ERB distance of neighbouring pixels' atoms, Gabor ratio, "
        "correlation",
    )
    tasks.register(
        "transfer",
        TransferTask(),
        "error transfer: grain curves of image noise, 8-bit quantisation, blur and shifts",
    )
    tasks.register(
        "generation", GenerationTask(), "generation quality: FD, FD∞, KID, NDB and pitch"
    )
    tasks.register(
        "realized",
        RealizedTask(),
        "realized grain: real clips projected onto a trained generator, against the prediction",
    )
    tasks.register(
        "reconstruction",
        ReconstructionTask(),
        "a generator's own reconstruction of the test clips (its encoder, its decoder)",
    )
    tasks.register(
        "throughput",
        ThroughputTask(),
        "encode/decode real-time factor, ratio to the library transform, peak memory; with "
        "--gen training and sampling speed",
    )

    gens = registries.generators
    gens.register("gmm", gmm.factory, "PCA + Gaussian mixture over the coefficients (CPU baseline)")
    gens.register(
        "oracle", oracle.factory, "training images plus white noise at a chosen image PSNR"
    )
    gens.register(
        "stylegan2",
        stylegan2_factory,
        "StyleGAN2 (skip G, residual D, lazy R1, EMA, audio-safe ADA); any (C, H, W) with "
        "power-of-two sides",
    )
    gens.register(
        "stylegan3",
        stylegan3_factory,
        "StyleGAN3-T (alias-free, Fourier input, filtered nonlinearities); any (C, H, W) with "
        "power-of-two sides",
    )
    gens.register(
        "ddsp",
        ddsp_factory,
        "DDSP (harmonic + filtered noise synthesiser, MFCC encoder) + GMM over z; audio "
        "generator, harmonic-noise images",
    )
