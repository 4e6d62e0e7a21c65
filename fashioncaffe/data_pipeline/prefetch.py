"""Prefetching batches in worker processes, through a ring of reused shared-memory batch slots.

:class:`BatchMaker` builds batch *b* completely — read the records of the plan, decode, crop and
mirror (see :mod:`.transform`).  Its random numbers come from ``(seed, layer stream, rank, b)``
alone, so the batches are identical whatever the number of workers or their scheduling.

:class:`Prefetcher` runs a BatchMaker in ``num_workers`` processes, or in the calling process when
``num_workers`` is 0.  With workers:

* the pixels travel through a **ring of slots** allocated once in shared memory (one slot holds one
  batch); a worker writes the decoded, cropped, mirrored uint8 batch straight into the slot it was
  given, and only a few hundred bytes of metadata (batch number, slot, shape, crop offsets, mirror
  flags, labels) go through its pipe — no per-batch allocation, no pickling of pixels;
* the training process asks for batch b with :meth:`Prefetcher.next`, reads the slot (the device
  transform copies it to the device), then calls :meth:`Prefetcher.release` — optionally with a
  CUDA event that completes when an asynchronous copy out of the slot is done — and the slot goes
  straight back to a worker for batch b + slots.  A batch's tensor is valid until ``release()`` or
  the next ``next()``, whichever comes first;
* on CUDA the ring is page-locked once (``cudaHostRegister``), so the copy to the device is
  asynchronous; the slot is released when the copy's event has completed;
* workers set ``cv2.setNumThreads(1)`` (one decoding thread each; parallelism comes from the
  workers), ignore SIGINT (the training process handles Ctrl-C), die with their parent
  (``PR_SET_PDEATHSIG`` plus a parent-pid check) and are shut down by ``close()``, when the owner
  is garbage-collected, and at interpreter exit, so nothing hangs.

A batch larger than a slot (ImageData without new_height/new_width and images of varying size,
uncropped) still works: its pixels are sent through the pipe instead.

The worker count comes from :func:`set_num_workers` or the ``FASHIONCAFFE_DATA_WORKERS``
environment variable; default ``min(4, cpus − 1)``, and 0 (decode in the training process) on
machines with two CPUs or fewer, where a worker only competes with the trainer for a core.  ``FASHIONCAFFE_DATA_START``
chooses the multiprocessing start method (default ``fork``).  The ring is sized to fit the free space
of /dev/shm (fewer slots, or no workers, with a warning) rather than fail later with a SIGBUS.
"""
from __future__ import annotations

import atexit
import collections
import os
import signal
import weakref

import numpy as np
import torch

from ..errors import FashionCaffeError, fail
from ..forking import one_opencv_thread, opencv_pool_paused
from .transform import augment_batch, batch_rng

__all__ = ["BatchMaker", "Prefetcher", "set_num_workers", "default_num_workers", "close_all"]

_config = {"workers": None}
#: seconds a live worker may stay silent before the prefetcher gives up with an error
STALL_SECONDS = float(os.environ.get("FASHIONCAFFE_DATA_STALL_SECONDS", "300"))
_live: "weakref.WeakSet[Prefetcher]" = weakref.WeakSet()


#: where torch's shared-memory tensors live on Linux
SHM_DIR = "/dev/shm"


def shared_memory_free_bytes() -> int | None:
    """Free bytes of the shared-memory file system (None where there is none to ask, e.g. macOS)."""
    try:
        st = os.statvfs(SHM_DIR)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


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
    if cpus <= 2:
        return 0
    return min(4, cpus - 1)


class BatchMaker:
    """Builds batch b (picklable; runs inside the workers)."""

    def __init__(self, source, plan, spec, seed, stream, rank, what):
        self.source, self.plan, self.spec = source, plan, spec
        self.seed, self.stream, self.rank, self.what = int(seed), int(stream), int(rank), what

    def batch_nbytes(self) -> int:
        """Bytes of one batch as the first record predicts it (the slot size of the ring)."""
        (c, h, w), dtype = self.source.first_shape()
        oh, ow = self.spec.out_hw(h, w)
        itemsize = 1 if np.dtype(dtype) == np.uint8 else 4
        return int(self.plan.bs) * int(c) * int(oh) * int(ow) * itemsize

    def make(self, b, alloc=None):
        """(uint8/float32 NCHW ndarray, offsets, flips, labels) of batch b; ``alloc(shape, dtype)``
        may supply the output array."""
        idx = self.plan.indices(b)
        images, labels, keys = self.source.load(idx)
        data, offsets, flips = augment_batch(images, self.spec, batch_rng(self.seed, self.stream, self.rank, b),
                                             keys, self.what, alloc)
        return data, offsets, flips, labels

    def __getitem__(self, b):
        """``(b, data, offsets, flips, labels)`` as fresh tensors (for checks and simple callers)."""
        data, offsets, flips, labels = self.make(b)
        return (b, torch.from_numpy(data), torch.from_numpy(offsets), torch.from_numpy(flips),
                torch.from_numpy(labels))


def _error_text(maker, b, e):
    if isinstance(e, FashionCaffeError):
        return str(e)
    return f"{maker.what}: batch {b}: {type(e).__name__}: {e}"  # one readable line, not a traceback


def _slot_alloc(ring, slot, slot_bytes, spill):
    """An ``alloc`` that places the batch in ``ring``'s slot (or, when too big, in a fresh array)."""
    def alloc(shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if nbytes > slot_bytes:
            a = np.empty(shape, dtype)
            spill.append(a)
            return a
        start = slot * slot_bytes
        return ring[start:start + nbytes].view(dtype).reshape(shape)
    return alloc


# ------------------------------------------------------------------------------------------------
# worker process
def _die_with_parent(parent_pid):
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)


def _worker_main(maker, conn, ring_t, slot_bytes, parent_pid):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    one_opencv_thread()
    torch.set_num_threads(1)
    ring = ring_t.numpy()
    try:
        while True:
            if not conn.poll(1.0):
                if os.getppid() != parent_pid:
                    return
                continue
            msg = conn.recv()
            if msg is None:
                return
            b, slot = msg
            spill = []
            try:
                data, offsets, flips, labels = maker.make(b, _slot_alloc(ring, slot, slot_bytes, spill))
            except Exception as e:
                conn.send((b, slot, None, _error_text(maker, b, e)))
                continue
            meta = (data.shape, data.dtype.str, offsets, flips, labels, data if spill else None)
            conn.send((b, slot, meta, None))
    except (EOFError, OSError, KeyboardInterrupt):
        return


def _shutdown(procs, conns, ring_holder):
    for c in conns:
        try:
            c.send(None)
        except Exception:
            pass
    for p in procs:
        try:
            p.join(2.0)
            if p.is_alive():
                p.terminate()
                p.join(1.0)
            if p.is_alive():
                p.kill()
                p.join(1.0)
        except Exception:
            pass
    for c in conns:
        try:
            c.close()
        except Exception:
            pass
    _unpin(ring_holder)


def _pin(t):
    """Page-lock a CPU tensor in place (cudaHostRegister); True on success."""
    try:
        if not torch.cuda.is_available():
            return False
        rc = torch.cuda.cudart().cudaHostRegister(t.data_ptr(), t.numel() * t.element_size(), 0)
        return int(getattr(rc, "value", rc)) == 0
    except Exception:
        return False


def _unpin(holder):
    if holder and holder[1]:
        try:
            torch.cuda.cudart().cudaHostUnregister(holder[0].data_ptr())
        except Exception:
            pass
        holder[1] = False


class Prefetcher:
    """Yields the batches of a BatchMaker in order, prefetched by worker processes into a ring of
    shared-memory slots (see the module docstring).

    ``next()`` returns ``(b, data, offsets, flips, labels)``; ``data`` lives in a ring slot until
    ``release(event=None)`` or the next ``next()``.  ``start`` is the first batch number (a resumed
    solver continues at N × iter_size); ``slots`` overrides the ring size (default
    ``max(prefetch, 2 × workers) + 1``).
    """

    def __init__(self, maker: BatchMaker, num_workers=None, prefetch=4, pin_memory=False, start=0, slots=None):
        self.maker = maker
        self.num_workers = default_num_workers() if num_workers is None else int(num_workers)
        self.next_batch = int(start)
        self.pinned = False
        self._procs: list = []
        self._conns: list = []
        self._finalizer = None
        self._held = None            # slot handed out by next() and not yet released
        self._pending = []           # (slot, event) waiting for an async copy out of the slot
        self._ready: dict = {}       # batch -> result received ahead of its turn
        self._owner: dict = {}       # batch -> worker making it
        self._free = collections.deque()
        self._local_event = None
        self.slot_bytes = max(1, maker.batch_nbytes())
        if self.num_workers > 0:
            self.nslots = int(slots) if slots else max(int(prefetch), 2 * self.num_workers) + 1
            self.nslots = max(2, self.nslots)
            self._fit_ring_to_shared_memory(maker.what)
        if self.num_workers > 0:
            self._ring_t = torch.empty(self.nslots * self.slot_bytes, dtype=torch.uint8).share_memory_()
        else:
            self.nslots = 1
            self._ring_t = torch.empty(self.slot_bytes, dtype=torch.uint8)
        self._ring_holder = [self._ring_t, False]
        if pin_memory:
            self.pinned = self._ring_holder[1] = _pin(self._ring_t)
        self._ring = self._ring_t.numpy()
        if self.num_workers > 0:
            self._start_workers()
        else:
            self._finalizer = weakref.finalize(self, _unpin, self._ring_holder)
        _live.add(self)

    def _fit_ring_to_shared_memory(self, what):
        """Shrink the ring (or decode in-process) when /dev/shm cannot hold it: a shared-memory
        tensor larger than the free space is not an error at allocation but a SIGBUS when a worker
        first writes the missing pages (Docker's default /dev/shm is 64 MB)."""
        free = shared_memory_free_bytes()
        if free is None or self.nslots * self.slot_bytes <= 0.8 * free:
            return
        fit = int(0.8 * free) // self.slot_bytes
        wanted = self.nslots
        if fit >= 2:
            self.nslots = fit
            what_now = f"using {fit} slots instead of {wanted}"
        else:
            self.num_workers = 0
            what_now = "decoding in the training process instead (no workers)"
        from ..logging_caffe import warning

        warning(f"{what}: the prefetch ring needs {wanted} x {self.slot_bytes / 2**20:.1f} MiB of shared memory "
                f"but {SHM_DIR} has {free / 2**20:.1f} MiB free; {what_now}. Enlarge it (docker run --shm-size=1g) "
                "or set FASHIONCAFFE_DATA_WORKERS=0 to silence this.", "data_prefetch.cpp:0")

    # -- workers ------------------------------------------------------------------------------
    def _start_workers(self):
        import torch.multiprocessing as tmp

        ctx = tmp.get_context(os.environ.get("FASHIONCAFFE_DATA_START", "fork"))
        self._load = [0] * self.num_workers
        with opencv_pool_paused():
            for _ in range(self.num_workers):
                here, there = ctx.Pipe(duplex=True)
                p = ctx.Process(target=_worker_main, daemon=True,
                                args=(self.maker, there, self._ring_t, self.slot_bytes, os.getpid()))
                p.start()
                there.close()
                self._procs.append(p)
                self._conns.append(here)
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._conns, self._ring_holder)
        self._free.extend(range(self.nslots))
        self._dispatch_from = self.next_batch
        self._dispatch()

    @property
    def workers(self):
        """The worker processes (multiprocessing.Process objects); empty when decoding in-process."""
        return list(self._procs)

    def _dispatch(self):
        self._poll_pending()
        while self._free:
            slot = self._free.popleft()
            b = self._dispatch_from
            w = min(range(self.num_workers), key=lambda i: (self._load[i], (i - b) % self.num_workers))
            self._conns[w].send((b, slot))
            self._owner[b] = w
            self._load[w] += 1
            self._dispatch_from = b + 1

    def _poll_pending(self, wait=False):
        keep = []
        for i, (slot, ev) in enumerate(self._pending):
            if (wait and i == 0) or ev.query():
                if wait and i == 0:
                    ev.synchronize()
                self._free.append(slot)
            else:
                keep.append((slot, ev))
        self._pending = keep

    def _receive_from(self, w):
        conn = self._conns[w]
        waited = 0.0
        while not conn.poll(0.5):
            waited += 0.5
            p = self._procs[w]
            if not p.is_alive():
                raise fail(f"{self.maker.what}: data worker process {p.pid} died (exit code {p.exitcode}).")
            if waited >= STALL_SECONDS:
                # a worker that is alive but silent this long will not answer: fail loudly, never hang
                raise fail(f"{self.maker.what}: data worker process {p.pid} has produced nothing for "
                           f"{STALL_SECONDS:.0f} s (waiting for batch {self.next_batch}). Set "
                           "FASHIONCAFFE_DATA_WORKERS=0 to decode in the training process.")
        try:
            b, slot, meta, err = conn.recv()
        except (EOFError, OSError) as e:
            raise fail(f"{self.maker.what}: lost the data worker process {self._procs[w].pid} ({e}).") from None
        self._load[w] -= 1
        self._owner.pop(b, None)
        self._ready[b] = (slot, meta, err)

    def _slot_array(self, slot, shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        start = slot * self.slot_bytes
        return self._ring[start:start + nbytes].view(dtype).reshape(shape)

    # -- consumer API -------------------------------------------------------------------------
    def next(self):
        """The next batch: ``(b, data, offsets, flips, labels)`` (``data`` valid until release)."""
        if self._finalizer is None or not self._finalizer.alive:
            raise fail(f"{self.maker.what}: the prefetcher is closed.")
        self.release()
        b = self.next_batch
        if not self._procs:
            return self._next_local(b)
        self._dispatch()
        while b not in self._ready:
            if b not in self._owner:   # not dispatched: every slot waits for an async copy
                if not self._pending:
                    raise fail(f"{self.maker.what}: prefetch ring stalled at batch {b}.")
                self._poll_pending(wait=True)
                self._dispatch()
                continue
            self._receive_from(self._owner[b])
        slot, meta, err = self._ready.pop(b)
        if err is not None:
            self._free.append(slot)
            self._dispatch()
            raise fail(err)
        shape, dtype, offsets, flips, labels, spilled = meta
        data = spilled if spilled is not None else self._slot_array(slot, shape, dtype)
        self._held = slot
        self.next_batch = b + 1
        return (b, torch.from_numpy(data), torch.from_numpy(offsets), torch.from_numpy(flips),
                torch.from_numpy(labels))

    def _next_local(self, b):
        if self._local_event is not None:
            self._local_event.synchronize()
            self._local_event = None
        spill = []
        try:
            data, offsets, flips, labels = self.maker.make(b, _slot_alloc(self._ring, 0, self.slot_bytes, spill))
        except Exception as e:
            raise fail(_error_text(self.maker, b, e)) from None
        self._held = 0
        self.next_batch = b + 1
        return (b, torch.from_numpy(data), torch.from_numpy(offsets), torch.from_numpy(flips),
                torch.from_numpy(labels))

    def release(self, event=None):
        """Give the slot of the last batch back.  ``event`` (e.g. a ``torch.cuda.Event`` recorded
        after an asynchronous copy out of the slot) delays its reuse until the event completes."""
        slot, self._held = self._held, None
        if slot is None:
            return
        if not self._procs:
            self._local_event = event
            return
        if event is not None:
            self._pending.append((slot, event))
        else:
            self._free.append(slot)
        self._dispatch()

    def close(self):
        if self._finalizer is not None:
            self._finalizer()
        self._held = None
        self._pending = []
        self._ready.clear()
        _live.discard(self)


def close_all():
    """Shut down every live prefetcher's workers (runs at interpreter exit)."""
    for p in list(_live):
        p.close()


atexit.register(close_all)
