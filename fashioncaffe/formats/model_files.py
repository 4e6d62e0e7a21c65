"""Model and solver-state files in either of Caffe's formats, chosen by the file name as Caffe
chooses it: a name ending in ``.h5`` is HDF5 (:mod:`.hdf5`), anything else binary protobuf
(:mod:`.caffemodel`).  This is the one place the choice is made.
"""
from __future__ import annotations

import os

from ..errors import fail
from ..proto import caffe_pb2
from .caffemodel import (SolverStateData, net_param_blobs, read_caffemodel_binary, read_solverstate_binary,
                         write_caffemodel_binary, write_solverstate_binary)
from .hdf5 import read_caffemodel_h5, read_solverstate_h5, write_caffemodel_h5, write_solverstate_h5

__all__ = ["is_hdf5_path", "read_caffemodel", "write_caffemodel", "iter_layer_blobs", "read_solverstate",
           "write_solverstate"]


def is_hdf5_path(path) -> bool:
    """Caffe picks the HDF5 format by the ``.h5`` file name ending; so do we."""
    return os.fspath(path).endswith(".h5")


def read_caffemodel(path, upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Read a binary ``.caffemodel`` into a NetParameter, upgraded from V0/V1 unless ``upgrade`` is
    False.  An HDF5 model has no NetParameter; use :func:`iter_layer_blobs` for it."""
    path = os.fspath(path)
    if is_hdf5_path(path):
        raise fail(f"{path}: is an HDF5 weights file, which holds only blobs; read it with iter_layer_blobs "
                   "or read_caffemodel_h5 instead of read_caffemodel.")
    return read_caffemodel_binary(path, upgrade)


def write_caffemodel(path, net_param: caffe_pb2.NetParameter) -> None:
    """Write ``net_param`` as a binary ``.caffemodel`` (or HDF5 weights when ``path`` ends in ``.h5``)."""
    if is_hdf5_path(path):
        write_caffemodel_h5(path, net_param_blobs(net_param))
    else:
        write_caffemodel_binary(path, net_param)


def iter_layer_blobs(source) -> list:
    """List ``(layer_name, [arrays])`` for every layer of a model, in file order.

    ``source`` is a NetParameter, a ``.caffemodel`` path or a ``.caffemodel.h5`` path.  Layers
    without blobs are listed with an empty list, so a caller can apply Caffe's blob-count check.
    Arrays keep the stored shape (legacy blobs stay 4-D); float32 unless stored as doubles.
    """
    if isinstance(source, caffe_pb2.NetParameter):
        return net_param_blobs(source)
    if is_hdf5_path(source):
        return read_caffemodel_h5(source)
    return net_param_blobs(read_caffemodel(source))


def read_solverstate(path) -> SolverStateData:
    """Read a ``.solverstate`` (binary) or ``.solverstate.h5`` (HDF5) snapshot.

    ``learned_net`` is the model path as Caffe recorded it (empty when absent).
    """
    return read_solverstate_h5(path) if is_hdf5_path(path) else read_solverstate_binary(path)


def write_solverstate(path, iter: int, learned_net: str, current_step: int, history_arrays,
                      rng_state: bytes | None = None) -> None:
    """Write a solver snapshot atomically: binary SolverState, or HDF5 when ``path`` ends in ``.h5``.
    ``rng_state`` (fashioncaffe's record of the random streams) goes where BVLC's reader ignores it."""
    writer = write_solverstate_h5 if is_hdf5_path(path) else write_solverstate_binary
    writer(path, iter, learned_net, current_step, history_arrays, rng_state)
