"""Run a pycaffe Python layer as BVLC Caffe runs it, and the same layer in the engine.

A :class:`LayerCase` names a layer (module, class, param_str), how to draw its bottoms, how many tops
it has and which bottoms BVLC would ask gradients for.  The cases of our own layers are listed in
``tests/bvlc_layer_cases.py`` (a new layer joins with one entry there).

:func:`run_standin` replays what BVLC Caffe 1.0 does with a Python layer, on stand-ins that behave as
its pycaffe objects do (``layer_testing``: float32 :class:`FBlob`, non-iterable ``BlobVector`` /
``BoolVector``):

* the class is constructed with the LayerParameter (``cls(param)``, layer_factory's GetPythonLayer);
* ``Layer::SetUp``: ``param_str`` and ``phase`` are set, then ``setup(bottom, top)`` and
  ``reshape(bottom, top)`` run while the bottoms still hold the zeros the Net allocated and the tops
  are fresh blobs that were never reshaped (python_layer.hpp LayerSetUp, layer.hpp SetUp);
* ``Layer::Forward``: ``reshape`` again, then ``forward`` on the bottoms' float32 values;
* ``Net::Backward``: the top diffs are set and ``backward(top, propagate_down, bottom)`` runs on
  bottoms whose diffs still hold stale values (the Net never clears them: a layer must write every
  diff it is asked for, never add to it) -- here NaN, so an unwritten diff shows.

:func:`run_engine` runs the same case through the engine's ``type: "Python"`` layer, on its tensor
path (autograd) or its numpy path (the adapter), and returns the same numbers for comparison.
"""
from __future__ import annotations

import importlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from fashioncaffe.layers import TRAIN, layer_class
from fashioncaffe.proto import caffe_pb2
from layer_testing import BlobVector, BoolVector, FBlob


@dataclass(frozen=True)
class LayerCase:
    """One run of a custom layer: ``bottoms(rng)`` draws the bottom arrays (cast to float32, as BVLC
    stores them); ``propagate_down`` says which bottoms get a gradient (default: all, what BVLC gives
    a Python layer under ``force_backward``; a label fed by a Data layer gets False in a real net)."""

    id: str
    module: str
    layer: str
    bottoms: Callable[[np.random.RandomState], Sequence[np.ndarray]]
    n_top: int
    param: dict | str = field(default_factory=dict)
    propagate_down: tuple | None = None
    phase: int = TRAIN
    rtol: float = 1e-5
    atol: float = 1e-6

    @property
    def param_str(self) -> str:
        return self.param if isinstance(self.param, str) else json.dumps(self.param)

    def rng(self, salt: str) -> np.random.RandomState:
        return np.random.RandomState(zlib.crc32(f"{self.id}/{salt}".encode()))

    def inputs(self) -> list[np.ndarray]:
        return [np.asarray(a, dtype=np.float32) for a in self.bottoms(self.rng("bottoms"))]

    def need(self, n_bottom: int) -> list[bool]:
        pd = [True] * n_bottom if self.propagate_down is None else [bool(p) for p in self.propagate_down]
        if len(pd) != n_bottom:
            raise ValueError(f"case {self.id}: propagate_down has {len(pd)} entries for {n_bottom} bottoms")
        return pd

    def top_diffs(self, top_shapes) -> list[np.ndarray]:
        rng = self.rng("top_diffs")
        return [np.asarray(rng.randn(*s), dtype=np.float32) for s in top_shapes]


class _LayerParameter:
    """What BVLC passes to a Python layer's constructor: an opaque caffe.LayerParameter."""


def run_standin(case: LayerCase, inputs=None, top_diffs=None):
    """BVLC Caffe's life cycle of the layer on BVLC-faithful stand-ins.

    Returns ``(tops, bottom_diffs)``: float32 arrays; ``bottom_diffs[i]`` is None where
    ``propagate_down[i]`` is False.  ``top_diffs`` default: :meth:`LayerCase.top_diffs`."""
    inputs = case.inputs() if inputs is None else inputs
    cls = getattr(importlib.import_module(case.module), case.layer)
    layer = cls(_LayerParameter())
    bottoms = [FBlob(np.zeros(a.shape, np.float32)) for a in inputs]   # the Net's zero-filled blobs
    tops = [FBlob() for _ in range(case.n_top)]
    bottom, top = BlobVector(bottoms), BlobVector(tops)
    layer.param_str = case.param_str
    layer.phase = case.phase
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    for b, a in zip(bottoms, inputs):
        b.data[...] = a
    layer.reshape(bottom, top)
    layer.forward(bottom, top)
    out = [t.data.copy() for t in tops]
    diffs = case.top_diffs([o.shape for o in out]) if top_diffs is None else top_diffs
    for t, d in zip(tops, diffs):
        t.diff[...] = d
    for b in bottoms:
        b.diff[...] = np.nan
    need = case.need(len(inputs))
    layer.backward(top, BoolVector(need), bottom)
    grads = [b.diff.copy() if n else None for b, n in zip(bottoms, need)]
    return out, grads


def layer_parameter(case: LayerCase, n_bottom: int) -> caffe_pb2.LayerParameter:
    lp = caffe_pb2.LayerParameter(name=case.id, type="Python")
    lp.bottom.extend(f"b{i}" for i in range(n_bottom))
    lp.top.extend(f"t{i}" for i in range(case.n_top))
    lp.python_param.module = case.module
    lp.python_param.layer = case.layer
    lp.python_param.param_str = case.param_str
    return lp


def run_engine(case: LayerCase, inputs, top_diffs, path="tensor", need=None):
    """The engine's numbers for the case: ``(tops, bottom_diffs)`` as :func:`run_standin` returns them.

    ``path``: "tensor" (the layer's ``tensor_path`` with autograd) or "numpy" (the engine's adapter
    calling the pycaffe forward / backward, as a layer without a tensor path runs).  ``need``
    overrides the case's ``propagate_down``."""
    lp = layer_parameter(case, len(inputs))
    layer = layer_class("Python", lp.name)(lp, case.phase, "cpu")
    if path == "numpy":
        layer.tensor_fn = None
    elif layer.tensor_fn is None:
        raise ValueError(f"case {case.id}: {case.module}.{case.layer} has no tensor_path")
    shapes = [tuple(a.shape) for a in inputs]
    layer.setup_blobs(shapes, case.n_top)
    layer.reshape(shapes)
    need = case.need(len(inputs)) if need is None else list(need)
    xs = [torch.tensor(a, dtype=torch.float32, requires_grad=n) for a, n in zip(inputs, need)]
    outs = layer.forward(xs)
    tops = [o.detach().numpy().astype(np.float32) for o in outs]
    diff_outs = [(o, torch.from_numpy(d)) for o, d in zip(outs, top_diffs) if o.requires_grad]
    wanted = [x for x in xs if x.requires_grad]
    grads = {}
    if diff_outs and wanted:
        got = torch.autograd.grad([o for o, _ in diff_outs], wanted, [d for _, d in diff_outs], allow_unused=True)
        grads = {id(x): g for x, g in zip(wanted, got)}
    bottom_diffs = []
    for x, n in zip(xs, need):
        if not n:
            bottom_diffs.append(None)
            continue
        g = grads.get(id(x))
        bottom_diffs.append(np.zeros(x.shape, np.float32) if g is None else g.numpy().astype(np.float32))
    return tops, bottom_diffs


def assert_same_numbers(case: LayerCase, got, want, what: str, rtol=None, atol=None):
    """Tops and bottom diffs of two runs agree within the case's tolerance."""
    rtol = case.rtol if rtol is None else rtol
    atol = case.atol if atol is None else atol
    (g_tops, g_diffs), (w_tops, w_diffs) = got, want
    assert len(g_tops) == len(w_tops)
    for i, (g, w) in enumerate(zip(g_tops, w_tops)):
        assert tuple(g.shape) == tuple(w.shape), f"{case.id} {what}: top {i} shape {g.shape} vs {w.shape}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{case.id} {what}: top {i}")
    for i, (g, w) in enumerate(zip(g_diffs, w_diffs)):
        assert (g is None) == (w is None)
        if g is not None:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{case.id} {what}: bottom {i} diff")
