"""Distributed data-parallel training through ``torchrun`` (one process per GPU or CPU worker).

When ``torchrun`` starts the processes it sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
the rendezvous variables; :func:`init_distributed` then joins the process group (NCCL on CUDA,
gloo on CPU) and picks the device ``cuda:LOCAL_RANK``. The training loop

- draws the same global batch of data indices and latents on every rank (one shared seed per
  step) and keeps its own slice (:func:`shard`),
- wraps G and D in :class:`~torch.nn.parallel.DistributedDataParallel` (gradients are
  averaged over ranks during backward),
- averages statistics that steer training (ADA's sign of D on reals, the path-length mean,
  the mapping's running mean of w) with :func:`all_reduce_mean`,
- re-broadcasts the few buffers that forward passes update (running means) from rank 0 after
  every step (:func:`broadcast_buffers`), so all ranks hold identical models,
- writes files on rank 0 only.

Multi-node runs need nothing else: ``torchrun --nnodes N --nproc-per-node G
--rdzv-endpoint HOST:PORT -m grainbench train ...``.
"""

from __future__ import annotations

import datetime
import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from grainbench.errors import UserError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: its rank, the world size, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the rank that writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """True when the environment of ``torchrun`` (``RANK`` and ``WORLD_SIZE``) is present."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(
    device: str | torch.device | None = None, timeout_s: float = 1800.0
) -> DistInfo:
    """Join the process group when launched by ``torchrun``; a single-process info otherwise.

    ``device`` picks the kind: ``"cuda"`` (or ``None`` with CUDA available) uses NCCL and
    ``cuda:LOCAL_RANK``; ``"cpu"`` uses gloo. An explicit ``cuda:N`` is only honoured in a
    single process.
    """
    want = torch.device(device) if device is not None else None
    use_cuda = want.type == "cuda" if want is not None else torch.cuda.is_available()
    if use_cuda and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device")
    if not launched_by_torchrun():
        dev = want if want is not None else torch.device("cuda" if use_cuda else "cpu")
        return DistInfo(device=dev)
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            timeout=datetime.timedelta(seconds=timeout_s),
            **({"device_id": dev} if use_cuda else {}),
        )
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


def wrap(module: nn.Module, info: DistInfo) -> nn.Module:
    """``module`` wrapped in DDP when distributed (buffers are synchronised explicitly)."""
    if not info.distributed:
        return module
    ids = [info.device.index] if info.device.type == "cuda" else None
    params = inspect.signature(DistributedDataParallel).parameters
    # buffers are re-broadcast after every step by the training loop instead
    no_sync = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in params
        else {"broadcast_buffers": False}
    )
    return DistributedDataParallel(module, device_ids=ids, **no_sync)


def shard(batch: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's contiguous slice of a global batch (the batch must divide evenly)."""
    if not info.distributed:
        return batch
    n = batch.shape[0]
    if n % info.world_size:
        raise UserError(f"batch {n} does not divide over {info.world_size} processes")
    per = n // info.world_size
    return batch[info.rank * per : (info.rank + 1) * per]


def all_reduce_mean(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The mean of ``t`` over ranks (a copy; ``t`` itself is unchanged)."""
    if not info.distributed:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / info.world_size


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """The sum of ``t`` over ranks (a copy)."""
    if not info.distributed:
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


@torch.no_grad()
def broadcast_buffers(module: nn.Module, info: DistInfo) -> None:
    """Copy every buffer of ``module`` from rank 0 to all ranks."""
    if not info.distributed:
        return
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


def barrier(info: DistInfo) -> None:
    """Wait for all ranks (no-op in a single process)."""
    if info.distributed:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
