"""One converter per Caffe layer type, each emitting standard ONNX ops with the engine's numbers.

The Caffe semantics that runtimes disagree on are spelled out explicitly:

* Pooling never uses ``ceil_mode``: Caffe's output size (ceil, minus one when the last window would
  start in the end padding) is reproduced with explicit end padding (and a Slice when a window is
  dropped).  AVE pooling runs ``AveragePool(count_include_pad=1)`` over that padding, which divides
  by kernel_h·kernel_w everywhere, then multiplies by a precomputed map kh·kw / |window ∩ [−p, H+p)|
  so every output is divided by Caffe's divisor.
* LRN ACROSS_CHANNELS is ONNX LRN (Caffe's sizes are odd, where both agree); WITHIN_CHANNEL is
  Caffe's composition (x² → AveragePool with padding counted → (1 + α·s)^−β).
* BatchNorm becomes BatchNormalization with mean = mean_sum / factor and var = var_sum / factor;
  a Scale that is its only consumer is folded into its scale and bias.
* Dropout, Split and the identity layers add no node.
* Sigmoid (and Swish's sigmoid) is not ONNX ``Sigmoid``, which onnxruntime approximates (x = −10 gives
  4.5389e-5 for 4.5398e-5, x ≤ −18 gives 0): see :func:`sigmoid` for the form and its promise.
"""
from __future__ import annotations

import numpy as np

from ..layers.base import FLT_MAX, FLT_MIN
from ..layers.neuron import c_pow
from ..proto import caffe_pb2
from .registry import converter

_POOL = caffe_pb2.PoolingParameter
_ELTWISE = caffe_pb2.EltwiseParameter
_REDUCTION = caffe_pb2.ReductionParameter



def _one(cx):
    return cx.inputs[0]


# ------------------------------------------------------------------------------------------------
# Input / identity layers
# ------------------------------------------------------------------------------------------------
@converter("Dropout")
def _dropout(cx):
    return [cx.inputs[0]]


@converter("Split")
def _split(cx):
    return [cx.inputs[0]] * len(cx.lp.top)


@converter("Silence")
def _silence(cx):
    return []


# ------------------------------------------------------------------------------------------------
# Convolution / Deconvolution / InnerProduct / Embed
# ------------------------------------------------------------------------------------------------
def _conv_common(cx, op):
    L = cx.layer
    if L.axis != 1:
        raise cx.fail(f"convolution_param.axis {L.axis} (ONNX convolutions take the channel on axis 1).")
    w = cx.g.init(f"{cx.name}_W", cx.params[0])
    ins = [w]
    if L.bias_term:
        ins.append(cx.g.init(f"{cx.name}_b", cx.params[1]))
    attrs = dict(kernel_shape=list(L.kernel), strides=list(L.stride), pads=list(L.pad) * 2,
                 dilations=list(L.dilation), group=int(L.group))
    outs = []
    for i, x in enumerate(cx.inputs):  # several bottoms share the filters: one node per bottom
        outs.append(cx.g.node(op, [x] + ins, cx.top(i), **attrs))
    return outs


@converter("Convolution")
def _convolution(cx):
    return _conv_common(cx, "Conv")


@converter("Deconvolution")
def _deconvolution(cx):
    return _conv_common(cx, "ConvTranspose")


@converter("InnerProduct")
def _inner_product(cx):
    L = cx.layer
    x = cx.inputs[0]
    s = cx.in_shapes[0]
    if L.axis != 1 or len(s) != 2:
        x = cx.g.node("Flatten", [x], axis=int(L.axis))
    w = cx.g.init(f"{cx.name}_W", cx.params[0])
    ins = [x, w]
    if L.bias_term:
        ins.append(cx.g.init(f"{cx.name}_b", cx.params[1]))
    out_dyn = cx.out_dyn[0]
    if len(out_dyn) == 2:
        return [cx.g.node("Gemm", ins, cx.top(0), transB=0 if L.transpose else 1)]
    y = cx.g.node("Gemm", ins, transB=0 if L.transpose else 1)
    return [cx.reshape_to(y, out_dyn, cx.top(0))]


@converter("Embed")
def _embed(cx):
    L = cx.layer
    idx = cx.g.node("Cast", [cx.inputs[0]], to=7)  # INT64: truncation toward zero, as static_cast<int>
    w = cx.g.init(f"{cx.name}_W", cx.params[0])
    if not L.bias_term:
        return [cx.g.node("Gather", [w, idx], cx.top(0), axis=0)]
    y = cx.g.node("Gather", [w, idx], axis=0)
    return [cx.g.node("Add", [y, cx.g.init(f"{cx.name}_b", cx.params[1])], cx.top(0))]


# ------------------------------------------------------------------------------------------------
# Pooling / SPP
# ------------------------------------------------------------------------------------------------
def _pool_geometry(pool, H, W):
    """Caffe's output size and the explicit pads (begin, end) that reproduce it without ceil_mode."""
    oh, ow = pool.out_size(H, W)
    (kh, kw), (sh, sw), (ph, pw) = pool.k, pool.s, pool.p
    eh = (oh - 1) * sh + kh - H - ph
    ew = (ow - 1) * sw + kw - W - pw
    return oh, ow, (ph, pw, max(eh, 0), max(ew, 0))


def _divisor_factor(pool, H, W, oh, ow):
    (kh, kw), (sh, sw), (ph, pw) = pool.k, pool.s, pool.p

    def sizes(n_out, k, s, p, size):
        return np.array([min(i * s - p + k, size + p) - (i * s - p) for i in range(n_out)], np.float64)

    div = sizes(oh, kh, sh, ph, H)[:, None] * sizes(ow, kw, sw, pw, W)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):  # an empty window: 0/0 → NaN, as in Caffe
        return (kh * kw / div).astype(np.float32)


def emit_pool2d(cx, x, pool, H, W, phase=1, out=None, base=None):
    """ONNX nodes computing ``fashioncaffe.layers.vision.Pool2d`` ``pool`` on ``x`` (N, C, H, W)."""
    g = cx.g
    base = base or cx.name
    oh, ow, pads = _pool_geometry(pool, H, W)
    (kh, kw), (sh, sw) = pool.k, pool.s
    ph, pw, eh, ew = pads
    onnx_pads = [ph, pw, eh, ew]
    if eh >= kh or ew >= kw or ph >= kh or pw >= kw:
        # runtimes require pads < kernel: pad explicitly (−FLT_MAX for MAX: an all-padding window keeps
        # Caffe's −FLT_MAX; 0 for the sums of AVE / STOCHASTIC)
        fill = -FLT_MAX if pool.method == _POOL.MAX else 0.0
        x = g.node("Pad", [x, g.const(np.array([0, 0, ph, pw, 0, 0, eh, ew], np.int64), base="pads"),
                           g.const(np.float32(fill))], mode="constant")
        onnx_pads = [0, 0, 0, 0]
    got_h = (H + ph + eh - kh) // sh + 1
    got_w = (W + pw + ew - kw) // sw + 1
    needs_slice = (got_h, got_w) != (oh, ow)

    def finish(y):
        if needs_slice:
            return cx.slice(y, [0, 0], [oh, ow], [2, 3], out=None if out is None else out)
        if out is not None and y != out:
            return g.node("Identity", [y], out)
        return y

    if pool.method == _POOL.MAX:
        empty = ((oh - 1) * sh - ph >= H or (ow - 1) * sw - pw >= W) and onnx_pads != [0, 0, 0, 0]
        y = g.node("MaxPool", [x], None if (needs_slice or empty) else out, name=f"{base}_maxpool",
                   kernel_shape=[kh, kw], strides=[sh, sw], pads=onnx_pads)
        if empty:  # Caffe's empty window keeps −FLT_MAX
            y = g.node("Max", [y, g.const(np.float32(-FLT_MAX))], None if needs_slice else out)
        return finish(y)
    if pool.method == _POOL.AVE:
        factor = _divisor_factor(pool, H, W, oh, ow)
        simple = not needs_slice and bool(np.all(factor == 1.0))
        y = g.node("AveragePool", [x], out if simple else None, name=f"{base}_avgpool",
                   kernel_shape=[kh, kw], strides=[sh, sw], pads=onnx_pads, count_include_pad=1)
        if simple:
            return y
        if needs_slice:
            y = cx.slice(y, [0, 0], [oh, ow], [2, 3])
        if np.all(factor == 1.0):
            return g.node("Identity", [y], out) if out is not None else y
        fmap = g.init(f"{base}_avg_divisor", factor[None, None])
        return g.node("Mul", [y, fmap], out)
    if pool.method == _POOL.STOCHASTIC:
        if phase == 0:
            raise cx.fail("STOCHASTIC pooling samples at random in TRAIN; export the TEST phase.")
        kk = g.const(np.float32(kh * kw))
        s1 = g.node("AveragePool", [x], kernel_shape=[kh, kw], strides=[sh, sw], pads=onnx_pads,
                    count_include_pad=1)
        x2 = g.node("Mul", [x, x])
        s2 = g.node("AveragePool", [x2], kernel_shape=[kh, kw], strides=[sh, sw], pads=onnx_pads,
                    count_include_pad=1)
        if needs_slice:
            s1 = cx.slice(s1, [0, 0], [oh, ow], [2, 3])
            s2 = cx.slice(s2, [0, 0], [oh, ow], [2, 3])
        s1 = g.node("Add", [g.node("Mul", [s1, kk]), g.const(np.float32(FLT_MIN))])
        s2 = g.node("Mul", [s2, kk])
        return g.node("Div", [s2, s1], out)
    raise cx.fail(f"unknown pooling method {pool.method}.")


@converter("Pooling")
def _pooling(cx):
    L = cx.layer
    if len(cx.lp.top) == 2:
        raise cx.fail("the second (argmax mask) top of MAX pooling has no ONNX equivalent with Caffe's "
                      "indexing; remove it from the deploy net.")
    _, _, H, W = cx.in_shapes[0]
    if L.global_pooling and L.method in (_POOL.AVE, _POOL.MAX):
        op = "GlobalAveragePool" if L.method == _POOL.AVE else "GlobalMaxPool"
        return [cx.g.node(op, [cx.inputs[0]], cx.top(0))]
    pool = L.pooler(H, W)
    return [emit_pool2d(cx, cx.inputs[0], pool, H, W, L.phase, out=cx.top(0))]


@converter("SPP")
def _spp(cx):
    L = cx.layer
    _, _, H, W = cx.in_shapes[0]
    levels = L.levels(H, W)
    if L.height == 1:
        return [emit_pool2d(cx, cx.inputs[0], levels[0], H, W, L.phase, out=cx.top(0))]
    outs = []
    for i, lv in enumerate(levels):
        y = emit_pool2d(cx, cx.inputs[0], lv, H, W, L.phase, base=f"{cx.name}_l{i}")
        outs.append(cx.g.node("Flatten", [y], axis=1))
    return [cx.g.node("Concat", outs, cx.top(0), axis=1)]


# ------------------------------------------------------------------------------------------------
# Normalisation
# ------------------------------------------------------------------------------------------------
@converter("LRN")
def _lrn(cx):
    L = cx.layer
    x = cx.inputs[0]
    if not L.within:
        return [cx.g.node("LRN", [x], cx.top(0), size=int(L.size), alpha=float(L.alpha), beta=float(L.beta),
                          bias=float(L.k))]
    g = cx.g
    sq = g.node("Mul", [x, x])
    p = L.pre_pad
    avg = g.node("AveragePool", [sq], kernel_shape=[L.size, L.size], strides=[1, 1], pads=[p, p, p, p],
                 count_include_pad=1)
    base = g.node("Add", [g.node("Mul", [avg, g.const(np.float32(L.alpha))]), g.const(np.float32(1.0))])
    scale = g.node("Pow", [base, g.const(np.float32(-L.beta))])
    return [g.node("Mul", [x, scale], cx.top(0))]


@converter("BatchNorm")
def _batch_norm(cx):
    L = cx.layer
    if not L.use_global:
        raise cx.fail("batch_norm_param.use_global_stats is false: the layer normalises with the batch's own "
                      "statistics; deploy nets use the stored ones (use_global_stats: true, the TEST default).")
    s = cx.in_shapes[0]
    if len(s) < 2:
        raise cx.fail(f"a {len(s)}-axis bottom; ONNX BatchNormalization needs (N, C, ...).")
    mean_sum, var_sum, factor = cx.params
    f = float(factor.reshape(-1)[0])
    k = 0.0 if f == 0 else 1.0 / f
    mean = (mean_sum * np.float32(k)).astype(np.float32)
    var = (var_sum * np.float32(k)).astype(np.float32)
    C = L.channels
    g = cx.g
    scale = g.init(f"{cx.name}_scale", np.ones(C, np.float32))
    bias = g.init(f"{cx.name}_bias", np.zeros(C, np.float32))
    m = g.init(f"{cx.name}_mean", mean)
    v = g.init(f"{cx.name}_var", var)
    y = g.node("BatchNormalization", [cx.inputs[0], scale, bias, m, v], cx.top(0), epsilon=float(L.eps))
    g.bn[y] = (scale, bias, C)
    return [y]


def _broadcast_operand(cx, arr_or_value, axis, oshape, ndim, base):
    """A constant (or value) of shape ``oshape`` placed at ``axis`` of an ``ndim``-axis tensor."""
    trailing = ndim - axis - len(oshape)
    a = np.asarray(arr_or_value, np.float32).reshape(tuple(oshape) + (1,) * trailing)
    return cx.g.init(base, a)


@converter("Scale")
def _scale(cx):
    L = cx.layer
    g = cx.g
    x = cx.inputs[0]
    s0 = cx.in_shapes[0]
    ndim = len(s0)
    params = cx.params
    if not L.two_bottoms:
        gamma = params[0]
        beta = params[L.bias_index] if L.bias_term else None
        axis = L.operand_axis(s0, gamma.shape)
        # fold into the BatchNormalization that feeds only this layer
        if x in g.bn and axis == 1 and gamma.shape == (g.bn[x][2],) and cx.consumers_of_input(0) == 1:
            sc, bi, _ = g.bn[x]
            g.inits[sc] = g.inits[sc] * gamma.astype(np.float32)
            g.inits[bi] = g.inits[bi] * gamma.astype(np.float32) + (beta if beta is not None else 0.0)
            del g.bn[x]
            return [x]
        gname = _broadcast_operand(cx, gamma, axis, gamma.shape, ndim, f"{cx.name}_scale")
        if beta is None:
            return [g.node("Mul", [x, gname], cx.top(0))]
        bname = _broadcast_operand(cx, beta, axis, gamma.shape, ndim, f"{cx.name}_bias")
        return [g.node("Add", [g.node("Mul", [x, gname]), bname], cx.top(0))]
    s1 = cx.in_shapes[1]
    axis = L.operand_axis(s0, s1)
    sname = _unsq_trailing(cx, cx.inputs[1], len(s1), ndim - axis - len(s1))
    y = g.node("Mul", [x, sname], None if L.bias_term else cx.top(0))
    if L.bias_term:
        b = params[0]
        bname = _broadcast_operand(cx, b, axis, s1, ndim, f"{cx.name}_bias")
        y = g.node("Add", [y, bname], cx.top(0))
    return [y]


def _unsq_trailing(cx, name, rank, trailing):
    if trailing <= 0:
        return name
    return cx.unsqueeze(name, [rank + i for i in range(trailing)])


@converter("Bias")
def _bias(cx):
    L = cx.layer
    x = cx.inputs[0]
    s0 = cx.in_shapes[0]
    ndim = len(s0)
    if not L.two_bottoms:
        b = cx.params[0]
        axis = L.operand_axis(s0, b.shape)
        bname = _broadcast_operand(cx, b, axis, b.shape, ndim, f"{cx.name}_bias")
        return [cx.g.node("Add", [x, bname], cx.top(0))]
    s1 = cx.in_shapes[1]
    axis = L.operand_axis(s0, s1)
    bname = _unsq_trailing(cx, cx.inputs[1], len(s1), ndim - axis - len(s1))
    return [cx.g.node("Add", [x, bname], cx.top(0))]


@converter("MVN")
def _mvn(cx):
    L = cx.layer
    g = cx.g
    x = cx.inputs[0]
    s = cx.in_shapes[0]
    start = 1 if L.across else 2
    D = int(np.prod(s[start:])) if len(s) > start else 1
    x2 = cx.reshape_to(x, (-1, D))
    mean = cx.reduce("ReduceMean", x2, [1])
    c = g.node("Sub", [x2, mean])
    if L.normalize_variance:
        var = cx.reduce("ReduceMean", g.node("Mul", [c, c]), [1])
        denom = g.node("Add", [g.node("Sqrt", [var]), g.const(np.float32(L.eps))])
        c = g.node("Div", [c, denom])
    return [g.node("Reshape", [c, g.node("Shape", [x])], cx.top(0))]


# ------------------------------------------------------------------------------------------------
# Neurons
# ------------------------------------------------------------------------------------------------
@converter("ReLU")
def _relu(cx):
    if cx.layer.slope == 0.0:
        return [cx.g.node("Relu", [_one(cx)], cx.top(0))]
    return [cx.g.node("LeakyRelu", [_one(cx)], cx.top(0), alpha=float(cx.layer.slope))]


@converter("PReLU")
def _prelu(cx):
    a = cx.params[0]
    ndim = len(cx.in_shapes[0])
    if cx.layer.shared:
        slope = a.reshape(1)
    else:
        slope = a.reshape((-1,) + (1,) * (ndim - 2))
    return [cx.g.node("PRelu", [_one(cx), cx.g.init(f"{cx.name}_slope", slope)], cx.top(0))]


@converter("ELU")
def _elu(cx):
    return [cx.g.node("Elu", [_one(cx)], cx.top(0), alpha=float(cx.layer.alpha))]


def sigmoid(g, x, out=None):
    """σ(x) = e^{min(x,0)} / (1 + e^{−|x|}) with ONNX Exp: e = Exp(−|x|), σ = Where(x < 0, e, 1) / (1 + e).

    The promise for every exported probability: within 4 float32 ulps of the correctly rounded σ(x)
    for every float32 x, subnormal outputs included (measured ≤ 2.2 ulps through onnxruntime's CPU
    Exp over x in [−90, 90]; no cancellation: the numerator is exact and 1 + e lies in [1, 2]).  So
    it matches the engine (torch.sigmoid) within 5 ulps wherever the engine's value is a normal float
    (x ≥ −87.3; below, the engine flushes to 0), and BVLC Caffe's Sigmoid -- 0.5·tanh(0.5x) + 0.5 in
    double, rounded to float -- within 4 ulps + 1.2e-16: BVLC's own result carries that much
    cancellation error, so it loses relative precision below x ≈ −17 and is 0 below x ≈ −37.4.
    """
    e = g.node("Exp", [g.node("Neg", [g.node("Abs", [x])])])
    one = g.const(np.float32(1.0))
    num = g.node("Where", [g.node("Less", [x, g.const(np.float32(0.0))]), e, one])
    return g.node("Div", [num, g.node("Add", [one, e])], out)


@converter("Sigmoid")
def _sigmoid(cx):
    return [sigmoid(cx.g, _one(cx), cx.top(0))]


@converter("TanH")
def _tanh(cx):
    return [cx.g.node("Tanh", [_one(cx)], cx.top(0))]


@converter("AbsVal")
def _abs(cx):
    return [cx.g.node("Abs", [_one(cx)], cx.top(0))]


@converter("BNLL")
def _bnll(cx):
    return [cx.g.node("Softplus", [_one(cx)], cx.top(0))]


@converter("Power")
def _power(cx):
    L = cx.layer
    g = cx.g
    x = _one(cx)
    if L.power * L.scale == 0.0:
        shape = g.node("Shape", [x])
        return [g.node("ConstantOfShape", [shape], cx.top(0),
                       value=_tensor_attr(np.array([c_pow(L.shift, L.power)], np.float32)))]
    y = x
    if L.scale != 1.0:
        y = g.node("Mul", [y, g.const(np.float32(L.scale))])
    if L.shift != 0.0:
        y = g.node("Add", [y, g.const(np.float32(L.shift))])
    if L.power == 2.0:
        y = g.node("Mul", [y, y])
    elif L.power != 1.0:
        y = g.node("Pow", [y, g.const(np.float32(L.power))])
    if y == x:
        return [x]
    return [y]


def _tensor_attr(arr):
    from onnx import numpy_helper

    return numpy_helper.from_array(arr)


@converter("Exp")
def _exp(cx):
    L = cx.layer
    g = cx.g
    x = _one(cx)
    if L.inner_scale != 1.0:
        x = g.node("Mul", [x, g.const(np.float32(L.inner_scale))])
    y = g.node("Exp", [x], None if L.outer_scale != 1.0 else cx.top(0))
    if L.outer_scale != 1.0:
        y = g.node("Mul", [y, g.const(np.float32(L.outer_scale))], cx.top(0))
    return [y]


@converter("Log")
def _log(cx):
    L = cx.layer
    g = cx.g
    y = _one(cx)
    if L.scale != 1.0:
        y = g.node("Mul", [y, g.const(np.float32(L.scale))])
    if L.shift != 0.0:
        y = g.node("Add", [y, g.const(np.float32(L.shift))])
    y = g.node("Log", [y], None if L.base_scale != 1.0 else cx.top(0))
    if L.base_scale != 1.0:
        y = g.node("Mul", [y, g.const(np.float32(L.base_scale))], cx.top(0))
    return [y]


@converter("Threshold")
def _threshold(cx):
    gt = cx.g.node("Greater", [_one(cx), cx.g.const(np.float32(cx.layer.threshold))])
    return [cx.g.node("Cast", [gt], cx.top(0), to=1)]


@converter("Swish")
def _swish(cx):
    g = cx.g
    x = _one(cx)
    z = x if cx.layer.beta == 1.0 else g.node("Mul", [x, g.const(np.float32(cx.layer.beta))])
    return [g.node("Mul", [x, sigmoid(g, z)], cx.top(0))]


@converter("Clip")
def _clip(cx):
    g = cx.g
    return [g.node("Clip", [_one(cx), g.const(np.float32(cx.layer.lo)), g.const(np.float32(cx.layer.hi))],
                   cx.top(0))]


# ------------------------------------------------------------------------------------------------
# Common layers
# ------------------------------------------------------------------------------------------------
@converter("Eltwise")
def _eltwise(cx):
    L = cx.layer
    g = cx.g
    xs = cx.inputs
    if L.op == _ELTWISE.SUM:
        terms = [x if c == 1.0 else g.node("Mul", [x, g.const(np.float32(c))]) for c, x in zip(L.coeff, xs)]
        if len(terms) == 2:
            return [g.node("Add", terms, cx.top(0))]
        return [g.node("Sum", terms, cx.top(0))]
    if L.op == _ELTWISE.PROD:
        y = xs[0]
        for i, x in enumerate(xs[1:]):
            y = g.node("Mul", [y, x], cx.top(0) if i == len(xs) - 2 else None)
        return [y]
    if L.op == _ELTWISE.MAX:
        return [g.node("Max", list(xs), cx.top(0))]
    raise cx.fail(f"unknown eltwise operation {L.op}.")


@converter("Concat")
def _concat(cx):
    if len(cx.inputs) == 1:
        return [cx.inputs[0]]
    return [cx.g.node("Concat", cx.inputs, cx.top(0), axis=int(cx.layer.axis))]


@converter("Slice")
def _slice(cx):
    L = cx.layer
    n = len(cx.lp.top)
    if n == 1:
        return [cx.inputs[0]]
    split = cx.g.const(np.array(L.sizes, np.int64), base="split")
    outs = cx.g.node("Split", [cx.inputs[0], split], [cx.top(i) for i in range(n)], axis=int(L.axis))
    return list(outs) if isinstance(outs, list) else [outs]


@converter("Reduction")
def _reduction(cx):
    L = cx.layer
    g = cx.g
    x = cx.inputs[0]
    axis = L.axis
    lead = list(cx.in_dyn[0][:axis])
    flat = cx.reshape_to(x, lead + [-1] if -1 not in lead else lead + [int(np.prod(cx.in_shapes[0][axis:]))])
    if L.op == _REDUCTION.ASUM:
        flat = g.node("Abs", [flat])
    elif L.op == _REDUCTION.SUMSQ:
        flat = g.node("Mul", [flat, flat])
    op = "ReduceMean" if L.op == _REDUCTION.MEAN else "ReduceSum"
    y = cx.reduce(op, flat, [axis], keepdims=0, out=None if L.coeff != 1.0 else cx.top(0))
    if L.coeff != 1.0:
        y = g.node("Mul", [y, g.const(np.float32(L.coeff))], cx.top(0))
    return [y]


@converter("Softmax")
def _softmax(cx):
    return [cx.g.node("Softmax", [cx.inputs[0]], cx.top(0), axis=int(cx.layer.axis))]


@converter("ArgMax")
def _argmax(cx):
    """TopK on the reversed axis (ONNX puts the lower index first on ties; Caffe the higher one)."""
    L = cx.layer
    g = cx.g
    x = cx.inputs[0]
    k = g.const(np.array([L.top_k], np.int64), base="k")
    if L.has_axis:
        axis = L.axis
        d = cx.in_shapes[0][axis]
        rev = cx.slice(x, [d - 1], [-(d + 1)], [axis], [-1])
        vals, idx = g.node("TopK", [rev, k], n_out=2, axis=axis, largest=1, sorted=1)
        if L.out_max_val:
            return [g.node("Identity", [vals], cx.top(0))]
        idxf = g.node("Cast", [idx], to=1)
        return [g.node("Sub", [g.const(np.float32(d - 1)), idxf], cx.top(0))]
    d = int(np.prod(cx.in_shapes[0][1:]))
    flat = cx.reshape_to(x, (-1, d) if cx.in_dyn[0][0] == -1 else (cx.in_shapes[0][0], d))
    rev = cx.slice(flat, [d - 1], [-(d + 1)], [1], [-1])
    vals, idx = g.node("TopK", [rev, k], n_out=2, axis=1, largest=1, sorted=1)
    idxf = g.node("Sub", [g.const(np.float32(d - 1)), g.node("Cast", [idx], to=1)])
    if L.out_max_val:
        y = g.node("Concat", [cx.unsqueeze(idxf, [1]), cx.unsqueeze(vals, [1])], axis=1)
    else:
        y = cx.unsqueeze(idxf, [1])
    return [cx.reshape_to(y, cx.out_dyn[0], cx.top(0))]


@converter("Tile")
def _tile(cx):
    L = cx.layer
    reps = [1] * len(cx.in_shapes[0])
    reps[L.axis] = L.tiles
    return [cx.g.node("Tile", [cx.inputs[0], cx.g.const(np.array(reps, np.int64), base="repeats")], cx.top(0))]


@converter("Crop")
def _crop(cx):
    L = cx.layer
    if not L.window:
        return [cx.inputs[0]]
    axes = [i for i, _, _ in L.window]
    if 0 in axes:
        raise cx.fail("cropping the batch axis (crop_param.axis 0) makes the batch size static.")
    starts = [o for _, o, _ in L.window]
    ends = [o + n for _, o, n in L.window]
    return [cx.slice(cx.inputs[0], starts, ends, axes, out=cx.top(0))]


@converter("Parameter")
def _parameter(cx):
    return [cx.g.node("Identity", [cx.g.init(f"{cx.name}_param", cx.params[0])], cx.top(0))]


# ------------------------------------------------------------------------------------------------
# Shape layers
# ------------------------------------------------------------------------------------------------
@converter("Flatten", "Reshape")
def _reshape(cx):
    dyn = list(cx.out_dyn[0])
    if dyn == list(cx.in_dyn[0]):
        return [cx.inputs[0]]
    return [cx.reshape_to(cx.inputs[0], dyn, cx.top(0))]


# ------------------------------------------------------------------------------------------------
# Layers that never belong in a deploy net
# ------------------------------------------------------------------------------------------------
_TRAINING_ONLY = {
    "Data": "a data layer (reads a database)", "ImageData": "a data layer (reads image files)",
    "HDF5Data": "a data layer (reads HDF5 files)", "WindowData": "a data layer",
    "MemoryData": "a data layer (fed from memory)", "DummyData": "a data layer (constant/random blobs)",
    "Accuracy": "an evaluation layer (needs labels)", "HDF5Output": "an output-writing layer",
}


def training_only_reason(lp):
    if lp.type in _TRAINING_ONLY:
        return _TRAINING_ONLY[lp.type]
    if lp.type.endswith("Loss"):
        return "a loss layer (needs labels)"
    return None
