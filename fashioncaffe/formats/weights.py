"""The Net's weight files: ``copy_from`` (Caffe's CopyTrainedLayersFrom) and ``save`` (Net::ToProto).

Loading (binary ``.caffemodel``, V0/V1 files upgraded, or ``.h5``):

* source layers are matched to the net's layers **by name**; source layers the net does not have
  are ignored (logged, as Caffe does);
* a binary source layer must carry exactly as many blobs as the target layer; an HDF5 source layer
  at most as many, and a missing blob is only allowed for a parameter the target shares from
  another layer (Caffe's rule for HDF5);
* shapes must agree: a blob written with the ``shape`` message must match exactly; a legacy blob
  (``num/channels/height/width``) matches a target of at most 4 axes compared right-aligned with
  missing axes read as 1, so (1, 1, N, K) fits (N, K) and (1, 1, 1, N) fits (N,);
* a mismatch raises FashionCaffeError naming the file, layer, blob index and both shapes.

Saving writes a NetParameter with every layer's definition and its blobs (all of them, shared ones
included, like Net::ToProto) or, for HDF5, ``data/<layer>/<i>`` for the parameters a layer owns
(shared ones only at their owner, like Net::ToHDF5).  Both are written atomically.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .. import logging_caffe as log
from ..errors import fail
from ..proto import caffe_pb2
from .blobproto import array_to_blobproto, blobproto_to_array
from .hdf5 import read_caffemodel_h5, write_caffemodel_h5
from .caffemodel import read_caffemodel_binary, write_caffemodel_binary
from .model_files import is_hdf5_path

__all__ = ["copy_weights_into", "save_net", "read_weight_source", "apply_weight_source", "net_to_proto"]

_LEGACY = ("num", "channels", "height", "width")


class _Source:
    """Weights read from a file: ``layers`` = list of (name, [(array, legacy: bool)]), ``hdf5``."""

    def __init__(self, path, layers, hdf5):
        self.path = path
        self.layers = layers
        self.hdf5 = hdf5


def read_weight_source(path, hdf5: bool | None = None) -> _Source:
    """Read a weights file once (to copy it into several nets).  ``hdf5``: the format (pycaffe's
    ``load_hdf5`` says HDF5 whatever the name); None chooses by the name, as Caffe 1.0 does."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise fail(f"{path}: weights file does not exist (expected a .caffemodel or .caffemodel.h5).",
                   like=RuntimeError)  # pycaffe: "Could not open file"
    if hdf5 if hdf5 is not None else is_hdf5_path(path):
        layers = [(name, [(a, False) for a in arrays]) for name, arrays in read_caffemodel_h5(path)]
        return _Source(path, layers, True)
    net_param = read_caffemodel_binary(path)
    layers = []
    for lp in net_param.layer:
        blobs = []
        for i, b in enumerate(lp.blobs):
            legacy = any(b.HasField(f) for f in _LEGACY)
            blobs.append((blobproto_to_array(b, name=f"{path}: layer '{lp.name}' blob {i}"), legacy))
        layers.append((lp.name, blobs))
    return _Source(path, layers, False)


def _legacy_dims(shape):
    """Caffe's LegacyShape(-4..-1) of a target blob shape."""
    s = tuple(shape)
    return tuple(s[i] if -i <= len(s) else 1 for i in (-4, -3, -2, -1))


def _shape_fits(target_shape, src_shape, legacy) -> bool:
    if legacy:
        return len(target_shape) <= 4 and _legacy_dims(target_shape) == tuple(src_shape)[-4:] and len(src_shape) == 4
    return tuple(target_shape) == tuple(src_shape)


def _owners(net):
    """id(blob) of the parameters each layer owns (shared ones belong to their first layer)."""
    return {id(spec[0]): spec[3] for spec in net.param_specs}


def apply_weight_source(net, source: _Source) -> None:
    """Copy a read weights file into ``net`` with Caffe's matching rules."""
    index = {}
    for i, name in enumerate(net.layer_names):
        index.setdefault(name, i)  # two layers of one name: the first gets the weights, as in Caffe
    owners = _owners(net)
    copied = 0
    for name, blobs in source.layers:
        idx = index.get(name)
        if idx is None:
            log.info(f"Ignoring source layer {name}", "net.cpp:1072")
            continue
        copied += len(blobs)
        targets = net.engine_layers[idx].blobs
        if source.hdf5:
            if len(blobs) > len(targets):
                raise fail(f"{source.path}: layer '{name}' holds {len(blobs)} blob(s) but the net's layer '{name}' "
                           f"has {len(targets)}; incompatible number of blobs.")
        elif len(blobs) != len(targets):
            raise fail(f"{source.path}: layer '{name}' holds {len(blobs)} blob(s) but the net's layer '{name}' has "
                       f"{len(targets)}; incompatible number of blobs. To learn this layer from scratch, rename it.")
        for j, target in enumerate(targets):
            if j >= len(blobs):
                if owners.get(id(target)) not in (None, name):
                    continue  # shared from another layer: fine (Caffe's HDF5 rule)
                raise fail(f"{source.path}: layer '{name}' lacks blob {j}, which the net's layer '{name}' owns; "
                           "incompatible number of blobs.")
            arr, legacy = blobs[j]
            if not _shape_fits(target.shape, arr.shape, legacy):
                raise fail(f"Cannot copy param {j} weights from layer '{name}' of {source.path}; shape mismatch. "
                           f"Source param shape is {tuple(arr.shape)}{' (legacy 4-D)' if legacy else ''}; target "
                           f"param shape is {tuple(target.shape)}. To learn this layer's parameters from scratch "
                           "rather than copying from a saved net, rename the layer.")
            t = target.tensor
            src = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).reshape(t.shape)
            with torch.no_grad():
                t.copy_(src)
    if copied == 0 and net.param_specs:
        have = sum(1 for _, blobs in source.layers if blobs)
        log.warning_once(f"{source.path}: no weights were copied into net '{net.name}': "
                         + (f"none of its {have} layer(s) with weights is named like a layer of this net"
                            if have else "it holds no weights at all")
                         + ", so the net keeps its filler weights. BVLC Caffe accepts this silently; weights are "
                         "matched by layer name.", "net.cpp:1072")


def copy_weights_into(net, path, hdf5: bool | None = None) -> None:
    """``net.copy_from(path)``: copy weights by layer name from a .caffemodel or .caffemodel.h5
    (``hdf5`` as in :func:`read_weight_source`)."""
    apply_weight_source(net, read_weight_source(path, hdf5))


def _blob_arrays(blob, diff):
    data = np.array(blob.tensor.detach().cpu().numpy(), dtype=np.float32, copy=True)
    if not diff:
        return data, None
    g = blob.tensor.grad if blob.learnable else blob.grad
    d = np.zeros_like(data) if g is None else np.array(g.detach().cpu().numpy(), dtype=np.float32)
    return data, d


def net_to_proto(net, write_diff: bool = False) -> caffe_pb2.NetParameter:
    """Net::ToProto: the net's name, and every layer's definition with its blobs (data, and diff)."""
    out = caffe_pb2.NetParameter()
    out.name = net.name
    for step in net.schedule:
        layer = step.layer
        dst = out.layer.add()
        dst.CopyFrom(step.param)
        del dst.blobs[:]
        for blob in layer.blobs:
            data, d = _blob_arrays(blob, write_diff)
            dst.blobs.append(array_to_blobproto(data, d))
    return out


def save_net(net, path, hdf5: bool | None = None, write_diff: bool = False) -> None:
    """Write the net's weights to ``path``: binary NetParameter, or Caffe's HDF5 layout; ``hdf5``
    None chooses by the name (``.h5``), True/False force the format (pycaffe's ``save_hdf5`` /
    ``save``).  Atomic."""
    path = os.fspath(path)
    if hdf5 if hdf5 is not None else is_hdf5_path(path):
        owners = _owners(net)
        layers, diffs = [], []
        for name, layer in zip(net.layer_names, net.engine_layers):
            arrays, darrays = [], []
            owned = [owners.get(id(blob), name) == name for blob in layer.blobs]
            # Caffe writes only owned blobs; datasets are numbered by blob index, so an owned blob
            # after a shared one forces writing the whole layer (the reader wants no gaps).
            keep = len(owned) - owned[::-1].index(True) if True in owned else 0
            for j, blob in enumerate(layer.blobs):
                data, d = _blob_arrays(blob, write_diff)
                if j < keep:
                    arrays.append(data)
                if write_diff:
                    darrays.append(d)
            layers.append((name, arrays))
            diffs.append((name, darrays))
        write_caffemodel_h5(path, layers, diffs if write_diff else None)
        return
    write_caffemodel_binary(path, net_to_proto(net, write_diff))
