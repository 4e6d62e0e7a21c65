"""The random streams of a training, kept in its snapshots, so that a run resumed with
``--snapshot`` draws exactly what the uninterrupted run would have drawn.

What a snapshot keeps (one JSON document, format 1):

* ``torch_cpu`` / ``torch_cuda``: PyTorch's default generators (Dropout masks, random DummyData
  fillers), the CUDA ones per visible device when CUDA is in use;
* ``numpy`` / ``python``: numpy's and Python's global generators (what Python layers usually draw from);
* ``nets``: every layer's own stream (:meth:`Layer.stream_state`): a Data / ImageData reader's seed
  and next batch number, an HDF5Data reader's shuffling generator and position; for the train net
  (``"train"``) and each test net (``"test0"``, ...), by layer name;
* ``iter``: the iteration it belongs to, checked at restore.

Where it is stored (BVLC Caffe ignores it in both formats, so such a snapshot still restores there):
a binary ``.solverstate`` carries it as the length-delimited field
:data:`~fashioncaffe.formats.caffemodel.RNG_STATE_FIELD` (1020) of SolverState, which BVLC's proto
does not define and its parser keeps as an unknown field; a ``.solverstate.h5`` as the uint8 dataset
``fashioncaffe_rng_state``, which BVLC's HDF5 restore never opens.

A snapshot without it (written by BVLC Caffe or an older fashioncaffe) still resumes; the data
readers then continue at batch iter × iter_size, and the layers whose random numbers will differ
from the uninterrupted run are named in a warning.  With several training processes only the
root's streams are in the snapshot; the other ranks are named likewise.
"""
from __future__ import annotations

import base64
import json
import random

import numpy as np
import torch

from .. import distributed
from .. import logging_caffe as log
from ..errors import fail
from ..layers.base import Layer

__all__ = ["capture", "restore", "random_layers"]

FORMAT = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _nets(solver):
    yield "train", solver.net
    for i, net in enumerate(solver.test_nets):
        yield f"test{i}", net


def capture(solver) -> bytes:
    """The solver's random streams now, as the bytes a snapshot stores."""
    cuda = []
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda = [_b64(t.numpy().tobytes()) for t in torch.cuda.get_rng_state_all()]
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    nets = {}
    for tag, net in _nets(solver):
        layers = {}
        for name, layer in zip(net.layer_names, net.engine_layers):
            st = layer.stream_state()
            if st is not None:
                layers[name] = st
        nets[tag] = layers
    doc = {
        "format": FORMAT,
        "iter": int(solver.iter),
        "torch_cpu": _b64(torch.get_rng_state().numpy().tobytes()),
        "torch_cuda": cuda,
        "numpy": {"kind": kind, "keys": _b64(np.asarray(keys, dtype=np.uint32).tobytes()), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
        "nets": nets,
    }
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def _decode(data: bytes, path):
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise fail(f"{path}: its fashioncaffe random-stream record is damaged ({e}); the snapshot cannot resume "
                   "exactly. Resume from the snapshot before it.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise fail(f"{path}: its fashioncaffe random-stream record has format {doc.get('format')!r}, this version "
                   f"reads format {FORMAT}; resume with the fashioncaffe version that wrote it.")
    return doc


def restore(solver, data: bytes, path) -> None:
    """Put the random streams recorded in a snapshot back (the nets are built, the weights copied)."""
    doc = _decode(data, path)
    if int(doc["iter"]) != int(solver.iter):
        raise fail(f"{path}: its random-stream record belongs to iteration {doc['iter']} but the solver state to "
                   f"iteration {solver.iter}; the snapshot is inconsistent.")
    if distributed.rank() != 0:
        # the record is the root's: its generators and its readers' seeds are not this rank's
        _resume_readers(solver)
        _warn_differs(solver, path, "only the root process's random streams are in a snapshot, so this rank "
                                    f"({distributed.rank()}) draws anew", own_streams=True)
        return
    torch.set_rng_state(torch.from_numpy(np.frombuffer(_unb64(doc["torch_cpu"]), dtype=np.uint8).copy()))
    if doc["torch_cuda"] and torch.cuda.is_available():
        states = [torch.from_numpy(np.frombuffer(_unb64(s), dtype=np.uint8).copy()) for s in doc["torch_cuda"]]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
        else:
            log.warning(f"{path}: the snapshot recorded {len(states)} CUDA generator(s), this machine has "
                        f"{torch.cuda.device_count()} device(s); CUDA random numbers (Dropout on the GPU) "
                        "will differ from the uninterrupted run.", "rng_state.py:0")
    npst = doc["numpy"]
    np.random.set_state((npst["kind"], np.frombuffer(_unb64(npst["keys"]), dtype=np.uint32).copy(),
                         npst["pos"], npst["has_gauss"], npst["gauss"]))
    py = doc["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss_next"]))
    for tag, net in _nets(solver):
        saved = doc["nets"].get(tag, {})
        for name, layer in zip(net.layer_names, net.engine_layers):
            if name in saved:
                layer.set_stream_state(saved[name])
            elif tag == "train" and hasattr(layer, "resume_at"):
                layer.resume_at(solver.iter * max(1, int(solver.param.iter_size)))
    if _python_layers(solver):
        log.info(f"Restored the global random generators (torch, numpy, python) of {path}; Python layers "
                 f"({'; '.join(_python_layers(solver))}) continue exactly if they draw from those, not if they keep "
                 "generators of their own.", "rng_state.py:0")


def _resume_readers(solver):
    """Data / ImageData readers of the train net continue at batch iter × iter_size."""
    for layer in solver.net.engine_layers:
        if hasattr(layer, "resume_at"):
            layer.resume_at(solver.iter * max(1, int(solver.param.iter_size)))


def random_layers(solver, own_streams: bool = False) -> list:
    """``<net> net: <layer> (<type>)`` of every layer that draws from the global random generators
    (with ``own_streams``, also those whose own stream a snapshot would restore, other than the
    Data / ImageData readers, which resume by position)."""
    return [f"{tag} net: {name} ({layer.type})" for tag, net in _nets(solver)
            for name, layer in zip(net.layer_names, net.engine_layers)
            if layer.uses_global_rng or (own_streams and type(layer).stream_state is not Layer.stream_state
                                         and not hasattr(layer, "resume_at"))]


def _python_layers(solver) -> list:
    return [f"{tag} net: {name}" for tag, net in _nets(solver)
            for name, layer in zip(net.layer_names, net.engine_layers) if layer.type == "Python"]


def _warn_differs(solver, path, why, own_streams=False):
    names, python = random_layers(solver, own_streams), _python_layers(solver)
    if not names and not python:
        return
    parts = []
    if names:
        parts.append(f"these layers' random numbers (or reading positions) will differ from the uninterrupted run: "
                     f"{'; '.join(names)}")
    if python:
        parts.append(f"Python layers that draw random numbers will too ({'; '.join(python)})")
    log.warning(f"Resuming from {path}: {why}; {', and '.join(parts)}. Weights will not match that run bit for "
                "bit.", "rng_state.py:0")


def restore_without_record(solver, path) -> None:
    """A snapshot without a random-stream record (BVLC's): data readers continue at batch
    iter × iter_size; a warning names the layers whose random numbers will differ."""
    _resume_readers(solver)
    _warn_differs(solver, path, "the snapshot has no fashioncaffe random-stream record (BVLC Caffe or an older "
                                "fashioncaffe wrote it), so the random generators start anew", own_streams=True)
