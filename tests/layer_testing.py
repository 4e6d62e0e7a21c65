"""Helpers the layer tests share: build one engine layer from LayerParameter text, check its gradients
by finite differences, replay a BVLC Caffe reference case through check.py, and list the top-level
modules a layer file imports (what a BVLC Caffe install must provide)."""
import ast
import os
import sys

import numpy as np
import torch
from google.protobuf import text_format

import fashioncaffe
from fashioncaffe.layers import TEST, layer_class
from fashioncaffe.proto import caffe_pb2

REF = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "caffe_reference")


def make(text, bottom_shapes, phase=TEST):
    """(layer, top shapes) for a LayerParameter written in prototxt text, set up on these bottoms."""
    lp = text_format.Parse(text, caffe_pb2.LayerParameter())
    layer = layer_class(lp.type, lp.name)(lp, phase, "cpu")
    layer.check_counts(len(lp.bottom), len(lp.top))
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


class FBlob:
    """A float64 stand-in for a pycaffe Blob (data, diff, shape, count, reshape), for driving the
    papers' Python layers' numpy path directly."""

    def __init__(self, arr):
        self.data = np.array(arr, dtype=np.float64)
        self.diff = np.zeros_like(self.data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def count(self):
        return self.data.size

    def reshape(self, *shape):
        if self.data.shape != tuple(shape):
            self.data = np.zeros(shape)
            self.diff = np.zeros(shape)


class BlobVector:
    """BVLC pycaffe's ``RawBlobVec``: what BVLC Caffe hands a Python layer as ``bottom`` and ``top``.

    It is a wrapped ``std::vector<Blob*>``: ``len()``, integer indexing (negative too) and slicing
    (which gives another such vector) work, but iterating fails -- ``for b in bottom``, ``zip(..,
    bottom)``, ``list(bottom)`` and unpacking raise the TypeError BVLC raises.  Tests drive our
    pycaffe layers through this stand-in so that a layer that would crash in BVLC Caffe fails here.
    """

    def __init__(self, blobs):
        self._blobs = list(blobs)

    def __len__(self):
        return len(self._blobs)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return BlobVector(self._blobs[index])
        if not isinstance(index, int):
            raise TypeError("Invalid index type")
        if not -len(self._blobs) <= index < len(self._blobs):
            raise IndexError("Index out of range")
        return self._blobs[index]

    def __iter__(self):
        raise TypeError("No to_python (by-value) converter found for C++ type: caffe::Blob<float>*")

    def __contains__(self, item):
        raise TypeError("No to_python (by-value) converter found for C++ type: caffe::Blob<float>*")


def top_level_imports(path):
    """Top-level module names ``path`` imports (relative imports of sibling modules left out)."""
    tops = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            tops.add((node.module or "").split(".")[0])
    return tops
