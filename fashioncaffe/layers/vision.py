"""Vision layers: Convolution, Deconvolution, Pooling, SPP, InnerProduct, Embed.

Each layer reproduces BVLC Caffe's arithmetic (output sizes, padding rules, parameter shapes,
default fillers) and computes with torch's fused kernels wherever those are exact; the few
configurations torch's kernels do not cover (pooling padding above half the kernel, Caffe's extra
ceil-mode window) take an explicit padding path with the same numbers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import fail
from .base import FLT_MAX, FLT_MIN, Layer, TRAIN, canonical_axis, register


_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _shape_prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


# ------------------------------------------------------------------------------------------------
# Convolution / Deconvolution
# ------------------------------------------------------------------------------------------------
def _spatial_values(layer, p, field, hfield, wfield, n, default, positive):
    """Caffe's reading of a repeated spatial field (one value, or one per spatial axis) or of its
    ``*_h``/``*_w`` pair (2-D only)."""
    values = [int(v) for v in getattr(p, field)] if field else []
    if hfield and (p.HasField(hfield) or p.HasField(wfield)):
        if n != 2:
            raise fail(f"Layer '{layer.name}' ({layer.type}): {hfield} & {wfield} can only be used for "
                       f"2-D convolution, but the bottom has {n} spatial axes.")
        if values:
            raise fail(f"Layer '{layer.name}' ({layer.type}): give either {field} or {hfield}/{wfield}, "
                       "not both.")
        if positive and not (p.HasField(hfield) and p.HasField(wfield)):
            raise fail(f"Layer '{layer.name}' ({layer.type}): {hfield} and {wfield} must both be given.")
        out = [int(getattr(p, hfield)), int(getattr(p, wfield))]
    else:
        if len(values) not in ((1, n) if default is None else (0, 1, n)):
            raise fail(f"Layer '{layer.name}' ({layer.type}): {field} must be specified once, or once per "
                       f"spatial dimension ({field} specified {len(values)} times; {n} spatial dims).")
        if not values:
            out = [default] * n
        elif len(values) == 1:
            out = values * n
        else:
            out = values
    if positive and any(v <= 0 for v in out):
        raise fail(f"Layer '{layer.name}' ({layer.type}): {field or hfield} must be positive, got {out}.")
    return out


class _ConvBase(Layer):
    num_bottoms = (1, None)
    num_tops = (1, None)
    reverse = False  # Deconvolution: the forward is convolution's backward

    def setup(self, bottom_shapes):
        p = self.param.convolution_param
        if len(bottom_shapes) != len(self.param.top):
            raise fail(f"Layer '{self.name}' ({self.type}) needs as many tops as bottoms "
                       f"(got {len(bottom_shapes)} bottoms, {len(self.param.top)} tops).")
        shape0 = tuple(bottom_shapes[0])
        for s in bottom_shapes[1:]:
            if tuple(s) != shape0:
                raise fail(f"Layer '{self.name}' ({self.type}): all bottoms must have the same shape "
                           f"({shape0} vs {tuple(s)}).")
        ndim = len(shape0)
        self.axis = canonical_axis(p.axis, ndim, self, "convolution_param.axis")
        n = ndim - self.axis - 1
        if n < 1:
            raise fail(f"Layer '{self.name}' ({self.type}) needs at least one spatial axis after the channel "
                       f"axis {self.axis}; the bottom has shape {shape0}.")
        if n > 3:
            raise fail(f"Layer '{self.name}' ({self.type}): {n}-D convolution is not supported (1 to 3 "
                       "spatial axes).")
        self.nsp = n
        self.kernel = _spatial_values(self, p, "kernel_size", "kernel_h", "kernel_w", n, None, True)
        self.stride = _spatial_values(self, p, "stride", "stride_h", "stride_w", n, 1, True)
        self.pad = _spatial_values(self, p, "pad", "pad_h", "pad_w", n, 0, False)
        self.dilation = _spatial_values(self, p, "dilation", None, None, n, 1, True)
        self.channels = int(shape0[self.axis])
        self.num_output = int(p.num_output)
        if self.num_output <= 0:
            raise fail(f"Layer '{self.name}' ({self.type}): convolution_param.num_output must be positive.")
        self.group = int(p.group)
        if self.group <= 0 or self.channels % self.group:
            raise fail(f"Layer '{self.name}' ({self.type}): the {self.channels} input channels are not a "
                       f"multiple of convolution_param.group = {self.group}.")
        if self.num_output % self.group:
            raise fail(f"Layer '{self.name}' ({self.type}): convolution_param.num_output = {self.num_output} "
                       f"is not a multiple of group = {self.group}.")
        if self.reverse:
            wshape = (self.channels, self.num_output // self.group) + tuple(self.kernel)
        else:
            wshape = (self.num_output, self.channels // self.group) + tuple(self.kernel)
        self.add_param(wshape, p.weight_filler, "weight")
        self.bias_term = bool(p.bias_term)
        if self.bias_term:
            self.add_param((self.num_output,), p.bias_filler, "bias")
        fns = _DECONV_FN if self.reverse else _CONV_FN
        self._fn = fns[n]
        self._kw = dict(stride=tuple(self.stride), padding=tuple(self.pad), dilation=tuple(self.dilation),
                        groups=self.group)
        self._fast_ndim = n + 2 if self.axis == 1 else -1

    def _out_spatial(self, sizes):
        out = []
        for i, h in enumerate(sizes):
            ext = self.dilation[i] * (self.kernel[i] - 1) + 1
            if self.reverse:
                o = self.stride[i] * (h - 1) + ext - 2 * self.pad[i]
            else:
                if h + 2 * self.pad[i] < ext:
                    raise fail(f"Layer '{self.name}' ({self.type}): the kernel extent {ext} exceeds the padded "
                               f"input size {h + 2 * self.pad[i]} on spatial axis {i}.")
                o = (h + 2 * self.pad[i] - ext) // self.stride[i] + 1
            if o <= 0:
                raise fail(f"Layer '{self.name}' ({self.type}) would produce an empty output on spatial axis {i} "
                           f"(input size {h}).")
            out.append(o)
        return out

    def _check_shape(self, s):
        s = tuple(s)
        if len(s) != self.axis + 1 + self.nsp or s[self.axis] != self.channels:
            raise fail(f"Layer '{self.name}' ({self.type}) was set up for {self.channels} channels on axis "
                       f"{self.axis} with {self.nsp} spatial axes; got a bottom of shape {s}.")

    def reshape(self, bottom_shapes):
        tops = []
        for s in bottom_shapes:
            self._check_shape(s)
            s = tuple(s)
            tops.append(s[: self.axis] + (self.num_output,) + tuple(self._out_spatial(s[self.axis + 1:])))
        return tops

    def forward(self, bottoms):
        w = self.blobs[0].tensor
        b = self.blobs[1].tensor if self.bias_term else None
        fn, kw = self._fn, self._kw
        tops = []
        for x in bottoms:
            if x.dim() == self._fast_ndim:
                tops.append(fn(x, w, b, **kw))
            else:
                lead = x.shape[: self.axis]
                y = fn(x.reshape((-1,) + tuple(x.shape[self.axis:])), w, b, **kw)
                tops.append(y.reshape(tuple(lead) + tuple(y.shape[1:])))
        return tops


@register("Convolution")
class ConvolutionLayer(_ConvBase):
    """Convolution (cross-correlation) with learned filters, as Caffe's ConvolutionLayer.

    bottom: x of shape (N, C, H, W) (``axis`` picks the channel axis; 1 to 3 spatial axes); several
            bottoms of one shape may be given, each producing its own top with the same filters.
    top:    y of shape (N, O, H', W') with O = ``num_output`` and, per spatial axis,
            H' = ⌊(H + 2·pad − (dilation·(kernel − 1) + 1)) / stride⌋ + 1.
    y[n, o] = b[o] + Σ_{c in o's group} Σ_k W[o, c, k] · x_padded[n, c, stride·h' + dilation·k].
    params: W of shape (O, C/group, kh, kw) (``weight_filler``, default constant 0),
            b of shape (O,) when ``bias_term`` (``bias_filler``, default constant 0).
    Spatial fields: ``kernel_size``/``stride``/``pad``/``dilation`` once or once per spatial axis,
    or ``kernel_h/w``, ``stride_h/w``, ``pad_h/w`` (2-D only).
    """


@register("Deconvolution")
class DeconvolutionLayer(_ConvBase):
    """Deconvolution (transposed convolution), as Caffe's DeconvolutionLayer: the forward pass is
    the convolution's backward pass with respect to its input.

    bottom: x of shape (N, C, H, W) (``axis`` picks the channel axis).
    top:    y of shape (N, O, H', W'), H' = stride·(H − 1) + dilation·(kernel − 1) + 1 − 2·pad.
    y[n, o, stride·h + dilation·k − pad] += Σ_c W[c, o, k] · x[n, c, h] (+ b[o]).
    params: W of shape (C, O/group, kh, kw) (``weight_filler``, default constant 0; ``bilinear`` for
            upsampling), b of shape (O,) when ``bias_term``.
    """

    reverse = True


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------
_MAX, _AVE, _STOCHASTIC = 0, 1, 2
_CEIL, _FLOOR = 0, 1


def _caffe_pooled(size, k, s, p, round_mode):
    num = size + 2 * p - k
    if round_mode == _FLOOR:
        out = num // s + 1
    else:
        out = -((-num) // s) + 1
    if p and (out - 1) * s >= size + p:  # the last window must start inside the image or its left pad
        out -= 1
    return out


def _torch_pooled(size, k, s, p):
    """torch's ceil_mode output size (its last-window rule is applied whether or not it pads)."""
    out = -((-(size + 2 * p - k)) // s) + 1
    if (out - 1) * s >= size + p:
        out -= 1
    return out


class Pool2d:
    """Caffe's 2-D pooling arithmetic for one configuration; shared by Pooling and SPP."""

    def __init__(self, method, kh, kw, sh, sw, ph, pw, round_mode=_CEIL):
        self.method = method
        self.k = (kh, kw)
        self.s = (sh, sw)
        self.p = (ph, pw)
        self.round_mode = round_mode
        self._div_cache = {}
        self._plans = {}

    def out_size(self, H, W):
        return (_caffe_pooled(H, self.k[0], self.s[0], self.p[0], self.round_mode),
                _caffe_pooled(W, self.k[1], self.s[1], self.p[1], self.round_mode))

    def torch_exact(self, H, W, oh, ow):
        """Whether torch's pooling kernels (padding and ceil/floor mode included) give Caffe's windows."""
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p
        if 2 * ph > kh or 2 * pw > kw:
            return None
        if self.round_mode == _FLOOR:
            return False  # floor mode: torch's floor arithmetic is Caffe's
        if (_torch_pooled(H, kh, sh, ph), _torch_pooled(W, kw, sw, pw)) == (oh, ow):
            return True
        return None

    def _padded(self, x, H, W, oh, ow, value):
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p
        bh = max(0, (oh - 1) * sh + kh - H - ph)
        bw = max(0, (ow - 1) * sw + kw - W - pw)
        if ph or pw or bh or bw:
            x = F.pad(x, (pw, bw, ph, bh), value=value)
        return x

    def divisor(self, H, W, oh, ow, device):
        key = (H, W, device)
        d = self._div_cache.get(key)
        if d is None:
            (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p

            def sizes(n_out, k, s, p, size):
                out = []
                for i in range(n_out):
                    start = i * s - p
                    out.append(min(start + k, size + p) - start)
                return torch.tensor(out, dtype=torch.float32)

            d = (sizes(oh, kh, sh, ph, H)[:, None] * sizes(ow, kw, sw, pw, W)[None, :]).to(device)
            self._div_cache = {key: d}
        return d

    def _plan(self, H, W):
        plan = self._plans.get((H, W))
        if plan is None:
            oh, ow = self.out_size(H, W)
            plan = self._plans[(H, W)] = (oh, ow, self.torch_exact(H, W, oh, ow))
        return plan

    def __call__(self, x, phase=1, want_mask=False):
        H, W = int(x.shape[-2]), int(x.shape[-1])
        oh, ow, mode = self._plan(H, W)
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p
        if self.method == _STOCHASTIC:
            return self._stochastic(x, H, W, oh, ow, phase), None
        if self.method == _MAX:
            if mode is not None:
                if want_mask:
                    y, idx = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=mode, return_indices=True)
                    return y, idx.to(x.dtype)
                return F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=mode), None
            xp = self._padded(x, H, W, oh, ow, float("-inf"))
            if want_mask:
                y, idx = F.max_pool2d(xp, (kh, kw), (sh, sw), return_indices=True)
            else:
                y, idx = F.max_pool2d(xp, (kh, kw), (sh, sw)), None
            y = y[..., :oh, :ow]
            if (oh - 1) * sh - ph >= H or (ow - 1) * sw - pw >= W:
                y = y.clamp_min(-FLT_MAX)  # Caffe's empty window keeps its initial −FLT_MAX
            if idx is not None:
                idx = idx[..., :oh, :ow]
                wp = xp.shape[-1]
                idx = ((idx // wp - ph) * W + (idx % wp - pw)).to(x.dtype)
            return y, idx
        # AVE: Σ over the window clipped to the image, divided by the window clipped to [−p, size + p)
        if mode is not None:
            return F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=mode, count_include_pad=True), None
        xp = self._padded(x, H, W, oh, ow, 0.0)
        s = F.avg_pool2d(xp, (kh, kw), (sh, sw), divisor_override=1)[..., :oh, :ow]
        return s / self.divisor(H, W, oh, ow, x.device), None

    def _stochastic(self, x, H, W, oh, ow, phase):
        (kh, kw), (sh, sw) = self.k, self.s
        xp = self._padded(x, H, W, oh, ow, 0.0)
        if phase != TRAIN:
            # TEST: the activation-weighted average Σx² / (FLT_MIN + Σx) over each window
            s1 = F.avg_pool2d(xp, (kh, kw), (sh, sw), divisor_override=1)[..., :oh, :ow]
            s2 = F.avg_pool2d(xp * xp, (kh, kw), (sh, sw), divisor_override=1)[..., :oh, :ow]
            return s2 / (s1 + FLT_MIN)
        # TRAIN: sample one element per window with probability ∝ activation; it is the output
        N, C = x.shape[0], x.shape[1]
        cols = F.unfold(xp.reshape(N * C, 1, xp.shape[-2], xp.shape[-1]), (kh, kw), stride=(sh, sw))
        nh = (xp.shape[-2] - kh) // sh + 1
        nw = (xp.shape[-1] - kw) // sw + 1
        cols = cols.view(N * C, kh * kw, nh, nw)[..., :oh, :ow]
        with torch.no_grad():
            total = cols.sum(1, keepdim=True)
            thres = torch.rand(total.shape, device=x.device, dtype=x.dtype) * total
            pick = (cols.cumsum(1) >= thres).to(torch.uint8).argmax(1, keepdim=True)
        y = cols.gather(1, pick)
        return y.view(N, C, oh, ow)


def _pool_params(layer, p):
    """Caffe's PoolingLayer::LayerSetUp checks; returns (kernel or None for global, stride, pad)."""
    name = f"Layer '{layer.name}' (Pooling)"
    if p.global_pooling:
        if p.HasField("kernel_size") or p.HasField("kernel_h") or p.HasField("kernel_w"):
            raise fail(f"{name}: with global_pooling: true the kernel size cannot be specified.")
        kernel = None
    else:
        has_hw = p.HasField("kernel_h") and p.HasField("kernel_w")
        if p.HasField("kernel_size") and (p.HasField("kernel_h") or p.HasField("kernel_w")):
            raise fail(f"{name}: the kernel is kernel_size OR kernel_h and kernel_w; not both.")
        if not p.HasField("kernel_size") and not has_hw:
            raise fail(f"{name}: pooling_param needs kernel_size, or both kernel_h and kernel_w "
                       "(or global_pooling: true).")
        kernel = (p.kernel_size, p.kernel_size) if p.HasField("kernel_size") else (p.kernel_h, p.kernel_w)
        if min(kernel) <= 0:
            raise fail(f"{name}: the kernel size must be positive, got {kernel}.")
    if p.HasField("pad_h") or p.HasField("pad_w"):
        if p.HasField("pad") or not (p.HasField("pad_h") and p.HasField("pad_w")):
            raise fail(f"{name}: the padding is pad OR pad_h and pad_w (both required).")
        pad = (p.pad_h, p.pad_w)
    else:
        pad = (p.pad, p.pad)
    if p.HasField("stride_h") or p.HasField("stride_w"):
        if p.HasField("stride") or not (p.HasField("stride_h") and p.HasField("stride_w")):
            raise fail(f"{name}: the stride is stride OR stride_h and stride_w (both required).")
        stride = (p.stride_h, p.stride_w)
    else:
        stride = (p.stride, p.stride)
    if min(stride) <= 0:
        raise fail(f"{name}: the stride must be positive, got {stride}.")
    if p.global_pooling and (pad != (0, 0) or stride != (1, 1)):
        raise fail(f"{name}: with global_pooling: true only pad = 0 and stride = 1 are allowed.")
    if pad != (0, 0):
        if p.pool not in (_MAX, _AVE):
            raise fail(f"{name}: padding is implemented only for MAX and AVE pooling (pooling_param.pad).")
        if kernel is not None and (pad[0] >= kernel[0] or pad[1] >= kernel[1]):
            raise fail(f"{name}: pooling_param pad {pad} must be smaller than the kernel {kernel}.")
    return kernel, tuple(int(v) for v in stride), tuple(int(v) for v in pad)


@register("Pooling")
class PoolingLayer(Layer):
    """Spatial pooling, as Caffe's PoolingLayer.

    bottom: x of shape (N, C, H, W).
    top:    y of shape (N, C, H', W') with H' = ⌈(H + 2·pad − kernel) / stride⌉ + 1 (``round_mode:
            FLOOR``: ⌊·⌋), minus one when padding is used and (H' − 1)·stride ≥ H + pad (the last window
            must start inside the image); ``global_pooling`` pools the whole plane (kernel = H × W).
            MAX pooling may have a second top: the argmax position h·W + w of each output (as float).
    MAX:        y = max over the window clipped to the image (padding ignored; the first maximal
                element in row-major order wins and receives the gradient).
    AVE:        y = Σ_{window ∩ image} x / |window ∩ [−pad, H + pad)| (padding counts in the divisor,
                overhang past H + pad does not).
    STOCHASTIC: TRAIN samples one element per window with probability x / Σx (it is the output and
                gets the gradient); TEST outputs Σx² / Σx.  No padding.
    Rectangular ``kernel_h/w``, ``stride_h/w``, ``pad_h/w``; Caffe requires pad < kernel.
    """

    num_bottoms = (1, 1)
    num_tops = (1, 2)

    def setup(self, bottom_shapes):
        p = self.param.pooling_param
        self.method = int(p.pool)
        if len(self.param.top) == 2 and self.method != _MAX:
            raise fail(f"Layer '{self.name}' (Pooling): only MAX pooling has a second (mask) top.")
        self.kernel, self.stride, self.pad = _pool_params(self, p)
        self.global_pooling = bool(p.global_pooling)
        self.round_mode = int(p.round_mode)
        self._pool = None
        self._want_mask = len(self.param.top) == 2

    def pooler(self, H, W):
        pool = self._pool
        if pool is None or (self.global_pooling and pool.k != (H, W)):
            k = (H, W) if self.global_pooling else self.kernel
            pool = Pool2d(self.method, k[0], k[1], self.stride[0], self.stride[1], self.pad[0], self.pad[1],
                           self.round_mode)
            self._pool = pool
        return pool

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        if len(s) != 4:
            raise fail(f"Layer '{self.name}' (Pooling): the input must have 4 axes (num, channels, height, "
                       f"width), got shape {s}.")
        oh, ow = self.pooler(s[2], s[3]).out_size(s[2], s[3])
        if oh <= 0 or ow <= 0:
            raise fail(f"Layer '{self.name}' (Pooling): the kernel does not fit the {s[2]}×{s[3]} input.")
        return [(s[0], s[1], oh, ow)] * len(self.param.top)

    def forward(self, bottoms):
        x = bottoms[0]
        H, W = x.shape[-2], x.shape[-1]
        if self.global_pooling and not self._want_mask:
            if self.method == _AVE:
                return [x.mean((2, 3), keepdim=True)]
            if self.method == _MAX:
                return [F.max_pool2d(x, (H, W))]
        y, mask = self.pooler(H, W)(x, self.phase, self._want_mask)
        return [y, mask] if self._want_mask else [y]


@register("SPP")
class SPPLayer(Layer):
    """Spatial pyramid pooling, as Caffe's SPPLayer.

    bottom: x of shape (N, C, H, W).
    top:    for ``pyramid_height`` = 1, the pooled (N, C, 1, 1) blob; otherwise (N, C·Σ_l 4^l): level
            l = 0 … height − 1 pools into 2^l × 2^l bins with kernel ⌈H / 2^l⌉, stride = kernel and
            pad ⌊(kernel·2^l − H + 1) / 2⌋ (Caffe's padding rules), each level flattened from axis 1,
            then concatenated on axis 1.  ``pool``: MAX, AVE or STOCHASTIC.
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.spp_param
        self.height = int(p.pyramid_height)
        if self.height <= 0:
            raise fail(f"Layer '{self.name}' (SPP): spp_param.pyramid_height must be positive.")
        self.method = int(p.pool)
        self._levels_for = None

    def levels(self, H, W):
        if self._levels_for == (H, W):
            return self._levels_cache
        levels = []
        for lvl in range(self.height):
            bins = 2 ** lvl
            kh, kw = math.ceil(H / bins), math.ceil(W / bins)
            ph, pw = (kh * bins - H + 1) // 2, (kw * bins - W + 1) // 2
            if ph >= kh or pw >= kw:
                raise fail(f"Layer '{self.name}' (SPP): a {H}×{W} input is too small for pyramid level {lvl} "
                           f"({bins}×{bins} bins need pad {max(ph, pw)} < kernel {min(kh, kw)}).")
            if (ph or pw) and self.method == _STOCHASTIC:
                raise fail(f"Layer '{self.name}' (SPP): STOCHASTIC pooling cannot pad; the {H}×{W} input needs "
                           f"padding at pyramid level {lvl}.")
            levels.append(Pool2d(self.method, kh, kw, kh, kw, ph, pw))
        self._levels_for, self._levels_cache = (H, W), levels
        return levels

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        if len(s) != 4:
            raise fail(f"Layer '{self.name}' (SPP): the input must have 4 axes, got shape {s}.")
        levels = self.levels(s[2], s[3])
        if self.height == 1:
            return [(s[0], s[1]) + levels[0].out_size(s[2], s[3])]
        total = 0
        for lv in levels:
            oh, ow = lv.out_size(s[2], s[3])
            total += s[1] * oh * ow
        return [(s[0], total)]

    def forward(self, bottoms):
        x = bottoms[0]
        levels = self.levels(int(x.shape[2]), int(x.shape[3]))
        if self.height == 1:
            return [levels[0](x, self.phase)[0]]
        outs = [lv(x, self.phase)[0].flatten(1) for lv in levels]
        return [torch.cat(outs, 1)]


# ------------------------------------------------------------------------------------------------
# InnerProduct / Embed
# ------------------------------------------------------------------------------------------------
@register("InnerProduct")
class InnerProductLayer(Layer):
    """Fully connected layer, as Caffe's InnerProductLayer.

    bottom: x of any shape; axes from ``axis`` (default 1) on are flattened into K = Π shape[axis:].
    top:    y of shape shape[:axis] + (N,), N = ``num_output``; y = x·Wᵀ + b.
    params: W of shape (N, K), or (K, N) with ``transpose: true`` (then y = x·W + b)
            (``weight_filler``, default constant 0); b of shape (N,) when ``bias_term``
            (``bias_filler``, default constant 0).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.inner_product_param
        s = tuple(bottom_shapes[0])
        self.axis = canonical_axis(p.axis, len(s), self, "inner_product_param.axis")
        self.N = int(p.num_output)
        if self.N <= 0:
            raise fail(f"Layer '{self.name}' (InnerProduct): inner_product_param.num_output must be positive.")
        self.K = _shape_prod(s[self.axis:])
        self.transpose = bool(p.transpose)
        self.add_param((self.K, self.N) if self.transpose else (self.N, self.K), p.weight_filler, "weight")
        self.bias_term = bool(p.bias_term)
        if self.bias_term:
            self.add_param((self.N,), p.bias_filler, "bias")

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        axis = canonical_axis(self.param.inner_product_param.axis, len(s), self, "inner_product_param.axis")
        k = _shape_prod(s[axis:])
        if k != self.K:
            raise fail(f"Layer '{self.name}' (InnerProduct): the input size {k} (shape {s} flattened from axis "
                       f"{axis}) is incompatible with the layer's weights, which expect {self.K}.")
        return [s[:axis] + (self.N,)]

    def forward(self, bottoms):
        x = bottoms[0]
        lead = x.shape[: self.axis]
        x2 = x if (x.dim() == 2 and self.axis == 1) else x.reshape(-1, self.K)
        w = self.blobs[0].tensor
        b = self.blobs[1].tensor if self.bias_term else None
        if self.transpose:
            y = torch.addmm(b, x2, w) if b is not None else x2.matmul(w)
        else:
            y = F.linear(x2, w, b)
        if y.dim() != len(lead) + 1:
            y = y.reshape(tuple(lead) + (self.N,))
        return [y]


@register("Embed")
class EmbedLayer(Layer):
    """Embedding lookup, as Caffe's EmbedLayer (a one-hot InnerProduct).

    bottom: indices of any shape, stored as floats (truncated to integers, must lie in [0, input_dim)).
    top:    y of shape bottom.shape + (num_output,); y[..., :] = W[index] + b.
    params: W of shape (input_dim, num_output) (``weight_filler``, default constant 0), b of shape
            (num_output,) when ``bias_term``.  No gradient flows to the bottom (indices).
    """

    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def setup(self, bottom_shapes):
        p = self.param.embed_param
        self.N = int(p.num_output)
        self.K = int(p.input_dim)
        if self.N <= 0:
            raise fail(f"Layer '{self.name}' (Embed): embed_param.num_output must be positive.")
        if self.K <= 0:
            raise fail(f"Layer '{self.name}' (Embed): embed_param.input_dim must be positive.")
        self.add_param((self.K, self.N), p.weight_filler, "weight")
        self.bias_term = bool(p.bias_term)
        if self.bias_term:
            self.add_param((self.N,), p.bias_filler, "bias")

    def reshape(self, bottom_shapes):
        return [tuple(bottom_shapes[0]) + (self.N,)]

    def forward(self, bottoms):
        x = bottoms[0].detach()
        idx = x.to(torch.long)  # C's static_cast<int>: truncation toward zero
        if idx.numel() and x.device.type != "meta":
            # one host check per forward (Embed is not in the hot path of the papers' nets): an index
            # outside the table would otherwise read garbage (CPU) or abort the CUDA context
            bad = (idx < 0) | (idx >= self.K) | ~torch.isfinite(x)
            if bool(bad.any()):
                v = x[bad].flatten()[0].item()
                src = self.param.bottom[0] if self.param.bottom else "bottom[0]"
                raise fail(f"Layer '{self.name}' (Embed): index {v:g} in '{src}' is outside "
                           f"[0, input_dim = {self.K}).")
        y = F.embedding(idx, self.blobs[0].tensor)
        if self.bias_term:
            y = y + self.blobs[1].tensor
        return [y]
