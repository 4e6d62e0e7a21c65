"""Forking worker processes (data workers, converter pools) while OpenCV may be in use.

Our workers decode with one OpenCV thread each (the parallelism comes from the processes), so each
calls ``cv2.setNumThreads(1)`` when it starts.  OpenCV's thread pool does not survive ``fork()``:
if the parent's pool has run (any parallel cv2 call before the fork), a child's
``setNumThreads`` waits forever for pool threads that were not copied into it -- the worker hangs
and so does whoever waits for its results.  The parent therefore stops its pool for the moment of
forking (:func:`opencv_pool_paused`) and restores its thread count afterwards; children forked
meanwhile start from a stopped pool and configure their own safely.
"""
from __future__ import annotations

import contextlib

import cv2


@contextlib.contextmanager
def opencv_pool_paused():
    """Fork worker processes inside this block (``Pool(...)``, ``Process.start()``)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def one_opencv_thread():
    """Worker initialiser: decode with one OpenCV thread (forked under :func:`opencv_pool_paused`)."""
    cv2.setNumThreads(1)
