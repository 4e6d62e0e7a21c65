"""Paper 002's custom layer: uncertainty task weighting (layers.uncertainty_weighting).

* the numpy (pycaffe) path against hand-computed values and finite differences, driven through
  BlobVector (BVLC's RawBlobVec: indexable, not iterable);
* the tensor path against the numpy path (forward and gradients) and gradcheck;
* inside a fashioncaffe Net: both paths agree, the solver updates s with its lr_mult (and leaves it
  alone at lr_mult 0), and s is saved in / restored from .caffemodel and .solverstate files;
* the layer file imports only numpy, the standard library and caffe (BVLC Caffe can load it).
"""
import ast
import math
import os
import sys

import numpy as np
import pytest
import torch

import fashioncaffe as caffe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from layer_testing import BlobVector, FBlob  # noqa: E402
from layers.tensor_impl import uncertainty_weighting as uw_t  # noqa: E402
from layers.uncertainty_weighting import UncertaintyWeighting, weighted_total  # noqa: E402


class _Blobs(list):
    """BVLC's ``layer.blobs`` for a Python layer: add_blob(*shape) appends a zero blob."""

    def add_blob(self, *shape):
        self.append(FBlob(np.zeros(shape), dtype=np.float64))


def make(param, losses, ntop=1):
    layer = UncertaintyWeighting.__new__(UncertaintyWeighting)
    layer.param_str = param
    layer.blobs = _Blobs()
    # float64 blobs: the hand values and finite differences below are checked to 1e-12
    bottom = BlobVector([FBlob(v, dtype=np.float64) for v in losses])
    top = BlobVector([FBlob(0.0, dtype=np.float64) for _ in range(ntop)])
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    return layer, bottom, top


def test_hand_values_match_the_papers_objective():
    # L_L = 2, L_G = 0.5, σ₁² = e^{0.5}, σ₂² = e^{-0.2}: L_L/σ₁² + L_G/σ₂² + log σ₁ + log σ₂
    layer, bottom, top = make('{"init": [0.5, -0.2]}', [2.0, 0.5], ntop=2)
    layer.forward(bottom, top)
    s1, s2 = 0.5, -0.2
    sig1, sig2 = math.exp(s1 / 2), math.exp(s2 / 2)
    want = 2.0 / sig1 ** 2 + 0.5 / sig2 ** 2 + math.log(sig1) + math.log(sig2)
    assert float(top[0].data) == pytest.approx(want, rel=1e-12)
    np.testing.assert_array_equal(top[1].data, [0.5, -0.2])
    # s = 0 is the plain sum; Kendall's regression factor 1/2 halves the data terms
    layer, bottom, top = make('{}', [2.0, 0.5])
    layer.forward(bottom, top)
    assert float(top[0].data) == 2.5
    layer, bottom, top = make('{"factor": [0.5, 1]}', [2.0, 0.5])
    layer.forward(bottom, top)
    assert float(top[0].data) == 1.5


def test_the_total_goes_negative_at_the_optimum_of_a_small_loss():
    # for fixed L the optimum is e^s = 2L and the term there is (1 + log 2L) / 2 (< 0 for L < 1/(2e))
    for loss in (0.05, 0.18, 0.2, 3.0):
        s_star = math.log(2 * loss)
        grid = np.linspace(s_star - 1, s_star + 1, 201)
        vals = [weighted_total([loss], [s], [1.0]) for s in grid]
        assert grid[int(np.argmin(vals))] == pytest.approx(s_star, abs=1e-9)
        assert min(vals) == pytest.approx((1 + math.log(2 * loss)) / 2, rel=1e-9)
        assert (min(vals) < 0) == (loss < 1 / (2 * math.e))


def _fd(fn, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[i] += eps
        xm.flat[i] -= eps
        g.flat[i] = (fn(xp) - fn(xm)) / (2 * eps)
    return g


@pytest.mark.parametrize("param", ['{"init": [0.3, -1.1, 2.0]}', '{"init": 0.4, "factor": [0.5, 1.0, 2.0]}'])
def test_numpy_gradients_match_finite_differences(param):
    losses = [np.array([0.7, 0.1]), np.array(1.9), np.array(0.02)]
    layer, bottom, top = make(param, losses)
    layer.forward(bottom, top)
    top[0].diff[...] = 1.7
    layer.blobs[0].diff[...] = 0.25  # parameter gradients accumulate, as in Caffe
    layer.backward(top, [True, True, False], bottom)
    s0 = layer.blobs[0].data.copy()

    def total_of_losses(i):
        def fn(v):
            ls = [np.asarray(b.data).sum() for b in losses]
            ls[i] = np.asarray(v).sum()
            return 1.7 * weighted_total(ls, s0, layer.factor)
        return fn

    for i in range(2):
        num = _fd(total_of_losses(i), np.asarray(losses[i], dtype=np.float64))
        np.testing.assert_allclose(bottom[i].diff, num, rtol=1e-7, atol=1e-10)
    assert np.all(bottom[2].diff == 0)  # propagate_down False: untouched
    sums = [np.asarray(b).sum() for b in losses]
    num_s = _fd(lambda s: 1.7 * weighted_total(sums, s, layer.factor), s0)
    np.testing.assert_allclose(layer.blobs[0].diff - 0.25, num_s, rtol=1e-7, atol=1e-10)


def test_tensor_path_equals_numpy_path_and_gradchecks():
    losses = [np.array(0.8), np.array([1.5, 0.25])]
    layer, bottom, top = make('{"init": [0.2, -0.6], "factor": [1.0, 0.5]}', losses, ntop=2)
    layer.forward(bottom, top)
    top[0].diff[...] = 1.0
    layer.backward(top, [True, True], bottom)

    class _TBlob:  # what the engine hands the tensor path: blobs with an autograd-leaf tensor
        def __init__(self, arr):
            self.tensor = torch.tensor(arr, dtype=torch.float64, requires_grad=True)

    eng = UncertaintyWeighting.__new__(UncertaintyWeighting)
    eng.__dict__.update(layer.__dict__)
    eng.blobs = [_TBlob(layer.blobs[0].data)]
    lt = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in losses]
    out = uw_t.forward(eng, lt)
    assert len(out) == 2 and not out[1].requires_grad
    assert float(out[0].detach()) == pytest.approx(float(top[0].data), rel=1e-12)
    np.testing.assert_array_equal(out[1].detach().numpy(), top[1].data)
    out[0].backward()
    for t, b in zip(lt, [bottom[i] for i in range(len(bottom))]):
        np.testing.assert_allclose(t.grad.numpy(), np.broadcast_to(b.diff, t.shape), rtol=1e-12)
    np.testing.assert_allclose(eng.blobs[0].tensor.grad.numpy(), layer.blobs[0].diff, rtol=1e-12)

    def fn(a, b, s):
        eng.blobs[0].tensor = s
        return uw_t.forward(eng, [a, b])[0]

    args = tuple(x.detach().clone().requires_grad_() for x in lt + [torch.tensor([0.2, -0.6], dtype=torch.float64)])
    assert torch.autograd.gradcheck(fn, args)


def test_param_errors():
    with pytest.raises(ValueError, match="init has 3 values"):
        make('{"init": [0, 1, 2]}', [1.0, 2.0])
    with pytest.raises(ValueError, match="unknown param_str"):
        make('{"clamp": 3}', [1.0])
    with pytest.raises(ValueError, match="positive"):
        make('{"factor": [1, 0]}', [1.0, 2.0])


# ---------------------------------------------------------------------------------------------
# inside the engine
NET = """
name: "uw"
layer {{ name: "in" type: "Input" top: "x" top: "t"
        input_param {{ shape {{ dim: 4 dim: 3 }} shape {{ dim: 4 dim: 3 }} }} }}
layer {{ name: "fc" type: "InnerProduct" bottom: "x" top: "y"
        inner_product_param {{ num_output: 3 weight_filler {{ type: "gaussian" std: 0.5 }} }} }}
layer {{ name: "l_a" type: "EuclideanLoss" bottom: "y" bottom: "t" top: "l_a" loss_weight: 0 }}
layer {{ name: "l_b" type: "SigmoidCrossEntropyLoss" bottom: "y" bottom: "t" top: "l_b" loss_weight: 0 }}
layer {{ name: "mtl" type: "Python" bottom: "l_a" bottom: "l_b" top: "mtl" top: "log_var"
        python_param {{ module: "{mod}" layer: "{cls}" param_str: '{{"init": [0.5, -0.2]}}' }}
        param {{ lr_mult: {lr} decay_mult: 0 }} loss_weight: 1 loss_weight: 0 }}
"""
SOLVER = """net: "{net}"
type: "Adam" base_lr: 0.05 momentum: 0.9 momentum2: 0.999 lr_policy: "fixed" max_iter: {it}
display: 0 snapshot_prefix: "{prefix}" snapshot_after_train: true random_seed: 1 solver_mode: CPU
"""


def _write(tmp_path, numpy_only=False, lr=1, it=4, tag="a"):
    if numpy_only:
        (tmp_path / "uw_numpy_only.py").write_text(
            "from layers.uncertainty_weighting import UncertaintyWeighting\n"
            "class NumpyOnly(UncertaintyWeighting):\n    tensor_path = None\n")
        mod, cls = "uw_numpy_only", "NumpyOnly"
    else:
        mod, cls = "layers.uncertainty_weighting", "UncertaintyWeighting"
    net = tmp_path / f"net_{tag}.prototxt"
    net.write_text(NET.format(mod=mod, cls=cls, lr=lr))
    solver = tmp_path / f"solver_{tag}.prototxt"
    solver.write_text(SOLVER.format(net=net, it=it, prefix=tmp_path / tag))
    return str(net), str(solver)


def _feed(net):
    rng = np.random.RandomState(3)
    net.params["fc"][0].data[...] = rng.randn(3, 3) * 0.5
    net.blobs["x"].data[...] = rng.randn(4, 3)
    net.blobs["t"].data[...] = rng.rand(4, 3) > 0.5


@pytest.fixture
def on_path(tmp_path):
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("uw_numpy_only", None)


def test_engine_paths_agree_and_loss_is_the_formula(on_path):
    results = []
    for numpy_only in (False, True):
        net_path, _ = _write(on_path, numpy_only, tag=f"p{int(numpy_only)}")
        net = caffe.Net(net_path, caffe.TRAIN)
        _feed(net)
        out = net.forward()
        net.backward()
        la, lb = float(net.blobs["l_a"].data), float(net.blobs["l_b"].data)
        assert float(out["mtl"]) == pytest.approx(weighted_total([la, lb], [0.5, -0.2], [1, 1]), rel=1e-6)
        results.append((float(out["mtl"]), net.params["mtl"][0].diff.copy(), net.params["fc"][0].diff.copy()))
    (l0, s0, w0), (l1, s1, w1) = results
    assert l0 == pytest.approx(l1, rel=1e-6)
    np.testing.assert_allclose(s0, s1, rtol=1e-5)
    np.testing.assert_allclose(w0, w1, rtol=1e-5, atol=1e-7)
    assert np.abs(s0).min() > 0 and np.abs(w0).sum() > 0


@pytest.mark.parametrize("numpy_only", [False, True])
def test_solver_updates_s_saves_and_restores_it(on_path, numpy_only):
    net_path, solver_path = _write(on_path, numpy_only, it=4, tag=f"s{int(numpy_only)}")
    solver = caffe.get_solver(solver_path)
    _feed(solver.net)
    solver.step(4)
    s_after = solver.net.params["mtl"][0].data.copy()
    assert not np.allclose(s_after, [0.5, -0.2])
    solver.snapshot()
    model = on_path / f"s{int(numpy_only)}_iter_4.caffemodel"
    state = on_path / f"s{int(numpy_only)}_iter_4.solverstate"
    net = caffe.Net(net_path, caffe.TEST, weights=str(model))
    np.testing.assert_array_equal(net.params["mtl"][0].data, s_after)   # the file wins over "init"
    # resume: restore the solver state and take the same step as an uninterrupted run
    solver.step(1)
    s_next = solver.net.params["mtl"][0].data.copy()
    resumed = caffe.get_solver(solver_path)
    _feed(resumed.net)
    resumed.restore(str(state))
    np.testing.assert_array_equal(resumed.net.params["mtl"][0].data, s_after)
    assert resumed.iter == 4
    resumed.step(1)
    np.testing.assert_allclose(resumed.net.params["mtl"][0].data, s_next, rtol=1e-6)


def test_lr_mult_zero_freezes_s(on_path):
    _, solver_path = _write(on_path, lr=0, it=3, tag="frozen")
    solver = caffe.get_solver(solver_path)
    _feed(solver.net)
    w0 = solver.net.params["fc"][0].data.copy()
    solver.step(3)
    np.testing.assert_array_equal(solver.net.params["mtl"][0].data, np.float32([0.5, -0.2]))
    assert not np.allclose(solver.net.params["fc"][0].data, w0)


def test_layer_file_imports_only_numpy_stdlib_and_caffe():
    src = open(os.path.join(ROOT, "layers", "uncertainty_weighting.py")).read()
    tops = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            tops.add((node.module or "").split(".")[0])
    assert tops <= {"numpy", "caffe"} | set(sys.stdlib_module_names)
