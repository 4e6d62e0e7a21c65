"""Solvers: BVLC reference cases, lr policies, update rules against numpy, iter_size/clip,
snapshot/restore round trips (binary and HDF5), NaN stop."""
from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.proto import caffe_pb2
from fashioncaffe.solvers import learning_rate

sys.path.insert(0, os.path.dirname(__file__))
from test_solvers_helpers import make_case, params_of  # noqa: E402

from layer_testing import REF, reference_check_module  # noqa: E402

SOLVER_CASES = sorted(os.listdir(os.path.join(REF, "solvers")))


@pytest.fixture(autouse=True)
def _cpu_and_quiet():
    from fashioncaffe import logging_caffe

    caffe.set_mode_cpu()
    logging_caffe.set_min_level(1)
    yield
    logging_caffe.set_min_level(0)


@pytest.mark.parametrize("case", SOLVER_CASES)
def test_reference_solver_case(case):
    check = reference_check_module()
    problems = check.check_solver_case(caffe, os.path.join(REF, "solvers", case), 1e-4, 1e-5)
    assert not problems, problems


# ---------------------------------------------------------------------------------------------
# learning-rate policies
def _sp(**kw):
    p = caffe_pb2.SolverParameter()
    for k, v in kw.items():
        if isinstance(v, list):
            getattr(p, k).extend(v)
        else:
            setattr(p, k, v)
    return p


@pytest.mark.parametrize("it", [0, 1, 3, 7, 10, 25, 99])
def test_lr_policies_match_caffe_formulas(it):
    f = lambda x: float(np.float32(x))  # noqa: E731
    base, gamma, power = 0.01, 0.9, 0.75
    cases = {
        "fixed": (dict(), base),
        "step": (dict(gamma=0.5, stepsize=4), base * 0.5 ** (it // 4)),
        "exp": (dict(gamma=gamma), base * gamma ** it),
        "inv": (dict(gamma=1e-2, power=power), base * (1 + 1e-2 * it) ** (-power)),
        "poly": (dict(power=2.0, max_iter=100), base * (1 - it / 100) ** 2),
        "sigmoid": (dict(gamma=-0.5, stepsize=5), base / (1 + math.exp(0.5 * (it - 5)))),
    }
    for policy, (kw, expected) in cases.items():
        p = _sp(lr_policy=policy, base_lr=base, **kw)
        rate, _, _ = learning_rate(p, it, 0)
        assert rate == pytest.approx(f(expected), rel=2e-6), policy


def test_multistep_advances_one_step_per_call_and_is_restorable():
    p = _sp(lr_policy="multistep", base_lr=1.0, gamma=0.1, stepvalue=[2, 3, 8])
    step, rates = 0, []
    for it in range(10):
        rate, step, _ = learning_rate(p, it, step)
        rates.append(rate)
    assert rates == pytest.approx([1, 1, 0.1, 0.01, 0.01, 0.01, 0.01, 0.01, 0.001, 0.001], rel=1e-6)
    # restored mid-way with current_step from a solverstate
    assert learning_rate(p, 9, 3)[0] == pytest.approx(0.001, rel=1e-6)
    # Caffe's `if`, not a loop: jumping far ahead advances one step per call
    assert learning_rate(p, 50, 0)[1] == 1


def test_unknown_policy_and_type_fail(tmp_path):
    with pytest.raises(FashionCaffeError, match="lr_policy"):
        learning_rate(_sp(lr_policy="cosine", base_lr=1.0), 0, 0)
    path = make_case(tmp_path, 'base_lr: 0.1 lr_policy: "fixed" max_iter: 2\ntype: "Lion"\n')
    with pytest.raises(FashionCaffeError, match="Lion"):
        caffe.get_solver(path)


# ---------------------------------------------------------------------------------------------
# update rules against numpy implementations of Caffe's formulas
def _numpy_rule(kind, p):
    mom, delta = np.float32(p["momentum"]), np.float32(p["delta"])

    def step(w, g, h, lr, it):
        if kind == "SGD":
            h[0] = mom * h[0] + lr * g
            return w - h[0]
        if kind == "Nesterov":
            old = h[0].copy()
            h[0] = mom * h[0] + lr * g
            return w - ((1 + mom) * h[0] - mom * old)
        if kind == "AdaGrad":
            h[0] = h[0] + g * g
            return w - lr * g / (np.sqrt(h[0]) + delta)
        if kind == "RMSProp":
            rd = np.float32(p["rms_decay"])
            h[0] = rd * h[0] + (1 - rd) * g * g
            return w - lr * g / (np.sqrt(h[0]) + delta)
        if kind == "AdaDelta":
            h[0] = mom * h[0] + (1 - mom) * g * g
            d = g * np.sqrt((h[1] + delta) / (h[0] + delta))
            h[1] = mom * h[1] + (1 - mom) * d * d
            return w - lr * d
        if kind == "Adam":
            b2 = np.float32(p["momentum2"])
            h[0] = mom * h[0] + (1 - mom) * g
            h[1] = b2 * h[1] + (1 - b2) * g * g
            t = it + 1
            corr = math.sqrt(1 - b2 ** t) / (1 - mom ** t)
            return w - lr * corr * h[0] / (np.sqrt(h[1]) + delta)
        raise AssertionError(kind)

    return step


RULE_PARAMS = {
    "SGD": dict(momentum=0.9, delta=1e-8),
    "Nesterov": dict(momentum=0.8, delta=1e-8),
    "AdaGrad": dict(momentum=0.0, delta=1e-6),
    "RMSProp": dict(momentum=0.0, delta=1e-6, rms_decay=0.9),
    "AdaDelta": dict(momentum=0.95, delta=1e-6),
    "Adam": dict(momentum=0.9, delta=1e-8, momentum2=0.99),
}


@pytest.mark.parametrize("kind", list(RULE_PARAMS))
@pytest.mark.parametrize("reg", ["L2", "L1"])
def test_update_rule_matches_numpy(tmp_path, kind, reg):
    p = RULE_PARAMS[kind]
    extra = "".join(f"{k}: {v}\n" for k, v in p.items())
    iter_size, clip = (2, 0.7) if reg == "L1" else (1, -1)
    path = make_case(tmp_path, f'base_lr: 0.05 lr_policy: "inv" gamma: 0.1 power: 0.5 max_iter: 50\n'
                               f'type: "{kind}" weight_decay: 0.01 regularization_type: "{reg}"\n'
                               f'iter_size: {iter_size} clip_gradients: {clip}\n' + extra)
    os.chdir(tmp_path)
    solver = caffe.get_solver(path)
    specs = solver.net.param_specs
    nhist = 2 if kind in ("AdaDelta", "Adam") else 1
    hist = [[np.zeros(b.shape, np.float32) for _ in range(nhist)] for b, *_ in specs]
    rule = _numpy_rule(kind, p)
    captured = {}

    def on_ready():
        captured["g"] = [np.array(b.diff, dtype=np.float32) for b, *_ in specs]
        captured["w"] = [np.array(b.data, dtype=np.float32) for b, *_ in specs]

    solver.add_callback(lambda: None, on_ready)
    for it in range(6):
        solver.step(1)
        gs = captured["g"]
        if clip >= 0:
            norm = math.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in gs))
            if norm > clip:
                gs = [g * np.float32(clip / norm) for g in gs]
        rate = np.float32(0.05 * (1 + 0.1 * it) ** -0.5)
        for j, ((blob, lr_mult, decay_mult, _), g, w) in enumerate(zip(specs, gs, captured["w"])):
            g = g / np.float32(iter_size)
            dec = np.float32(0.01 * decay_mult)
            g = g + dec * (np.sign(w) if reg == "L1" else w)
            expected = rule(w, g, hist[j], np.float32(rate * lr_mult), it)
            np.testing.assert_allclose(blob.data, expected, rtol=2e-5, atol=1e-6,
                                       err_msg=f"{kind} {reg} iteration {it} param {j}")


def test_iter_size_equals_bigger_batch_and_clip_acts_on_accumulated(tmp_path):
    # Caffe clips the *accumulated* diff (the sum over iter_size passes, before the 1/iter_size
    # normalisation): iter_size 3 with clip 0.3 equals one pass over the 3x batch with clip 0.1.
    common = 'base_lr: 0.2 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.005 max_iter: 50\n'
    a = make_case(tmp_path / "a", common + "iter_size: 3\nclip_gradients: 0.3\n", batch=2)
    b = make_case(tmp_path / "b", common + "iter_size: 1\nclip_gradients: 0.1\n", batch=6)
    s1, s2 = caffe.get_solver(a), caffe.get_solver(b)
    for name, blobs in s1.net.params.items():
        for i, blob in enumerate(blobs):
            s2.net.params[name][i].data[...] = blob.data
    s1.step(5)
    s2.step(5)
    p1, p2 = params_of(s1.net), params_of(s2.net)
    for k in p1:
        np.testing.assert_allclose(p1[k], p2[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # the reported loss is the mean over the iter_size passes
    assert float(s1._losses[-1]) == pytest.approx(float(s2._losses[-1]), rel=1e-5)


def test_lr_mult_zero_params_are_frozen(tmp_path):
    path = make_case(tmp_path, 'base_lr: 0.5 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.1 max_iter: 5\n')
    text = open(os.path.join(tmp_path, "net.prototxt")).read().replace(
        "param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }",
        "param { lr_mult: 0 } param { lr_mult: 0 }")
    open(os.path.join(tmp_path, "net.prototxt"), "w").write(text)
    s = caffe.get_solver(path)
    before = params_of(s.net)
    s.step(3)
    after = params_of(s.net)
    np.testing.assert_array_equal(before["ip1/0"], after["ip1/0"])
    np.testing.assert_array_equal(before["ip1/1"], after["ip1/1"])
    assert not np.array_equal(before["ip2/0"], after["ip2/0"])


def test_legacy_solver_type_is_upgraded(tmp_path):
    path = make_case(tmp_path, 'base_lr: 0.1 lr_policy: "fixed" max_iter: 3\nsolver_type: ADAGRAD\n')
    s = caffe.get_solver(path)
    assert type(s).__name__ == "AdaGradSolver"
    s.step(2)


# ---------------------------------------------------------------------------------------------
# snapshots
@pytest.mark.parametrize("fmt", ["BINARYPROTO", "HDF5"])
@pytest.mark.parametrize("kind", ["SGD", "Adam", "AdaDelta", "Nesterov"])
def test_snapshot_restore_is_bit_identical(tmp_path, fmt, kind):
    solver_text = (f'base_lr: 0.05 lr_policy: "multistep" gamma: 0.5 stepvalue: 2 stepvalue: 6 momentum: 0.9\n'
                   f'weight_decay: 0.001 max_iter: 10 type: "{kind}" snapshot: 4 snapshot_format: {fmt}\n'
                   f'snapshot_prefix: "{tmp_path}/snap"\n')
    path = make_case(tmp_path, solver_text)
    os.chdir(tmp_path)
    full = caffe.get_solver(path)
    full.solve()
    ext = ".solverstate.h5" if fmt == "HDF5" else ".solverstate"
    model_ext = ".caffemodel.h5" if fmt == "HDF5" else ".caffemodel"
    for n in (4, 8, 10):
        assert os.path.exists(f"{tmp_path}/snap_iter_{n}{ext}")
        assert os.path.exists(f"{tmp_path}/snap_iter_{n}{model_ext}")
    resumed = caffe.get_solver(path)
    resumed.restore(f"{tmp_path}/snap_iter_4{ext}")
    assert resumed.iter == 4 and resumed.current_step == full_step_at(4)
    resumed.net.layers[0].t = 4
    resumed.step(6)
    pf, pr = params_of(full.net), params_of(resumed.net)
    for k in pf:
        np.testing.assert_array_equal(pf[k], pr[k], err_msg=k)
    # the final snapshot's weights load into a fresh net
    net = caffe.Net(os.path.join(tmp_path, "net.prototxt"), caffe.TEST, weights=f"{tmp_path}/snap_iter_10{model_ext}")
    for k, v in params_of(net).items():
        np.testing.assert_array_equal(v, pf[k])


def full_step_at(it):
    return sum(1 for v in (2, 6) if it > v - 1 and it - 1 >= v - 1) if it else 0


def test_restore_rejects_wrong_history(tmp_path):
    path = make_case(tmp_path, f'base_lr: 0.05 lr_policy: "fixed" max_iter: 2 type: "Adam"\n'
                               f'snapshot_prefix: "{tmp_path}/a"\n')
    s = caffe.get_solver(path)
    s.solve()
    sgd = caffe.SGDSolver(path)
    with pytest.raises(FashionCaffeError, match="history"):
        sgd.restore(f"{tmp_path}/a_iter_2.solverstate")


def test_default_snapshot_prefix_is_solver_name_and_after_train(tmp_path):
    path = make_case(tmp_path, 'base_lr: 0.05 lr_policy: "fixed" max_iter: 3\n')
    s = caffe.get_solver(path)
    assert s.param.snapshot_prefix == os.path.join(str(tmp_path), "solver")
    s.solve()
    assert os.path.exists(os.path.join(tmp_path, "solver_iter_3.caffemodel"))
    path2 = make_case(tmp_path / "b", 'base_lr: 0.05 lr_policy: "fixed" max_iter: 3\nsnapshot_after_train: false\n')
    caffe.get_solver(path2).solve()
    assert not [f for f in os.listdir(tmp_path / "b") if "caffemodel" in f]


def test_nan_loss_stops_and_keeps_last_good_snapshot(tmp_path):
    path = make_case(tmp_path, f'base_lr: 0.05 lr_policy: "fixed" max_iter: 10 snapshot: 1\n'
                               f'snapshot_prefix: "{tmp_path}/s"\n', nan_at=3)
    s = caffe.get_solver(path)
    with pytest.raises(FashionCaffeError, match=r"Iteration 3: the loss is nan") as e:
        s.solve()
    assert "s_iter_3.solverstate" in str(e.value)
    files = sorted(os.listdir(tmp_path))
    assert "s_iter_3.caffemodel" in files and "s_iter_4.caffemodel" not in files
    net = caffe.Net(os.path.join(tmp_path, "net.prototxt"), caffe.TEST, weights=f"{tmp_path}/s_iter_3.caffemodel")
    assert all(np.isfinite(v).all() for v in params_of(net).values())


def test_sigint_stops_and_snapshots(tmp_path):
    import signal

    path = make_case(tmp_path, f'base_lr: 0.05 lr_policy: "fixed" max_iter: 1000\n'
                               f'snapshot_prefix: "{tmp_path}/s"\n')
    s = caffe.get_solver(path)
    s.add_callback(lambda: os.kill(os.getpid(), signal.SIGINT) if s.iter == 2 else None, lambda: None)
    s.solve()
    assert s.iter == 3
    assert os.path.exists(f"{tmp_path}/s_iter_3.solverstate")


def test_test_nets_average_outputs_and_share_weights(tmp_path):
    path = make_case(tmp_path, 'base_lr: 0.05 lr_policy: "fixed" max_iter: 4\ntest_iter: 3 test_iter: 2\n'
                               'test_interval: 2 test_initialization: false\nsnapshot_after_train: false\n')
    s = caffe.get_solver(path)
    assert len(s.test_nets) == 2
    assert s.test_nets[0].params["ip1"][0] is s.net.params["ip1"][0]
    s.step(2)
    assert 0 not in s.last_test_scores          # test_initialization: false, iteration 2 not reached
    scores = s.test(0)
    assert s.last_test_scores[0] is scores
    # recompute by hand: mean over 3 batches of the TEST net outputs
    net = caffe.Net(os.path.join(tmp_path, "net.prototxt"), caffe.TEST)
    for name, blobs in s.net.params.items():
        for i, b in enumerate(blobs):
            net.params[name][i].data[...] = b.data
    accs, losses = [], []
    for _ in range(3):
        out = net.forward()
        accs.append(float(out["acc"]))
        losses.append(float(out["loss"]))
    assert scores["acc"] == pytest.approx(np.mean(accs), rel=1e-5)
    assert scores["loss"] == pytest.approx(np.mean(losses), rel=1e-5)


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
def test_lazy_sync_path_matches_eager(tmp_path, kind):
    """The GPU code path (no host reads: clip factor on the device, batched NaN checks) gives the
    same weights as the CPU path; exercised here on the CPU."""
    text = (f'base_lr: 0.2 lr_policy: "fixed" momentum: 0.9 max_iter: 30 type: "{kind}"\n'
            'clip_gradients: 0.5 iter_size: 2 display: 7\n')
    a = caffe.get_solver(make_case(tmp_path / "a", text))
    b = caffe.get_solver(make_case(tmp_path / "b", text))
    b.lazy_sync = True
    a.step(12)
    b.step(12)
    pa, pb = params_of(a.net), params_of(b.net)
    for k in pa:
        np.testing.assert_allclose(pa[k], pb[k], rtol=1e-6, atol=1e-7, err_msg=k)


def test_lazy_nan_check_names_the_iteration(tmp_path):
    s = caffe.get_solver(make_case(tmp_path, 'base_lr: 0.05 lr_policy: "fixed" max_iter: 100\n', nan_at=5))
    s.lazy_sync = True
    with pytest.raises(FashionCaffeError, match=r"Iteration 5: the loss is nan"):
        s.step(20)


@pytest.mark.parametrize("heavy_weight, warned", [(1000, True), (1, False)])
def test_warns_when_one_layer_drives_gradient_clipping(tmp_path, capsys, heavy_weight, warned):
    """A head whose loss is weighted so heavily that its gradient sets the global clipping norm
    gets a warning naming that head (it is what collapsed paper 001's step-1 nets); a balanced net
    clipped just as hard does not."""
    from fashioncaffe import logging_caffe

    path = make_case(tmp_path, 'base_lr: 0.01 lr_policy: "fixed" max_iter: 20 clip_gradients: 0.01\n')
    net_file = os.path.join(tmp_path, "net.prototxt")
    head = (' layer { name: "heavy" type: "InnerProduct" bottom: "data" top: "heavy"'
            ' inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.3 } } }'
            ' layer { name: "heavy_loss" type: "SoftmaxWithLoss" bottom: "heavy" bottom: "label"'
            f' top: "heavy_loss" loss_weight: {heavy_weight} }}\n')
    open(net_file, "a").write(head)
    solver = caffe.get_solver(path)
    logging_caffe.set_min_level(1)
    capsys.readouterr()
    solver.step(6)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "driven by one layer" in line]
    if warned:
        assert len(lines) == 1, err
        assert "'heavy'" in lines[0] and "loss_weight" in lines[0]
    else:
        assert not lines, err
