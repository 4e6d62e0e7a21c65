"""Normalisation layers: LRN, BatchNorm, Scale, Bias, MVN — with BVLC Caffe's formulas.

BatchNorm keeps Caffe's three statistics blobs (mean sum, variance sum, scale factor) and has no
affine part (a Scale layer follows it in Caffe nets).  MVN's backward is Caffe's own formula (which
treats the ε added to the standard deviation slightly differently from the exact derivative), so it
is a custom autograd function.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import fail
from .base import Layer, TEST, canonical_axis, register


def _check_odd_size(layer, n):
    if n <= 0 or n % 2 == 0:
        raise fail(f"Layer '{layer.name}' (LRN): lrn_param.local_size must be odd and positive, got {n} "
                   "(Caffe's LRN only supports odd sizes).")


@register("LRN")
class LRNLayer(Layer):
    """Local response normalisation, as Caffe's LRNLayer.

    bottom: x of shape (N, C, H, W).
    top:    y of the same shape.
    ACROSS_CHANNELS (default): scale[n, c] = k + (α / n)·Σ_{c' = c − (n−1)/2}^{c + (n−1)/2} x[n, c']²
            (channels outside [0, C) count as 0), y = x · scale^(−β).
    WITHIN_CHANNEL: Caffe's composition of layers: s = AVE-pool(x², kernel n × n, stride 1,
            pad (n−1)/2, padding counted in the divisor, i.e. always n²), y = x · (1 + α·s)^(−β)
            (k is ignored).
    n = ``local_size`` (odd), α = ``alpha``, β = ``beta``, k = ``k``.
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.lrn_param
        self.size = int(p.local_size)
        _check_odd_size(self, self.size)
        self.alpha = float(p.alpha)
        self.beta = float(p.beta)
        self.k = float(p.k)
        self.within = int(p.norm_region) == 1
        self.pre_pad = (self.size - 1) // 2

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        if len(s) != 4:
            raise fail(f"Layer '{self.name}' (LRN): the input must have 4 axes (num, channels, height, width), "
                       f"got shape {s}.")
        return [s]

    def forward(self, bottoms):
        x = bottoms[0]
        n = self.size
        sq = x * x
        if self.within:
            avg = F.avg_pool2d(sq, n, 1, self.pre_pad, count_include_pad=True)
            return [x * (avg * self.alpha + 1.0).pow(-self.beta)]
        # Σ over the channel window / n, via a (n, 1, 1) average over a 5-d view (padding counted)
        sq = sq.unsqueeze(1)
        if sq.shape[2] >= n:
            avg = F.avg_pool3d(sq, (n, 1, 1), 1, (self.pre_pad, 0, 0), count_include_pad=True)
        else:  # torch's pooling needs the unpadded extent to hold one window
            sq = F.pad(sq, (0, 0, 0, 0, self.pre_pad, self.pre_pad))
            avg = F.avg_pool3d(sq, (n, 1, 1), 1)
        scale = avg.squeeze(1) * self.alpha + self.k
        return [x * scale.pow(-self.beta)]


@register("BatchNorm")
class BatchNormLayer(Layer):
    """Batch normalisation without the affine part, as Caffe's BatchNormLayer.

    bottom: x of shape (N, C, ...) (a 1-axis bottom is one channel).
    top:    y of the same shape, y = (x − μ) / √(σ² + ε) per channel.
    blobs:  [0] mean sum (C,), [1] variance sum (C,), [2] scale factor (1,) — statistics, never
            learned (their lr_mult is forced to 0 and they get no gradient).
    TRAIN (use_global_stats false, the TRAIN default): μ, σ² are the batch mean and biased variance
            over the m = N·H·W values of each channel; then factor ← β·factor + 1,
            mean_sum ← μ + β·mean_sum, var_sum ← (m / (m − 1))·σ² + β·var_sum (β =
            ``moving_average_fraction``); the gradient goes through the batch statistics:
            dx = (dy − mean(dy) − mean(dy·y)·y) / √(σ² + ε).
    use_global_stats (the TEST default): μ = mean_sum·s, σ² = var_sum·s with s = 0 if factor = 0 else
            1 / factor; dx = dy / √(σ² + ε).
    ε = ``eps`` (default 1e-5).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.batch_norm_param
        s = tuple(bottom_shapes[0])
        self.use_global = bool(p.use_global_stats) if p.HasField("use_global_stats") else self.phase == TEST
        self.maf = float(p.moving_average_fraction)
        self.eps = float(p.eps)
        self.channels = 1 if len(s) == 1 else int(s[1])
        self.add_param((self.channels,), None, "mean")
        self.add_param((self.channels,), None, "variance")
        self.add_param((1,), None, "factor")
        for b in self.blobs:  # zero-filled, as Caffe's
            b.tensor
        self._one = None

    def param_mults(self, i, lr_mult, decay_mult):
        return 0.0, decay_mult

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        c = 1 if len(s) == 1 else s[1]
        if c != self.channels:
            raise fail(f"Layer '{self.name}' (BatchNorm) was set up for {self.channels} channels; got a bottom of "
                       f"shape {s}.")
        return [s]

    def forward(self, bottoms):
        x = bottoms[0]
        shape = x.shape
        xv = x.reshape(shape[0], 1) if x.dim() == 1 else x
        bshape = (1, self.channels) + (1,) * (xv.dim() - 2)
        if self.use_global:
            with torch.no_grad():
                f = self.blobs[2].tensor.detach()
                s = torch.where(f == 0, torch.zeros_like(f), 1.0 / f)
                mean = (self.blobs[0].tensor.detach() * s).view(bshape)
                std = (self.blobs[1].tensor.detach() * s + self.eps).sqrt().view(bshape)
            y = (xv - mean) / std
        else:
            y, mean, invstd = torch.native_batch_norm(xv, None, None, None, None, True, 0.0, self.eps)
            m = xv.numel() // self.channels
            with torch.no_grad():
                # σ² = invstd⁻² − ε; then Caffe's moving sums: sum ← batch value + β·sum (a few tiny
                # multi-tensor kernels, no host sync)
                corr = m / (m - 1.0) if m > 1 else 1.0
                var = invstd.pow(-2).sub_(self.eps).mul_(corr)
                stats = [b.tensor for b in self.blobs]
                one = self._one
                if one is None or one.device != x.device:
                    one = self._one = torch.ones(1, device=x.device)
                torch._foreach_mul_(stats, self.maf)
                torch._foreach_add_(stats, [mean, var, one])
        return [y.reshape(shape) if x.dim() == 1 else y]


def _param_shape(layer, field, bottom_shape, axis, num_axes):
    if num_axes < -1:
        raise fail(f"Layer '{layer.name}' ({layer.type}): {field}.num_axes must be non-negative, or -1 to extend "
                   "to the end of bottom[0].")
    if num_axes >= 0 and len(bottom_shape) < axis + num_axes:
        raise fail(f"Layer '{layer.name}' ({layer.type}): the parameter's shape extends past bottom[0]'s shape "
                   f"{tuple(bottom_shape)} when applied from axis {axis} with num_axes {num_axes}.")
    end = len(bottom_shape) if num_axes == -1 else axis + num_axes
    return tuple(bottom_shape[axis:end])


class _AxisBroadcast(Layer):
    """Shared logic of Scale and Bias: a blob of shape bottom.shape[axis:axis + k] broadcast over
    the outer and inner axes, either learned or given as the second bottom."""

    num_bottoms = (1, 2)
    num_tops = (1, 1)
    field = ""

    def operand_axis(self, s0, operand_shape):
        p = getattr(self.param, self.field)
        axis = 0 if len(operand_shape) == 0 else canonical_axis(p.axis, len(s0), self, f"{self.field}.axis")
        if len(s0) < axis + len(operand_shape) or tuple(s0[axis:axis + len(operand_shape)]) != tuple(operand_shape):
            raise fail(f"Layer '{self.name}' ({self.type}): the {'second bottom' if self.two_bottoms else 'parameter'} of "
                       f"shape {tuple(operand_shape)} does not match bottom[0]'s shape {tuple(s0)} from axis "
                       f"{axis} on.")
        return axis

    def _view_shape(self, ndim, axis, oshape):
        return (1,) * axis + tuple(oshape) + (1,) * (ndim - axis - len(oshape))

    def reshape(self, bottom_shapes):
        s0 = tuple(bottom_shapes[0])
        oshape = tuple(bottom_shapes[1]) if self.two_bottoms else self.blobs[0].shape
        self.operand_axis(s0, oshape)
        return [s0]

    def _operand(self, bottoms, x, blob_index=0):
        if self.two_bottoms:
            o = bottoms[1]
        else:
            o = self.blobs[blob_index].tensor
        key = (x.dim(), tuple(o.shape))
        vs = self._views.get(key)
        if vs is None:
            axis = self.operand_axis(tuple(x.shape), tuple(o.shape))
            vs = self._view_shape(x.dim(), axis, o.shape)
            self._views[key] = vs
        return o.reshape(vs) if o.dim() != x.dim() else o


@register("Scale")
class ScaleLayer(_AxisBroadcast):
    """Elementwise scaling by a broadcast factor, as Caffe's ScaleLayer (optionally plus a bias).

    bottom: x; optionally a second bottom s of shape x.shape[axis : axis + s.num_axes] (a scalar s
            applies everywhere).
    top:    y of x's shape, y = x · s (+ b) with s broadcast over the axes before ``axis`` and after
            the ones it covers.
    params: with one bottom, s of shape x.shape[axis : axis + num_axes] (num_axes −1: to the end;
            ``filler``, default constant 1); with ``bias_term``, b of s's shape (``bias_filler``,
            default constant 0) — blob 1 with one bottom, blob 0 with two.
    Gradients go to x, s (parameter or second bottom) and b.
    """

    field = "scale_param"

    def setup(self, bottom_shapes):
        from ..proto import caffe_pb2

        p = self.param.scale_param
        s0 = tuple(bottom_shapes[0])
        self.two_bottoms = len(bottom_shapes) == 2
        self._views = {}
        if self.two_bottoms:
            oshape = tuple(bottom_shapes[1])
        else:
            axis = canonical_axis(p.axis, len(s0), self, "scale_param.axis")
            oshape = _param_shape(self, "scale_param", s0, axis, int(p.num_axes))
            filler = p.filler
            if not p.HasField("filler"):
                filler = caffe_pb2.FillerParameter(type="constant", value=1.0)
            self.add_param(oshape, filler, "scale")
        self.operand_axis(s0, oshape)
        self.bias_term = bool(p.bias_term)
        if self.bias_term:
            self.add_param(oshape, p.bias_filler, "bias")
            self.bias_index = len(self.blobs) - 1

    def forward(self, bottoms):
        x = bottoms[0]
        s = self._operand(bottoms, x)
        if self.bias_term:
            b = self.blobs[self.bias_index].tensor
            b = b.reshape(s.shape) if b.dim() != x.dim() else b
            return [torch.addcmul(b, x, s)]
        return [x * s]


@register("Bias")
class BiasLayer(_AxisBroadcast):
    """Elementwise addition of a broadcast bias, as Caffe's BiasLayer.

    bottom: x; optionally a second bottom b of shape x.shape[axis : axis + b.num_axes].
    top:    y of x's shape, y = x + b with b broadcast over the axes before ``axis`` and after the
            ones it covers.
    params: with one bottom, b of shape x.shape[axis : axis + num_axes] (num_axes −1: to the end;
            ``filler``, default constant 0).  Gradients go to x and b.
    """

    field = "bias_param"

    def setup(self, bottom_shapes):
        p = self.param.bias_param
        s0 = tuple(bottom_shapes[0])
        self.two_bottoms = len(bottom_shapes) == 2
        self._views = {}
        if self.two_bottoms:
            oshape = tuple(bottom_shapes[1])
        else:
            axis = canonical_axis(p.axis, len(s0), self, "bias_param.axis")
            oshape = _param_shape(self, "bias_param", s0, axis, int(p.num_axes))
            self.add_param(oshape, p.filler, "bias")
        self.operand_axis(s0, oshape)

    def forward(self, bottoms):
        x = bottoms[0]
        return [x + self._operand(bottoms, x)]


class _MVNFunction(torch.autograd.Function):
    """y = (x − mean) / (std + eps) over rows, with Caffe's MVNLayer backward:
    dx = (dy − mean(dy) − mean(dy·y)·y) / (std + eps)."""

    @staticmethod
    def forward(ctx, x2, eps):
        mean = x2.mean(1, keepdim=True)
        c = x2 - mean
        denom = (c * c).mean(1, keepdim=True).sqrt() + eps
        ctx.save_for_backward(x2, mean, denom)
        return c / denom

    @staticmethod
    def backward(ctx, dy):
        x2, mean, denom = ctx.saved_tensors
        y = (x2 - mean) / denom
        dim = x2.shape[1]
        g = dy - (dy.sum(1, keepdim=True) + (dy * y).sum(1, keepdim=True) * y) / dim
        return g / denom, None


@register("MVN")
class MVNLayer(Layer):
    """Mean-variance normalisation, as Caffe's MVNLayer.

    bottom: x of shape (N, C, ...).
    top:    y of the same shape.  Over each (n, c) plane (each n with ``across_channels``):
            y = x − mean(x); with ``normalize_variance`` (default true) y = (x − mean) / (std + ε),
            std = √(mean((x − mean)²)) (biased), ε = ``eps`` (default 1e-9).
    The backward is Caffe's: dx = (dy − mean(dy) − mean(dy·y)·y) / (std + ε) (mean only: dy − mean(dy)).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.mvn_param
        self.normalize_variance = bool(p.normalize_variance)
        self.across = bool(p.across_channels)
        self.eps = float(p.eps)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        if len(s) < 2 and not self.across:
            raise fail(f"Layer '{self.name}' (MVN) needs a bottom with a channel axis, got shape {s}.")
        return [s]

    def forward(self, bottoms):
        x = bottoms[0]
        rows = x.shape[0] if self.across else x.shape[0] * x.shape[1]
        x2 = x.reshape(rows, -1)
        if self.normalize_variance:
            y = _MVNFunction.apply(x2, self.eps)
        else:
            y = x2 - x2.mean(1, keepdim=True)
        return [y.reshape(x.shape)]
