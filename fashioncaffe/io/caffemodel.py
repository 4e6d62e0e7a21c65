"""Binary model and solver snapshot files: ``.caffemodel`` and ``.solverstate``.

A ``.caffemodel`` is a serialized NetParameter whose layers carry their learned blobs; a
``.solverstate`` is a serialized SolverState (iteration, learning-rate step, the path of the
matching ``.caffemodel`` and the solver's history blobs).  Names ending in ``.h5`` are Caffe's HDF5
variants and are handed to :mod:`fashioncaffe.io.hdf5`.  Writes are atomic.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ..errors import fail
from ..proto import caffe_pb2
from ..upgrade import needs_upgrade, upgrade_net
from .atomic import atomic_write_bytes
from .blobproto import array_to_blobproto, blobproto_to_array, read_proto_file

__all__ = [
    "read_caffemodel",
    "write_caffemodel",
    "iter_layer_blobs",
    "SolverStateData",
    "read_solverstate",
    "read_solverstate_proto",
    "write_solverstate",
    "is_hdf5_path",
]


def is_hdf5_path(path) -> bool:
    """Caffe picks the HDF5 format by the ``.h5`` file name ending; so do we."""
    return os.fspath(path).endswith(".h5")


def read_caffemodel(path, upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Read a binary ``.caffemodel`` into a NetParameter, upgraded from V0/V1 unless ``upgrade`` is False.

    Messages of any size parse (VGG-16's is about 530 MB).  An HDF5 model has no NetParameter; use
    :func:`iter_layer_blobs` or :func:`fashioncaffe.io.hdf5.read_caffemodel_h5` for it.
    """
    path = os.fspath(path)
    if is_hdf5_path(path):
        raise fail(f"{path}: is an HDF5 weights file, which holds only blobs; read it with iter_layer_blobs "
                   "or read_caffemodel_h5 instead of read_caffemodel.")
    net = read_proto_file(path, caffe_pb2.NetParameter(), "a binary Caffe model (.caffemodel)")
    # upgrade_net copies; skip it for current-format models, which can be hundreds of MB.
    return upgrade_net(net, source=path) if upgrade and needs_upgrade(net) else net


def write_caffemodel(path, net_param: caffe_pb2.NetParameter) -> None:
    """Write ``net_param`` as a binary ``.caffemodel`` (or HDF5 weights when ``path`` ends in ``.h5``)."""
    if is_hdf5_path(path):
        from .hdf5 import write_caffemodel_h5
        write_caffemodel_h5(path, iter_layer_blobs(net_param))
        return
    atomic_write_bytes(path, net_param.SerializeToString())


def iter_layer_blobs(source) -> list:
    """List ``(layer_name, [arrays])`` for every layer of a model, in file order.

    ``source`` is a NetParameter, a ``.caffemodel`` path or a ``.caffemodel.h5`` path.  Layers
    without blobs are listed with an empty list, so a caller can apply Caffe's blob-count check.
    Arrays keep the stored shape (legacy blobs stay 4-D); float32 unless stored as doubles.
    """
    if not isinstance(source, caffe_pb2.NetParameter):
        if is_hdf5_path(source):
            from .hdf5 import read_caffemodel_h5
            return read_caffemodel_h5(source)
        source = read_caffemodel(source)
    elif len(source.layers):
        source = upgrade_net(source)
    return [
        (layer.name, [blobproto_to_array(b, name=f"layer '{layer.name}' blob {i}") for i, b in enumerate(layer.blobs)])
        for layer in source.layer
    ]


@dataclasses.dataclass
class SolverStateData:
    """What a solver snapshot holds, with the history blobs as arrays."""

    iter: int
    learned_net: str
    current_step: int
    history: list


def read_solverstate_proto(path) -> caffe_pb2.SolverState:
    """Read a binary ``.solverstate`` file as a SolverState message."""
    return read_proto_file(path, caffe_pb2.SolverState(), "a binary Caffe solver state (.solverstate)")


def read_solverstate(path) -> SolverStateData:
    """Read a ``.solverstate`` (binary) or ``.solverstate.h5`` (HDF5) snapshot.

    ``learned_net`` is the model path as Caffe recorded it (empty when absent).
    """
    if is_hdf5_path(path):
        from .hdf5 import read_solverstate_h5
        return read_solverstate_h5(path)
    state = read_solverstate_proto(path)
    history = [blobproto_to_array(b, name=f"{os.fspath(path)}: history blob {i}") for i, b in enumerate(state.history)]
    return SolverStateData(int(state.iter), state.learned_net, int(state.current_step), history)


def write_solverstate(path, iter: int, learned_net: str, current_step: int, history_arrays) -> None:
    """Write a solver snapshot atomically: binary SolverState, or HDF5 when ``path`` ends in ``.h5``."""
    if is_hdf5_path(path):
        from .hdf5 import write_solverstate_h5
        write_solverstate_h5(path, iter, learned_net, current_step, history_arrays)
        return
    state = caffe_pb2.SolverState(iter=int(iter), learned_net=os.fspath(learned_net), current_step=int(current_step))
    for a in history_arrays:
        state.history.append(array_to_blobproto(np.asarray(a)))
    atomic_write_bytes(path, state.SerializeToString())
