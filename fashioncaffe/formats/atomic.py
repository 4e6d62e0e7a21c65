"""Atomic file replacement, so an interrupted save never leaves a half-written model or snapshot.

The data goes to a temporary file in the destination's folder (same file system, so the final
``os.replace`` is a rename) and replaces the destination only once it is complete and flushed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

from ..errors import fail

__all__ = ["atomic_path", "atomic_write_bytes"]

# mkstemp makes owner-only files; give the result the permissions a plain open() would have.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise fail(f"{path}: cannot write here, folder {folder} does not exist.")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as e:
        raise fail(f"{path}: cannot create a file in {folder} ({e.strerror}).") from None
    os.close(fd)
    try:
        os.chmod(tmp, _FILE_MODE)
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise fail(f"{path}: write failed ({e.strerror}).") from None
