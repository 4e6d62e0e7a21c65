"""Log lines in Caffe's (glog's) format, so log parsers and plotters written for Caffe work.

Every line looks like glog's::

    I1122 07:13:00.123456  1234 solver.cpp:243] Iteration 100, loss = 0.5

(severity letter, month-day, wall time with microseconds, thread id right-aligned to 5 columns,
``file:line`` of the Caffe source that prints the same message, ``]`` and the message).

Lines go to stderr (as glog's ``logtostderr``, which pycaffe and the ``caffe`` tool use) and, after
:func:`add_log_file`, also to a file.  ``GLOG_minloglevel`` (0 INFO, 1 WARNING, 2 ERROR) silences
lower severities, as with Caffe; :func:`set_min_level` does the same from Python.
"""
from __future__ import annotations

import datetime
import os
import sys
import threading

__all__ = ["info", "warning", "warning_once", "error", "log", "fmt", "add_log_file", "remove_log_file", "set_min_level",
           "set_enabled", "format_line"]

_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}
_state = {
    "min_level": int(os.environ.get("GLOG_minloglevel", "0") or 0),
    "files": [],
    "enabled": True,
    "stderr": True,
}
_lock = threading.Lock()


def fmt(v) -> str:
    """A number as C++ ``ostream << float`` prints it (6 significant digits, %g style)."""
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return str(v)
    v = float(v)
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return "%g" % v


def format_line(severity: str, message: str, where: str = "solver.cpp:0", now=None) -> str:
    now = now or datetime.datetime.now()
    tid = threading.get_native_id() if hasattr(threading, "get_native_id") else os.getpid()
    return (f"{severity}{now.month:02d}{now.day:02d} {now.hour:02d}:{now.minute:02d}:{now.second:02d}."
            f"{now.microsecond:06d} {tid:5d} {where}] {message}")


def log(severity: str, message: str, where: str = "solver.cpp:0") -> None:
    if not _state["enabled"] or _LEVELS.get(severity, 0) < _state["min_level"]:
        return
    line = format_line(severity, message, where) + "\n"
    with _lock:
        if _state["stderr"]:
            try:
                sys.stderr.write(line)
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
        for f in _state["files"]:
            f.write(line)
            f.flush()


def info(message: str, where: str = "solver.cpp:0") -> None:
    log("I", message, where)


def warning(message: str, where: str = "solver.cpp:0") -> None:
    log("W", message, where)


_warned: set = set()


def warning_once(message: str, where: str = "solver.cpp:0") -> bool:
    """``warning`` the first time this exact message is given in this process (Caffe's
    LOG_FIRST_N(WARNING, 1)); returns True when it was written."""
    if message in _warned:
        return False
    _warned.add(message)
    warning(message, where)
    return True


def error(message: str, where: str = "solver.cpp:0") -> None:
    log("E", message, where)


def add_log_file(path):
    """Also write every line to ``path`` (appending); returns the open file."""
    f = open(path, "a", buffering=1)
    _state["files"].append(f)
    return f


def remove_log_file(f) -> None:
    if f in _state["files"]:
        _state["files"].remove(f)
    f.close()


def forget_log_files() -> None:
    """Stop writing to the log files without closing them: a forked worker shares its parent's
    file handles, which the parent still writes to and closes."""
    _state["files"] = []


def set_min_level(level: int) -> None:
    _state["min_level"] = int(level)


def set_enabled(enabled: bool) -> None:
    """Turn all logging on or off (non-root ranks of a multi-GPU run log nothing)."""
    _state["enabled"] = bool(enabled)


def set_stderr(enabled: bool) -> None:
    _state["stderr"] = bool(enabled)
