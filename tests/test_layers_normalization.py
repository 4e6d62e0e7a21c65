"""Normalisation layers (LRN, BatchNorm, Scale, Bias, MVN): BVLC Caffe's formulas re-stated from its
C++ code, finite-difference gradients, the recorded BVLC reference cases, configuration errors."""

import numpy as np
import pytest
import torch

import fashioncaffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.layers.base import TRAIN, TEST

from layer_testing import reference_case_problems
from test_layers_vision import fill_params, gradcheck_layer, make_layer, run, write_net

NORM_CASES = ["lrn_across", "lrn_within", "batchnorm_global", "batchnorm_train", "scale_bias",
              "scale_two_bottoms", "mvn", "mini_resnet_block_train"]


@pytest.mark.parametrize("case", NORM_CASES)
def test_bvlc_reference_case(case):
    problems = reference_case_problems(case)
    assert problems == []


# ------------------------------------------------------------------------------------------------
# LRN
def lrn_across_ref(x, n, alpha, beta, k):
    N, C, H, W = x.shape
    pre = (n - 1) // 2
    padded = np.zeros((N, C + n - 1, H, W))
    padded[:, pre:pre + C] = x ** 2
    scale = np.empty_like(x)
    for c in range(C):
        scale[:, c] = k + alpha / n * padded[:, c:c + n].sum(1)
    return x * scale ** (-beta)


def lrn_within_ref(x, n, alpha, beta):
    N, C, H, W = x.shape
    p = (n - 1) // 2
    sq = np.zeros((N, C, H + 2 * p, W + 2 * p))
    sq[:, :, p:p + H, p:p + W] = x ** 2
    avg = np.empty_like(x)
    for i in range(H):
        for j in range(W):
            avg[:, :, i, j] = sq[:, :, i:i + n, j:j + n].sum((2, 3)) / (n * n)
    return x * (1 + alpha * avg) ** (-beta)


@pytest.mark.parametrize("n,alpha,beta,k", [(5, 0.5, 0.75, 2.0), (3, 1e-4, 0.75, 1.0), (1, 0.3, 0.5, 1.5),
                                            (7, 2.0, 1.2, 1.0)])
def test_lrn_across_channels(n, alpha, beta, k):
    x = torch.randn(2, 6, 2, 3, dtype=torch.float64)
    L = make_layer(f'type: "LRN" lrn_param {{ local_size: {n} alpha: {alpha} beta: {beta} k: {k} }}', [x.shape])
    y = run(L, [x])[0]
    f32 = lambda v: float(np.float32(v))  # noqa: E731  (the proto's fields are float32)
    np.testing.assert_allclose(y.numpy(), lrn_across_ref(x.numpy(), n, f32(alpha), f32(beta), f32(k)), rtol=1e-12)
    gradcheck_layer(L, [x])


@pytest.mark.parametrize("n,alpha,beta", [(3, 0.3, 0.75), (5, 1.0, 0.5)])
def test_lrn_within_channel(n, alpha, beta):
    x = torch.randn(1, 3, 5, 4, dtype=torch.float64)
    L = make_layer(f'type: "LRN" lrn_param {{ local_size: {n} alpha: {alpha} beta: {beta} k: 7 '
                   'norm_region: WITHIN_CHANNEL }', [x.shape])
    y = run(L, [x])[0]
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    np.testing.assert_allclose(y.numpy(), lrn_within_ref(x.numpy(), n, f32(alpha), f32(beta)), rtol=1e-12)
    gradcheck_layer(L, [x])


def test_lrn_errors():
    with pytest.raises(FashionCaffeError, match="lrn1.*local_size"):
        make_layer('name: "lrn1" type: "LRN" lrn_param { local_size: 4 }', [(1, 3, 4, 4)])
    L = make_layer('name: "lrn1" type: "LRN"', [(1, 3, 4, 4)])
    with pytest.raises(FashionCaffeError, match="lrn1.*4 axes"):
        L.reshape([(3, 4, 4)])


# ------------------------------------------------------------------------------------------------
# BatchNorm
def test_batchnorm_train_forward_and_statistics():
    torch.manual_seed(0)
    L = make_layer('type: "BatchNorm" batch_norm_param { moving_average_fraction: 0.9 eps: 1e-4 }',
                   [(4, 3, 2, 5)], TRAIN)
    assert [b.shape for b in L.blobs] == [(3,), (3,), (1,)]
    assert not L.use_global
    ms, vs, f = np.zeros(3), np.zeros(3), 0.0
    for it in range(3):
        x = torch.randn(4, 3, 2, 5) * 3 + 1
        y = run(L, [x])[0].detach().double().numpy()
        xn = x.double().numpy()
        mu = xn.mean((0, 2, 3))
        var = ((xn - mu[None, :, None, None]) ** 2).mean((0, 2, 3))
        ref = (xn - mu[None, :, None, None]) / np.sqrt(var + 1e-4)[None, :, None, None]
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
        m = 4 * 2 * 5
        f = 0.9 * f + 1
        ms = mu + 0.9 * ms
        vs = m / (m - 1) * var + 0.9 * vs
        np.testing.assert_allclose(L.blobs[2].data, [f], rtol=1e-6)
        np.testing.assert_allclose(L.blobs[0].data, ms, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(L.blobs[1].data, vs, rtol=1e-5, atol=1e-6)


def test_batchnorm_train_backward_is_caffes_formula():
    L = make_layer('type: "BatchNorm"', [(3, 4, 2, 3)], TRAIN)
    x = torch.randn(3, 4, 2, 3, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(3, 4, 2, 3, dtype=torch.float64)
    y = run(L, [x])[0]
    y.backward(dy)
    dims = (0, 2, 3)
    var = x.detach().var(dims, unbiased=False, keepdim=True)
    yd = y.detach()
    ref = (dy - dy.mean(dims, keepdim=True) - (dy * yd).mean(dims, keepdim=True) * yd) / (var + 1e-5).sqrt()
    assert torch.allclose(x.grad, ref, atol=1e-10)
    gradcheck_layer(L, [torch.randn(3, 4, 2, 3)], grad_params=False)


@pytest.mark.parametrize("shape", [(5, 3), (6,), (2, 3, 4, 2, 2)])
def test_batchnorm_train_other_ranks(shape):
    L = make_layer('type: "BatchNorm"', [shape], TRAIN)
    x = torch.randn(shape, dtype=torch.float64)
    y = run(L, [x])[0]
    xv = x.reshape(shape[0], 1, -1) if len(shape) == 1 else x.reshape(shape[0], shape[1], -1)
    dims = (0, 2)
    ref = (xv - xv.mean(dims, keepdim=True)) / (xv.var(dims, unbiased=False, keepdim=True) + 1e-5).sqrt()
    assert y.shape == x.shape and torch.allclose(y.reshape(ref.shape), ref, atol=1e-10)
    gradcheck_layer(L, [x.float()], grad_params=False)


def test_batchnorm_global_stats():
    L = make_layer('type: "BatchNorm"', [(2, 3, 4, 4)], TEST)
    assert L.use_global
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    # factor 0: Caffe's scale factor is 0, so mean = var = 0
    ps = [torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64),
          torch.tensor([0.0], dtype=torch.float64)]
    assert torch.allclose(run(L, [x], ps)[0], x / np.sqrt(1e-5))
    ps[2] = torch.tensor([2.0], dtype=torch.float64)
    y = run(L, [x], ps)[0]
    mean = (ps[0] / 2).view(1, 3, 1, 1)
    var = (ps[1] / 2).view(1, 3, 1, 1)
    assert torch.allclose(y, (x - mean) / (var + 1e-5).sqrt())
    before = [p.clone() for p in ps]
    xr = x.clone().requires_grad_(True)
    run(L, [xr], ps)[0].sum().backward()
    assert torch.allclose(xr.grad, (1 / (var + 1e-5).sqrt()).expand_as(x))
    assert all(torch.equal(a, b) for a, b in zip(before, ps))  # TEST never updates the statistics
    # use_global_stats in TRAIN, explicitly
    L2 = make_layer('type: "BatchNorm" batch_norm_param { use_global_stats: true }', [(2, 3, 4, 4)], TRAIN)
    assert L2.use_global
    L3 = make_layer('type: "BatchNorm" batch_norm_param { use_global_stats: false }', [(2, 3, 4, 4)], TEST)
    assert not L3.use_global


def test_batchnorm_in_net_has_no_learning_rate_and_no_param_diff(tmp_path):
    body = """
layer { name: "bn" type: "BatchNorm" bottom: "x" top: "x" param { lr_mult: 1 } }
layer { name: "loss" type: "EuclideanLoss" bottom: "x" bottom: "t" top: "loss" }
"""
    path = write_net(tmp_path, body, {"x": (4, 2, 3, 3), "t": (4, 2, 3, 3)})
    net = fashioncaffe.Net(path, fashioncaffe.TRAIN)
    specs = [(s[3], s[1]) for s in net.param_specs]
    assert specs == [("bn", 0.0)] * 3
    rs = np.random.RandomState(0)
    net.blobs["x"].data[...] = rs.randn(4, 2, 3, 3)
    net.blobs["t"].data[...] = rs.randn(4, 2, 3, 3)
    net.forward()
    net.backward()
    for b in net.params["bn"]:
        assert np.abs(b.diff).sum() == 0
    assert net.params["bn"][2].data[0] == 1.0
    assert np.abs(net.blobs["x"].diff).sum() > 0


# ------------------------------------------------------------------------------------------------
# Scale / Bias
@pytest.mark.parametrize("param,shape,pshape,vshape", [
    ("", (2, 3, 4, 2), (3,), (1, 3, 1, 1)),
    ("axis: 2", (2, 3, 4, 2), (4,), (1, 1, 4, 1)),
    ("axis: 1 num_axes: 2", (2, 3, 4, 2), (3, 4), (1, 3, 4, 1)),
    ("axis: 0 num_axes: -1", (2, 3, 4), (2, 3, 4), (2, 3, 4)),
    ("num_axes: 0", (2, 3, 4), (), ()),
    ("axis: -1", (2, 3, 4), (4,), (1, 1, 4)),
])
@pytest.mark.parametrize("kind", ["Scale", "Bias"])
def test_scale_bias_learned(kind, param, shape, pshape, vshape):
    field = "scale_param" if kind == "Scale" else "bias_param"
    L = make_layer(f'type: "{kind}" {field} {{ {param} }}', [shape])
    assert L.blobs[0].shape == pshape
    assert torch.all(L.blobs[0].tensor == (1.0 if kind == "Scale" else 0.0))  # default fillers
    fill_params(L)
    x = torch.randn(shape, dtype=torch.float64)
    p = L.blobs[0].tensor.detach().double()
    y = run(L, [x], [p])[0]
    ref = x * p.reshape(vshape) if kind == "Scale" else x + p.reshape(vshape)
    assert torch.allclose(y, ref)
    gradcheck_layer(L, [x])


def test_scale_with_bias_term_and_fillers():
    L = make_layer('type: "Scale" scale_param { bias_term: true filler { type: "constant" value: 2 } '
                   'bias_filler { type: "constant" value: -1 } }', [(2, 3, 2, 2)])
    assert [b.shape for b in L.blobs] == [(3,), (3,)]
    assert torch.all(L.blobs[0].tensor == 2) and torch.all(L.blobs[1].tensor == -1)
    fill_params(L)
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    s, b = (t.tensor.detach().double() for t in L.blobs)
    y = run(L, [x], [s, b])[0]
    assert torch.allclose(y, x * s.view(1, 3, 1, 1) + b.view(1, 3, 1, 1))
    gradcheck_layer(L, [x])


@pytest.mark.parametrize("param,shape,sshape", [
    ("axis: 0", (2, 4, 3, 3), (2, 4)),
    ("", (2, 4, 3, 3), (4, 3)),
    ("axis: 1", (2, 4, 3), ()),
])
@pytest.mark.parametrize("kind", ["Scale", "Bias"])
def test_scale_bias_two_bottoms(kind, param, shape, sshape):
    field = "scale_param" if kind == "Scale" else "bias_param"
    L = make_layer(f'type: "{kind}" bottom: "x" bottom: "s" {field} {{ {param} }}', [shape, sshape])
    assert L.blobs == []
    x = torch.randn(shape, dtype=torch.float64)
    s = torch.randn(sshape, dtype=torch.float64)
    y = run(L, [x, s])[0]
    axis = 0 if not sshape else (0 if "axis: 0" in param else 1)
    sv = s.reshape((1,) * axis + sshape + (1,) * (len(shape) - axis - len(sshape)))
    assert torch.allclose(y, x * sv if kind == "Scale" else x + sv)
    gradcheck_layer(L, [x, s])


def test_scale_two_bottoms_with_bias_term():
    L = make_layer('type: "Scale" bottom: "x" bottom: "s" scale_param { axis: 0 bias_term: true }',
                   [(2, 3, 2), (2, 3)])
    assert [b.shape for b in L.blobs] == [(2, 3)]
    fill_params(L)
    gradcheck_layer(L, [torch.randn(2, 3, 2), torch.randn(2, 3)])


@pytest.mark.parametrize("kind", ["Scale", "Bias"])
def test_scale_bias_shape_errors(kind):
    field = "scale_param" if kind == "Scale" else "bias_param"
    with pytest.raises(FashionCaffeError, match="sc1"):
        make_layer(f'name: "sc1" type: "{kind}" bottom: "x" bottom: "s"', [(2, 4, 3), (3,)])
    with pytest.raises(FashionCaffeError, match="sc1.*num_axes"):
        make_layer(f'name: "sc1" type: "{kind}" {field} {{ num_axes: -2 }}', [(2, 4, 3)])
    with pytest.raises(FashionCaffeError, match="sc1"):
        make_layer(f'name: "sc1" type: "{kind}" {field} {{ axis: 2 num_axes: 2 }}', [(2, 4, 3)])
    with pytest.raises(FashionCaffeError, match="sc1.*axis"):
        make_layer(f'name: "sc1" type: "{kind}" {field} {{ axis: 3 }}', [(2, 4, 3)])


# ------------------------------------------------------------------------------------------------
# MVN
def mvn_ref(x, normalize_variance, across, eps):
    rows = x.shape[0] if across else x.shape[0] * x.shape[1]
    x2 = x.reshape(rows, -1)
    c = x2 - x2.mean(1, keepdims=True)
    if normalize_variance:
        c = c / (np.sqrt((c ** 2).mean(1, keepdims=True)) + eps)
    return c.reshape(x.shape)


@pytest.mark.parametrize("nv", [True, False])
@pytest.mark.parametrize("across", [False, True])
def test_mvn_forward_and_gradient(nv, across):
    x = torch.randn(2, 3, 4, 3, dtype=torch.float64) * 2 + 0.5
    L = make_layer(f'type: "MVN" mvn_param {{ normalize_variance: {str(nv).lower()} '
                   f'across_channels: {str(across).lower()} }}', [x.shape])
    y = run(L, [x])[0]
    np.testing.assert_allclose(y.numpy(), mvn_ref(x.numpy(), nv, across, float(np.float32(1e-9))), rtol=1e-12, atol=1e-12)
    gradcheck_layer(L, [x])


def test_mvn_backward_is_caffes_formula():
    """Caffe's MVN backward divides the projected gradient by (std + eps) throughout (not the exact
    derivative when eps is large); the engine reproduces it."""
    eps = 0.5
    L = make_layer(f'type: "MVN" mvn_param {{ eps: {eps} }}', [(2, 2, 3, 3)])
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    dy = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    y = run(L, [x])[0]
    y.backward(dy)
    x2 = x.detach().reshape(4, -1)
    y2 = y.detach().reshape(4, -1)
    d2 = dy.reshape(4, -1)
    std = (x2 - x2.mean(1, keepdim=True)).pow(2).mean(1, keepdim=True).sqrt() + eps
    dim = x2.shape[1]
    ref = (d2 - (d2.sum(1, keepdim=True) + (d2 * y2).sum(1, keepdim=True) * y2) / dim) / std
    assert torch.allclose(x.grad.reshape(4, -1), ref, atol=1e-12)
