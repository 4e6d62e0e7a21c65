"""Input layer: tops are blobs the user (or a Python data script) fills.

Input       tops: one per ``input_param.shape`` (a single shape applies to every top);
            no bottoms.  The net reads each top from its blob, so
            ``net.blobs['data'].data[...] = x`` is what forward sees.
"""
from __future__ import annotations

import torch

from .. import logging_caffe as log
from ..errors import fail
from .base import Layer, register

INT_MAX = 2 ** 31 - 1   # BVLC's Blob counts elements in an int: "blob size exceeds INT_MAX"


def check_input_shape(layer, shape, field: str) -> None:
    """BVLC's Blob::Reshape checks for a declared blob shape: every dimension >= 0 and at most
    INT_MAX elements.  A zero dimension passes (BVLC accepts an empty blob) with a warning: every
    layer after it computes nothing, and one whose parameters it sizes is refused at setup."""
    count = 1
    for axis, d in enumerate(shape):
        if d < 0:
            raise fail(f"{layer.type} layer '{layer.name}': {field} has dimension {axis} = {d}; every dimension "
                       f"must be >= 0 (shape {list(shape)}).")
        count *= d
    if count > INT_MAX:
        raise fail(f"{layer.type} layer '{layer.name}': {field} {list(shape)} has {count} elements, more than "
                   f"Caffe's limit of INT_MAX = {INT_MAX} per blob.")
    if count == 0 and shape:
        axis = list(shape).index(0)
        log.warning_once(f"{layer.type} layer '{layer.name}': {field} {list(shape)} has dimension {axis} = 0, so "
                         "the blob holds no elements and every layer after it computes nothing. BVLC Caffe accepts "
                         "it; give a positive size unless a reshape before forward is intended.", "blob.cpp:32")


@register("Input")
class InputLayer(Layer):
    num_bottoms = (0, 0)
    num_tops = (1, None)
    feeds_from_blob = True

    def setup(self, bottom_shapes):
        shapes = [tuple(int(d) for d in s.dim) for s in self.param.input_param.shape]
        n = len(self.param.top)
        if len(shapes) not in (1, n):
            raise fail(f"Input layer '{self.name}' has {n} tops but {len(shapes)} input_param shapes; "
                       "give one shape, or one per top.")
        self.shapes = shapes * n if len(shapes) == 1 else shapes
        for i, s in enumerate(shapes):
            check_input_shape(self, s, f"input_param.shape[{i}]")

    def reshape(self, bottom_shapes):
        return list(self.shapes)

    def forward(self, bottoms):  # only used for shape inference; the net feeds real data from blobs
        return [torch.zeros(s, device=self.device) for s in self.shapes]
