"""One-pixel errors of a log-mel image decoded by Griffin–Lim, recomputing only the frames a
pixel reaches (:class:`GriffinLimErrors`).

A :class:`~grainbench.stages.logmel.LogMel` decode turns each frame's mel column into that
frame's linear magnitudes on its own, then runs Griffin–Lim: every iteration overlap-adds
the frames' inverse FFTs, re-analyses the signal and projects onto the target magnitudes.
A frame's samples overlap ``d = n_fft/hop − 1`` neighbours on each side, so moving one pixel
in frame t (a mel value, or — through an :class:`~grainbench.stages.logmel.MFCC` stage — a
cepstral coefficient of frame t) changes the target of frame t alone, and after k
iterations the spectra of frames within ``3k`` (``d·k``) of t at most: every other frame
follows the base clip's own trajectory *exactly*, value for value. So the base clip's
trajectory is recorded once (the spectrum entering every iteration and the projected one
leaving it), and a perturbed image replays only the cone ``|τ − t| ≤ d·k`` of iteration k,
reading the frames around it from the record. That is the same arithmetic as decoding the
perturbed image, on ~40 % of the frames (n_iter = 32, 256 frames), with the moved frame's
magnitudes from one mel inversion shared by many pixels; once the cone would wrap around a
clip, the replay continues on whole clips. The error is the replay's audio minus the base's
over the blocks it reaches and exactly zero elsewhere, where decoding the perturbed image
gives the base's samples again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from grainbench.stages.framing import SQRT2
from grainbench.stages.logmel import LogMel
from grainbench.stages.stft import windowed_irfft
from grainbench.threads import map_on_workers

PAIRS_PER_PASS = 16
"""Perturbed images (pixel × δ) replayed together: bounds the cones' memory (≈ 0.8 MB a
frame window of the last iteration at 44.1 kHz)."""


class Trajectory:
    """A base clip's Griffin–Lim record ``(Ch, T, F)`` per iteration: ``spec[k]`` enters
    iteration k, ``cur[k]`` is the projected spectrum before it (``cur[0]`` the start),
    ``target`` the magnitudes on :func:`windowed_rfft`'s scale and ``start`` the initial
    phase factors ``(T, F)``."""

    def __init__(self, stage: LogMel, target: torch.Tensor, start: torch.Tensor) -> None:
        self.target, self.start = target, start
        spec = target * start
        prev = spec
        self.spec, self.cur = [], [prev]
        for _ in range(stage.n_iter):
            self.spec.append(spec)
            spec, prev = stage.griffin_lim_step(spec, prev, target)
            self.cur.append(prev)
        self.audio = windowed_irfft(prev, stage.win, stage.hop)  # (Ch, N)


class GriffinLimErrors:
    """Errors of single coefficients of a :class:`LogMel` stage's planes ``(Ch, 1, M, T)``,
    or of the planes of frame-local stages after it (``after``, e.g. MFCC)."""

    mode = "griffinlim"
    #: accepts frame-local stages after its own (``after``)
    accepts_after = "frame_local"

    def __init__(self, stage: LogMel, after: Sequence[Any] = ()) -> None:
        self.stage, self.after = stage, list(after)
        self._base: tuple[torch.Tensor, Trajectory] | None = None

    def dense(self, shape: tuple[int, ...], coeffs: torch.Tensor) -> torch.Tensor:
        """Which of ``coeffs`` must be decoded in full: none."""
        return torch.zeros(len(coeffs), dtype=torch.bool, device=coeffs.device)

    def _targets(self, planes: torch.Tensor) -> torch.Tensor:
        """Planes ``(…, Ch, 1, M, T)`` → magnitudes ``(…, Ch, T, F)`` on the scale of
        :func:`windowed_rfft` (DC and Nyquist √2 too large), as the stage decodes them."""
        y = planes
        for stage in reversed(self.after):
            y = stage.inverse(y)
        mag = self.stage.magnitude(y.reshape(-1, *y.shape[-3:]))  # (…·Ch, 1, F, T)
        mag = mag.reshape(*y.shape[:-3], *mag.shape[-2:])
        edges = torch.ones(mag.shape[-2], device=mag.device)
        edges[[0, -1]] = SQRT2
        return (mag.transpose(-1, -2) * edges).contiguous()

    def _trajectory(self, planes: torch.Tensor) -> Trajectory:
        """The base clip's record (kept for the next call on the same planes)."""
        if self._base is not None and torch.equal(self._base[0], planes):
            return self._base[1]
        target = self._targets(planes)
        gen = torch.Generator().manual_seed(self.stage.seed)
        bins, frames = target.shape[-1], target.shape[-2]
        phase0 = torch.rand(bins, frames, generator=gen, dtype=torch.float64) * 2 * torch.pi
        start = torch.polar(torch.ones_like(phase0), phase0).to(torch.complex64)
        record = Trajectory(self.stage, target, start.to(planes.device).transpose(0, 1))
        self._base = (planes.clone(), record)
        return record

    def errors(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """``decode(planes + s·1_k) − decode(planes)`` ``(P, D, Ch, n)`` for flat coefficient
        indices ``coeffs (P,)`` of ``planes (Ch, 1, M, T)`` and every ``s`` in ``deltas (D,)``."""
        ch, _, m, t = planes.shape
        base = self._trajectory(planes)
        c, col = coeffs // (m * t), coeffs % t
        p, d = len(coeffs), len(deltas)
        pair_c, pair_t = c.repeat_interleave(d), col.repeat_interleave(d)
        columns = self._moved_columns(planes, coeffs, deltas.to(planes.dtype))  # (P·D, F)
        passes = [slice(i, i + PAIRS_PER_PASS) for i in range(0, p * d, PAIRS_PER_PASS)]

        def replay(sl: slice) -> torch.Tensor:
            return self._replay(base, pair_c[sl], pair_t[sl], columns[sl], ch)

        if planes.device.type == "cpu":
            parts = map_on_workers(replay, passes)
        else:
            parts = [replay(sl) for sl in passes]
        return torch.cat(parts).reshape(p, d, ch, -1)

    def _moved_columns(
        self, planes: torch.Tensor, coeffs: torch.Tensor, deltas: torch.Tensor
    ) -> torch.Tensor:
        """The moved frame's target magnitudes ``(P·D, F)`` of every pixel and δ.

        Images holding one moved coefficient per (channel, frame) each go through the mel
        inversion together: a frame's magnitudes depend on its own column alone."""
        ch, _, m, t = planes.shape
        p, d = len(coeffs), len(deltas)
        flat_c = coeffs.repeat_interleave(d)
        step = deltas.repeat(p)
        key = (flat_c // (m * t)) * t + flat_c % t  # (channel, frame) of each pair
        order = torch.argsort(key, stable=True)
        rank = torch.empty_like(order)
        sorted_key = key[order]
        first = torch.searchsorted(sorted_key, sorted_key, right=False)
        rank[order] = torch.arange(len(order), device=key.device) - first
        n_groups = int(rank.max()) + 1
        moved = planes.expand(n_groups, *planes.shape).clone().reshape(n_groups, -1)
        moved[rank, flat_c] += step
        targets = self._targets(moved.reshape(n_groups, *planes.shape))  # (G, Ch, T, F)
        return targets[rank, flat_c // (m * t), flat_c % t]

    def _replay(
        self,
        base: Trajectory,
        c: torch.Tensor,
        t0: torch.Tensor,
        column: torch.Tensor,
        ch: int,
    ) -> torch.Tensor:
        """Errors ``(Q, Ch, n)`` of Q images whose frame ``t0`` of channel ``c`` has the target
        magnitudes ``column (Q, F)``, replaying the iterations on their cones."""
        st = self.stage
        frames = base.target.shape[-2]
        d = st.n_fft // st.hop - 1
        spec = column * base.start[t0]
        own_spec, own_prev, rho = spec[:, None], spec[:, None], 0
        for k in range(st.n_iter):
            reach = rho + 2 * d
            if 2 * reach + 1 > frames:
                return self._finish_whole(base, c, t0, column, own_spec, own_prev, rho, k, ch)
            spec_in = self._gather(base.spec[k], c, t0, reach, own_spec, rho)
            signal = self._local_signal(spec_in)  # frames −reach+d … reach−d analysed
            cur = torch.fft.rfft(
                signal.unfold(-1, st.n_fft, st.hop) * (st.win * SQRT2), dim=-1, norm="ortho"
            )
            target = self._gather(base.target, c, t0, rho + d, column[:, None], 0)
            cur = st.project(cur, target)
            own_spec = st.accelerate(cur, self._gather(base.cur[k], c, t0, rho + d, own_prev, rho))
            own_prev, rho = cur, rho + d
        reach = rho + d
        if 2 * reach + 1 > frames:
            return self._finish_whole(base, c, t0, column, own_spec, own_prev, rho, st.n_iter, ch)
        audio = self._local_signal(self._gather(base.cur[st.n_iter], c, t0, reach, own_prev, rho))
        return self._place(base, c, t0, audio, reach, ch)

    @staticmethod
    def _gather(
        record: torch.Tensor,
        c: torch.Tensor,
        t0: torch.Tensor,
        reach: int,
        own: torch.Tensor,
        rho: int,
    ) -> torch.Tensor:
        """Frames ``t0 − reach … t0 + reach`` (circular) of ``record (Ch, T, F)``, with the
        replay's own values ``own (Q, 2ρ+1, F)`` over the middle ``2ρ + 1``."""
        frames = record.shape[-2]
        offsets = torch.arange(-reach, reach + 1, device=t0.device)
        out = record[c[:, None], (t0[:, None] + offsets) % frames]  # (Q, 2·reach+1, F)
        out[:, reach - rho : reach + rho + 1] = own
        return out

    def _local_signal(self, spec: torch.Tensor) -> torch.Tensor:
        """Overlap-add of frames ``−L … L`` ``(Q, 2L+1, F)`` → the samples ``(Q, (2L+2−r)·hop)``
        of the hop blocks every one of whose r/2 + r/2 frames is among them (r = n_fft/hop),
        summed in :func:`overlap_add_circular`'s order."""
        st = self.stage
        r, hop = st.n_fft // st.hop, st.hop
        pieces = torch.fft.irfft(spec, n=st.n_fft, dim=-1, norm="ortho") * (st.win / SQRT2)
        pieces = pieces.unflatten(-1, (r, hop))  # (Q, 2L+1, r, hop)
        n_frames = spec.shape[-2]
        n_blocks = n_frames - r + 1
        # block b (from the first complete one) gets piece j of frame b + r − 1 − j
        out = pieces[:, r // 2 - 1 : r // 2 - 1 + n_blocks, r // 2] * 1
        for j in range(r):
            if j == r // 2:
                continue
            start = r - 1 - j
            out += pieces[:, start : start + n_blocks, j]
        return out.flatten(-2)

    def _place(
        self,
        base: Trajectory,
        c: torch.Tensor,
        t0: torch.Tensor,
        audio: torch.Tensor,
        reach: int,
        ch: int,
    ) -> torch.Tensor:
        """Errors ``(Q, Ch, n)``: the :meth:`_local_signal` ``audio`` of frames ``t0 ± reach``
        minus the base's samples there, zero elsewhere."""
        st = self.stage
        hop, r = st.hop, st.n_fft // st.hop
        blocks = base.audio.shape[-1] // hop
        lo = reach - r // 2 + 1
        offsets = torch.arange(-lo, -lo + audio.shape[-1] // hop, device=t0.device)
        where = (t0[:, None] + offsets) % blocks  # (Q, n_blocks)
        base_blocks = base.audio.unflatten(-1, (blocks, hop))[c[:, None], where]
        out = torch.zeros(len(c), ch, blocks, hop, device=audio.device)
        out[torch.arange(len(c), device=c.device)[:, None], c[:, None], where] = (
            audio.unflatten(-1, (-1, hop)) - base_blocks
        )
        return out.flatten(-2)

    def _finish_whole(
        self,
        base: Trajectory,
        c: torch.Tensor,
        t0: torch.Tensor,
        column: torch.Tensor,
        own_spec: torch.Tensor,
        own_prev: torch.Tensor,
        rho: int,
        k: int,
        ch: int,
    ) -> torch.Tensor:
        """Iterations ``k…`` on whole clips once the cone (radius ρ) no longer fits in one."""
        st = self.stage
        frames = base.target.shape[-2]
        idx = (t0[:, None] + torch.arange(-rho, rho + 1, device=t0.device)) % frames
        rows = torch.arange(len(c), device=c.device)[:, None]
        spec, prev = base.spec[k][c].clone(), base.cur[k][c].clone()  # (Q, T, F)
        spec[rows, idx], prev[rows, idx] = own_spec, own_prev
        target = base.target[c].clone()
        target[torch.arange(len(c), device=c.device), t0] = column
        for _ in range(k, st.n_iter):
            spec, prev = st.griffin_lim_step(spec, prev, target)
        audio = windowed_irfft(prev, st.win, st.hop) - base.audio[c]  # (Q, n)
        out = torch.zeros(len(c), ch, audio.shape[-1], device=audio.device)
        out[torch.arange(len(c), device=c.device), c] = audio
        return out
