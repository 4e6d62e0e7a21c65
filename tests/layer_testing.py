"""Helpers the layer tests share: build one engine layer from LayerParameter text, check its gradients
by finite differences, replay a BVLC Caffe reference case through check.py, and stand-ins for what
BVLC Caffe hands a pycaffe Python layer (:class:`FBlob`, :data:`BlobVector`, :data:`BoolVector`,
:class:`BVLCCalls`) to drive our layers' numpy path as BVLC does, and the top-level modules a layer file imports
(what a BVLC Caffe install must provide)."""
import ast
import os
import sys

import numpy as np
import torch
from google.protobuf import text_format

import fashioncaffe
from fashioncaffe.layers import TEST, layer_class
from fashioncaffe.proto import caffe_pb2
from fashioncaffe.pylayer import BoolVec, PythonLayer, RawBlobVec

REF = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "caffe_reference")


def make(text, bottom_shapes, phase=TEST):
    """(layer, top shapes) for a LayerParameter written in prototxt text, set up on these bottoms."""
    lp = text_format.Parse(text, caffe_pb2.LayerParameter())
    layer = layer_class(lp.type, lp.name)(lp, phase, "cpu")
    layer.check_counts(len(lp.bottom), len(lp.top))
    if isinstance(layer, PythonLayer):  # as the Net sets up a Python layer
        layer.setup_blobs([tuple(s) for s in bottom_shapes], len(lp.top))
    else:
        layer.setup([tuple(s) for s in bottom_shapes])
    tops = layer.reshape([tuple(s) for s in bottom_shapes])
    return layer, tops


def gradcheck_layer(layer, inputs, params=True):
    """torch.autograd.gradcheck of the layer's forward w.r.t. its float64 inputs (and parameters)."""
    ps = [b.tensor.detach().double().requires_grad_() for b in layer.blobs] if params else []
    n = len(inputs)

    def fn(*args):
        for b, p in zip(layer.blobs, args[n:]):
            b._data._tensor = p
        outs = layer.forward(list(args[:n]))
        return tuple(o for o in outs if o.requires_grad)

    return torch.autograd.gradcheck(fn, tuple(inputs) + tuple(ps), eps=1e-6, atol=1e-6, rtol=1e-4)


def reference_case_problems(case):
    """check.py's list of mismatches for one recorded layer case (None when the case is absent)."""
    d = os.path.join(REF, "layers", case)
    if not os.path.isdir(d):
        return None
    sys.path.insert(0, REF)
    try:
        import check
    finally:
        sys.path.remove(REF)
    fashioncaffe.set_mode_cpu()
    return check.check_layer_case(fashioncaffe, d, 1e-4, 1e-5)


class IntVec:
    """BVLC pycaffe's ``IntVec`` (a wrapped ``std::vector<int>``): what ``Blob.shape`` returns in BVLC.

    ``len()``, indexing, slicing and iteration (``n, c, h, w = blob.shape``) work and numpy takes it as a
    sequence, but it is not a tuple: it compares equal to nothing but itself, so ``blob.shape == (2, 3)``
    is False in BVLC -- a layer must compare ``tuple(blob.shape)``."""

    def __init__(self, dims):
        self._dims = [int(d) for d in dims]

    def __len__(self):
        return len(self._dims)

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step is not None:
                raise IndexError("slice step size not supported.")
            return IntVec(self._dims[index])
        if not isinstance(index, int):
            raise TypeError("Invalid index type")
        if not -len(self._dims) <= index < len(self._dims):
            raise IndexError("Index out of range")
        return self._dims[index]

    def __iter__(self):
        return iter(list(self._dims))

    def __contains__(self, item):
        return item in self._dims

    def __repr__(self):
        return "<caffe._caffe.IntVec object>"


class FBlob:
    """pycaffe's Blob as BVLC Caffe hands it to a Python layer, for driving our layers' numpy path.

    * ``data`` / ``diff``: float32 numpy views of the blob's memory (a new view at each access, no
      setter: ``blob.data = x`` fails as in pycaffe; write ``blob.data[...] = x``);
    * ``shape``: an :class:`IntVec`; ``count``, ``num``/``channels``/``height``/``width`` (Caffe's
      LegacyShape: at most 4 axes, missing ones are 1);
    * ``reshape(*dims)``: Python ints only (BVLC's ``bp::extract<int>`` refuses numpy integers and a
      tuple); memory is kept while the new count fits the capacity (old values stay, reinterpreted)
      and reallocated zero-filled when it grows -- Blob::Reshape;
    * ``FBlob()`` is a top before any reshape: count 0, no memory (BVLC aborts on ``CHECK(data_)`` when
      ``data`` is touched then; here it raises).

    ``dtype=np.float64`` is an opt-in for finite-difference tests only: BVLC's blobs are float32.
    """

    def __init__(self, arr=None, dtype=np.float32):
        self._dtype = np.dtype(dtype)
        self._shape = []
        self._capacity = 0
        self._data = self._diff = None
        if arr is not None:
            arr = np.asarray(arr)
            self.reshape(*(int(d) for d in arr.shape))
            self.data[...] = arr

    def _view(self, buf, what):
        if buf is None:
            raise RuntimeError(f"Blob.{what} of a blob never reshaped (BVLC Caffe aborts: Check failed: data_)")
        return buf[:self.count].reshape(self._shape)

    @property
    def data(self):
        return self._view(self._data, "data")

    @property
    def diff(self):
        return self._view(self._diff, "diff")

    @property
    def shape(self):
        return IntVec(self._shape)

    @property
    def count(self):
        return int(np.prod(self._shape, dtype=np.int64)) if self._data is not None or self._shape else 0

    def _legacy(self, i):
        if len(self._shape) > 4:
            raise RuntimeError("Cannot use legacy accessors on Blobs with > 4 axes.")
        return (self._shape + [1, 1, 1, 1])[i]

    num = property(lambda self: self._legacy(0))
    channels = property(lambda self: self._legacy(1))
    height = property(lambda self: self._legacy(2))
    width = property(lambda self: self._legacy(3))

    def reshape(self, *dims):
        for d in dims:
            if not isinstance(d, int):
                raise TypeError("No registered converter was able to produce a C++ rvalue of type int from this "
                                f"Python object of type {type(d).__name__}")
            if d < 0:
                raise ValueError("Check failed: shape[i] >= 0 (BVLC Caffe aborts)")
        self._shape = list(dims)
        count = int(np.prod(self._shape, dtype=np.int64))
        if count > self._capacity or self._data is None:
            self._capacity = count
            self._data = np.zeros(count, self._dtype)
            self._diff = np.zeros(count, self._dtype)


BlobVector = RawBlobVec    # BVLC's bottom / top vector: indexable and sliceable, not iterable
BoolVector = BoolVec       # BVLC's propagate_down: indexable, not iterable


class BVLCCalls:
    """A pycaffe layer object whose ``setup`` / ``reshape`` / ``forward`` / ``backward`` are called the
    way BVLC Caffe calls them: lists of blobs are handed over as :data:`BlobVector` and
    ``propagate_down`` as :data:`BoolVector`.  Every other attribute reads and writes the layer."""

    def __init__(self, layer):
        object.__setattr__(self, "layer", layer)

    def __getattr__(self, name):
        return getattr(self.layer, name)

    def __setattr__(self, name, value):
        setattr(self.layer, name, value)

    @staticmethod
    def _blobs(v):
        return v if isinstance(v, RawBlobVec) else BlobVector(v)

    def setup(self, bottom, top):
        return self.layer.setup(self._blobs(bottom), self._blobs(top))

    def reshape(self, bottom, top):
        return self.layer.reshape(self._blobs(bottom), self._blobs(top))

    def forward(self, bottom, top):
        return self.layer.forward(self._blobs(bottom), self._blobs(top))

    def backward(self, top, propagate_down, bottom):
        pd = propagate_down if isinstance(propagate_down, BoolVec) else BoolVector(propagate_down)
        return self.layer.backward(self._blobs(top), pd, self._blobs(bottom))


def top_level_imports(path):
    """Top-level module names ``path`` imports (relative imports of sibling modules left out)."""
    tops = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            tops.add((node.module or "").split(".")[0])
    return tops
