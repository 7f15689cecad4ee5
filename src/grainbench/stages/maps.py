"""Maps computed outside torch's autograd, kept differentiable in both modes.

A stage may compute its map with anything — a library FFT on NumPy arrays, ``out=``
buffers, in-place passes — when it also states the derivative:

- :func:`linear_map`: a linear map is its own derivative: the forward-mode derivative
  (``jvp``) of x ↦ A·x is t ↦ A·t, and the reverse-mode one (``backward``) g ↦ Aᵀ·g;
- :func:`elementwise_map`: y = f(x) element by element, with f' given.

Both then work under ``torch.autograd.grad``, ``torch.autograd.forward_ad``,
``torch.func.jvp`` and ``torch.func.vmap``, to any order. The maps act on trailing
dimensions and accept any leading shape. Under ``torch.jit.trace`` (the TorchScript export
of a generator with its decode) they run their torch operations directly, to be recorded,
and stages take their torch routes (:func:`tracing`).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch.autograd import forward_ad

Map = Callable[[torch.Tensor], torch.Tensor]

#: CPU buffers of at least this many bytes come from NumPy (:func:`empty`)
_NUMPY_BYTES = 1 << 25


class _LinearMap(torch.autograd.Function):
    """``apply(x)``, differentiated as the linear map it is (``adjoint`` is its transpose)."""

    @staticmethod
    def forward(x: torch.Tensor, apply: Map, adjoint: Map) -> torch.Tensor:  # type: ignore[override]
        return apply(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _, ctx.apply_map, ctx.adjoint_map = inputs

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        return linear_map(grad, ctx.adjoint_map, ctx.apply_map), None, None

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor, *_: Any) -> torch.Tensor:
        return linear_map(tangent, ctx.apply_map, ctx.adjoint_map)

    @staticmethod
    def vmap(
        info: Any, in_dims: tuple[Any, ...], x: torch.Tensor, apply: Map, adjoint: Map
    ) -> tuple[torch.Tensor, int | None]:
        # the map acts on trailing dimensions, so the vmapped one is just another leading one
        if in_dims[0] is None:
            return linear_map(x, apply, adjoint), None
        return linear_map(x.movedim(in_dims[0], 0), apply, adjoint), 0


class _ElementwiseMap(torch.autograd.Function):
    """``f(x)`` element by element, differentiated by ``df(x)`` (element by element too)."""

    @staticmethod
    def forward(x: torch.Tensor, f: Map, df: Map) -> torch.Tensor:  # type: ignore[override]
        return f(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x, _, ctx.df = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ctx.df(x), None, None

    @staticmethod
    def jvp(ctx: Any, tangent: torch.Tensor, *_: Any) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return tangent * ctx.df(x)

    @staticmethod
    def vmap(
        info: Any, in_dims: tuple[Any, ...], x: torch.Tensor, f: Map, df: Map
    ) -> tuple[torch.Tensor, int | None]:
        return elementwise_map(x, f, df), in_dims[0]


def tracing() -> bool:
    """Whether ``torch.jit.trace`` is recording: then only torch operations may run (no
    NumPy, no autograd Functions), and derivatives are not needed."""
    return torch.jit.is_tracing()


def differentiating(x: torch.Tensor) -> bool:
    """Whether an operation on ``x`` must be recorded for derivatives: ``x`` requires grad
    while grad mode is on, carries a forward-mode tangent, or a ``torch.func`` transform
    (``jvp``, ``vjp``, ``grad``, ``vmap``) is active. When not, :func:`linear_map` and
    :func:`elementwise_map` call their map directly: an autograd Function's call costs
    tens of microseconds, a fifth of a whole-clip transform of one clip."""
    return (
        (x.requires_grad and torch.is_grad_enabled())
        or torch._C._are_functorch_transforms_active()
        or forward_ad.unpack_dual(x).tangent is not None
    )


def linear_map(x: torch.Tensor, apply: Map, adjoint: Map) -> torch.Tensor:
    """``apply(x)`` for a linear ``apply`` whose transpose is ``adjoint``.

    ``apply`` and ``adjoint`` receive plain tensors (no autograd recording, no dual or
    batched wrappers) with any leading shape, and may return any strides.
    """
    if tracing() or not differentiating(x):
        return apply(x)
    return _LinearMap.apply(x, apply, adjoint)


def elementwise_map(x: torch.Tensor, f: Map, df: Map) -> torch.Tensor:
    """``f(x)`` for an element-wise ``f`` whose derivative is ``df``.

    ``f`` receives a plain tensor (as for :func:`linear_map`) and must return a new one;
    ``df`` is written in differentiable torch operations (it is what higher derivatives
    differentiate).
    """
    if tracing() or not differentiating(x):
        return f(x)
    return _ElementwiseMap.apply(x, f, df)


def numpy_map(fn: Callable[[np.ndarray], np.ndarray]) -> Map:
    """A tensor → tensor map computed by ``fn`` on the NumPy view of a CPU tensor (no copy
    in or out, except where ``fn`` makes one)."""

    def apply(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(fn(x.numpy(force=True))))

    return apply


def library_threads() -> int:
    """Worker threads for library transforms: torch's own thread count, so that a run's
    ``--threads`` (and ``torch.set_num_threads``) governs scipy.fft as well."""
    return torch.get_num_threads()


def empty(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of ``shape`` with ``like``'s dtype and device.

    Large CPU buffers (32 MiB and up) are NumPy's, which asks the kernel for transparent
    huge pages: glibc maps every allocation that large afresh, so a torch buffer of a
    64-clip STFT batch (64 MiB) takes 16,384 page faults per call, which cost more than
    the arithmetic that fills it. Plain tensors either way (torch's own while tracing).
    """
    dtype = _NUMPY_DTYPES.get(like.dtype)
    if (
        dtype is None
        or like.device.type != "cpu"
        or math.prod(shape) * dtype().itemsize < _NUMPY_BYTES
        or tracing()
    ):
        return like.new_empty(tuple(shape))
    return torch.from_numpy(np.empty(tuple(shape), dtype=dtype))


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}

#: :func:`elementwise_passes` goes through a tensor about this many elements (256 KiB of
#: float32) at a time, so that every pass over a block finds it in cache
_BLOCK_ELEMENTS = 1 << 16

Passes = Callable[[Any, Any, Any], object]


def on_numpy(x: torch.Tensor) -> bool:
    """Whether a stage's plain (no autograd) work on ``x`` goes to NumPy and scipy.fft: a
    float32 or float64 CPU tensor, outside ``torch.jit.trace``."""
    return x.device.type == "cpu" and x.dtype in _NUMPY_DTYPES and not tracing()


def _copysign_bits(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """``numpy.copysign(x, y, out=out)`` for ``x ≥ +0`` (no sign bit): y's sign bit or-ed
    in, a quarter of NumPy's copysign time."""
    ints = {4: np.int32, 8: np.int64}[x.dtype.itemsize]
    sign = np.bitwise_and(y.view(ints), np.array(1, dtype=ints) << (8 * x.dtype.itemsize - 1))
    np.bitwise_or(x.view(ints), sign, out=out.view(ints))


#: NumPy's functions under the names :func:`elementwise_passes` promises; ``copysign`` is
#: :func:`_copysign_bits` (every curve passes it a magnitude, never a negative number)
_NUMPY_LIB = SimpleNamespace(
    **{name: getattr(np, name) for name in ("abs", "multiply", "divide", "log1p", "expm1", "pow")},
    copysign=_copysign_bits,
)


def elementwise_passes(
    x: torch.Tensor, passes: Passes, out: torch.Tensor | None = None
) -> torch.Tensor:
    """A new tensor of ``x``'s shape (or ``out``, of that shape, whose rows along the last
    axis must be contiguous), filled by ``passes(lib, x_part, out_part)``.

    ``passes`` writes ``out_part`` from ``x_part`` element by element with ``lib``'s
    ``out=`` functions: ``abs``, ``multiply``, ``divide``, ``log1p``, ``expm1``, ``pow``
    and ``copysign`` (of a first argument ≥ +0), torch's or NumPy's.
    A float32 or float64 CPU tensor goes to NumPy in blocks of whole rows (last axis) of
    about 64 Ki elements, every pass over a block while it is in cache: one torch
    operation per pass sweeps the whole batch once per pass, and on a busy machine waiting
    for torch's worker threads costs more than the arithmetic. A tensor of many blocks is
    split into as many contiguous runs of blocks as :func:`library_threads` says, one per
    thread (each element's arithmetic is the same on any thread: the values do not depend
    on the thread count); a small one stays in this thread. Anything
    else (another device or dtype, or while tracing) gets torch and the whole tensor.
    """
    if out is None:
        out = empty(x.shape, x)
    if not on_numpy(x):
        passes(torch, x, out)
        return out
    if x.numel() == 0:
        return out
    k = x.shape[-1] if x.dim() else 1
    rows_in = x.reshape(-1, k).numpy(force=True)
    rows_out = out.view(-1, k).numpy()
    step = max(1, _BLOCK_ELEMENTS // k)
    starts = range(0, rows_in.shape[0], step)
    # whole blocks per thread: ``lanes`` contiguous runs of blocks, one per thread
    lanes = max(1, min(library_threads(), len(starts) // _BLOCKS_PER_THREAD))
    runs = [starts[j * len(starts) // lanes : (j + 1) * len(starts) // lanes] for j in range(lanes)]

    def run(j: int) -> None:
        for i in runs[j]:
            passes(_NUMPY_LIB, rows_in[i : i + step], rows_out[i : i + step])

    if lanes == 1:
        run(0)
    else:
        list(_pool(lanes, os.getpid()).map(run, range(lanes)))
    return out


#: :func:`elementwise_passes` splits a tensor over threads only when each gets at least
#: this many blocks (a hand-over to a worker thread costs tens of microseconds)
_BLOCKS_PER_THREAD = 2


@functools.cache
def _pool(threads: int, pid: int) -> ThreadPoolExecutor:
    """A pool of ``threads`` worker threads, kept for the process ``pid`` (a forked child
    has none of its parent's threads, so it makes its own). NumPy's ufuncs release the
    GIL, so the blocks of :func:`elementwise_passes` run in parallel on them."""
    return ThreadPoolExecutor(threads, thread_name_prefix="grainbench-elementwise")


def scaled_copy(out: torch.Tensor, x: torch.Tensor, factor: float) -> None:
    """``out[…] = x · factor`` for tensors of one shape and real dtype, any strides (a
    transposing copy): NumPy's multiply in this thread for CPU tensors, for the reason
    given in :func:`elementwise_passes`; torch's otherwise."""
    if not on_numpy(x):
        torch.mul(x, factor, out=out)
    else:
        np.multiply(x.numpy(force=True), factor, out=out.numpy())
