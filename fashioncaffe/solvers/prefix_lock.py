"""One training per snapshot prefix: a lock file beside the prefix, and the cleanup of what a
killed snapshot write left behind.

``<prefix>.lock`` is locked with ``fcntl.lockf`` (a POSIX record lock) while a training may write
snapshots under the prefix; it holds the holder's PID, host and command line.  The kernel drops the
lock when its process ends, however it ends (kill -9 included), so a stale file never blocks a new
run; a POSIX lock is also not inherited by forked children (data workers), so they cannot keep it
alive.  A second process that wants the prefix is refused with a message naming the holder.
Solvers of one process share the lock (POSIX locks belong to the process).

Once the lock is ours, the temporary files an interrupted atomic write left
(``.<prefix name>_iter_<N>.<kind>.<random>.tmp``, see :mod:`fashioncaffe.formats.atomic`) are removed.
"""
from __future__ import annotations

import fcntl
import os
import re
import socket
import sys
import threading

from .. import logging_caffe as log
from ..errors import fail

__all__ = ["PrefixLock", "lock_path", "stale_tmp_files"]

_held: dict[str, list] = {}   # lock path -> [fd, number of holders in this process]
_guard = threading.Lock()


def lock_path(prefix: str) -> str:
    return os.path.abspath(os.fspath(prefix) + ".lock")


def stale_tmp_files(prefix: str) -> list:
    """The temporary files our atomic snapshot writes leave when killed, for this prefix only."""
    prefix = os.path.abspath(os.fspath(prefix))
    folder, base = os.path.dirname(prefix), os.path.basename(prefix)
    pattern = re.compile(r"\." + re.escape(base) + r"_iter_\d+\.(caffemodel|solverstate)(\.h5)?\.[A-Za-z0-9_]+\.tmp")
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(os.path.join(folder, n) for n in names if pattern.fullmatch(n))


def _holder(path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return "an unknown process"
    pid = lines[0] if lines else "?"
    host = f" on {lines[1]}" if len(lines) > 1 else ""
    cmd = f", command: {lines[2]}" if len(lines) > 2 and lines[2] else ""
    return f"PID {pid}{host}{cmd}"


class PrefixLock:
    """The lock on a snapshot prefix; :meth:`acquire` raises when another process holds it."""

    def __init__(self, prefix: str):
        self.prefix = os.fspath(prefix)
        self.path = lock_path(self.prefix)
        self.held = False

    def acquire(self) -> None:
        if self.held:
            return
        with _guard:
            entry = _held.get(self.path)
            if entry is not None:
                entry[1] += 1
                self.held = True
                return
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            except OSError as e:
                raise fail(f"Cannot create the lock file {self.path} of snapshot prefix '{self.prefix}' "
                           f"({e.strerror}); the snapshot folder must be writable.") from None
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise fail(f"Snapshot prefix '{self.prefix}' is in use by another training ({_holder(self.path)}); "
                           f"it holds the lock {self.path}. Two trainings with one prefix would overwrite each "
                           "other's snapshots: give this one another snapshot_prefix, or wait for (or stop) the "
                           "other. A killed run releases the lock by itself.") from None
            info = f"{os.getpid()}\n{socket.gethostname()}\n{' '.join(sys.argv)[:500]}\n"
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode("utf-8", "replace"), 0)
            _held[self.path] = [fd, 1]
            self.held = True
        self._remove_stale_tmp()

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with _guard:
            entry = _held.get(self.path)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del _held[self.path]
                os.close(entry[0])   # closing drops the POSIX lock; the file stays (unlinking would race)

    def _remove_stale_tmp(self) -> None:
        for path in stale_tmp_files(self.prefix):
            try:
                os.remove(path)
            except OSError as e:
                log.warning(f"Cannot remove {path}, left by an interrupted snapshot write ({e.strerror}).",
                            "prefix_lock.py:0")
                continue
            log.info(f"Removed {path}, left by a snapshot write that was interrupted (a killed run).",
                     "prefix_lock.py:0")
