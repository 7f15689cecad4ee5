"""The stage protocol and the composition of stages into a representation."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from grainbench.representation import described_setting

#: clips per forward pass when fitting on a whole training set (bounds the memory of stages
#: with large per-clip intermediates, e.g. harmonic-noise's oscillator bank)
FIT_CHUNK = 16


class Stage(nn.Module):
    """One invertible step of a representation.

    ``forward`` is the encode direction, ``inverse`` undoes it. ``fit`` sets data-dependent
    parameters from a batch of the stage's inputs (default: nothing to fit). ``linear`` says
    whether both directions are linear maps; ``lossless`` whether ``inverse`` undoes
    ``forward`` up to float error.
    """

    linear: bool = True
    lossless: bool = True
    #: names of the planes (axis 2) of this stage's output when they hold different
    #: quantities (magnitude and phase, real and imaginary parts); ``None``: no named planes
    plane_names: tuple[str, ...] | None = None
    #: those of :attr:`plane_names` whose values are angles divided by π (they wrap at ±1)
    phase_planes: tuple[str, ...] = ()
    #: a layout that only moves elements (its output is a permutation of its input's)
    permutes: bool = False
    #: element-wise: each output element depends on the input element in its place alone
    elementwise: bool = False
    #: the transform family whose bare library transform the throughput task times this
    #: stage against (``dct``, ``fft``, ``stft``, ``identity``); None: its class name
    family: str | None = None
    #: ``"package.module:Class"`` computing this stage's exact one-pixel errors from its
    #: parts (:mod:`grainbench.analysis.pixel_errors`); None: none
    exact_errors: str | None = None
    #: each output frame (last axis) depends on the same input frame alone, so a stage's
    #: exact errors (:attr:`exact_errors`) may come before it
    frame_local: bool = False

    @abstractmethod
    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`forward`."""

    def fit(self, x: torch.Tensor) -> None:
        """Fit data-dependent parameters on a batch of this stage's inputs (none by default)."""

    def fit_transform(self, x: torch.Tensor) -> torch.Tensor:
        """Fit on ``x``, then return this stage's output for ``x`` (``FIT_CHUNK`` clips per
        pass). A stage whose fit already computes its output overrides this to do it once."""
        self.fit(x)
        return torch.cat([self(x[j : j + FIT_CHUNK]) for j in range(0, x.shape[0], FIT_CHUNK)])

    def carry_parts(self, masks: torch.Tensor) -> torch.Tensor | None:
        """Where the elements of named parts of this stage's input land in its output.

        ``masks`` is bool ``(n_parts, *input shape)`` (one clip's input, no batch axis; the
        parts axis stands in for it); the result is bool ``(n_parts, *output shape)``, true
        where an output element depends on that part. ``None`` (the default): this stage
        mixes elements so that parts cannot be followed, and the representation declares
        none.
        """
        return None

    def cosine_atoms(
        self, coeffs: torch.Tensor, shape: tuple[int, ...]
    ) -> tuple[torch.Tensor, ...] | None:
        """The atoms ``inverse(1_k)`` of flat output indices ``coeffs`` (one clip's output
        of ``shape``) as cosines ``α·cos(πu·n/N + φ)`` in one audio channel: ``(α, u, φ,
        channel)``; None (the default) when they are not such cosines."""
        return None

    def describe(self) -> dict[str, Any]:
        """The stage's parameters, for results and reports."""
        return {"stage": type(self).__name__}


class StagedRepresentation(nn.Module):
    """A representation composed of stages: transform → companding → layout.

    Implements the SPEC section 2 protocol: ``encode`` audio ``(B, n_channels, n_samples)`` to
    images ``(B, C, H, W)`` and ``decode`` back, plus ``fit`` for data-dependent scaling.
    """

    def __init__(
        self,
        name: str,
        sample_rate: int,
        n_samples: int,
        n_channels: int,
        stages: Sequence[Stage],
        doc: str = "",
    ) -> None:
        super().__init__()
        self.name = name
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.n_channels = int(n_channels)
        self.stages = nn.ModuleList(stages)
        self.doc = doc
        probe = torch.zeros(1, self.n_channels, self.n_samples)
        with torch.no_grad():
            self.image_shape: tuple[int, int, int] = tuple(self.encode(probe).shape[1:])

    @property
    def linear(self) -> bool:
        """True when encode and decode are linear maps (all stages linear)."""
        return all(s.linear for s in self.stages)

    @property
    def lossless(self) -> bool:
        """True when decode(encode(x)) == x up to float error."""
        return all(s.lossless for s in self.stages)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio ``(B, n_channels, n_samples)`` → image ``(B, C, H, W)``."""
        x = audio
        for stage in self.stages:
            x = stage(x)
        return x

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        """Image ``(B, C, H, W)`` → audio ``(B, n_channels, n_samples)``."""
        y = image
        for stage in reversed(self.stages):
            y = stage.inverse(y)
        return y

    @torch.no_grad()
    def fit(self, audio: torch.Tensor) -> torch.Tensor:
        """Fit every stage in order on training audio (each sees the previous stage's output);
        returns the fitted representation's images of ``audio`` ``(N, C, H, W)``, the same
        as :meth:`encode` gives them (every stage encodes a clip alike in any batch)."""
        x = audio
        for stage in self.stages:  # each later stage fits on the output of the one before
            x = stage.fit_transform(x)
        return x

    def image_parts(self) -> dict[str, torch.Tensor]:
        """Named parts of the image: part name → bool mask ``(C, H, W)``; empty when none.

        The last stage with :attr:`Stage.plane_names` names its output planes; every later
        stage carries the planes' masks to where its output puts them
        (:meth:`Stage.carry_parts`). Empty when no stage names planes or a later one cannot
        carry them.
        """
        names, _, masks = self._traced_parts()
        return {} if masks is None else {name: masks[i] for i, name in enumerate(names)}

    def phase_parts(self) -> tuple[str, ...]:
        """The names among :meth:`image_parts` whose values are angles/π (wrapping at ±1)."""
        _, phases, masks = self._traced_parts()
        return () if masks is None else phases

    def _traced_parts(self) -> tuple[tuple[str, ...], tuple[str, ...], torch.Tensor | None]:
        """Plane names, phase-plane names and masks ``(n_parts, C, H, W)`` (``None``: none)."""
        x = torch.zeros(1, self.n_channels, self.n_samples)
        names: tuple[str, ...] = ()
        phases: tuple[str, ...] = ()
        masks: torch.Tensor | None = None
        with torch.no_grad():
            for stage in self.stages:
                if masks is not None:
                    masks = stage.carry_parts(masks)
                    if masks is None:
                        break
                x = stage(x)
                if stage.plane_names is not None:
                    names, phases = tuple(stage.plane_names), tuple(stage.phase_planes)
                    plane = torch.arange(x.shape[2]).view(1, 1, -1, *[1] * (x.dim() - 3))
                    index = torch.arange(len(names)).view(-1, *[1] * (x.dim() - 1))
                    masks = (plane == index).expand(len(names), *x.shape[1:])
        return names, phases, masks

    def describe(self) -> dict[str, Any]:
        """Name, setting, image shape and every stage's parameters."""
        return {
            "name": self.name,
            **described_setting(self),
            "stages": [s.describe() for s in self.stages],
        }
