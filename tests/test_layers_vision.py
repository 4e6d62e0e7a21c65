"""Vision layers (Convolution, Deconvolution, Pooling, SPP, InnerProduct, Embed): Caffe's
arithmetic against loop-by-loop re-statements of BVLC's C++ code, finite-difference gradients, the
recorded BVLC reference cases, and configuration errors."""
import math

import numpy as np
import pytest
import torch
from google.protobuf import text_format

import fashioncaffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.layers.base import TRAIN, TEST, layer_class
from fashioncaffe.proto import caffe_pb2

from layer_testing import reference_case_problems
FLT_MAX = 3.4028234663852886e38


# ------------------------------------------------------------------------------------------------
# helpers
def make_layer(text, bottom_shapes, phase=TEST, seed=0):
    lp = text_format.Parse(text, caffe_pb2.LayerParameter())
    if not lp.name:
        lp.name = "L"
    if not lp.top:
        lp.top.append("y")
    torch.manual_seed(seed)
    layer = layer_class(lp.type, lp.name)(lp, phase, "cpu")
    layer.check_counts(max(len(lp.bottom), len(bottom_shapes)), len(lp.top))
    layer.setup([tuple(s) for s in bottom_shapes])
    return layer


def run(layer, bottoms, params=None):
    """Forward with the given (possibly float64) parameter tensors swapped in."""
    if params is not None:
        for b, p in zip(layer.blobs, params):
            b._data._tensor = p
    return layer.forward(list(bottoms))


def gradcheck_layer(layer, bottoms, grad_bottoms=None, grad_params=True, **kw):
    """torch.autograd.gradcheck in float64 over the bottoms (and the learnable params)."""
    xs = [b.detach().double().requires_grad_(grad_bottoms is None or grad_bottoms[i])
          for i, b in enumerate(bottoms)]
    ps = [b.tensor.detach().double().requires_grad_(grad_params) for b in layer.blobs]
    nb = len(xs)

    def f(*args):
        return tuple(run(layer, args[:nb], args[nb:]))

    assert torch.autograd.gradcheck(f, tuple(xs + ps), **kw)


def fill_params(layer, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for b in layer.blobs:
            b.tensor.copy_(torch.randn(b.shape, generator=g))


def write_net(tmp_path, body, inputs):
    lines = ['name: "t"', "force_backward: true"]
    for name, shape in inputs.items():
        dims = " ".join(f"dim: {d}" for d in shape)
        lines.append(f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {dims} }} }} }}')
    lines.append(body)
    path = tmp_path / "net.prototxt"
    path.write_text("\n".join(lines))
    return str(path)


# ------------------------------------------------------------------------------------------------
# BVLC reference cases
VISION_CASES = ["conv_basic", "conv_dilated_nobias", "conv_group_stride", "conv_rect", "deconv",
                "pool_ave_ceil_overhang", "pool_ave_pad", "pool_global", "pool_max_ceil", "pool_max_pad_clip",
                "ip_axis1", "ip_axis2_transpose", "embed", "mini_alexnet", "mini_inception"]


@pytest.mark.parametrize("case", VISION_CASES)
def test_bvlc_reference_case(case):
    problems = reference_case_problems(case)
    assert problems == []


# ------------------------------------------------------------------------------------------------
# Convolution / Deconvolution
def test_conv_output_size_and_weight_shapes():
    L = make_layer('type: "Convolution" convolution_param { num_output: 6 kernel_size: 3 stride: 2 pad: 1 '
                   'dilation: 2 group: 2 }', [(2, 4, 11, 9)])
    assert L.blobs[0].shape == (6, 2, 3, 3) and L.blobs[1].shape == (6,)
    ext = 2 * 2 + 1
    assert L.reshape([(2, 4, 11, 9)]) == [(2, 6, (11 + 2 - ext) // 2 + 1, (9 + 2 - ext) // 2 + 1)]
    D = make_layer('type: "Deconvolution" convolution_param { num_output: 6 kernel_size: 4 stride: 2 pad: 1 '
                   'group: 2 }', [(2, 4, 5, 5)])
    assert D.blobs[0].shape == (4, 3, 4, 4)
    assert D.reshape([(2, 4, 5, 5)]) == [(2, 6, (5 - 1) * 2 - 2 + 3 + 1, 10)]


def test_conv_default_filler_is_zero_and_fillers_apply():
    L = make_layer('type: "Convolution" convolution_param { num_output: 3 kernel_size: 3 }', [(1, 2, 5, 5)])
    assert float(L.blobs[0].tensor.detach().abs().sum()) == 0 and float(L.blobs[1].tensor.detach().abs().sum()) == 0
    L = make_layer('type: "Convolution" convolution_param { num_output: 3 kernel_size: 3 '
                   'weight_filler { type: "constant" value: 0.5 } bias_filler { type: "constant" value: 2 } }',
                   [(1, 2, 5, 5)])
    assert torch.all(L.blobs[0].tensor == 0.5) and torch.all(L.blobs[1].tensor == 2)


def test_conv_matches_direct_loops():
    L = make_layer('type: "Convolution" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 2 stride_h: 2 '
                   'stride_w: 1 pad_h: 1 pad_w: 0 group: 2 }', [(2, 4, 7, 6)])
    fill_params(L)
    x = torch.randn(2, 4, 7, 6)
    y = run(L, [x])[0].detach().double().numpy()
    W = L.blobs[0].tensor.detach().double().numpy()
    b = L.blobs[1].tensor.detach().double().numpy()
    xp = np.pad(x.double().numpy(), ((0, 0), (0, 0), (1, 1), (0, 0)))
    oh, ow = (7 + 2 - 3) // 2 + 1, (6 - 2) // 1 + 1
    assert y.shape == (2, 4, oh, ow)
    ref = np.zeros_like(y)
    for n in range(2):
        for o in range(4):
            g = o // 2
            for i in range(oh):
                for j in range(ow):
                    win = xp[n, 2 * g:2 * g + 2, 2 * i:2 * i + 3, j:j + 2]
                    ref[n, o, i, j] = (win * W[o]).sum() + b[o]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("text,shape", [
    ('convolution_param { num_output: 3 kernel_size: 3 pad: 1 }', (2, 2, 5, 5)),
    ('convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 2 dilation: 2 group: 2 }', (1, 4, 7, 6)),
    ('convolution_param { num_output: 2 kernel_h: 2 kernel_w: 3 stride_h: 1 stride_w: 2 pad_h: 1 pad_w: 1 '
     'bias_term: false }', (2, 3, 5, 6)),
    ('convolution_param { num_output: 2 kernel_size: 2 kernel_size: 3 kernel_size: 2 stride: 1 }', (1, 2, 4, 5, 3)),
    ('convolution_param { num_output: 3 kernel_size: 3 axis: 2 }', (2, 2, 3, 6, 5)),
    ('convolution_param { num_output: 3 kernel_size: 3 }', (2, 2, 7)),
])
def test_conv_gradients(text, shape):
    L = make_layer('type: "Convolution" ' + text, [shape])
    fill_params(L)
    gradcheck_layer(L, [torch.randn(shape)])


@pytest.mark.parametrize("text,shape", [
    ('convolution_param { num_output: 3 kernel_size: 4 stride: 2 pad: 1 }', (2, 2, 3, 3)),
    ('convolution_param { num_output: 4 kernel_size: 3 stride: 2 group: 2 dilation: 2 bias_term: false }',
     (1, 4, 3, 4)),
    ('convolution_param { num_output: 2 kernel_h: 2 kernel_w: 3 stride_h: 2 stride_w: 1 pad_h: 0 pad_w: 1 }',
     (1, 3, 3, 3)),
])
def test_deconv_gradients(text, shape):
    L = make_layer('type: "Deconvolution" ' + text, [shape])
    fill_params(L)
    gradcheck_layer(L, [torch.randn(shape)])


def test_deconv_is_adjoint_of_conv():
    """Deconvolution's forward is convolution's backward with the same weights (Caffe's definition)."""
    conv = make_layer('type: "Convolution" convolution_param { num_output: 3 kernel_size: 3 stride: 2 pad: 1 '
                      'bias_term: false }', [(1, 2, 7, 7)])
    fill_params(conv)
    dec = make_layer('type: "Deconvolution" convolution_param { num_output: 2 kernel_size: 3 stride: 2 pad: 1 '
                     'bias_term: false }', [(1, 3, 4, 4)])
    with torch.no_grad():
        dec.blobs[0].tensor.copy_(conv.blobs[0].tensor)
    x = torch.randn(1, 2, 7, 7, dtype=torch.float64)
    u = torch.randn(1, 3, 4, 4, dtype=torch.float64)
    w = conv.blobs[0].tensor.detach().double()
    lhs = (run(conv, [x], [w])[0] * u).sum()
    rhs = (x * run(dec, [u], [w])[0]).sum()
    assert abs(float(lhs - rhs)) < 1e-9


def test_conv_several_bottoms_share_filters():
    L = make_layer('type: "Convolution" bottom: "a" bottom: "b" top: "ya" top: "yb" '
                   'convolution_param { num_output: 2 kernel_size: 1 }', [(1, 3, 2, 2), (1, 3, 2, 2)])
    fill_params(L)
    a, b = torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2)
    ya, yb = run(L, [a, b])
    assert torch.allclose(yb, run(L, [b])[0])
    gradcheck_layer(L, [a, b])


@pytest.mark.parametrize("text,msg", [
    ('convolution_param { num_output: 3 }', "kernel_size"),
    ('convolution_param { num_output: 3 kernel_size: 3 kernel_h: 3 kernel_w: 3 }', "not both"),
    ('convolution_param { num_output: 3 kernel_h: 3 }', "kernel_w"),
    ('convolution_param { num_output: 3 kernel_size: 3 group: 2 }', "group"),
    ('convolution_param { num_output: 3 kernel_size: 1 kernel_size: 2 kernel_size: 3 }', "kernel_size"),
    ('convolution_param { kernel_size: 3 }', "num_output"),
    ('convolution_param { num_output: 3 kernel_size: 3 stride: 0 }', "stride"),
])
def test_conv_config_errors(text, msg):
    with pytest.raises(FashionCaffeError) as e:
        make_layer('name: "c1" type: "Convolution" ' + text, [(1, 3, 5, 5)])
    assert "c1" in str(e.value) and msg in str(e.value)


def test_conv_kernel_larger_than_input_is_an_error():
    L = make_layer('name: "c1" type: "Convolution" convolution_param { num_output: 3 kernel_size: 7 }',
                   [(1, 3, 5, 5)])
    with pytest.raises(FashionCaffeError, match="c1"):
        L.reshape([(1, 3, 5, 5)])


# ------------------------------------------------------------------------------------------------
# Pooling: a loop-by-loop statement of BVLC's pooling_layer.cpp
def caffe_pool_ref(x, method, kh, kw, sh, sw, ph, pw, round_ceil=True):
    N, C, H, W = x.shape

    def pooled(size, k, s, p):
        out = (math.ceil((size + 2 * p - k) / s) if round_ceil else math.floor((size + 2 * p - k) / s)) + 1
        if p and (out - 1) * s >= size + p:
            out -= 1
        return out

    oh, ow = pooled(H, kh, sh, ph), pooled(W, kw, sw, pw)
    y = np.zeros((N, C, oh, ow))
    mask = np.full((N, C, oh, ow), -1)
    div = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * sh - ph, j * sw - pw
            if method == "MAX":
                he, we = min(hs + kh, H), min(ws + kw, W)
                hs, ws = max(hs, 0), max(ws, 0)
                for n in range(N):
                    for c in range(C):
                        best, idx = -FLT_MAX, -1
                        for h in range(hs, he):
                            for w in range(ws, we):
                                if x[n, c, h, w] > best:
                                    best, idx = x[n, c, h, w], h * W + w
                        y[n, c, i, j], mask[n, c, i, j] = best, idx
            else:
                he, we = min(hs + kh, H + ph), min(ws + kw, W + pw)
                size = (he - hs) * (we - ws)
                div[i, j] = size
                hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
                y[:, :, i, j] = x[:, :, hs:he, ws:we].sum((2, 3)) / size
    return y, mask, div


def caffe_pool_backward_ref(x, dy, method, mask, kh, kw, sh, sw, ph, pw):
    N, C, H, W = x.shape
    dx = np.zeros_like(x)
    oh, ow = dy.shape[2:]
    for i in range(oh):
        for j in range(ow):
            if method == "MAX":
                for n in range(N):
                    for c in range(C):
                        m = mask[n, c, i, j]
                        dx[n, c, m // W, m % W] += dy[n, c, i, j]
            else:
                hs, ws = i * sh - ph, j * sw - pw
                he, we = min(hs + kh, H + ph), min(ws + kw, W + pw)
                size = (he - hs) * (we - ws)
                hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
                dx[:, :, hs:he, ws:we] += dy[:, :, i:i + 1, j:j + 1] / size
    return dx


POOL_CONFIGS = [
    # (kh, kw, sh, sw, ph, pw, H, W): torch-kernel cases and the explicit-padding ones (pad > k/2)
    (3, 3, 2, 2, 0, 0, 14, 13),
    (3, 3, 2, 2, 1, 1, 7, 7),
    (2, 2, 2, 2, 1, 1, 5, 5),
    (3, 3, 2, 2, 2, 2, 7, 8),     # pad > k/2
    (4, 3, 3, 2, 3, 2, 9, 7),     # pad > k/2, rectangular
    (5, 5, 3, 3, 4, 4, 6, 6),     # pad = k − 1
    (2, 3, 1, 2, 1, 0, 4, 6),
    (1, 1, 2, 2, 0, 0, 5, 5),     # k < s: Caffe keeps a window hanging past the image
]


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("cfg", POOL_CONFIGS)
def test_pooling_matches_caffe_loops(method, cfg):
    kh, kw, sh, sw, ph, pw, H, W = cfg
    x = torch.randn(2, 3, H, W)
    x[0, 0, :2, :2] = 1.0  # a tie: the first maximal element wins
    text = (f'type: "Pooling" top: "y" top: "m" pooling_param {{ pool: {method} kernel_h: {kh} kernel_w: {kw} '
            f'stride_h: {sh} stride_w: {sw} pad_h: {ph} pad_w: {pw} }}')
    if method == "AVE":
        text = text.replace('top: "m" ', "")
    L = make_layer(text, [x.shape])
    xr = x.detach().double().requires_grad_(True)
    outs = run(L, [xr])
    ref, mask, _ = caffe_pool_ref(x.double().numpy(), method, kh, kw, sh, sw, ph, pw)
    assert tuple(outs[0].shape) == ref.shape == L.reshape([tuple(x.shape)])[0]
    np.testing.assert_allclose(outs[0].detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    if method == "MAX":
        np.testing.assert_array_equal(outs[1].numpy(), mask)
    dy = torch.randn(ref.shape, dtype=torch.float64)
    outs[0].backward(dy)
    if method == "MAX" and (mask < 0).any():
        return  # Caffe's backward writes out of bounds for an empty window; nothing to compare
    dref = caffe_pool_backward_ref(x.double().numpy(), dy.numpy(), method, mask, kh, kw, sh, sw, ph, pw)
    np.testing.assert_allclose(xr.grad.numpy(), dref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_pooling_floor_round_mode(method):
    x = torch.randn(1, 2, 8, 7, dtype=torch.float64)
    L = make_layer(f'type: "Pooling" pooling_param {{ pool: {method} kernel_size: 3 stride: 2 pad: 1 '
                   'round_mode: FLOOR }', [x.shape])
    y = run(L, [x])[0]
    ref, _, _ = caffe_pool_ref(x.numpy(), method, 3, 3, 2, 2, 1, 1, round_ceil=False)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("cfg", [(3, 3, 2, 2, 1, 1, 7, 7), (3, 2, 2, 1, 2, 1, 6, 5), (2, 2, 2, 2, 0, 0, 5, 5)])
def test_pooling_gradients(method, cfg):
    kh, kw, sh, sw, ph, pw, H, W = cfg
    L = make_layer(f'type: "Pooling" pooling_param {{ pool: {method} kernel_h: {kh} kernel_w: {kw} '
                   f'stride_h: {sh} stride_w: {sw} pad_h: {ph} pad_w: {pw} }}', [(2, 2, H, W)])
    gradcheck_layer(L, [torch.randn(2, 2, H, W)])


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_global_pooling(method):
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    L = make_layer(f'type: "Pooling" pooling_param {{ pool: {method} global_pooling: true }}', [x.shape])
    y = run(L, [x])[0]
    ref = x.amax((2, 3), keepdim=True) if method == "MAX" else x.mean((2, 3), keepdim=True)
    assert y.shape == (2, 3, 1, 1) and torch.allclose(y, ref)
    assert L.reshape([(2, 3, 6, 6)]) == [(2, 3, 1, 1)]
    gradcheck_layer(L, [x.detach()])
    # a different spatial size later (reshape) pools the whole new plane
    x2 = torch.randn(1, 3, 3, 7, dtype=torch.float64)
    ref2 = x2.amax((2, 3), keepdim=True) if method == "MAX" else x2.mean((2, 3), keepdim=True)
    assert torch.allclose(run(L, [x2])[0], ref2)


def test_stochastic_pooling_test_phase_is_weighted_average():
    x = torch.rand(2, 2, 7, 6, dtype=torch.float64) + 0.1
    L = make_layer('type: "Pooling" pooling_param { pool: STOCHASTIC kernel_size: 3 stride: 2 }', [x.shape], TEST)
    y = run(L, [x])[0]
    oh, ow = math.ceil((7 - 3) / 2) + 1, math.ceil((6 - 3) / 2) + 1
    ref = np.zeros((2, 2, oh, ow))
    xn = x.numpy()
    for i in range(oh):
        for j in range(ow):
            win = xn[:, :, 2 * i:min(2 * i + 3, 7), 2 * j:min(2 * j + 3, 6)]
            ref[:, :, i, j] = (win ** 2).sum((2, 3)) / (win.sum((2, 3)) + 1.1754943508222875e-38)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12)
    gradcheck_layer(L, [x])


def test_stochastic_pooling_train_samples_by_activation():
    torch.manual_seed(0)
    x = torch.tensor([[[[1.0, 3.0], [0.0, 4.0]]]], dtype=torch.float64)
    L = make_layer('type: "Pooling" pooling_param { pool: STOCHASTIC kernel_size: 2 stride: 2 }', [x.shape], TRAIN)
    draws = torch.stack([run(L, [x])[0].flatten() for _ in range(4000)]).flatten()
    freq = {v: float((draws == v).double().mean()) for v in (1.0, 3.0, 4.0)}
    assert float((draws == 0).sum()) == 0
    for v, f in freq.items():
        assert abs(f - v / 8.0) < 0.03, freq
    # the sampled element is the output and receives the whole gradient
    xr = torch.rand(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    y = run(L, [xr])[0]
    assert y.shape == (1, 2, 3, 3)
    y.sum().backward()
    g = xr.grad
    assert float(g.sum()) == y.numel() and set(g.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    picked = xr.detach()[g > 0]
    assert all(any(abs(float(p) - float(v)) < 1e-15 for v in y.detach().flatten()) for p in picked)


@pytest.mark.parametrize("text,msg", [
    ('pooling_param { pool: MAX }', "kernel_size"),
    ('pooling_param { pool: MAX kernel_size: 3 kernel_h: 3 kernel_w: 3 }', "not both"),
    ('pooling_param { pool: MAX kernel_size: 3 pad: 3 }', "pad"),
    ('pooling_param { pool: STOCHASTIC kernel_size: 3 pad: 1 }', "pad"),
    ('pooling_param { pool: MAX global_pooling: true kernel_size: 3 }', "global_pooling"),
    ('pooling_param { pool: AVE global_pooling: true stride: 2 }', "global_pooling"),
    ('pooling_param { pool: MAX kernel_size: 2 pad_h: 1 }', "pad_h"),
])
def test_pooling_config_errors(text, msg):
    with pytest.raises(FashionCaffeError) as e:
        make_layer('name: "p1" type: "Pooling" ' + text, [(1, 3, 5, 5)])
    assert "p1" in str(e.value) and msg in str(e.value)


def test_pooling_needs_4_axes():
    L = make_layer('name: "p1" type: "Pooling" pooling_param { pool: MAX kernel_size: 2 }', [(1, 3, 5, 5)])
    with pytest.raises(FashionCaffeError, match="p1"):
        L.reshape([(3, 5, 5)])


# ------------------------------------------------------------------------------------------------
# SPP
@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_spp_levels(method):
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    L = make_layer(f'type: "SPP" spp_param {{ pyramid_height: 3 pool: {method} }}', [x.shape])
    y = run(L, [x])[0]
    parts = []
    for lvl in range(3):
        bins = 2 ** lvl
        kh, kw = math.ceil(7 / bins), math.ceil(6 / bins)
        ph, pw = (kh * bins - 7 + 1) // 2, (kw * bins - 6 + 1) // 2
        ref, _, _ = caffe_pool_ref(x.numpy(), method, kh, kw, kh, kw, ph, pw)
        assert ref.shape[2:] == (bins, bins)
        parts.append(ref.reshape(2, -1))
    np.testing.assert_allclose(y.numpy(), np.concatenate(parts, 1), rtol=1e-12)
    assert L.reshape([tuple(x.shape)]) == [(2, 3 * (1 + 4 + 16))]
    gradcheck_layer(L, [x])
    one = make_layer(f'type: "SPP" spp_param {{ pyramid_height: 1 pool: {method} }}', [x.shape])
    assert tuple(run(one, [x])[0].shape) == (2, 3, 1, 1)


# ------------------------------------------------------------------------------------------------
# InnerProduct
@pytest.mark.parametrize("text,shape,wshape,yshape", [
    ('inner_product_param { num_output: 5 }', (3, 4, 2, 2), (5, 16), (3, 5)),
    ('inner_product_param { num_output: 4 axis: 2 transpose: true }', (2, 3, 6), (6, 4), (2, 3, 4)),
    ('inner_product_param { num_output: 3 axis: -1 bias_term: false }', (2, 3, 5), (3, 5), (2, 3, 3)),
    ('inner_product_param { num_output: 2 transpose: true bias_term: false }', (4, 3), (3, 2), (4, 2)),
])
def test_inner_product(text, shape, wshape, yshape):
    L = make_layer('type: "InnerProduct" ' + text, [shape])
    assert L.blobs[0].shape == wshape
    assert L.reshape([shape]) == [yshape]
    fill_params(L)
    x = torch.randn(shape, dtype=torch.float64)
    ps = [b.tensor.detach().double() for b in L.blobs]
    y = run(L, [x], ps)[0]
    axis = len(yshape) - 1
    K = int(np.prod(shape[axis:]))
    W = ps[0] if "transpose" in text else ps[0].t()
    ref = x.reshape(-1, K) @ W + (ps[1] if len(ps) > 1 else 0)
    assert y.shape == yshape and torch.allclose(y, ref.reshape(yshape))
    gradcheck_layer(L, [x])


def test_inner_product_input_size_mismatch():
    L = make_layer('name: "fc" type: "InnerProduct" inner_product_param { num_output: 5 }', [(2, 6)])
    with pytest.raises(FashionCaffeError, match="fc"):
        L.reshape([(2, 7)])


# ------------------------------------------------------------------------------------------------
# Embed
def test_embed_lookup_and_gradient():
    L = make_layer('type: "Embed" embed_param { input_dim: 7 num_output: 3 }', [(2, 3)])
    fill_params(L)
    idx = torch.tensor([[0.0, 6.0, 2.9], [3.0, 3.0, 1.2]], dtype=torch.float64)
    ps = [b.tensor.detach().double() for b in L.blobs]
    y = run(L, [idx], ps)[0]
    assert y.shape == (2, 3, 3) and L.reshape([(2, 3)]) == [(2, 3, 3)]
    ref = ps[0][idx.long()] + ps[1]
    assert torch.allclose(y, ref)
    gradcheck_layer(L, [idx], grad_bottoms=[False])


@pytest.mark.parametrize("bad", [7.0, -1.0, float("nan")])
def test_embed_out_of_range_is_a_clear_error(bad):
    L = make_layer('name: "emb" type: "Embed" embed_param { input_dim: 7 num_output: 3 }', [(3,)])
    with pytest.raises(FashionCaffeError, match="emb.*input_dim"):
        run(L, [torch.tensor([1.0, bad, 2.0])])


# ------------------------------------------------------------------------------------------------
# through a Net built from prototxt text
def test_net_conv_pool_ip_forward_backward(tmp_path):
    body = """
layer { name: "conv" type: "Convolution" bottom: "x" top: "c"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.3 }
                            bias_filler { type: "constant" value: 0.1 } } }
layer { name: "pool" type: "Pooling" bottom: "c" top: "p" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "p" top: "y"
        inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
"""
    net = fashioncaffe.Net(write_net(tmp_path, body, {"x": (2, 3, 6, 6)}), fashioncaffe.TEST)
    x = np.random.RandomState(0).randn(2, 3, 6, 6).astype(np.float32)
    net.blobs["x"].data[...] = x
    out = net.forward()
    assert net.blobs["p"].data.shape == (2, 4, 4, 4)
    # same numbers from plain torch
    w, b = (torch.from_numpy(np.array(net.params["conv"][i].data)) for i in range(2))
    c = torch.nn.functional.conv2d(torch.from_numpy(x), w, b, padding=1)
    ref_p, _, _ = caffe_pool_ref(c.double().numpy(), "MAX", 3, 3, 2, 2, 2, 2)
    np.testing.assert_allclose(net.blobs["p"].data, ref_p, rtol=1e-5, atol=1e-6)
    W = np.array(net.params["ip"][0].data)
    np.testing.assert_allclose(out["y"], ref_p.reshape(2, -1) @ W.T + net.params["ip"][1].data, rtol=1e-4,
                               atol=1e-5)
    net.blobs["y"].diff[...] = 1.0
    net.backward()
    np.testing.assert_allclose(net.params["ip"][1].diff, [2.0, 2.0, 2.0])
    assert np.abs(net.blobs["x"].diff).sum() > 0
