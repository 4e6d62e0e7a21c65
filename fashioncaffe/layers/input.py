"""Input layer: tops are blobs the user (or a Python data script) fills.

Input       tops: one per ``input_param.shape`` (a single shape applies to every top);
            no bottoms.  The net reads each top from its blob, so
            ``net.blobs['data'].data[...] = x`` is what forward sees.
"""
from __future__ import annotations

import torch

from ..errors import fail
from .base import Layer, register


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

    def reshape(self, bottom_shapes):
        return list(self.shapes)

    def forward(self, bottoms):  # only used for shape inference; the net feeds real data from blobs
        return [torch.zeros(s, device=self.device) for s in self.shapes]
