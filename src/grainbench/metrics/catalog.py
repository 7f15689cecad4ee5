"""The metric catalogue: every metric's unit, direction and meaning (SPEC section 6).

Tables, leaderboards, ``compare`` and ``check`` read direction and unit from here, so every
metric is judged the same way with no special cases. ``higher_is_better`` is ``None`` for
descriptive numbers that are neither good nor bad (e.g. an atom's time centroid).
"""

from __future__ import annotations

from dataclasses import dataclass

from grainbench.errors import UserError


@dataclass(frozen=True)
class MetricSpec:
    """What one metric is: name, unit, whether higher is better, and a one-line meaning."""

    name: str
    unit: str
    higher_is_better: bool | None
    description: str


_SPECS = [
    # round trip (SPEC 4.1)
    MetricSpec("snr", "dB", True, "signal-to-noise ratio of the round trip"),
    MetricSpec("si_sdr", "dB", True, "scale-invariant signal-to-distortion ratio"),
    MetricSpec("lsd", "dB", False, "log-spectral distance"),
    MetricSpec("mrstft", "", False, "multi-resolution STFT distance (auraloss)"),
    MetricSpec("spectral_convergence", "dB", True, "20·log10(‖|S|‖ / ‖|S|−|Ŝ|‖)"),
    MetricSpec("max_abs_error", "", False, "largest absolute sample error"),
    MetricSpec("clipped_fraction", "", False, "fraction of pixels clipped by the codec"),
    # perturbation (SPEC 4.2): per pixel, then over pixels (stat=median/p5/p95) either
    # uniformly (weight=none) or weighted by the pixel's mean energy in the training data
    # (weight=energy, the headline: grainbench.pixel_energy, grainbench.metrics.weighted)
    MetricSpec(
        "esr",
        "dB",
        False,
        "error-to-signal ratio of a one-pixel change; over pixels uniform (weight=none) or "
        "energy-weighted (weight=energy)",
    ),
    MetricSpec(
        "proportionality",
        "",
        None,
        "slope of log‖e‖ against log δ (1 = proportionate); over pixels uniform or energy-weighted",
    ),
    MetricSpec(
        "proportionality_dev",
        "",
        False,
        "|slope − 1| of log‖e‖ against log δ; over pixels uniform or energy-weighted",
    ),
    MetricSpec(
        "time_spread",
        "s",
        False,
        "shortest duration holding 90% of the error energy; over pixels uniform or energy-weighted",
    ),
    MetricSpec(
        "freq_spread",
        "ERB",
        False,
        "narrowest band holding 90% of the error energy; over pixels uniform or energy-weighted",
    ),
    MetricSpec(
        "audibility",
        "dB",
        False,
        "worst-frame noise-to-mask ratio (> 0 audible); over pixels uniform or energy-weighted",
    ),
    # locality (SPEC 4.3): neighbour pairs (p, q) counted uniformly (weight=none) or
    # weighted by (E_p + E_q)/2, their mean energy in the training data (weight=energy)
    MetricSpec(
        "neighbour_distance",
        "",
        False,
        "median time-frequency distance d of neighbouring pixels' atoms (10 ms and 1 ERB = 1), "
        "pairs uniform (weight=none) or weighted by their mean energy (weight=energy)",
    ),
    MetricSpec(
        "local_fraction",
        "",
        True,
        "share of neighbour pairs with distance ≤ 1, pairs uniform (weight=none) or weighted by "
        "their mean energy (weight=energy)",
    ),
    MetricSpec("gabor_ratio", "", False, "atom σt·σf relative to the Gabor limit 1/(4π)"),
    MetricSpec("neighbour_correlation", "", True, "mean Pearson correlation of neighbours"),
    MetricSpec(
        "wrap_fraction", "", False, "share of a phase part's neighbour pairs that jump over ±π"
    ),
    MetricSpec("time_centroid", "s", None, "energy-weighted time centroid of an atom"),
    MetricSpec("freq_centroid", "ERB", None, "energy-weighted ERB-rate centroid of an atom"),
    # transfer (SPEC 4.4)
    MetricSpec("pitch_deviation", "cents", False, "absolute pitch change caused by the error"),
    MetricSpec("grain_slope", "", None, "slope of sound error (dB) against image PSNR (dB)"),
    MetricSpec("grain_level", "dB", False, "sound ESR at image PSNR 40 dB (the grain level)"),
    # generation (SPEC 4.5)
    MetricSpec("fd", "", False, "Fréchet distance of embeddings"),
    MetricSpec("fd_inf", "", False, "Fréchet distance extrapolated to infinite samples"),
    MetricSpec("kid", "", False, "kernel inception distance (unbiased MMD², cubic kernel)"),
    MetricSpec("ndb", "bins", False, "number of statistically different k-means bins"),
    MetricSpec("ndb_fraction", "", False, "share of statistically different k-means bins"),
    MetricSpec("pitch_accuracy", "", True, "share of clips within 50 cents of the intended note"),
    MetricSpec("pitch_score", "", True, "inception-style score of the CREPE pitch classifier"),
    # throughput (SPEC 4.6)
    MetricSpec("encode_rtf", "×", True, "real-time factor of encode (audio s per wall s)"),
    MetricSpec("decode_rtf", "×", True, "real-time factor of decode (audio s per wall s)"),
    MetricSpec("encode_images_per_s", "1/s", True, "images encoded per wall second"),
    MetricSpec("decode_images_per_s", "1/s", True, "images decoded per wall second"),
    MetricSpec(
        "encode_vs_library", "×", False, "encode time over the same-size library transform's"
    ),
    MetricSpec("decode_vs_library", "×", False, "decode time over the same-size library inverse's"),
    MetricSpec("encode_peak_memory", "MiB", False, "memory one encode call needs at its peak"),
    MetricSpec("decode_peak_memory", "MiB", False, "memory one decode call needs at its peak"),
    MetricSpec("train_images_per_s", "1/s", True, "generator training images per wall second"),
    MetricSpec("train_s_per_kimg", "s", False, "generator training seconds per 1000 images"),
    MetricSpec("sample_clips_per_s", "1/s", True, "clips sampled and decoded per wall second"),
    MetricSpec("wall_time", "s", False, "wall-clock time"),
]

CATALOG: dict[str, MetricSpec] = {s.name: s for s in _SPECS}


def metric_spec(name: str) -> MetricSpec:
    """The catalogue entry of ``name``; a clear error for a metric nobody declared."""
    try:
        return CATALOG[name]
    except KeyError:
        raise UserError(f"metric {name!r} is not in the metric catalogue") from None
