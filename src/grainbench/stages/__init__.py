"""Invertible torch stages (transform → companding → layout) and their composition."""

from grainbench.stages.base import Stage, StagedRepresentation
from grainbench.stages.companding import Compand
from grainbench.stages.layouts import Arrange, Fold, fold_order
from grainbench.stages.transforms import DCT, PolarFFT, RealImagFFT, Waveform

__all__ = [
    "Arrange",
    "Compand",
    "DCT",
    "Fold",
    "PolarFFT",
    "RealImagFFT",
    "Stage",
    "StagedRepresentation",
    "Waveform",
    "fold_order",
]
