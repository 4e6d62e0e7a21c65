"""Binary model and solver snapshot files: ``.caffemodel`` and ``.solverstate`` (protobuf).

A ``.caffemodel`` is a serialized NetParameter whose layers carry their learned blobs; a
``.solverstate`` is a serialized SolverState (iteration, learning-rate step, the path of the
matching ``.caffemodel`` and the solver's history blobs).  The HDF5 variants are
:mod:`.hdf5`; :mod:`.model_files` chooses between the two by the file name.  Writes are atomic.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from ..proto import caffe_pb2
from ..upgrade import needs_upgrade, upgrade_net
from .atomic import atomic_write_bytes
from .blobproto import array_to_blobproto, blobproto_to_array, read_proto_file

__all__ = [
    "read_caffemodel_binary",
    "write_caffemodel_binary",
    "net_param_blobs",
    "SolverStateData",
    "read_solverstate_proto",
    "read_solverstate_binary",
    "write_solverstate_binary",
]


def read_caffemodel_binary(path, upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Read a binary ``.caffemodel`` into a NetParameter, upgraded from V0/V1 unless ``upgrade`` is False.

    Messages of any size parse (VGG-16's is about 530 MB).
    """
    net = read_proto_file(path, caffe_pb2.NetParameter(), "a binary Caffe model (.caffemodel)")
    # upgrade_net copies; skip it for current-format models, which can be hundreds of MB.
    return upgrade_net(net, source=os.fspath(path)) if upgrade and needs_upgrade(net) else net


def write_caffemodel_binary(path, net_param: caffe_pb2.NetParameter) -> None:
    """Write ``net_param`` as a binary ``.caffemodel``."""
    atomic_write_bytes(path, net_param.SerializeToString())


def net_param_blobs(net_param: caffe_pb2.NetParameter) -> list:
    """``(layer_name, [arrays])`` for every layer of a NetParameter (V1 upgraded), in order; layers
    without blobs are listed with an empty list.  Arrays keep the stored shape (legacy blobs stay
    4-D); float32 unless stored as doubles."""
    if len(net_param.layers):
        net_param = upgrade_net(net_param)
    return [
        (layer.name, [blobproto_to_array(b, name=f"layer '{layer.name}' blob {i}") for i, b in enumerate(layer.blobs)])
        for layer in net_param.layer
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


def read_solverstate_binary(path) -> SolverStateData:
    """Read a binary ``.solverstate``; ``learned_net`` is the model path as Caffe recorded it."""
    state = read_solverstate_proto(path)
    history = [blobproto_to_array(b, name=f"{os.fspath(path)}: history blob {i}") for i, b in enumerate(state.history)]
    return SolverStateData(int(state.iter), state.learned_net, int(state.current_step), history)


def write_solverstate_binary(path, iter: int, learned_net: str, current_step: int, history_arrays) -> None:
    """Write a binary SolverState atomically."""
    state = caffe_pb2.SolverState(iter=int(iter), learned_net=os.fspath(learned_net), current_step=int(current_step))
    for a in history_arrays:
        state.history.append(array_to_blobproto(np.asarray(a)))
    atomic_write_bytes(path, state.SerializeToString())
