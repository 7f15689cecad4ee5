"""Per-pixel metrics of a representation without a factorised form: brute-force decoding,
and forward mode for small δs (:class:`DecodedMeasure`; docs/performance.md has the method,
its tolerance and what it costs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from grainbench.analysis.forward import NotDifferentiable
from grainbench.analysis.magif_errors import combine
from grainbench.analysis.maps import (
    CHUNK_SAMPLES,
    COSINE_CHUNK,
    METRICS,
    MULTIPLIERS,
    PerturbationMaps,
    log_ratio,
    slope,
)
from grainbench.analysis.pixel_errors import PixelErrors, chunks
from grainbench.analysis.shape import ErrorAnalyser, ShapeStats

FIRST_ORDER_MAX_DELTA = 2 / 255 + 1e-12
"""δs up to one 8-bit step may be served by forward mode (:class:`DecodedMeasure`)."""

CHECK_PIXELS = 8
"""Seeded pixels decoded by brute force on every base to check forward mode."""

CHECK_TOLERANCE = 0.05
"""Forward mode must agree with the real decode to 5 % (relative error of the error signal
at δ, ≈ 0.4 dB in ESR and audibility; and ±0.05 in the proportionality slope)."""

CHECK_FLOOR_DB = -140.0
"""Check pairs with a real error under −140 dB (ESR) do not count: the float32 decode's
rounding noise (−150 to −170 dB of the clip for the built-in decoders) is within 10–30 dB."""

LINEAR_TOLERANCE = 0.25
"""A pair uses the quadratic curve only when ``‖e(4δ) − 4δ·J‖ ≤ 0.25·‖e(4δ)‖``."""


def _quantiles(values: np.ndarray) -> dict[str, float] | None:
    v = values[np.isfinite(values)]
    if not v.size:
        return None
    return {
        "median": float(np.median(v)),
        "p90": float(np.percentile(v, 90)),
        "max": float(v.max()),
    }


def _agreement(rows: np.ndarray) -> dict[str, Any]:
    """Whether forward mode serves a δ, from its check pairs ``rows (pairs, 5)`` (see
    :meth:`DecodedMeasure._compare`), with the agreement stated.

    Pairs whose real error is under :data:`CHECK_FLOOR_DB` are left out: there the float32
    brute-force decode carries rounding noise of the same order as the error. Forward mode
    serves the δ when at least half of the other pairs may use the curve and, over those,
    the 90th percentiles of the curve's relative error at δ and of its slope's difference
    from the real one are within :data:`CHECK_TOLERANCE`.
    """
    esr, rel_derivative, rel_curve, slope_diff, usable = rows.T
    resolved = np.isfinite(esr) & (esr >= CHECK_FLOOR_DB)
    used = resolved & (usable > 0)
    note: dict[str, Any] = {
        "tolerance": CHECK_TOLERANCE,
        "floor_db": CHECK_FLOOR_DB,
        "check_pairs": int(len(rows)),
        "resolved_pairs": int(resolved.sum()),
        "curve_pairs": int(used.sum()),
        "derivative_rel_error": _quantiles(rel_derivative[resolved]),
        "curve_rel_error": _quantiles(rel_curve[used]),
        "slope_difference": _quantiles(slope_diff[used]),
    }
    if not resolved.any():
        note.update(served=False, reason=f"no check pair above {CHECK_FLOOR_DB} dB")
        return note
    if 2 * used.sum() < resolved.sum():
        note.update(served=False, reason="most check pairs bend too much for the curve")
        return note
    worst = max(note["curve_rel_error"]["p90"], note["slope_difference"]["p90"])
    note["served"] = worst <= CHECK_TOLERANCE
    if not note["served"]:
        note["reason"] = "the curve disagrees with the decode beyond the tolerance"
    return note


class DecodedMeasure:
    """The per-pixel metrics of a representation without a factorised form.

    **Brute force** (mode "magif" at every δ, where :meth:`PixelErrors.decoded_errors` is
    exact without decoding; mode "decode" at every δ above :data:`FIRST_ORDER_MAX_DELTA`
    and any δ whose decode has no forward-mode derivative or fails the check):
    ``e = decode(image + mδ·1_p) − decode(image)`` for every multiplier m and every such δ
    of a pixel together, many perturbed images of one base per decode call, the base's own
    decode computed once.

    **Forward mode** (mode "decode", δ ≤ :data:`FIRST_ORDER_MAX_DELTA`): each pixel's Jacobian column
    ``J = ∂decode/∂x_p`` (:mod:`grainbench.analysis.forward`) and one real decode at the largest
    multiplier ``s₄ = 4δ`` give the quadratic error curve ``e(s) = s·J + (s/s₄)²·r`` with
    ``r = e(s₄) − s₄·J``: exact at s₄, exact to first order as s → 0, second-order in
    between. The maps at δ use ``e(δ)``, the proportionality the curve's norms at every
    multiplier. A pair (base, pixel) whose column is zero or not finite, or whose curve bends
    by more than :data:`LINEAR_TOLERANCE` at s₄ (``‖r‖ > 0.25·‖e(s₄)‖``), is decoded at every
    multiplier instead. Before that, :data:`CHECK_PIXELS` seeded pixels are decoded by brute
    force on every base (their values are those brute force gives) and the curve is compared
    with them; forward mode serves the δ only when the comparison passes (see ``_agreement``).
    """

    def __init__(
        self,
        errors: PixelErrors,
        analyser: ErrorAnalyser,
        images: torch.Tensor,
        decoded: torch.Tensor,
        progress: Any,
    ) -> None:
        self.errors, self.analyser, self.progress = errors, analyser, progress
        self.images, self.decoded = images, decoded
        self.ref_energy = decoded.double().pow(2).sum(dim=(-1, -2))  # (B,)
        self.inv_masks = 1.0 / analyser.masks(decoded)
        n = analyser.n_samples * int(decoded.shape[1])
        self.size = max(1, CHUNK_SAMPLES // (n * len(MULTIPLIERS)))
        self.out: dict[str, np.ndarray] = {}

    def measure(self, pix: torch.Tensor, deltas: Sequence[float], seed: int) -> PerturbationMaps:
        """Maps ``(B, P, D)`` of flat pixel indices ``pix`` at every δ."""
        shape = (self.images.shape[0], len(pix), len(deltas))
        self.out = {name: np.full(shape, np.nan) for name, _ in METRICS}
        notes: list[dict[str, Any] | None] = [None] * len(deltas)
        forward = self.errors.mode == "decode"
        brute = [di for di, x in enumerate(deltas) if not (forward and x <= FIRST_ORDER_MAX_DELTA)]
        self._brute(pix, np.arange(len(pix)), {di: deltas[di] for di in brute})
        for di, delta in enumerate(deltas):
            if di not in brute:
                notes[di] = self._forward(pix, di, delta, seed)
        return PerturbationMaps(**self.out, first_order=notes)

    @staticmethod
    def _multiplied(delta: float) -> torch.Tensor:
        return torch.tensor([delta * m for m in MULTIPLIERS], dtype=torch.float64)

    def _store(
        self, bi: int, positions: np.ndarray, di: int, values: dict[str, torch.Tensor]
    ) -> None:
        """Write per-pixel ``values`` of base ``bi``; NaN where the error is exactly zero."""
        live = (values["energy"] > 0).cpu().numpy()
        for name, _ in METRICS:
            v = values[name].double().cpu().numpy()
            self.out[name][bi, positions, di] = np.where(live, v, np.nan)

    def _values(self, bi: int, unit_errors: torch.Tensor, norms: torch.Tensor) -> dict:
        """Metrics of errors ``(P, ch, n)`` at δ on base ``bi``, norms ``(P, M)`` for the slope."""
        return self._values_of(bi, self.analyser.shape(unit_errors), norms)

    def _values_of(self, bi: int, stats: ShapeStats, norms: torch.Tensor) -> dict:
        """Metrics of errors at δ on base ``bi`` from their shape, norms ``(P, M)``."""
        ratio = ErrorAnalyser.worst_ratio(stats.bands, self.inv_masks[bi : bi + 1])[:, 0]
        return {
            "energy": stats.energy,
            "esr": log_ratio(stats.energy / self.ref_energy[bi]),
            "audibility": log_ratio(ratio),
            "proportionality": slope(norms),
            "time_spread": stats.time_spread,
            "freq_spread": stats.freq_spread,
        }

    def _decoded_values(self, bi: int, err: torch.Tensor) -> dict:
        """Metrics from brute-force errors ``(P, M, ch, n)`` of base ``bi``."""
        norms = torch.linalg.vector_norm(err, dim=(-1, -2)).double()
        return self._values(bi, err[:, MULTIPLIERS.index(1.0)], norms)

    def _brute(
        self,
        pix: torch.Tensor,
        positions: np.ndarray,
        deltas: dict[int, float],
        bases: Sequence[int] | None = None,
    ) -> None:
        """Brute force for ``pix[positions]`` at ``deltas`` (index → δ) on ``bases`` (default:
        every base), all δs of a pixel in one call."""
        if not deltas or not len(positions):
            return
        ds = torch.cat([self._multiplied(x) for x in deltas.values()])
        closed = hasattr(self.errors.exact, "cosines")
        size = max(1, (COSINE_CHUNK if closed else self.size) // len(deltas))
        bases = range(self.images.shape[0]) if bases is None else bases
        jobs = [(bi, positions[sl]) for bi in bases for sl in chunks(len(positions), size)]
        for bi, pos in self.progress(jobs, desc="perturbation decodes"):
            parts = self.errors.factored_errors(self.images[bi], pix[pos], ds)
            if parts is not None:
                self._store_factored(bi, pos, deltas, *parts)
                continue
            cosines = self.errors.cosine_errors(self.images[bi], pix[pos], ds)
            if cosines is not None:
                self._store_cosines(bi, pos, deltas, *cosines)
                continue
            err = self.errors.decoded_errors(self.images[bi], self.decoded[bi], pix[pos], ds)
            err = err.unflatten(1, (len(deltas), len(MULTIPLIERS)))
            for k, di in enumerate(deltas):
                self._store(bi, pos, di, self._decoded_values(bi, err[:, k]))

    def _store_factored(
        self,
        bi: int,
        pos: np.ndarray,
        deltas: dict[int, float],
        basis: torch.Tensor,
        coef: torch.Tensor,
    ) -> None:
        """:meth:`_brute`'s values from factored errors ``basis (P, R, ch, n)``, ``coef
        (P, D·M, R)``: norms from the basis' Gram matrix (float64), each δ's error itself only
        at multiplier 1 (where the shape is analysed)."""
        flat = basis.flatten(2).double()
        gram = flat @ flat.transpose(1, 2)  # (P, R, R)
        coef = coef.unflatten(1, (len(deltas), len(MULTIPLIERS)))
        for k, di in enumerate(deltas):
            c = coef[:, k]  # (P, M, R)
            norms = torch.einsum("pmr,prs,pms->pm", c, gram, c).clamp_min(0.0).sqrt()
            unit = combine(basis, c[:, MULTIPLIERS.index(1.0), None])[:, 0]
            self._store(bi, pos, di, self._values(bi, unit, norms))

    def _store_cosines(
        self,
        bi: int,
        pos: np.ndarray,
        deltas: dict[int, float],
        alpha: torch.Tensor,
        u: torch.Tensor,
        phase: torch.Tensor,
        channel: torch.Tensor,
    ) -> None:
        """:meth:`_brute`'s values from errors that are whole-clip cosines ``α·cos(πu·n/N +
        φ)`` (``α, φ (P, D·M)``, ``u, channel (P,)``): the shape in closed form
        (:meth:`ErrorAnalyser.shape_of_cosines`), the norms ``|α|·√(N/2)``."""
        alpha, phase = (x.unflatten(1, (len(deltas), len(MULTIPLIERS))) for x in (alpha, phase))
        unit, n_channels = MULTIPLIERS.index(1.0), int(self.decoded.shape[1])
        for k, di in enumerate(deltas):
            stats = self.analyser.shape_of_cosines(
                alpha[:, k, unit], u, phase[:, k, unit], channel, n_channels
            )
            norms = alpha[:, k].abs() * math.sqrt(self.analyser.n_samples / 2)
            self._store(bi, pos, di, self._values_of(bi, stats, norms))

    @staticmethod
    def _curve(
        columns: torch.Tensor, top: torch.Tensor, delta: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The quadratic error curve of columns ``J (P, ch, n)`` through the real errors
        ``top (P, ch, n)`` at ``4δ``: its errors at δ ``(P, ch, n)`` float64, its norms at every
        multiplier ``(P, M)`` and whether each pair may use it ``(P,)``."""
        m = torch.tensor(MULTIPLIERS, dtype=torch.float64, device=columns.device)
        s, w = m * delta, (m / max(MULTIPLIERS)) ** 2  # (M,)
        jac, e_top = columns.double(), top.double()
        r = e_top - (max(MULTIPLIERS) * delta) * jac
        jj = jac.pow(2).sum(dim=(-1, -2))[:, None]
        jr = (jac * r).sum(dim=(-1, -2))[:, None]
        rr = r.pow(2).sum(dim=(-1, -2))[:, None]
        norms = (s.pow(2) * jj + 2.0 * s * w * jr + w.pow(2) * rr).clamp_min(0.0).sqrt()
        unit = MULTIPLIERS.index(1.0)
        at_delta = delta * jac + float(w[unit]) * r
        bend = rr[:, 0].sqrt() / e_top.pow(2).sum(dim=(-1, -2)).sqrt()
        usable = torch.isfinite(jac).all(-1).all(-1) & (jj[:, 0] > 0) & (bend <= LINEAR_TOLERANCE)
        return at_delta, norms, usable

    def _columns(self, bi: int, idx: torch.Tensor) -> torch.Tensor | None:
        try:
            return self.errors.columns(self.images[bi : bi + 1], idx)
        except NotDifferentiable:
            return None

    def _forward(self, pix: torch.Tensor, di: int, delta: float, seed: int) -> dict[str, Any]:
        """Check forward mode on seeded pixels, then serve δ by it (or by brute force)."""
        p, b = len(pix), self.images.shape[0]
        check = np.sort(np.random.default_rng(seed).choice(p, min(CHECK_PIXELS, p), replace=False))
        rest = np.setdiff1d(np.arange(p), check)
        ds = self._multiplied(delta)
        rows = []
        for bi in self.progress(range(b), desc="perturbation check"):
            try:
                columns = self.errors.columns(self.images[bi : bi + 1], pix[check])
            except NotDifferentiable as exc:
                self._brute(pix, rest, {di: delta}, range(bi))
                self._brute(pix, np.arange(p), {di: delta}, range(bi, b))
                return {"served": False, "reason": f"no forward-mode derivative: {exc}"}
            err = self.errors.decoded_errors(self.images[bi], self.decoded[bi], pix[check], ds)
            real = self._decoded_values(bi, err)
            self._store(bi, check, di, real)
            rows.append(self._compare(bi, err, columns, delta, real["proportionality"]))
        note = _agreement(torch.cat(rows).cpu().numpy())
        if not note["served"]:
            self._brute(pix, rest, {di: delta})
            return note
        top = MULTIPLIERS.index(max(MULTIPLIERS))
        others = [k for k in range(len(MULTIPLIERS)) if k != top]
        counts = {"forward": 0, "decoded": 0}
        jobs = [(bi, rest[sl]) for bi in range(b) for sl in chunks(len(rest), self.size)]
        for bi, pos in self.progress(jobs, desc="perturbation derivatives"):
            idx = pix[pos]
            columns = self._columns(bi, idx)
            image, decoded = self.images[bi], self.decoded[bi]
            e_top = self.errors.decoded_errors(image, decoded, idx, ds[top : top + 1])[:, 0]
            if columns is None:
                usable = torch.zeros(len(idx), dtype=torch.bool)
            else:
                at_delta, norms, usable = self._curve(columns, e_top, delta)
                ok = usable.cpu().numpy()
                if ok.any():
                    self._store(bi, pos[ok], di, self._values(bi, at_delta[usable], norms[usable]))
            bad = ~usable.cpu()
            if bad.any():
                err = e_top[bad.to(e_top.device), None].repeat(1, len(MULTIPLIERS), 1, 1)
                err[:, others] = self.errors.decoded_errors(image, decoded, idx[bad], ds[others])
                self._store(bi, pos[bad.numpy()], di, self._decoded_values(bi, err))
            counts["forward"] += int(usable.sum())
            counts["decoded"] += int(bad.sum())
        note["pairs"] = counts
        return note

    def _compare(
        self,
        bi: int,
        err: torch.Tensor,
        columns: torch.Tensor,
        delta: float,
        real_slope: torch.Tensor,
    ) -> torch.Tensor:
        """Per check pair ``(P, 5)``: ESR of the real error (dB), relative error of ``δ·J``
        and of the curve at δ, the slope difference, and whether the curve is usable."""
        unit = MULTIPLIERS.index(1.0)
        real = err[:, unit].double()
        size = real.pow(2).sum(dim=(-1, -2)).sqrt()
        at_delta, norms, usable = self._curve(
            columns, err[:, MULTIPLIERS.index(max(MULTIPLIERS))], delta
        )

        def rel(x: torch.Tensor) -> torch.Tensor:
            return (x - real).pow(2).sum(dim=(-1, -2)).sqrt() / size

        return torch.stack(
            [
                log_ratio(size.pow(2) / self.ref_energy[bi]),
                rel(delta * columns.double()),
                rel(at_delta),
                (slope(norms) - real_slope).abs(),
                usable.double(),
            ],
            dim=-1,
        )
