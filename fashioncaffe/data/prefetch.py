"""Prefetching batches in worker processes.

:class:`BatchMaker` builds batch *b* completely — read the records of the plan, decode, crop and
mirror (see :mod:`.transform`) — and returns ``(b, uint8 NCHW batch, offsets, flips, labels)``.
Its random numbers come from ``(seed, layer stream, rank, b)`` alone, so the batches are identical
whatever the number of workers or their scheduling.

:class:`Prefetcher` runs a BatchMaker in ``num_workers`` processes (PyTorch's DataLoader machinery:
batches travel through shared memory, in order, ``prefetch`` batches ahead, pinned when the net is on a
GPU), or in the calling process when ``num_workers`` is 0.  Workers are shut down by ``close()``, when
the owner is garbage-collected, and at interpreter exit, so nothing hangs.

The worker count comes from :func:`set_num_workers` or the ``FASHIONCAFFE_DATA_WORKERS``
environment variable; default ``min(4, cpus − 1)`` (at least 1).
"""
from __future__ import annotations

import atexit
import itertools
import os
import weakref

import numpy as np
import torch

from ..errors import FashionCaffeError, fail
from .transform import augment_batch, batch_rng

__all__ = ["BatchMaker", "Prefetcher", "set_num_workers", "default_num_workers", "close_all"]

_config = {"workers": None}
_live: "weakref.WeakSet[Prefetcher]" = weakref.WeakSet()


def set_num_workers(n: int | None) -> None:
    """Worker processes per data layer (0: decode in the training process; None: default)."""
    _config["workers"] = None if n is None else int(n)


def default_num_workers() -> int:
    if _config["workers"] is not None:
        return _config["workers"]
    env = os.environ.get("FASHIONCAFFE_DATA_WORKERS")
    if env:
        return max(0, int(env))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus - 1))


class BatchMaker(torch.utils.data.Dataset):
    """Builds batch b (picklable; runs inside the workers)."""

    def __init__(self, source, plan, spec, seed, stream, rank, what):
        self.source, self.plan, self.spec = source, plan, spec
        self.seed, self.stream, self.rank, self.what = int(seed), int(stream), int(rank), what

    def __getitem__(self, b):
        try:
            idx = self.plan.indices(b)
            images, labels, keys = self.source.load(idx)
            in_worker = torch.utils.data.get_worker_info() is not None
            holder = []

            def alloc(shape, dtype):
                t = _shared_empty(shape, dtype)
                holder.append(t)
                return t.numpy()

            data, offsets, flips = augment_batch(images, self.spec, batch_rng(self.seed, self.stream, self.rank, b),
                                                 keys, self.what, alloc if in_worker else None)
            return (b, holder[0] if holder else torch.from_numpy(data), torch.from_numpy(offsets), torch.from_numpy(flips),
                    torch.from_numpy(labels))
        except FashionCaffeError as e:
            return (b, "error", str(e))
        except Exception as e:  # surface anything else as one readable line, not a worker traceback
            return (b, "error", f"{self.what}: batch {b}: {type(e).__name__}: {e}")

    def __len__(self):  # unbounded stream; DataLoader never asks with our sampler
        raise TypeError("BatchMaker is an endless stream")


def _shared_empty(shape, dtype):
    """A fresh shared-memory tensor: the batch is written into it once and handed to the training
    process without the copy ``share_memory_()`` would make."""
    tdtype = torch.uint8 if np.dtype(dtype) == np.uint8 else torch.float32
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    storage = torch.UntypedStorage._new_shared(nbytes)
    return torch.empty(0, dtype=tdtype).set_(storage, 0, tuple(shape))


class _Counter(torch.utils.data.Sampler):
    def __init__(self, start):
        self.start = start

    def __iter__(self):
        return itertools.count(self.start)


def _worker_init(_):
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:
        pass


def _shutdown(it):
    try:
        it._shutdown_workers()
    except Exception:
        pass


class Prefetcher:
    """Yields the batches of a BatchMaker in order, prefetched by worker processes."""

    def __init__(self, maker: BatchMaker, num_workers=None, prefetch=4, pin_memory=False, start=0):
        self.maker = maker
        self.num_workers = default_num_workers() if num_workers is None else int(num_workers)
        self.next_batch = int(start)
        self._it = None
        self._finalizer = None
        if self.num_workers > 0:
            ctx = os.environ.get("FASHIONCAFFE_DATA_START", "fork")
            per_worker = max(2, -(-int(prefetch) // self.num_workers))
            loader = torch.utils.data.DataLoader(
                maker, batch_size=None, sampler=_Counter(self.next_batch), num_workers=self.num_workers,
                prefetch_factor=per_worker, pin_memory=bool(pin_memory), worker_init_fn=_worker_init,
                multiprocessing_context=ctx, persistent_workers=False)
            self._it = iter(loader)
            self._finalizer = weakref.finalize(self, _shutdown, self._it)
        self.pin = bool(pin_memory)
        _live.add(self)

    def next(self):
        b = self.next_batch
        if self._it is None:
            out = self.maker[b]
        else:
            try:
                out = next(self._it)
            except RuntimeError as e:
                raise fail(f"{self.maker.what}: a data worker process failed ({e}).") from None
        if isinstance(out[1], str):
            raise fail(out[2])
        if int(out[0]) != b:
            raise fail(f"{self.maker.what}: prefetch order broken (expected batch {b}, got {int(out[0])}).")
        self.next_batch = b + 1
        return out

    def close(self):
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._it = None
        _live.discard(self)


def close_all():
    """Shut down every live prefetcher's workers (runs at interpreter exit)."""
    for p in list(_live):
        p.close()


atexit.register(close_all)
