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

from ..errors import FashionCaffeError, fail
from ..proto import caffe_pb2
from ..upgrade import needs_upgrade, upgrade_net
from .atomic import atomic_write_bytes
from .blobproto import array_to_blobproto, blobproto_to_array, read_proto_file

__all__ = [
    "read_caffemodel_binary",
    "write_caffemodel_binary",
    "net_param_blobs",
    "SolverStateData",
    "RNG_STATE_FIELD",
    "read_solverstate_proto",
    "read_solverstate_binary",
    "write_solverstate_binary",
]


def read_caffemodel_binary(path, upgrade: bool = True) -> caffe_pb2.NetParameter:
    """Read a binary ``.caffemodel`` into a NetParameter, upgraded from V0/V1 unless ``upgrade`` is False.

    Messages of any size parse (VGG-16's is about 530 MB).
    """
    try:
        net = read_proto_file(path, caffe_pb2.NetParameter(), "a binary Caffe model (.caffemodel)")
    except FashionCaffeError:
        state = _as_solverstate(path)
        if state is not None:
            raise fail(f"{path}: is a solver state (.solverstate of iteration {state.iter}), not a Caffe model; its "
                       f"weights are in {state.learned_net or 'the .caffemodel beside it'}. To resume this "
                       "training give it as --snapshot.") from None
        raise
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


#: The field number under which fashioncaffe keeps the random streams' state (:mod:`fashioncaffe.solvers.rng_state`)
#: in a binary ``.solverstate``.  BVLC's SolverState uses fields 1-4 only; protobuf parsers, BVLC's C++
#: ``ParseFromCodedStream`` included, keep a field they do not know as an unknown field and otherwise
#: ignore it, so a snapshot that carries it still restores in BVLC Caffe.
RNG_STATE_FIELD = 1020


@dataclasses.dataclass
class SolverStateData:
    """What a solver snapshot holds, with the history blobs as arrays; ``rng_state`` is
    fashioncaffe's record of the random streams (None in snapshots BVLC Caffe wrote)."""

    iter: int
    learned_net: str
    current_step: int
    history: list
    rng_state: bytes | None = None


def read_solverstate_proto(path) -> caffe_pb2.SolverState:
    """Read a binary ``.solverstate`` file as a SolverState message."""
    return read_proto_file(path, caffe_pb2.SolverState(), "a binary Caffe solver state (.solverstate)")


def _looks_like_caffemodel(path) -> int:
    """The number of layers when the file parses as a NetParameter with layers (a .caffemodel), else 0."""
    net = caffe_pb2.NetParameter()
    try:
        with open(path, "rb") as f:
            net.ParseFromString(f.read())
    except Exception:  # not a NetParameter either; the caller reports the solver state's own problem
        return 0
    return len(net.layer) + len(net.layers)


def _as_solverstate(path):
    """The SolverState a file holds when it is one (a learned_net path or history blobs), else None."""
    state = caffe_pb2.SolverState()
    try:
        with open(path, "rb") as f:
            state.ParseFromString(f.read())
    except Exception:  # not a solver state either; the caller reports the model's own problem
        return None
    return state if state.learned_net or len(state.history) else None


def _not_a_solverstate(path, layers):
    return fail(f"{path}: is a Caffe model (.caffemodel: a NetParameter with {layers} layers), not a solver state. "
                "--snapshot resumes from the .solverstate file a snapshot writes beside its .caffemodel; to start "
                "a new training from these weights, give the file as --weights instead.")


def _extras_class():
    """The message fashioncaffe appends to a binary SolverState: ``bytes rng_state = 1020``.  Serialised
    messages concatenate into one, so SolverState bytes + these bytes parse, in BVLC's SolverState, as
    its own fields plus an unknown field 1020."""
    global _EXTRAS
    if _EXTRAS is None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        proto = descriptor_pb2.FileDescriptorProto(name="fashioncaffe_solverstate_extras.proto",
                                                   package="fashioncaffe", syntax="proto2")
        msg = proto.message_type.add(name="SolverStateExtras")
        msg.field.add(name="rng_state", number=RNG_STATE_FIELD, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        pool = descriptor_pool.DescriptorPool()
        pool.Add(proto)
        _EXTRAS = message_factory.GetMessageClass(pool.FindMessageTypeByName("fashioncaffe.SolverStateExtras"))
    return _EXTRAS


_EXTRAS = None


def _rng_state_field(state) -> bytes | None:
    """Field 1020 of a parsed SolverState, which keeps it as an unknown field."""
    from google.protobuf import unknown_fields

    for field in unknown_fields.UnknownFieldSet(state):
        if field.field_number == RNG_STATE_FIELD and field.wire_type == 2:
            return bytes(field.data)
    return None


def read_solverstate_binary(path) -> SolverStateData:
    """Read a binary ``.solverstate``; ``learned_net`` is the model path as Caffe recorded it.  A
    model file given in its place is named as such."""
    try:
        state = read_solverstate_proto(path)
    except FashionCaffeError:
        layers = os.path.isfile(path) and _looks_like_caffemodel(path)
        if layers:
            raise _not_a_solverstate(path, layers) from None
        raise
    if not state.learned_net and not len(state.history) and state.iter == 0:
        layers = _looks_like_caffemodel(path)
        if layers:
            raise _not_a_solverstate(path, layers)
    history = [blobproto_to_array(b, name=f"{os.fspath(path)}: history blob {i}") for i, b in enumerate(state.history)]
    return SolverStateData(int(state.iter), state.learned_net, int(state.current_step), history,
                           _rng_state_field(state))


def write_solverstate_binary(path, iter: int, learned_net: str, current_step: int, history_arrays,
                             rng_state: bytes | None = None) -> None:
    """Write a binary SolverState atomically (with ``rng_state`` as field :data:`RNG_STATE_FIELD`)."""
    state = caffe_pb2.SolverState(iter=int(iter), learned_net=os.fspath(learned_net), current_step=int(current_step))
    for a in history_arrays:
        state.history.append(array_to_blobproto(np.asarray(a)))
    data = state.SerializeToString()
    if rng_state is not None:
        data += _extras_class()(rng_state=bytes(rng_state)).SerializeToString()
    atomic_write_bytes(path, data)
