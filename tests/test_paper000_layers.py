"""Paper 000 custom layers: weighted sigmoid cross-entropy and gamma-task weighting.

* the numpy (pycaffe) path against closed forms and finite differences (float64 fake blobs);
* the tensor path against finite differences (torch.autograd.gradcheck, float64);
* both paths inside a fashioncaffe Net agree (forward loss and bottom diffs);
* (that the layer files load in BVLC Caffe is checked for every paper in tests/test_papers.py).
"""
import json
import os
import sys
import textwrap

import numpy as np
import pytest
import torch

import fashioncaffe as caffe  # noqa: F401  (makes `import caffe` resolve in the layer files)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from layers.weighted_sigmoid_ce import WeightedSigmoidCrossEntropyLoss  # noqa: E402
from layers.gamma_task import GammaTaskWeighting, gamma_from_counts, smoothed, proportions  # noqa: E402
from layers.tensor_impl import weighted_sigmoid_ce as wsce_t, gamma_task as gamma_t  # noqa: E402


from layer_testing import BVLCCalls, FBlob as _Blob  # noqa: E402


def FBlob(arr):
    """A float64 blob: these tests check formulas to 1e-12 and by finite differences.  BVLC's float32
    blobs, vectors and call order are the harness's (tests/test_layers_bvlc.py); the layer is called
    through BVLCCalls, so it gets BVLC's non-iterable vectors here too."""
    return _Blob(arr, dtype=np.float64)


def make(cls, param, bottoms):
    layer = BVLCCalls(cls())
    layer.param_str = json.dumps(param)
    top = [FBlob(0.0)]
    layer.setup(bottoms, top)
    layer.reshape(bottoms, top)
    return layer, top


def numeric_grad(layer, bottoms, top, which=0, eps=1e-6):
    b = bottoms[which]
    g = np.zeros_like(b.data)
    flat = b.data.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        layer.forward(bottoms, top)
        lp = float(top[0].data)
        flat[i] = old - eps
        layer.forward(bottoms, top)
        lm = float(top[0].data)
        flat[i] = old
        g.reshape(-1)[i] = (lp - lm) / (2 * eps)
    return g


def rand_case(n=4, k=6, seed=0, ignore=-1, p_missing=0.3):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, k) * 3
    t = (rng.rand(n, k) > 0.6).astype(np.float64)
    t[rng.rand(n, k) < p_missing] = ignore
    return x, t


# ---------------------------------------------------------------------------------------------
# weighted sigmoid cross-entropy
@pytest.mark.parametrize("norm", ["FULL", "VALID", "BATCH_SIZE", "NONE"])
def test_wsce_unweighted_is_caffe_sigmoid_ce(norm):
    x, t = rand_case()
    layer, top = make(WeightedSigmoidCrossEntropyLoss, {"ignore_label": -1, "normalization": norm},
                      [FBlob(x), FBlob(t)])
    layer.forward([FBlob(x), FBlob(t)], top)
    valid = t != -1
    # Caffe: loss -= x (t - (x >= 0)) - log(1 + exp(x - 2 x (x >= 0)))
    pos = (x >= 0).astype(np.float64)
    per = -(x * (t - pos) - np.log1p(np.exp(x - 2 * x * pos)))
    total = per[valid].sum()
    denom = {"FULL": x.size, "VALID": valid.sum(), "BATCH_SIZE": x.shape[0], "NONE": 1}[norm]
    assert float(top[0].data) == pytest.approx(total / max(1, denom), rel=1e-12)


def test_wsce_weighted_closed_form_and_default_normalization():
    x, t = rand_case(seed=1)
    wp = np.linspace(0.5, 3, 6)
    wn = np.linspace(2, 0.2, 6)
    layer, top = make(WeightedSigmoidCrossEntropyLoss,
                      {"ignore_label": -1, "pos_weight": wp.tolist(), "neg_weight": wn.tolist()},
                      [FBlob(x), FBlob(t)])
    assert layer.normalization == "BATCH_SIZE"  # Caffe's default for the sigmoid loss
    layer.forward([FBlob(x), FBlob(t)], top)
    s = 1 / (1 + np.exp(-x))
    per = -(wp * t * np.log(s) + wn * (1 - t) * np.log(1 - s))
    assert float(top[0].data) == pytest.approx(per[t != -1].sum() / x.shape[0], rel=1e-10)


def test_wsce_all_missing_gives_zero_not_nan():
    x = np.random.RandomState(0).randn(3, 4)
    t = -np.ones((3, 4))
    layer, top = make(WeightedSigmoidCrossEntropyLoss, {"ignore_label": -1, "normalization": "VALID"},
                      [FBlob(x), FBlob(t)])
    bottoms = [FBlob(x), FBlob(t)]
    layer.forward(bottoms, top)
    assert float(top[0].data) == 0.0
    top[0].diff[...] = 1.0
    layer.backward(top, [True, False], bottoms)
    assert np.all(bottoms[0].diff == 0)


@pytest.mark.parametrize("norm", ["FULL", "VALID", "BATCH_SIZE", "NONE"])
def test_wsce_numpy_gradient_matches_finite_differences(norm):
    x, t = rand_case(seed=2)
    t[0, 0] = 0.3  # soft target
    bottoms = [FBlob(x), FBlob(t)]
    layer, top = make(WeightedSigmoidCrossEntropyLoss,
                      {"ignore_label": -1, "normalization": norm, "pos_weight": [1, 2, 3, 0.5, 1, 4],
                       "neg_weight": 0.7}, bottoms)
    layer.forward(bottoms, top)
    top[0].diff[...] = 1.7  # a loss_weight
    layer.backward(top, [True, False], bottoms)
    num = numeric_grad(layer, bottoms, top) * 1.7
    np.testing.assert_allclose(bottoms[0].diff, num, rtol=1e-6, atol=1e-8)


def test_wsce_tensor_path_gradcheck_and_matches_numpy():
    x, t = rand_case(n=3, k=5, seed=3)
    for norm in ["FULL", "VALID", "BATCH_SIZE", "NONE"]:
        bottoms = [FBlob(x), FBlob(t)]
        layer, top = make(WeightedSigmoidCrossEntropyLoss,
                          {"ignore_label": -1, "normalization": norm, "pos_weight": [1, 2, 3, 0.5, 1],
                           "neg_weight": [0.2, 1, 1, 2, 5]}, bottoms)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        tt = torch.tensor(t, dtype=torch.float64)
        assert torch.autograd.gradcheck(lambda a: wsce_t.forward(layer, [a, tt])[0], (xt,))
        out = wsce_t.forward(layer, [xt, tt])[0]
        layer.forward(bottoms, top)
        assert float(out.detach()) == pytest.approx(float(top[0].data), rel=1e-12)
        out.backward()
        top[0].diff[...] = 1.0
        layer.backward(top, [True, False], bottoms)
        np.testing.assert_allclose(xt.grad.numpy(), bottoms[0].diff, rtol=1e-10, atol=1e-12)


def test_wsce_weights_file_and_errors(tmp_path):
    x, t = rand_case(n=2, k=3)
    f = tmp_path / "w.json"
    f.write_text(json.dumps({"pos_weight": [1, 2, 3], "neg_weight": [3, 2, 1]}))
    layer, _ = make(WeightedSigmoidCrossEntropyLoss, {"weights_file": str(f)}, [FBlob(x), FBlob(t)])
    np.testing.assert_array_equal(layer.pos_weight, [1, 2, 3])
    np.save(tmp_path / "a.npy", np.zeros(1))  # unrelated; npz path below
    np.savez(tmp_path / "w.npz", pos_weight=np.array([4.0, 5, 6]))
    layer, _ = make(WeightedSigmoidCrossEntropyLoss, {"weights_file": str(tmp_path / "w.npz")},
                    [FBlob(x), FBlob(t)])
    np.testing.assert_array_equal(layer.pos_weight, [4, 5, 6])
    np.testing.assert_array_equal(layer.neg_weight, [1, 1, 1])
    with pytest.raises(ValueError):
        make(WeightedSigmoidCrossEntropyLoss, {"pos_weight": [1, 2]}, [FBlob(x), FBlob(t)])
    with pytest.raises(ValueError):
        make(WeightedSigmoidCrossEntropyLoss, {"normalization": "MEAN"}, [FBlob(x), FBlob(t)])
    with pytest.raises(ValueError):
        make(WeightedSigmoidCrossEntropyLoss, {"bogus": 1}, [FBlob(x), FBlob(t)])


# ---------------------------------------------------------------------------------------------
# gamma-task weighting
def test_gamma_modes():
    counts = [1000, 500, 100, 10, 1]
    np.testing.assert_allclose(gamma_from_counts(counts, "uniform"), np.ones(5))
    r = np.array(counts) / 1000.0
    np.testing.assert_allclose(gamma_from_counts(counts, "proportion"), r)
    floor = r.mean() / 3
    want = np.where(r >= floor, r, floor)
    np.testing.assert_allclose(gamma_from_counts(counts, "smoothed", 3.0), want)
    # the paper's Table II proportions: r_avg / 3 ≈ 0.11 ("set to 0.11" in Sec. IV-E)
    table2 = [1.0, .9646, .8242, .7773, .6838, .6062, .6018, .4201, .3876, .3119, .2436, .2292,
              .1961, .1866, .1766, .1456, .1331, .0643, .0626, .0471, .0428, .0064, .0006, .0002]
    assert np.asarray(table2).mean() / 3 == pytest.approx(0.11, abs=0.005)
    s = smoothed(proportions(table2))
    assert s.min() == pytest.approx(np.mean(table2) / 3) and s[0] == 1.0


def test_gamma_forward_backward_and_fd(tmp_path):
    losses = [FBlob(v) for v in (0.7, 1.3, 2.0)]
    layer, top = make(GammaTaskWeighting, {"gamma": [1.0, 0.5, 0.1]}, losses)
    layer.forward(losses, top)
    assert float(top[0].data) == pytest.approx(0.7 + 0.65 + 0.2)
    top[0].diff[...] = 2.0
    layer.backward(top, [True, True, False], losses)
    assert [float(b.diff) for b in losses] == [2.0, 1.0, 0.0]
    for i in range(2):
        num = numeric_grad(layer, losses, top, which=i) * 2.0
        assert float(num) == pytest.approx(float(losses[i].diff), rel=1e-7)
    # statistics file, picked by group name
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"groups": ["a", "b", "c"], "counts": [10, 40, 2]}))
    layer, _ = make(GammaTaskWeighting, {"mode": "proportion", "stats_file": str(stats), "groups": ["c", "b"]},
                    losses[:2])
    np.testing.assert_allclose(layer.gamma, [0.05, 1.0])
    with pytest.raises(ValueError):
        make(GammaTaskWeighting, {"mode": "proportion"}, losses)
    with pytest.raises(ValueError):
        make(GammaTaskWeighting, {"gamma": [1, 2]}, losses)


def test_gamma_tensor_path_matches_numpy_and_gradcheck():
    losses = [FBlob(v) for v in (0.7, 1.3, 2.0)]
    layer, top = make(GammaTaskWeighting, {"mode": "smoothed", "counts": [100, 30, 1]}, losses)
    xs = [torch.tensor(float(b.data), dtype=torch.float64, requires_grad=True) for b in losses]
    assert torch.autograd.gradcheck(lambda *a: gamma_t.forward(layer, list(a))[0], tuple(xs))
    out = gamma_t.forward(layer, xs)[0]
    layer.forward(losses, top)
    assert float(out.detach()) == pytest.approx(float(top[0].data), rel=1e-12)
    out.backward()
    top[0].diff[...] = 1.0
    layer.backward(top, [True] * 3, losses)
    for x, b in zip(xs, losses):
        assert float(x.grad) == pytest.approx(float(b.diff), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# both paths inside the engine
NET = """
name: "p000_layers"
force_backward: true
layer {{ name: "in" type: "Input" top: "x" top: "t"
        input_param {{ shape {{ dim: 4 dim: 6 }} shape {{ dim: 4 dim: 6 }} }} }}
layer {{ name: "sx" type: "Slice" bottom: "x" top: "x1" top: "x2" slice_param {{ axis: 1 slice_point: 2 }} }}
layer {{ name: "st" type: "Slice" bottom: "t" top: "t1" top: "t2" slice_param {{ axis: 1 slice_point: 2 }} }}
layer {{ name: "l1" type: "Python" bottom: "x1" bottom: "t1" top: "l1"
        python_param {{ module: "{mod}" layer: "{wsce}" param_str: '{{"ignore_label": -1}}' }} }}
layer {{ name: "l2" type: "Python" bottom: "x2" bottom: "t2" top: "l2"
        python_param {{ module: "{mod}" layer: "{wsce}"
                       param_str: '{{"ignore_label": -1, "pos_weight": 2.0, "normalization": "VALID"}}' }} }}
layer {{ name: "j" type: "Python" bottom: "l1" bottom: "l2" top: "j"
        python_param {{ module: "{mod}" layer: "{gamma}" param_str: '{{"gamma": [1.0, 0.25]}}' }}
        loss_weight: 1 }}
"""


def _engine_run(tmp_path, numpy_only):
    if numpy_only:
        mod = "p000_numpy_only_layers"
        (tmp_path / f"{mod}.py").write_text(textwrap.dedent("""
            from layers.weighted_sigmoid_ce import WeightedSigmoidCrossEntropyLoss as _W
            from layers.gamma_task import GammaTaskWeighting as _G
            class W(_W):
                tensor_path = None
            class G(_G):
                tensor_path = None
        """))
        names = dict(mod=mod, wsce="W", gamma="G")
    else:
        names = dict(mod="p000_tensor_layers", wsce="W", gamma="G")
        (tmp_path / "p000_tensor_layers.py").write_text(
            "from layers.weighted_sigmoid_ce import WeightedSigmoidCrossEntropyLoss as W\n"
            "from layers.gamma_task import GammaTaskWeighting as G\n")
    path = tmp_path / f"net_{int(numpy_only)}.prototxt"
    path.write_text(NET.format(**names))
    sys.path.insert(0, str(tmp_path))
    try:
        net = caffe.Net(str(path), caffe.TRAIN)
    finally:
        sys.path.remove(str(tmp_path))
    x, t = rand_case(n=4, k=6, seed=5)
    net.blobs["x"].data[...] = x
    net.blobs["t"].data[...] = t
    out = net.forward()
    net.backward()
    return float(out["j"]), net.blobs["x"].diff.copy()


def test_engine_numpy_and_tensor_paths_agree(tmp_path):
    j_np, d_np = _engine_run(tmp_path, numpy_only=True)
    j_t, d_t = _engine_run(tmp_path, numpy_only=False)
    assert j_np == pytest.approx(j_t, rel=1e-5)
    np.testing.assert_allclose(d_np, d_t, rtol=1e-5, atol=1e-7)
    assert np.abs(d_t).sum() > 0
