"""The small parts of pycaffe's ``_caffe`` module that are neither Net, Blob, Layer nor Solver:
``Timer``, ``init_log`` / ``log``, and the NCCL interface as a CPU-only BVLC build answers it.

**NCCL.** ``has_nccl()`` is False, as in a BVLC build without ``USE_NCCL``: pycaffe's in-process
multi-GPU interface (``NCCL(solver, uid)``, ``NCCL.new_uid()``, ``bcast``) is not provided.  As in
such a build, ``NCCL(solver, uid)`` constructs an object that does nothing, and handing it to
``solver.add_callback`` or ``net.after_backward`` does nothing either.  Multi-GPU training runs
through ``fashioncaffe train --gpu 0,1`` (:mod:`fashioncaffe.training`).
"""
from __future__ import annotations

import time

from . import logging_caffe

__all__ = ["Timer", "init_log", "log", "has_nccl", "NCCL"]


class Timer:
    """Caffe's ``Timer`` as pycaffe exposes it: ``start()``, ``stop()`` and ``ms`` (the milliseconds
    of the last start→stop interval; while running, up to now)."""

    def __init__(self):
        self._started = None
        self._elapsed = 0.0
        self._running = False

    def start(self):
        if not self._running:
            self._started = time.perf_counter()
            self._running = True

    def stop(self):
        if self._running:
            self._elapsed = time.perf_counter() - self._started
            self._running = False

    @property
    def ms(self) -> float:
        if self._running:
            self.stop()  # Caffe's MilliSeconds() stops a running timer first
        return self._elapsed * 1e3


def init_log(level: int | None = None, stderr: bool | None = None) -> None:
    """pycaffe's ``init_log()``, ``init_log(level)``, ``init_log(level, stderr)``: the minimum
    severity logged (0 INFO, 1 WARNING, 2 ERROR) and whether lines go to stderr."""
    if level is not None:
        logging_caffe.set_min_level(int(level))
    if stderr is not None:
        logging_caffe.set_stderr(bool(stderr))


def log(message: str) -> None:
    """pycaffe's ``log(s)``: one INFO line in Caffe's format."""
    logging_caffe.info(str(message), "_caffe.cpp:67")


def has_nccl() -> bool:
    """False: this engine answers as a BVLC build without NCCL (see the module docstring)."""
    return False


class NCCL:
    """``NCCL(solver, uid)`` of a BVLC build without NCCL: constructing it does nothing."""

    def __init__(self, solver, uid):
        self.solver = solver
        self.uid = uid
