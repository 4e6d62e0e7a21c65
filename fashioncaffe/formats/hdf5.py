"""Caffe's HDF5 snapshots: ``.caffemodel.h5`` weights and ``.solverstate.h5`` solver states.

Layouts, as BVLC Caffe writes them (``snapshot_format: HDF5``):

- weights: group ``data`` with one group per layer (layers without parameters included, empty), each
  holding float32 datasets ``"0"``, ``"1"``, ... in blob order; optionally the same under ``diff``.
- solver state: int32 datasets ``iter`` and ``current_step`` of shape (1,), a NUL-terminated string
  dataset ``learned_net`` (optional on read), and group ``history`` with float32 datasets ``"0"``, ...

HDF5 treats "/" in a name as a path separator, so a layer named ``conv1/7x7`` is stored as group
``7x7`` inside group ``conv1``; reading by walking the file gives the name back.  Writes are atomic.
:mod:`.model_files` chooses between this format and the binary one by the file name.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from ..errors import fail
from .atomic import atomic_path
from .caffemodel import SolverStateData

__all__ = [
    "read_caffemodel_h5",
    "write_caffemodel_h5",
    "read_solverstate_h5",
    "write_solverstate_h5",
]


def _open(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise fail(f"{path}: file does not exist (expected an HDF5 file).")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise fail(f"{path}: is empty (0 bytes); expected an HDF5 file. A copy or download that failed, or a write "
                   "that was interrupted, leaves such a file.")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise fail(f"{path}: is not a readable HDF5 file ({e}).") from None


def _numbered_datasets(group, path) -> list:
    """Arrays of the datasets "0", "1", ... in ``group``, in numeric order."""
    items = []
    for key, obj in group.items():
        if not isinstance(obj, h5py.Dataset):
            continue
        if not key.isdigit():
            raise fail(f"{path}: dataset '{obj.name}' should be named by its blob index (0, 1, ...).")
        items.append((int(key), obj))
    items.sort(key=lambda kv: kv[0])
    if [k for k, _ in items] != list(range(len(items))):
        raise fail(f"{path}: group '{group.name}' should hold datasets 0..{len(items) - 1} without gaps, "
                   f"found {[k for k, _ in items]}.")
    return [np.asarray(ds[()]) for _, ds in items]


def _layer_groups(root):
    """(layer name, group) for every group under ``root`` that is a layer.

    A group is a layer when it holds datasets or nothing at all; a group holding only subgroups is
    just the folder part of layer names that contain "/".
    """
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            children = list(obj.values())
            if not children or any(isinstance(c, h5py.Dataset) for c in children):
                found.append((name, obj))

    root.visititems(visit)
    return found


def read_caffemodel_h5(path, diff: bool = False) -> list:
    """List ``(layer_name, [arrays])`` from an HDF5 weights file (the ``diff`` group when ``diff``)."""
    path = os.fspath(path)
    group_name = "diff" if diff else "data"
    with _open(path) as f:
        if group_name not in f:
            raise fail(f"{path}: has no '{group_name}' group; expected Caffe's HDF5 weights layout "
                       "(data/<layer>/<blob index>).")
        return [(name, _numbered_datasets(g, path)) for name, g in _layer_groups(f[group_name])]


def _write_layers(root, layers, path):
    seen = set()
    for name, arrays in layers:
        if name in seen:
            raise fail(f"{path}: two layers are named '{name}'; HDF5 weights need unique layer names.")
        if not name:
            raise fail(f"{path}: a layer with blobs has no name; HDF5 weights are stored by layer name.")
        seen.add(name)
        group = root.require_group(name)
        for i, a in enumerate(arrays):
            group.create_dataset(str(i), data=np.asarray(a, dtype=np.float32))


def write_caffemodel_h5(path, layers, diffs=None) -> None:
    """Write HDF5 weights atomically.

    ``layers`` is a list of ``(layer_name, [arrays])`` (e.g. from iter_layer_blobs); ``diffs``, when
    given, has the same structure and is stored under ``diff``.
    """
    path = os.fspath(path)
    layers = list(layers)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            _write_layers(f.create_group("data"), layers, path)
            if diffs is not None:
                _write_layers(f.create_group("diff"), list(diffs), path)


def _read_int(f, name, path) -> int:
    if name not in f:
        raise fail(f"{path}: has no '{name}' dataset; expected Caffe's HDF5 solver state layout.")
    return int(np.asarray(f[name][()]).reshape(-1)[0])


#: the dataset holding fashioncaffe's record of the random streams; BVLC's RestoreSolverStateFromHDF5
#: opens ``iter``, ``learned_net``, ``current_step`` and ``history`` by name and never looks at others
RNG_STATE_DATASET = "fashioncaffe_rng_state"


def read_solverstate_h5(path) -> SolverStateData:
    """Read an HDF5 solver state (``.solverstate.h5``)."""
    path = os.fspath(path)
    with _open(path) as f:
        if "iter" not in f and "data" in f:
            raise fail(f"{path}: is a Caffe model in HDF5 (.caffemodel.h5: weights under 'data'), not a solver "
                       "state. --snapshot resumes from the .solverstate.h5 a snapshot writes beside it; to start a "
                       "new training from these weights, give the file as --weights instead.")
        iteration = _read_int(f, "iter", path)
        current_step = _read_int(f, "current_step", path)
        learned_net = ""
        if "learned_net" in f:
            raw = f["learned_net"][()]
            if isinstance(raw, np.ndarray):
                raw = raw.reshape(-1)[0]
            learned_net = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).rstrip("\0")
        if "history" not in f:
            raise fail(f"{path}: has no 'history' group; expected Caffe's HDF5 solver state layout.")
        history = _numbered_datasets(f["history"], path)
        rng_state = bytes(np.asarray(f[RNG_STATE_DATASET][()]).tobytes()) if RNG_STATE_DATASET in f else None
    return SolverStateData(iteration, learned_net, current_step, history, rng_state)


def write_solverstate_h5(path, iter: int, learned_net: str, current_step: int, history_arrays,
                         rng_state: bytes | None = None) -> None:
    """Write an HDF5 solver state atomically, in the layout Caffe's restore reads (``rng_state`` as
    the uint8 dataset :data:`RNG_STATE_DATASET`)."""
    path = os.fspath(path)
    name = os.fspath(learned_net).encode("utf-8")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("iter", data=np.array([int(iter)], dtype=np.int32))
            # Caffe copies the string into a buffer of the stored size and expects a NUL inside it.
            f.create_dataset("learned_net", data=np.array(name + b"\0", dtype=f"S{len(name) + 1}"))
            f.create_dataset("current_step", data=np.array([int(current_step)], dtype=np.int32))
            history = f.create_group("history")
            for i, a in enumerate(history_arrays):
                history.create_dataset(str(i), data=np.asarray(a, dtype=np.float32))
            if rng_state is not None:
                f.create_dataset(RNG_STATE_DATASET, data=np.frombuffer(bytes(rng_state), dtype=np.uint8))
