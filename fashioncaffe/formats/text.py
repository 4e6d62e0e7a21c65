"""UTF-8 text input (image lists, dataset annotation files) with errors that name the line.

Python's own decoding error names a byte offset deep inside a traceback; :func:`read_utf8_text`
names the file, the line and column, the offending bytes and how to fix the file.
"""
from __future__ import annotations

import os

from ..errors import fail

__all__ = ["read_utf8_text", "decode_utf8"]


def decode_utf8(raw: bytes, path, what: str = "text file") -> str:
    """``raw`` decoded as UTF-8; raises naming ``path``, the line and column of the first byte that is
    not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        bad = raw[e.start:e.end].hex(" ")
        raise fail(f"{os.fspath(path)}:{line}: column {column} holds byte(s) {bad}, which are not valid UTF-8; the "
                   f"{what} must be UTF-8 text. Convert it, e.g. `iconv -f latin1 -t utf-8 in > out` for a Latin-1 "
                   "file.") from None


def read_utf8_text(path, what: str = "text file") -> str:
    """The whole of a UTF-8 text file (see :func:`decode_utf8`)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise fail(f"{path}: cannot be read ({e.strerror}); expected a {what}.") from None
    return decode_utf8(raw, path, what)
