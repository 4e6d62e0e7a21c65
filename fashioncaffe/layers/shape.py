"""Shape layers: Flatten and Reshape.  Both only change the shape; the top shares the bottom's
memory (as in Caffe, where the top shares the bottom's data and diff)."""
from __future__ import annotations

import math

from ..errors import fail
from .base import Layer, canonical_axis, register


@register("Flatten")
class FlattenLayer(Layer):
    """Collapses axes ``axis`` … ``end_axis`` (defaults 1 and −1) into one.

    bottom: x (d_0, …, d_{n−1});  top: y (d_0, …, d_{a−1}, d_a·…·d_e, d_{e+1}, …, d_{n−1}).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        p = self.param.flatten_param
        a = canonical_axis(int(p.axis), len(s), self, "flatten_param.axis")
        e = canonical_axis(int(p.end_axis), len(s), self, "flatten_param.end_axis")
        if e < a:
            raise fail(f"Flatten layer '{self.name}': end_axis ({e}) comes before axis ({a}).")
        self.top_shape = s[:a] + (int(math.prod(s[a:e + 1])),) + s[e + 1:]
        self.bottom_shape = s
        return [self.top_shape]

    def forward(self, bottoms):
        x = bottoms[0]
        if tuple(x.shape) != self.bottom_shape:  # the batch size changed since reshape
            self.reshape([tuple(x.shape)])
        return [x.reshape(self.top_shape)]


@register("Reshape")
class ReshapeLayer(Layer):
    """Changes the shape of axes [axis, axis + num_axes) to ``shape``, keeping the count.

    In ``shape``, 0 copies the bottom's dimension at the same position and −1 (at most once) is
    inferred from the count.  ``axis`` (default 0; negative counts from the end, −1 meaning after
    the last axis) and ``num_axes`` (default −1: to the end) choose the replaced range.
    bottom: x;  top: y (same data, new shape).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.reshape_param
        self.dims = [int(d) for d in p.shape.dim]
        if sum(1 for d in self.dims if d == -1) > 1:
            raise fail(f"Reshape layer '{self.name}': reshape_param.shape may contain -1 at most once.")
        for d in self.dims:
            if d < -1:
                raise fail(f"Reshape layer '{self.name}': reshape_param.shape has dimension {d}; use positive "
                           "sizes, 0 (copy) or -1 (infer).")
        self.num_axes = int(p.num_axes)
        if self.num_axes < -1:
            raise fail(f"Reshape layer '{self.name}': reshape_param.num_axes must be >= -1, got {self.num_axes}.")

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        n = len(s)
        axis = int(self.param.reshape_param.axis)
        start = axis if axis >= 0 else n + axis + 1
        if not 0 <= start <= n:
            raise fail(f"Reshape layer '{self.name}': reshape_param.axis {axis} is out of range for a {n}-axis "
                       "bottom blob.")
        end = n if self.num_axes == -1 else start + self.num_axes
        if end > n:
            raise fail(f"Reshape layer '{self.name}': axis {axis} with num_axes {self.num_axes} reaches past the "
                       f"bottom's {n} axes.")
        new = []
        infer = None
        for i, d in enumerate(self.dims):
            if d == 0:
                if start + i >= n:
                    raise fail(f"Reshape layer '{self.name}': dimension {i} of reshape_param.shape is 0 (copy), "
                               f"but the bottom has no axis {start + i}.")
                new.append(s[start + i])
            elif d == -1:
                infer = i
                new.append(1)
            else:
                new.append(d)
        out = list(s[:start]) + new + list(s[end:])
        count = int(math.prod(s))
        known = int(math.prod(out))
        if infer is not None:
            if known == 0 or count % known:
                raise fail(f"Reshape layer '{self.name}': cannot infer the -1 dimension of {self.dims}: the bottom "
                           f"count {count} is not divisible by {known}.")
            out[start + infer] = count // known
        elif known != count:
            raise fail(f"Reshape layer '{self.name}': top shape {tuple(out)} has {known} elements but the bottom "
                       f"{s} has {count}.")
        self.top_shape = tuple(out)
        self.bottom_shape = s
        return [self.top_shape]

    def forward(self, bottoms):
        x = bottoms[0]
        if tuple(x.shape) != self.bottom_shape:
            self.reshape([tuple(x.shape)])
        return [x.reshape(self.top_shape)]
