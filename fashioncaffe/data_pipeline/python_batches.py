"""The engine's data workers for pycaffe Python data layers (``import caffe; caffe.python_batches``).

A Python data layer that builds its batches itself (decode, augment, assemble) can hand that work to
the engine's prefetch workers — the same ring of shared-memory slots the Data layer uses
(:mod:`.prefetch`) — instead of doing it serially inside ``forward``.  The layer describes its batches
with a *batch maker*: a picklable object with

``make(b, alloc=None) -> (data, labels)``
    batch number ``b`` (0, 1, 2, …) as a uint8 or float32 N × C × H × W array and a numeric labels
    array; a pure function of ``b`` (every random number drawn from a generator seeded with
    ``b``), so batches are identical whichever worker makes them, in whatever order.  ``alloc(shape,
    dtype)``, when given, supplies the array to write the pixels into (a ring slot);
``batch_nbytes()``
    the bytes of one batch's pixels (the slot size).

and reads them in order::

    hook = getattr(caffe, "python_batches", None)        # absent in BVLC Caffe
    seed = params.get("seed", hook.seed(0) if hook else 0)
    maker = MyMaker(..., seed)
    self.batches = hook.prefetch(maker, self.phase) if hook else MySerialBatches(maker)
    ...
    def forward(self, bottom, top):
        b, data, labels = self.batches.next()         # data valid until the next call

``open_lmdb(path)`` gives the layer the engine's shared read-only LMDB handle (py-lmdb allows one per
path and process, and the engine's own readers may hold it).  The same layer file therefore runs
unchanged in BVLC Caffe (serially, the same batches) and here
(in ``FASHIONCAFFE_DATA_WORKERS`` worker processes; 0 decodes in the training process).  The engine
also forwards a resumed solver's ``resume_at(batch)`` to the layer object, and in data-parallel
training (TRAIN phase) rank r of W reads batches r, r + W, r + 2W, … of the maker's stream.
"""
from __future__ import annotations

import numpy as np

from .. import mode
from ..layers.base import TRAIN
from .prefetch import Prefetcher

__all__ = ["seed", "prefetch", "open_lmdb", "Batches"]


def open_lmdb(path):
    """The engine's read-only LMDB handle on ``path``: one per process, shared with the engine's own
    readers and reopened after a fork (py-lmdb refuses a second handle on a path in one process)."""
    from ..formats.lmdb_datum import open_env

    return open_env(path)


def seed(default=0) -> int:
    """The solver's ``random_seed`` (plus the rank, as the engine seeds each process) when one is set,
    else ``default``: the seed a Python data layer should use when its param_str names none."""
    s = mode.random_seed()
    return int(default) if s is None else int(s)


class _Adapter:
    """A layer's batch maker in the shape the prefetch ring expects (pixels + per-batch metadata)."""

    def __init__(self, maker, rank, world, what):
        self.maker, self.rank, self.world, self.what = maker, int(rank), int(world), what

    def batch_nbytes(self):
        return int(self.maker.batch_nbytes())

    def make(self, b, alloc=None):
        data, labels = self.maker.make(b * self.world + self.rank, alloc)
        n = len(data)
        return data, np.zeros((n, 2), np.int32), np.zeros(n, bool), np.ascontiguousarray(labels)


class Batches:
    """Batches ``start, start + 1, …`` of a maker, prefetched by the engine's workers."""

    def __init__(self, maker, phase=TRAIN, start=0, num_workers=None, prefetch=4, what=None):
        from ..layers.file_data import detect_shard

        rank, world = detect_shard() if phase == TRAIN else (0, 1)
        self._adapter = _Adapter(maker, rank, world, what or f"Python data layer ({type(maker).__name__})")
        self._workers, self._prefetch = num_workers, int(prefetch)
        self._pf = None
        self._start = int(start)

    def _open(self):
        self._pf = Prefetcher(self._adapter, self._workers, self._prefetch, start=self._start)

    def next(self):
        """``(b, data, labels)`` as numpy arrays; ``data`` lives in a ring slot until the next call."""
        if self._pf is None:
            self._open()
        b, data, _, _, labels = self._pf.next()
        return b, data.numpy(), labels.numpy()

    def resume_at(self, batch):
        """Continue at batch number ``batch`` (a restored solver's iteration × iter_size)."""
        self.close()
        self._start = int(batch)

    @property
    def num_workers(self):
        return 0 if self._pf is None else self._pf.num_workers

    def close(self):
        if self._pf is not None:
            self._pf.close()
            self._pf = None


def prefetch(maker, phase=TRAIN, start=0, num_workers=None, prefetch=4, what=None) -> Batches:
    """Read ``maker``'s batches through the engine's prefetch workers (see the module docstring).
    ``num_workers`` None takes the engine's setting (``set_num_workers`` /
    ``FASHIONCAFFE_DATA_WORKERS``)."""
    return Batches(maker, phase, start, num_workers, prefetch, what)
