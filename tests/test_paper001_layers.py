"""Paper 001 custom layers: landmark pooling, triplet sampler, triplet ranking loss.

* numpy (pycaffe) paths against hand-computed values and finite differences (float64 fake blobs);
* tensor paths against the numpy paths (forward and gradients) and gradcheck;
* both paths inside a fashioncaffe Net agree;
* (that the layer files load in BVLC Caffe is checked for every paper in tests/test_papers.py).
"""
import json
import os
import sys

import numpy as np
import pytest
import torch

import fashioncaffe as caffe  # noqa: F401  (makes `import caffe` resolve in the layer files)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from layers.landmark_pooling import LandmarkPooling  # noqa: E402
from layers.triplet_loss import TripletRankingLoss  # noqa: E402
from layers.triplet_sampler import TripletSampler, select  # noqa: E402
from layers.tensor_impl import landmark_pooling_t as lp_t, triplet_t  # noqa: E402


from layer_testing import BVLCCalls, FBlob as _Blob  # noqa: E402


def FBlob(arr):
    """A float64 blob: these tests check formulas to 1e-12 and by finite differences.  BVLC's float32
    blobs, vectors and call order are the harness's (tests/test_layers_bvlc.py); the layer is called
    through BVLCCalls, so it gets BVLC's non-iterable vectors here too."""
    return _Blob(arr, dtype=np.float64)


def make(cls, param, bottoms, ntop=1):
    layer = BVLCCalls(cls())
    layer.param_str = json.dumps(param)
    tops = [FBlob(0.0) for _ in range(ntop)]
    layer.setup(bottoms, tops)
    layer.reshape(bottoms, tops)
    return layer, tops


def fd_grad(layer, bottoms, tops, which, weights, eps=1e-6):
    """Finite-difference gradient of Σ_t <weights_t, top_t> w.r.t. bottoms[which]."""
    def obj():
        layer.reshape(bottoms, tops)
        layer.forward(bottoms, tops)
        return sum(float((np.asarray(t.data) * w).sum()) for t, w in zip(tops, weights))
    b = bottoms[which]
    g = np.zeros_like(b.data)
    flat = b.data.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        lp = obj()
        flat[i] = old - eps
        lm = obj()
        flat[i] = old
        g.reshape(-1)[i] = (lp - lm) / (2 * eps)
    return g


# ---------------------------------------------------------------------------------------------
# landmark pooling
def lp_case(seed=0, n=2, c=2, h=5, w=6, nl=2):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, c, h, w)  # distinct values: no ties, finite differences well defined
    lm = rng.uniform(-0.1, 1.1, size=(n, 2 * nl))
    vis = rng.uniform(0, 1, size=(n, nl))
    return x, lm, vis


def test_landmark_pooling_hand_values():
    x = np.arange(2 * 5 * 5, dtype=np.float64).reshape(1, 2, 5, 5)
    x[0, 1] *= -1
    # landmark 0 at cell (row 1, col 3) in normalised coords; landmark 1 off the map; landmark 2 corner
    lm = np.array([[3.5 / 5, 1.5 / 5, 2.0, 2.0, 0.0, 0.0]])
    vis = np.array([[1.0, 1.0, 0.0]])
    layer, top = make(LandmarkPooling, {"window": 3, "pooled_size": 1}, [FBlob(x), FBlob(lm), FBlob(vis)])
    layer.forward([FBlob(x), FBlob(lm), FBlob(vis)], top)
    out = top[0].data.reshape(3, 2)
    # window rows 0..2, cols 2..4: max of channel 0 is x[0,0,2,4] = 14; channel 1 (negated) -> -(25 + 2)
    np.testing.assert_array_equal(out[0], [14, -27])
    np.testing.assert_array_equal(out[1], [0, 0])      # off the map: pools nothing
    np.testing.assert_array_equal(out[2], [0, 0])      # invisible: gated to zero
    assert top[0].data.shape == (1, 6, 1, 1)
    # pixels with spatial scale give the same window
    layer2, top2 = make(LandmarkPooling, {"window": 3, "coords": "pixels", "spatial_scale": 0.25},
                        [FBlob(x), FBlob(lm * 20), FBlob(vis)])
    layer2.forward([FBlob(x), FBlob(lm * 20), FBlob(vis)], top2)
    np.testing.assert_array_equal(top2[0].data, top[0].data)


@pytest.mark.parametrize("param", [
    {"window": 3, "pooled_size": 1},
    {"window": 4, "pooled_size": 2},
    {"window": 5, "pooled_size": 3, "gate": "soft"},
    {"window": 2, "pooled_size": 2, "coords": "pixels", "spatial_scale": 0.5},
])
def test_landmark_pooling_fd_and_tensor_path(param):
    x, lm, vis = lp_case(seed=sum(map(ord, json.dumps(param))) % 100)
    if param.get("coords") == "pixels":
        lm = lm * 14
    bottoms = [FBlob(x), FBlob(lm), FBlob(vis)]
    layer, top = make(LandmarkPooling, param, bottoms)
    layer.forward(bottoms, top)
    wts = np.random.RandomState(1).randn(*top[0].data.shape)
    top[0].diff[...] = wts
    layer.backward(top, [True, True, True], bottoms)
    num = fd_grad(layer, bottoms, top, 0, [wts])
    np.testing.assert_allclose(bottoms[0].diff, num, rtol=1e-6, atol=1e-7)
    assert np.all(bottoms[1].diff == 0)
    if param.get("gate") == "soft":
        num_v = fd_grad(layer, bottoms, top, 2, [wts])
        np.testing.assert_allclose(bottoms[2].diff, num_v, rtol=1e-6, atol=1e-7)
    # tensor path: same forward, same gradients
    layer.reshape(bottoms, top)
    layer.forward(bottoms, top)
    xt = torch.tensor(x, requires_grad=True)
    vt = torch.tensor(vis, requires_grad=True)
    out = lp_t.forward(layer, [xt, torch.tensor(lm), vt])[0]
    np.testing.assert_allclose(out.detach().numpy(), top[0].data, rtol=1e-12, atol=0)
    (out * torch.tensor(wts)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), bottoms[0].diff, rtol=1e-12, atol=1e-14)
    if param.get("gate") == "soft":
        np.testing.assert_allclose(vt.grad.numpy(), bottoms[2].diff, rtol=1e-10, atol=1e-12)
        assert torch.autograd.gradcheck(lambda a, v: lp_t.forward(layer, [a, torch.tensor(lm), v])[0],
                                        (xt.detach().requires_grad_(), vt.detach().requires_grad_()),
                                        fast_mode=True)
    else:
        assert torch.autograd.gradcheck(lambda a: lp_t.forward(layer, [a, torch.tensor(lm), vt.detach()])[0],
                                        (xt.detach().requires_grad_(),), fast_mode=True)


def test_landmark_pooling_ties_route_to_first_argmax_and_no_visibility_bottom():
    x = np.zeros((1, 1, 4, 4))
    lm = np.array([[0.5, 0.5]])
    bottoms = [FBlob(x), FBlob(lm)]
    layer, top = make(LandmarkPooling, {"window": 2}, bottoms)
    layer.forward(bottoms, top)
    top[0].diff[...] = 1.0
    layer.backward(top, [True, False], bottoms)
    want = np.zeros((4, 4))
    want[1, 1] = 1.0  # window rows/cols 1..2: first cell in raster order
    np.testing.assert_array_equal(bottoms[0].diff[0, 0], want)
    xt = torch.tensor(x, requires_grad=True)
    lp_t.forward(layer, [xt, torch.tensor(lm)])[0].sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy()[0, 0], want)


def test_landmark_pooling_param_errors():
    x, lm, vis = lp_case()
    for bad in ({"window": 2, "pooled_size": 3}, {"coords": "cm"}, {"gate": "maybe"}, {"bogus": 1}):
        with pytest.raises(ValueError):
            make(LandmarkPooling, bad, [FBlob(x), FBlob(lm), FBlob(vis)])
    with pytest.raises(Exception):
        make(LandmarkPooling, {}, [FBlob(x), FBlob(lm[:, :3]), FBlob(vis)])


# ---------------------------------------------------------------------------------------------
# triplet sampler + loss
def trip_case(seed=0, n=8, d=5):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, d)
    items = np.array([0, 0, 1, 1, 1, 2, 3, 3][:n], dtype=np.float64)
    return x, items


@pytest.mark.parametrize("mode", ["hard", "cyclic"])
def test_sampler_selection_rules(mode):
    x, items = trip_case()
    pos, neg, valid = select(x, items, mode, True)
    assert list(valid) == [1, 1, 1, 1, 1, 0, 1, 1]     # item 2 has one image
    for i in range(8):
        if valid[i]:
            assert items[pos[i]] == items[i] and pos[i] != i and items[neg[i]] != items[i]
    if mode == "cyclic":
        assert list(pos) == [1, 0, 3, 4, 2, 5, 7, 6]
        assert list(neg) == [2, 2, 5, 5, 5, 6, 0, 0]
    else:
        f = x / np.linalg.norm(x, axis=1, keepdims=True)
        d = ((f[:, None] - f[None]) ** 2).sum(-1)
        for i in [0, 2, 6]:
            same = [j for j in range(8) if items[j] == items[i] and j != i]
            other = [j for j in range(8) if items[j] != items[i]]
            assert pos[i] == max(same, key=lambda j: d[i, j])
            assert neg[i] == min(other, key=lambda j: d[i, j])
    pt, nt, vt = triplet_t.select(torch.tensor(x), torch.tensor(items), mode, True)
    assert list(pt.numpy()) == list(pos) and list(nt.numpy()) == list(neg)
    assert list(vt.numpy().astype(float)) == list(valid)


@pytest.mark.parametrize("norm", [True, False])
def test_triplet_loss_closed_form_fd_and_tensor_path(norm):
    rng = np.random.RandomState(3)
    a, p, n = rng.randn(6, 4), rng.randn(6, 4), rng.randn(6, 4)
    w = np.array([1, 1, 0, 1, 1, 1.0])
    bottoms = [FBlob(a), FBlob(p), FBlob(n), FBlob(w)]
    layer, tops = make(TripletRankingLoss, {"margin": 0.5, "normalize": norm}, bottoms, ntop=2)
    layer.forward(bottoms, tops)
    f = (lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)) if norm else (lambda v: v)
    dp = ((f(a) - f(p)) ** 2).sum(1)
    dn = ((f(a) - f(n)) ** 2).sum(1)
    want = (w * np.maximum(0, 0.5 + dp - dn)).sum() / w.sum()
    assert float(tops[0].data) == pytest.approx(want, rel=1e-12)
    assert float(tops[1].data) == pytest.approx(((dn > dp) & (w > 0)).sum() / w.sum())
    tops[0].diff[...] = 1.3
    layer.backward(tops, [True, True, True, False], bottoms)
    for i in range(3):
        num = fd_grad(layer, bottoms, tops, i, [1.3, 0.0])
        np.testing.assert_allclose(bottoms[i].diff, num, rtol=1e-6, atol=1e-8)
    ts = [torch.tensor(v, requires_grad=True) for v in (a, p, n)]
    out = triplet_t.triplet_loss(layer, ts + [torch.tensor(w)])
    assert float(out[0].detach()) == pytest.approx(want, rel=1e-12)
    assert float(out[1].detach()) == pytest.approx(float(tops[1].data))
    (out[0] * 1.3).backward()
    for t, b in zip(ts, bottoms):
        np.testing.assert_allclose(t.grad.numpy(), b.diff, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *v: triplet_t.triplet_loss(layer, list(v) + [torch.tensor(w)])[0],
                                    tuple(t.detach().requires_grad_() for t in ts))


def test_sampler_backward_scatters_and_tensor_path():
    x, items = trip_case(seed=4)
    bottoms = [FBlob(x), FBlob(items)]
    layer, tops = make(TripletSampler, {"mode": "hard"}, bottoms, ntop=4)
    layer.forward(bottoms, tops)
    rng = np.random.RandomState(0)
    ws = [rng.randn(*t.data.shape) for t in tops[:3]] + [np.zeros(8)]
    for t, wt in zip(tops, ws):
        t.diff[...] = wt
    layer.backward(tops, [True, False], bottoms)
    want = ws[0].copy()
    for i in range(8):
        want[layer._pos[i]] += ws[1][i]
        want[layer._neg[i]] += ws[2][i]
    np.testing.assert_allclose(bottoms[0].diff, want, rtol=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    outs = triplet_t.sample(layer, [xt, torch.tensor(items)])
    for o, t in zip(outs, tops):
        np.testing.assert_allclose(o.detach().numpy(), t.data, rtol=1e-12)
    sum((o * torch.tensor(wt)).sum() for o, wt in zip(outs[:3], ws[:3])).backward()
    np.testing.assert_allclose(xt.grad.numpy(), bottoms[0].diff, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# both paths inside the engine
NET = """
name: "p001_layers"
force_backward: true
layer {{ name: "in" type: "Input" top: "feat" top: "lm" top: "vis" top: "item"
        input_param {{ shape {{ dim: 6 dim: 4 dim: 6 dim: 6 }} shape {{ dim: 6 dim: 6 }} shape {{ dim: 6 dim: 3 }}
                      shape {{ dim: 6 }} }} }}
layer {{ name: "pool" type: "Python" bottom: "feat" bottom: "lm" bottom: "vis" top: "pooled"
        python_param {{ module: "{mod}" layer: "LP" param_str: '{{"window": 3, "pooled_size": 2}}' }} }}
layer {{ name: "fc" type: "InnerProduct" bottom: "pooled" top: "emb"
        inner_product_param {{ num_output: 5 weight_filler {{ type: "gaussian" std: 0.3 }} }} }}
layer {{ name: "samp" type: "Python" bottom: "emb" bottom: "item" top: "a" top: "p" top: "n" top: "valid"
        python_param {{ module: "{mod}" layer: "TS" param_str: '{{"mode": "hard"}}' }} }}
layer {{ name: "loss" type: "Python" bottom: "a" bottom: "p" bottom: "n" bottom: "valid" top: "loss"
        python_param {{ module: "{mod}" layer: "TL" param_str: '{{"margin": 1.0}}' }} loss_weight: 1 }}
"""


def _engine_run(tmp_path, numpy_only):
    mod = "p001_numpy_layers" if numpy_only else "p001_tensor_layers"
    extra = "    tensor_path = None\n" if numpy_only else "    pass\n"
    (tmp_path / f"{mod}.py").write_text(
        "from layers.landmark_pooling import LandmarkPooling as _LP\n"
        "from layers.triplet_sampler import TripletSampler as _TS\n"
        "from layers.triplet_loss import TripletRankingLoss as _TL\n"
        + "".join(f"class {c}(_{c}):\n{extra}" for c in ("LP", "TS", "TL")))
    path = tmp_path / f"net_{int(numpy_only)}.prototxt"
    path.write_text(NET.format(mod=mod))
    sys.path.insert(0, str(tmp_path))
    try:
        np.random.seed(0)
        torch.manual_seed(0)
        net = caffe.Net(str(path), caffe.TRAIN)
    finally:
        sys.path.remove(str(tmp_path))
    rng = np.random.RandomState(7)
    net.params["fc"][0].data[...] = rng.randn(*net.params["fc"][0].data.shape) * 0.1
    net.blobs["feat"].data[...] = rng.randn(6, 4, 6, 6)
    net.blobs["lm"].data[...] = rng.uniform(0, 1, (6, 6))
    net.blobs["vis"].data[...] = rng.uniform(0, 1, (6, 3))
    net.blobs["item"].data[...] = [0, 0, 1, 1, 2, 2]
    out = net.forward()
    net.backward()
    return float(out["loss"]), net.blobs["feat"].diff.copy(), net.params["fc"][0].diff.copy()


def test_engine_numpy_and_tensor_paths_agree(tmp_path):
    l_np, d_np, w_np = _engine_run(tmp_path, numpy_only=True)
    l_t, d_t, w_t = _engine_run(tmp_path, numpy_only=False)
    assert l_np == pytest.approx(l_t, rel=1e-5)
    assert l_t > 0
    np.testing.assert_allclose(d_np, d_t, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(w_np, w_t, rtol=1e-4, atol=1e-6)
    assert np.abs(d_t).sum() > 0
