"""Named training configurations and the builders of the networks they describe.

=========  ============================================================================
name       what it is for
=========  ============================================================================
``tiny``   tests: a few hundred parameters per layer, trains a step in well under a
           second at 16×16.
``cpu``    leaderboard rows at the small setting (16 kHz, 16,384 samples → 128×128
           images) on a 2-core CPU in about 20 minutes: narrow layers (channel base
           2048, at most 64 maps), batch 16, z/w 128, lr 0.001, γ 4, per-pixel image
           normalisation, no adaptive augmentation.
``cpu-     ``cpu`` for sparse images (global transforms laid out as images: DCT, FFT):
sparse``   per-pixel normalisation centred on the median, output shrinkage 1 (see
           :class:`Generator`), lr 0.0005 (G) / 0.0001 (D).
``ki``     the Ki pipeline's scale: stylegan2-ada's "auto" configuration for 256² on one
           GPU: batch max(min(4096/256, 32), 1) = 16, R1 γ = 0.0002·256²/16 = 0.8192,
           channel base 16384, at most 512 maps, mapping depth 2, lr 0.0025 (G and D),
           EMA half-life 16·10/32 = 5 kimg with ramp-up 0.05, z and w 512, style
           mixing 0.9, path length weight 2 (stylegan2-ada's loss default), the 4
           highest-resolution blocks in float16 on CUDA, activations clamped at ±256.
``ki-sg3`` StyleGAN3-T at 256²: batch 32, γ = 2, channel base 32768, at most 512 maps,
           mapping depth 2, lr 0.0025 (G) / 0.002 (D), EMA 10 kimg, no style mixing, no
           path length, 14 layers, 10-pixel margins, the last 4 layers in float16
           on CUDA, activations clamped at ±256.
=========  ============================================================================

For images that are not 256² the ``ki`` configs scale γ with the pixel count
(γ ∝ res², as the papers do, with res² = H·W), see :func:`get_config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from grainbench.baselines.generators.stylegan.discriminator import Discriminator
from grainbench.baselines.generators.stylegan.stylegan2 import Generator, SynthesisNetwork
from grainbench.baselines.generators.stylegan.stylegan3 import AliasFreeSynthesis
from grainbench.errors import UserError

ARCHS = ("stylegan2", "stylegan3")


@dataclass
class StyleGANConfig:
    """Every hyper-parameter of a StyleGAN training run (JSON-serialisable)."""

    name: str = "custom"
    arch: str = "stylegan2"
    # networks
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    mapping_lr_mul: float = 0.01
    channel_base: int = 16384
    channel_max: int = 512
    use_noise: bool = True
    mbstd_group: int = 4
    # StyleGAN3 synthesis
    sg3_layers: int = 14
    sg3_critical: int = 2
    sg3_margin: int = 10
    sg3_filter_size: int = 6
    # training-image normalisation (see ``normalize``): none | global | per-pixel
    normalize: str = "none"
    normalize_floor: float = 0.1
    normalize_clip: float | None = 5.0
    # soft threshold on G's output in normalised units (0: none), see ``Generator``
    output_shrink: float = 0.0
    # mixed precision: highest-resolution blocks in float16 (on CUDA), activation clamp
    fp16_blocks: int = 0
    conv_clamp: float | None = None
    # optimisation
    batch: int = 16
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float = 0.8192
    r1_interval: int = 16
    pl_weight: float = 0.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    style_mixing: float = 0.9
    ema_kimg: float = 5.0
    ema_rampup: float | None = 0.05
    # adaptive augmentation
    augment_ops: tuple[str, ...] = ("gain", "noise")
    augment_time_axis: int = 3
    ada_target: float | None = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0
    # bookkeeping
    snapshot_kimg: float = 4.0
    sample_count: int = 16
    keep_checkpoints: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["betas"] = list(self.betas)
        d["augment_ops"] = list(self.augment_ops)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StyleGANConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`UserError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise UserError(f"unknown StyleGAN config option {unknown[0]!r}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        if "augment_ops" in d:
            d["augment_ops"] = tuple(d["augment_ops"])
        return cls(**d)

    def replace(self, **overrides: Any) -> StyleGANConfig:
        """A copy with ``overrides`` applied (unknown names raise :class:`UserError`)."""
        d = self.to_dict()
        d.update(overrides)
        return StyleGANConfig.from_dict(d)


def _tiny(arch: str) -> StyleGANConfig:
    return StyleGANConfig(
        name="tiny",
        arch=arch,
        z_dim=16,
        w_dim=16,
        mapping_layers=2,
        channel_base=64,
        channel_max=8,
        sg3_layers=4,
        sg3_margin=2,
        sg3_filter_size=4,
        batch=4,
        lr_g=0.002,
        lr_d=0.002,
        r1_gamma=1.0,
        r1_interval=4,
        style_mixing=0.9 if arch == "stylegan2" else 0.0,
        ema_kimg=0.02,
        ema_rampup=None,
        ada_kimg=0.1,
        snapshot_kimg=0.02,
        sample_count=4,
    )


def _cpu(arch: str) -> StyleGANConfig:
    return StyleGANConfig(
        name="cpu",
        arch=arch,
        z_dim=128,
        w_dim=128,
        mapping_layers=2,
        channel_base=2048,
        channel_max=64,
        sg3_layers=8,
        sg3_margin=4,
        sg3_filter_size=4,
        batch=16,
        # measured on piano-c3 (docs/stylegan.md): with stylegan2-ada's lr 0.0025, γ 0.2 and
        # EMA ramp-up 0.05, stft-magif's Fréchet CREPE distance fell from 0.51 to 0.20 in
        # 1 kimg and climbed back to 0.85 by 2 kimg; lr 0.001, γ 4 (any image size) and a
        # slower EMA ramp-up kept it falling (0.14 at 2 kimg)
        lr_g=0.001,
        lr_d=0.001,
        r1_gamma=4.0,
        style_mixing=0.9 if arch == "stylegan2" else 0.0,
        ema_kimg=16 * 10 / 32,
        ema_rampup=0.25,
        # sparse sound images: learn in per-pixel standardised units (see ``normalize``)
        normalize="per-pixel",
        # a 20-minute run shows D each training image ~10 times: too few to overfit, so no
        # adaptive augmentation (pass ada_target=0.6 to turn it on)
        ada_target=None,
        ada_kimg=20.0,
        snapshot_kimg=1.0,
        sample_count=16,
    )


def _cpu_sparse(arch: str) -> StyleGANConfig:
    # measured on dct-square (docs/stylegan.md, "Sparse images: cpu-sparse"): with `cpu`,
    # D separated reals from fakes within 0.5 kimg (loss_D 0.05-0.09) and G filled the
    # quiet pixels (6-11 % of its pixels quiet, 42 % of the real ones) with a stationary
    # hiss; median centring puts every mostly-quiet pixel's silence at 0, the output
    # shrinkage lets G produce it exactly, and a 5x slower D keeps the game balanced
    return _cpu(arch).replace(
        name="cpu-sparse",
        normalize="per-pixel-median",
        output_shrink=1.0,
        lr_g=0.0005,
        lr_d=0.0001,
    )


def _ki(arch: str) -> StyleGANConfig:
    if arch != "stylegan2":
        raise UserError("config 'ki' is StyleGAN2's; use --config ki-sg3 with stylegan3")
    return StyleGANConfig(
        name="ki",
        arch="stylegan2",
        z_dim=512,
        w_dim=512,
        mapping_layers=2,
        channel_base=16384,
        channel_max=512,
        batch=16,
        lr_g=0.0025,
        lr_d=0.0025,
        r1_gamma=0.0002 * 256 * 256 / 16,
        pl_weight=2.0,
        style_mixing=0.9,
        ema_kimg=16 * 10 / 32,
        ema_rampup=0.05,
        fp16_blocks=4,
        conv_clamp=256.0,
        snapshot_kimg=50.0,
    )


def _ki_sg3(arch: str) -> StyleGANConfig:
    if arch != "stylegan3":
        raise UserError("config 'ki-sg3' is StyleGAN3's; use --config ki with stylegan2")
    return StyleGANConfig(
        name="ki-sg3",
        arch="stylegan3",
        z_dim=512,
        w_dim=512,
        mapping_layers=2,
        channel_base=32768,
        channel_max=512,
        use_noise=False,
        sg3_layers=14,
        sg3_margin=10,
        batch=32,
        lr_g=0.0025,
        lr_d=0.002,
        r1_gamma=2.0,
        style_mixing=0.0,
        ema_kimg=32 * 10 / 32,
        ema_rampup=0.05,
        fp16_blocks=4,
        conv_clamp=256.0,
        snapshot_kimg=50.0,
    )


CONFIGS = {"tiny": _tiny, "cpu": _cpu, "cpu-sparse": _cpu_sparse, "ki": _ki, "ki-sg3": _ki_sg3}

#: clip setting (sample rate, samples) each config trains at unless told otherwise
#: (None: the dataset's own)
CLIP_SETTING: dict[str, tuple[int | None, int | None]] = {
    "tiny": (16000, 1024),
    "cpu": (16000, 16384),
    "cpu-sparse": (16000, 16384),
    "ki": (None, None),
    "ki-sg3": (None, None),
}

#: the image area each named config's γ was stated for (γ scales with H·W; the ``cpu``
#: config's γ was measured as it is and stays fixed)
_GAMMA_AREA = {"ki": 256 * 256, "ki-sg3": 256 * 256}


def get_config(
    name: str,
    arch: str = "stylegan2",
    image_shape: tuple[int, int, int] | None = None,
    **overrides: Any,
) -> StyleGANConfig:
    """The named config for ``arch``, with γ scaled to ``image_shape``'s area, plus overrides.

    R1 γ scales with the number of pixels (the papers' γ ∝ res²) for the Ki configs;
    ``tiny`` and ``cpu`` keep theirs. Explicit ``r1_gamma`` in ``overrides`` wins.
    """
    if arch not in ARCHS:
        raise UserError(
            f"unknown StyleGAN architecture {arch!r}; choose one of: {', '.join(ARCHS)}"
        )
    if name not in CONFIGS:
        raise UserError(f"unknown StyleGAN config {name!r}; choose one of: {', '.join(CONFIGS)}")
    cfg = CONFIGS[name](arch)
    if image_shape is not None and name in _GAMMA_AREA:
        area = image_shape[1] * image_shape[2]
        cfg = cfg.replace(r1_gamma=cfg.r1_gamma * area / _GAMMA_AREA[name])
    return cfg.replace(**overrides) if overrides else cfg


def build_generator(
    cfg: StyleGANConfig, image_shape: tuple[int, int, int], c_dim: int = 0
) -> Generator:
    """The generator ``cfg`` describes for images of ``image_shape`` and ``c_dim`` classes."""
    if cfg.arch == "stylegan2":
        synthesis = SynthesisNetwork(
            image_shape,
            cfg.w_dim,
            cfg.channel_base,
            cfg.channel_max,
            cfg.use_noise,
            fp16_blocks=cfg.fp16_blocks,
            conv_clamp=cfg.conv_clamp,
        )
    elif cfg.arch == "stylegan3":
        synthesis = AliasFreeSynthesis(
            image_shape,
            cfg.w_dim,
            channel_base=cfg.channel_base,
            channel_max=cfg.channel_max,
            num_layers=cfg.sg3_layers,
            num_critical=cfg.sg3_critical,
            margin=cfg.sg3_margin,
            filter_size=cfg.sg3_filter_size,
            fp16_blocks=cfg.fp16_blocks,
            conv_clamp=cfg.conv_clamp,
        )
    else:
        raise UserError(f"unknown StyleGAN architecture {cfg.arch!r}")
    return Generator(
        synthesis,
        cfg.z_dim,
        cfg.w_dim,
        c_dim,
        cfg.mapping_layers,
        cfg.mapping_lr_mul,
        cfg.output_shrink,
    )


def build_discriminator(
    cfg: StyleGANConfig, image_shape: tuple[int, int, int], c_dim: int = 0
) -> Discriminator:
    """The discriminator ``cfg`` describes (StyleGAN2's residual D for both architectures)."""
    return Discriminator(
        image_shape,
        cfg.channel_base,
        cfg.channel_max,
        c_dim,
        cfg.mbstd_group,
        fp16_blocks=cfg.fp16_blocks,
        conv_clamp=cfg.conv_clamp,
    )
