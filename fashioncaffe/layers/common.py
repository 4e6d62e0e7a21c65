"""Common layers: element-wise combination, concatenation and slicing, reductions, softmax,
tiling, cropping and learned free parameters (Caffe's "common" layer family).
"""
from __future__ import annotations

import math

import torch

from ..errors import fail
from .base import Layer, canonical_axis, register

_PROD, _SUM, _MAX = 0, 1, 2
_OP_NAMES = {_PROD: "PROD", _SUM: "SUM", _MAX: "MAX"}


def _count(shape, start=0, end=None) -> int:
    return int(math.prod(shape[start:end]))


class _EltwiseMax(torch.autograd.Function):
    """Caffe's Eltwise MAX (CPU): bottoms 0 and 1 compare with ``a > b ? a : b`` (a tie picks
    bottom 1), every later bottom replaces the running max only when strictly greater.  The whole
    gradient goes to the bottom recorded as the winner."""

    @staticmethod
    def forward(ctx, *xs):
        a, b = xs[0], xs[1]
        first = a > b
        top = torch.where(first, a, b)
        dtype = torch.uint8 if len(xs) < 256 else torch.int64
        idx = (~first).to(dtype)
        for i in range(2, len(xs)):
            better = xs[i] > top
            top = torch.where(better, xs[i], top)
            idx = torch.where(better, torch.full_like(idx, i), idx)
        ctx.save_for_backward(idx)
        return top

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        zero = g.new_zeros(())
        return tuple(torch.where(idx == i, g, zero) if ctx.needs_input_grad[i] else None
                     for i in range(len(ctx.needs_input_grad)))


@register("Eltwise")
class EltwiseLayer(Layer):
    """Element-wise combination of two or more bottoms of identical shape.

    SUM:  y = Σ_i c_i x_i (coefficients ``coeff``, one per bottom, default all 1);  ∂y/∂x_i = c_i.
    PROD: y = Π_i x_i;  ∂y/∂x_i = Π_{j≠i} x_j.
    MAX:  y = max_i x_i;  the gradient goes only to the winning bottom.  Ties follow Caffe's CPU
          code: bottom 1 wins a tie with bottom 0, and a later bottom must be strictly greater
          than the running maximum to take over.
    bottoms: x_1 … x_K (K ≥ 2, same shape);  top: y (bottom 0's shape).
    Bottoms of different shapes are an error, as BVLC's ``CHECK(bottom[0]->shape() ==
    bottom[i]->shape())`` in EltwiseLayer::Reshape.
    """

    num_bottoms = (2, None)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.eltwise_param
        self.op = int(p.operation)
        self.coeff = [float(c) for c in p.coeff]
        if self.coeff and self.op != _SUM:
            raise fail(f"Eltwise layer '{self.name}': eltwise_param.coeff is only allowed with operation SUM, "
                       f"not {_OP_NAMES.get(self.op, self.op)}.")
        if self.coeff and len(self.coeff) != len(bottom_shapes):
            raise fail(f"Eltwise layer '{self.name}' has {len(bottom_shapes)} bottoms but "
                       f"{len(self.coeff)} eltwise_param.coeff values; give one coefficient per bottom.")
        if not self.coeff:
            self.coeff = [1.0] * len(bottom_shapes)

    def reshape(self, bottom_shapes):
        s0 = tuple(bottom_shapes[0])
        for i, s in enumerate(bottom_shapes[1:], 1):
            if tuple(s) != s0:
                raise fail(f"Eltwise layer '{self.name}': bottom 0 has shape {s0} but bottom {i} has shape "
                           f"{tuple(s)}; all bottoms must have the same shape (BVLC Caffe checks this too).")
        return [s0]

    def forward(self, bottoms):
        if self.op == _SUM:
            y = None
            for c, x in zip(self.coeff, bottoms):
                term = x if c == 1.0 else x * c
                y = term if y is None else y + term
            return [y]
        if self.op == _PROD:
            y = bottoms[0]
            for x in bottoms[1:]:
                y = y * x
            return [y]
        if self.op == _MAX:
            return [_EltwiseMax.apply(*bottoms)]
        raise fail(f"Eltwise layer '{self.name}': unknown eltwise_param.operation {self.op}.")


def _legacy_axis(layer, p, legacy_field, ndim):
    """Caffe's axis choice for Concat/Slice: ``axis`` (may be negative), or the legacy unsigned
    ``concat_dim``/``slice_dim`` when that is given instead."""
    if p.HasField(legacy_field):
        if p.HasField("axis"):
            raise fail(f"{layer.type} layer '{layer.name}': give either {legacy_field} or axis, not both.")
        axis = int(getattr(p, legacy_field))
        if not 0 <= axis < ndim:
            raise fail(f"{layer.type} layer '{layer.name}': {legacy_field} {axis} is out of range for a "
                       f"{ndim}-axis bottom blob.")
        return axis
    return canonical_axis(int(p.axis), ndim, layer)


@register("Concat")
class ConcatLayer(Layer):
    """Concatenation along ``axis`` (default 1; legacy ``concat_dim``).

    bottoms: x_1 … x_K, equal in every axis but ``axis``;
    top: y with y.shape[axis] = Σ x_i.shape[axis].  The gradient is sliced back to each bottom.
    """

    num_bottoms = (1, None)
    num_tops = (1, 1)

    def reshape(self, bottom_shapes):
        s0 = tuple(bottom_shapes[0])
        self.axis = _legacy_axis(self, self.param.concat_param, "concat_dim", len(s0))
        total = 0
        for i, s in enumerate(bottom_shapes):
            s = tuple(s)
            if len(s) != len(s0) or any(a != b for j, (a, b) in enumerate(zip(s, s0)) if j != self.axis):
                raise fail(f"Concat layer '{self.name}': bottom {i} has shape {s}, which differs from bottom 0's "
                           f"{s0} outside the concatenation axis {self.axis}.")
            total += s[self.axis]
        out = list(s0)
        out[self.axis] = total
        return [tuple(out)]

    def forward(self, bottoms):
        if len(bottoms) == 1:
            return [bottoms[0].view_as(bottoms[0])]
        return [torch.cat(bottoms, dim=self.axis)]


@register("Slice")
class SliceLayer(Layer):
    """Slices the bottom along ``axis`` (default 1; legacy ``slice_dim``) into the tops.

    ``slice_point`` p_1 < … < p_{K−1} give the boundaries (K tops); without them the axis is split
    into K equal parts.  bottom: x;  tops: y_1 … y_K.  The gradient is concatenated back.
    """

    num_bottoms = (1, 1)
    num_tops = (1, None)

    def setup(self, bottom_shapes):
        self.ntop = len(self.param.top)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        p = self.param.slice_param
        self.axis = _legacy_axis(self, p, "slice_dim", len(s))
        dim = s[self.axis]
        points = [int(v) for v in p.slice_point]
        if points:
            if len(points) != self.ntop - 1:
                raise fail(f"Slice layer '{self.name}' has {self.ntop} tops but {len(points)} slice_point values; "
                           "give one fewer slice_point than tops.")
            sizes, prev = [], 0
            for v in points + [dim]:
                if v <= prev:
                    raise fail(f"Slice layer '{self.name}': slice_point values {points} must be strictly "
                               f"increasing, positive and below the sliced axis size {dim}.")
                sizes.append(v - prev)
                prev = v
        else:
            if dim % self.ntop:
                raise fail(f"Slice layer '{self.name}': axis {self.axis} has size {dim}, which does not split "
                           f"evenly into {self.ntop} tops; give slice_point values.")
            sizes = [dim // self.ntop] * self.ntop
        self.sizes = sizes
        out = []
        for n in sizes:
            t = list(s)
            t[self.axis] = n
            out.append(tuple(t))
        return out

    def forward(self, bottoms):
        x = bottoms[0]
        if self.ntop == 1:
            return [x.view_as(x)]
        return list(torch.split(x, self.sizes, dim=self.axis))


@register("Split")
class SplitLayer(Layer):
    """Copies the bottom to every top (y_k = x); the bottom's gradient is Σ_k ∂E/∂y_k.
    bottom: x;  tops: y_1 … y_K (K ≥ 1)."""

    num_bottoms = (1, 1)
    num_tops = (1, None)

    def setup(self, bottom_shapes):
        self.ntop = len(self.param.top)

    def reshape(self, bottom_shapes):
        return [tuple(bottom_shapes[0])] * self.ntop

    def forward(self, bottoms):
        x = bottoms[0]
        return [x.view_as(x) for _ in range(self.ntop)]


@register("Silence")
class SilenceLayer(Layer):
    """Consumes its bottoms and produces nothing (so they do not become net outputs); their
    gradient from this layer is 0.  bottoms: any number;  tops: none."""

    num_bottoms = (1, None)
    num_tops = (0, 0)

    def reshape(self, bottom_shapes):
        return []

    def forward(self, bottoms):
        return []


_R_SUM, _R_ASUM, _R_SUMSQ, _R_MEAN = 1, 2, 3, 4


@register("Reduction")
class ReductionLayer(Layer):
    """Reduces every axis from ``axis`` (default 0) to the end, scaled by ``coeff`` (default 1).

    SUM: y = c Σ x;  ASUM: y = c Σ |x|;  SUMSQ: y = c Σ x²;  MEAN: y = c Σ x / D,
    D = the number of reduced elements.
    bottom: x;  top: y with shape x.shape[:axis] (a scalar of shape () when axis is 0).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.reduction_param
        self.op = int(p.operation)
        if self.op not in (_R_SUM, _R_ASUM, _R_SUMSQ, _R_MEAN):
            raise fail(f"Reduction layer '{self.name}': unknown reduction_param.operation {self.op}.")
        self.coeff = float(p.coeff)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        self.axis = canonical_axis(int(self.param.reduction_param.axis), len(s), self)
        return [s[: self.axis]]

    def forward(self, bottoms):
        x = bottoms[0]
        lead = tuple(x.shape[: self.axis])
        flat = x.reshape(lead + (-1,))
        if self.op == _R_SUM:
            y = flat.sum(-1)
        elif self.op == _R_ASUM:
            y = flat.abs().sum(-1)
        elif self.op == _R_SUMSQ:
            y = (flat * flat).sum(-1)
        else:
            y = flat.sum(-1) / max(flat.shape[-1], 1)
        if self.coeff != 1.0:
            y = y * self.coeff
        return [y]


def _topk_caffe(x: torch.Tensor, k: int):
    """Top-k along the last axis ordered as Caffe's ``partial_sort`` with ``std::greater`` on
    (value, index) pairs: larger values first, and among equal values the larger index first."""
    d = x.shape[-1]
    vals, idx = torch.sort(torch.flip(x, dims=(-1,)), dim=-1, descending=True, stable=True)
    return vals[..., :k], (d - 1) - idx[..., :k]


@register("ArgMax")
class ArgMaxLayer(Layer):
    """Indices (or values) of the top_k largest entries.

    With ``axis``: along that axis; top shape = bottom shape with shape[axis] = top_k, holding the
    indices, or the values when ``out_max_val``.
    Without ``axis``: over each sample's flattened entries; top shape (N, 1, top_k, 1, …) with
    max(3, bottom axes) axes, holding the indices, or (N, 2, top_k, …) with the indices in channel 0
    and the values in channel 1 when ``out_max_val``.
    Equal values: the larger index ranks first (as Caffe's sort).  No backward.
    bottom: x;  top: y (float indices / values).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.argmax_param
        self.top_k = int(p.top_k)
        self.out_max_val = bool(p.out_max_val)
        self.has_axis = p.HasField("axis")
        if self.top_k < 1:
            raise fail(f"ArgMax layer '{self.name}': argmax_param.top_k must be at least 1.")

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        if self.has_axis:
            self.axis = canonical_axis(int(self.param.argmax_param.axis), len(s), self)
            if self.top_k > s[self.axis]:
                raise fail(f"ArgMax layer '{self.name}': top_k {self.top_k} exceeds the size {s[self.axis]} of "
                           f"axis {self.axis}.")
            out = list(s)
            out[self.axis] = self.top_k
            return [tuple(out)]
        if len(s) < 1 or self.top_k > _count(s, 1):
            raise fail(f"ArgMax layer '{self.name}': top_k {self.top_k} exceeds the {_count(s, 1)} entries per "
                       "sample.")
        out = [1] * max(3, len(s))
        out[0] = s[0]
        out[1] = 2 if self.out_max_val else 1
        out[2] = self.top_k
        return [tuple(out)]

    def forward(self, bottoms):
        x = bottoms[0].detach()
        if self.has_axis:
            vals, idx = _topk_caffe(x.movedim(self.axis, -1), self.top_k)
            y = vals if self.out_max_val else idx.to(x.dtype)
            return [y.movedim(-1, self.axis).contiguous()]
        n = x.shape[0]
        vals, idx = _topk_caffe(x.reshape(n, -1), self.top_k)
        out_shape = self.reshape([tuple(x.shape)])[0]
        if self.out_max_val:
            y = torch.stack([idx.to(x.dtype), vals], dim=1)
        else:
            y = idx.to(x.dtype).unsqueeze(1)
        return [y.reshape(out_shape)]


@register("Softmax")
class SoftmaxLayer(Layer):
    """y_i = exp(x_i) / Σ_j exp(x_j) along ``axis`` (default 1), independently at every other
    position;  ∂E/∂x = y ⊙ (∂E/∂y − Σ_axis ∂E/∂y ⊙ y).  bottom: x;  top: y (same shape)."""

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        self.axis = canonical_axis(int(self.param.softmax_param.axis), len(s), self)
        return [s]

    def forward(self, bottoms):
        return [torch.softmax(bottoms[0], dim=self.axis)]


@register("Tile")
class TileLayer(Layer):
    """Repeats the bottom ``tiles`` times along ``axis`` (default 1): y = [x, x, …, x] concatenated
    on that axis;  ∂E/∂x = Σ over the copies.  bottom: x;  top: y with shape[axis] × tiles."""

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.tile_param
        self.tiles = int(p.tiles)
        if not p.HasField("tiles") or self.tiles < 1:
            raise fail(f"Tile layer '{self.name}': tile_param.tiles must be given and positive.")

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        self.axis = canonical_axis(int(self.param.tile_param.axis), len(s), self)
        out = list(s)
        out[self.axis] *= self.tiles
        return [tuple(out)]

    def forward(self, bottoms):
        x = bottoms[0]
        reps = [1] * x.dim()
        reps[self.axis] = self.tiles
        return [x.repeat(*reps)]


@register("Crop")
class CropLayer(Layer):
    """Crops bottom 0 to bottom 1's shape in every axis from ``axis`` (default 2) on.

    ``offset``: none (all 0), one (used for every cropped axis) or one per cropped axis.
    y = x[..., o_a : o_a + s_a, …] with s = bottom 1's shape;  the gradient is x-shaped, zero
    outside the window.  bottoms: x (to crop), ref (gives the shape; no gradient);  top: y.
    """

    num_bottoms = (2, 2)
    num_tops = (1, 1)

    def reshape(self, bottom_shapes):
        s, r = tuple(bottom_shapes[0]), tuple(bottom_shapes[1])
        if len(s) != len(r):
            raise fail(f"Crop layer '{self.name}': bottom 0 has {len(s)} axes and bottom 1 has {len(r)}; "
                       "they must have the same number of axes.")
        p = self.param.crop_param
        axis = canonical_axis(int(p.axis), len(s), self)
        ncrop = len(s) - axis
        offsets = [int(o) for o in p.offset]
        if len(offsets) > 1 and len(offsets) != ncrop:
            raise fail(f"Crop layer '{self.name}' crops {ncrop} axes (from axis {axis}) but has {len(offsets)} "
                       "crop_param.offset values; give none, one, or one per cropped axis.")
        if len(offsets) <= 1:
            offsets = (offsets or [0]) * ncrop
        out = list(s)
        self.window = []
        for j, (o, i) in enumerate(zip(offsets, range(axis, len(s)))):
            if s[i] < o + r[i]:
                raise fail(f"Crop layer '{self.name}': axis {i} of bottom 0 has size {s[i]}, too small for "
                           f"offset {o} plus the reference size {r[i]}.")
            out[i] = r[i]
            if o != 0 or r[i] != s[i]:
                self.window.append((i, o, r[i]))
        return [tuple(out)]

    def forward(self, bottoms):
        y = bottoms[0]
        for i, o, n in self.window:
            y = y.narrow(i, o, n)
        if y is bottoms[0]:
            y = y.view_as(y)
        return [y]


@register("Parameter")
class ParameterLayer(Layer):
    """Exposes a learned blob as a top: y = w, with w of ``parameter_param.shape`` (initialised to 0,
    as Caffe leaves it before weights are loaded);  ∂E/∂w = ∂E/∂y.  bottoms: none;  top: y."""

    num_bottoms = (0, 0)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.parameter_param
        shape = tuple(int(d) for d in p.shape.dim)
        self.add_param(shape, None)

    def reshape(self, bottom_shapes):
        return [tuple(self.blobs[0].shape)]

    def forward(self, bottoms):
        w = self.blobs[0].tensor
        return [w.view_as(w)]
