"""Reading and writing Caffe's text files: net prototxts and solver prototxts.

Text is parsed with protobuf's ``text_format`` against our ``caffe.proto``, so anything BVLC Caffe
accepts parses here.  Nets and solvers are upgraded to the current format on load, as Caffe does
(see :mod:`fashioncaffe.upgrade`).  Parse errors become :class:`FashionCaffeError` naming the file,
line and column.
"""

from __future__ import annotations

import os
import re

from google.protobuf import message as _message
from google.protobuf import text_format

from .errors import fail
from .proto import caffe_pb2
from .upgrade import upgrade_net, upgrade_solver

__all__ = [
    "read_net_param",
    "parse_net_text",
    "read_solver_param",
    "parse_solver_text",
    "read_text_file",
    "parse_text",
    "net_to_text",
    "solver_to_text",
]

# text_format puts "line:col : " in front of its own message; we report the location ourselves.
_LOCATION_PREFIX = re.compile(r"^\d+(:\d+)?\s*:\s*")


def read_text_file(path) -> str:
    """Return the contents of a text file, or raise a readable error naming it."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise fail(f"{path}: file does not exist (expected a Caffe text file, e.g. a net or solver prototxt).",
                   like=RuntimeError)  # pycaffe: "Could not open file"
    if os.path.isdir(path):
        raise fail(f"{path}: is a directory, not a Caffe text file.", like=RuntimeError)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise fail(f"{path}: cannot be read ({e.strerror}).") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # Caffe reads bytes and never decodes; stray Latin-1 in comments must not stop a load.
        return raw.decode("latin-1")


def parse_text(text: str, message: _message.Message, filename: str = "<string>") -> _message.Message:
    """Merge prototxt ``text`` into ``message`` (cleared first) and return it.

    Raises FashionCaffeError naming ``filename``, the line and column, the message type and what was
    wrong.  Required fields left unset are reported too (Caffe's parser rejects them).
    """
    message.Clear()
    kind = message.DESCRIPTOR.name
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as e:
        line, column = e.GetLine(), e.GetColumn()
        what = _LOCATION_PREFIX.sub("", str(e))
        where = filename
        if line is not None:
            where += f", line {line}"
            if column is not None:
                where += f", column {column}"
        raise fail(f"{where}: cannot parse this as a Caffe {kind} in text format: {what}") from None
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors())
        raise fail(f"{filename}: the {kind} is missing required field(s): {missing}.")
    return message


def parse_net_text(text: str, filename: str = "<string>", upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Parse net prototxt text into a NetParameter, upgraded to the current (V2) format by default."""
    net = parse_text(text, caffe_pb2.NetParameter(), filename)
    return upgrade_net(net, source=filename) if upgrade else net


def read_net_param(path_or_message, upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Read a net prototxt file (or take a NetParameter) and return a V2 NetParameter.

    A message argument is copied, never modified.  V0/V1 nets and legacy ``input`` fields are
    upgraded unless ``upgrade`` is False.
    """
    if isinstance(path_or_message, caffe_pb2.NetParameter):
        net = caffe_pb2.NetParameter()
        net.CopyFrom(path_or_message)
        return upgrade_net(net) if upgrade else net
    if isinstance(path_or_message, _message.Message):
        raise fail(f"expected a net prototxt path or a NetParameter, got a {path_or_message.DESCRIPTOR.full_name} message.")
    path = os.fspath(path_or_message)
    return parse_net_text(read_text_file(path), filename=path, upgrade=upgrade)


def parse_solver_text(text: str, filename: str = "<string>", upgrade: bool = True) -> caffe_pb2.SolverParameter:
    """Parse solver prototxt text into a SolverParameter (legacy ``solver_type`` upgraded by default)."""
    solver = parse_text(text, caffe_pb2.SolverParameter(), filename)
    return upgrade_solver(solver, source=filename) if upgrade else solver


def read_solver_param(path, upgrade: bool = True) -> caffe_pb2.SolverParameter:
    """Read a solver prototxt file into a SolverParameter.

    Paths inside it (``net``, ``train_net``, ...) are returned as written; like Caffe, they are
    resolved against the working directory by whoever opens them.
    """
    if isinstance(path, caffe_pb2.SolverParameter):
        solver = caffe_pb2.SolverParameter()
        solver.CopyFrom(path)
        return upgrade_solver(solver) if upgrade else solver
    path = os.fspath(path)
    return parse_solver_text(read_text_file(path), filename=path, upgrade=upgrade)


def net_to_text(msg: _message.Message) -> str:
    """Render a NetParameter (or any Caffe message) as prototxt text that Caffe can read back."""
    return text_format.MessageToString(msg)


def solver_to_text(msg: caffe_pb2.SolverParameter) -> str:
    """Render a SolverParameter as prototxt text."""
    return text_format.MessageToString(msg)
