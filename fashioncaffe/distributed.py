"""The collectives of data-parallel training (Caffe's multi-GPU ``--gpu 0,1,...``), on torch.distributed.

Each process runs its own solver on its own data shard; after the ``iter_size`` forward/backward
passes of an iteration the parameter gradients are summed over processes and scaled by 1/N (as
Caffe's P2PSync / NCCL solver does), so every process applies the same update.  Rank 0 tests, logs
and snapshots.  The effective batch is N × batch_size; N processes equal one process with
``iter_size`` multiplied by N on the same data.

Data layers find their shard with :func:`rank` and :func:`world_size` (0 and 1 outside a parallel
run): a layer should read items ``rank, rank + world_size, ...`` or batch ``t·world_size + rank``.
The processes themselves are started by :func:`fashioncaffe.training.train_parallel` (on this
machine) or by torchrun (:func:`fashioncaffe.training.train_launched`, one or several machines).
"""
from __future__ import annotations

import torch

__all__ = ["rank", "world_size", "is_parallel", "all_reduce_mean_", "broadcast_"]


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def rank() -> int:
    """This process's rank in a parallel run (0 when not parallel)."""
    d = _dist()
    return d.get_rank() if d else 0


def world_size() -> int:
    """Number of processes training together (1 when not parallel)."""
    d = _dist()
    return d.get_world_size() if d else 1


def is_parallel() -> bool:
    return world_size() > 1


def all_reduce_mean_(tensors) -> None:
    """Sum ``tensors`` over processes in place, then scale by 1/N (one flat buffer, one collective)."""
    d = _dist()
    if d is None or not tensors:
        return
    n = d.get_world_size()
    flat = torch.cat([t.reshape(-1) for t in tensors])
    d.all_reduce(flat)
    flat.mul_(1.0 / n)
    off = 0
    for t in tensors:
        k = t.numel()
        t.copy_(flat[off:off + k].view_as(t))
        off += k


def broadcast_(tensors, src: int = 0) -> None:
    """Give every process rank ``src``'s values (the initial weights)."""
    d = _dist()
    if d is None or not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    d.broadcast(flat, src)
    off = 0
    with torch.no_grad():
        for t in tensors:
            k = t.numel()
            t.copy_(flat[off:off + k].view_as(t))
            off += k
