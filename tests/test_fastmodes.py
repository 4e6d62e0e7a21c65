"""Opt-in fast modes (fashioncaffe.fastmodes): the default stays bit-identical, bf16 trains on the
CPU, tf32 is a no-op there, compile runs (or falls back with a warning), and the CLI flags work."""
from __future__ import annotations

import os
import sys
import textwrap

import numpy as np
import pytest
import torch

import fashioncaffe as caffe
from fashioncaffe import cli, fastmodes
from fashioncaffe import logging_caffe as log
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.schedule import EAGER

sys.path.insert(0, os.path.dirname(__file__))

DATA = textwrap.dedent('''
    import json
    import numpy as np
    import caffe
    import fashioncaffe.distributed as fcd

    _POOL = {}

    def pool(n=512, size=8, classes=3, seed=7):
        key = (n, size, classes, seed)
        if key not in _POOL:
            rs = np.random.RandomState(seed)
            y = rs.randint(0, classes, size=n)
            x = rs.standard_normal((n, 1, size, size)).astype(np.float32) * 0.5
            h = size // 2
            for i, c in enumerate(y):          # class c: a bright block in quadrant c
                r0, c0 = (c // 2) * h, (c % 2) * h
                x[i, 0, r0:r0 + h, c0:c0 + h] += 1.5
            _POOL[key] = (x, y.astype(np.float32))
        return _POOL[key]

    class ImgData(caffe.Layer):
        def setup(self, bottom, top):
            self.batch = int(json.loads(self.param_str)["batch"])
            self.t = 0

        def reshape(self, bottom, top):
            top[0].reshape(self.batch, 1, 8, 8)
            top[1].reshape(self.batch)

        def forward(self, bottom, top):
            x, y = pool()
            b = (self.t * fcd.world_size() + fcd.rank()) * self.batch
            idx = np.arange(b, b + self.batch) % len(x)
            top[0].data[...] = x[idx]
            top[1].data[...] = y[idx]
            self.t += 1

        def backward(self, top, propagate_down, bottom):
            pass
''')

NET = textwrap.dedent('''
    name: "tinyconv"
    layer { name: "data" type: "Python" top: "data" top: "label"
            python_param { module: "fmdata" layer: "ImgData" param_str: '{"batch": %(batch)d}' } }
    layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
            convolution_param { num_output: 4 kernel_size: 3 pad: 1
                                weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "constant" value: 0.05 } } }
    layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
    layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
    layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1"
            inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }
    layer { name: "acc" type: "Accuracy" bottom: "ip1" bottom: "label" top: "acc" include { phase: TEST } }
''')

SOLVER = ('base_lr: 0.05 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.0005 max_iter: %(iters)d display: 0\n'
          'snapshot: 0 snapshot_after_train: false snapshot_prefix: "%(d)s/snap"\n'
          'test_iter: 2 test_interval: %(iters)d test_initialization: false\n')


def make_conv_case(folder, iters=6, batch=8, extra="", seed=3):
    """A tiny conv classification problem (Python data layer): returns the solver path."""
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "fmdata.py"), "w") as f:
        f.write(DATA)
    net = os.path.join(folder, "net.prototxt")
    with open(net, "w") as f:
        f.write(NET % {"batch": batch})
    path = os.path.join(folder, "solver.prototxt")
    with open(path, "w") as f:
        f.write(f'net: "{net}"\nrandom_seed: {seed}\n' + SOLVER % {"iters": iters, "d": folder} + extra)
    return path


def weights(net):
    return {f"{n}/{i}": np.array(b.data) for n, bl in net.params.items() for i, b in enumerate(bl)}


def train(path, **attrs):
    s = caffe.get_solver(path)
    for k, v in attrs.items():
        setattr(s, k, v)
    s.solve()
    return s


@pytest.fixture(autouse=True)
def _clean():
    caffe.set_mode_cpu()
    fastmodes.reset()
    yield
    fastmodes.reset()
    caffe.set_mode_cpu()


@pytest.fixture
def logged(tmp_path):
    path = tmp_path / "log.txt"
    f = log.add_log_file(str(path))
    yield lambda: path.read_text()
    log.remove_log_file(f)


def test_default_is_bit_identical_with_fp32_configured(tmp_path, logged):
    base = train(make_conv_case(tmp_path / "a"))
    assert base.net.executor is EAGER                   # the default path: the net's own eager executor
    fastmodes.configure(precision="fp32", compile=False)
    again = train(make_conv_case(tmp_path / "b"))
    assert again.net.executor is EAGER
    wa, wb = weights(base.net), weights(again.net)
    for k in wa:
        assert np.array_equal(wa[k], wb[k]), k
    assert "Compute mode: fp32 (Caffe-faithful float32)" in logged()


def test_tf32_is_a_noop_on_cpu(tmp_path, logged):
    base = train(make_conv_case(tmp_path / "a"))
    fastmodes.configure(precision="tf32")
    t = train(make_conv_case(tmp_path / "b"))
    for k, v in weights(base.net).items():
        assert np.array_equal(v, weights(t.net)[k]), k
    assert "no effect on the CPU" in logged()


def _loss(net):
    with torch.no_grad():
        return float(net.forward_from_to(grad=False))


def test_bf16_trains_on_cpu_and_keeps_float32_blobs(tmp_path, logged):
    fastmodes.configure(precision="bf16")
    s = caffe.get_solver(make_conv_case(tmp_path, iters=40))
    first = np.mean([_loss(s.net) for _ in range(4)])
    s.step(40)
    last = np.mean([_loss(s.net) for _ in range(4)])
    assert last < 0.7 * first, (first, last)
    assert isinstance(s.net.executor, fastmodes.FastExecutor)
    assert "Compute mode: bf16" in logged()
    # blobs, parameters and diffs stay float32 and readable from pycaffe
    for name, b in s.net.blobs.items():
        assert b.tensor.dtype == torch.float32 if b.tensor.is_floating_point() else True, name
        _ = b.data
    for bl in s.net.params.values():
        for b in bl:
            assert b.data.dtype == np.float32 and b.tensor.dtype == torch.float32
    # the test net shares the weights and runs in bf16 too
    scores = s.test(0)
    assert scores["acc"] > 0.5
    # bf16 really changed the arithmetic (same seed, same data, different numbers than fp32)
    fastmodes.reset()
    ref = caffe.get_solver(make_conv_case(tmp_path / "ref", iters=40))
    ref.step(40)
    diff = max(np.abs(weights(ref.net)[k] - v).max() for k, v in weights(s.net).items())
    assert diff > 0


def test_bf16_pycaffe_forward_backward(tmp_path):
    make_conv_case(tmp_path)
    os.chdir(tmp_path)
    net = caffe.Net(str(tmp_path / "net.prototxt"), caffe.TRAIN)
    ref = net.forward()["loss"].copy()
    net.backward()
    g_ref = net.params["conv1"][0].diff.copy()
    fastmodes.apply(net, fastmodes.FastMode(precision="bf16"))
    net.params["conv1"][0].diff[...] = 0
    net.params["ip1"][0].diff[...] = 0
    # the Python data layer serves the next batch: rewind it for an equal comparison
    net.layers[0].t = 0
    out = net.forward()
    net.backward()
    assert out["loss"].dtype == np.float32
    np.testing.assert_allclose(out["loss"], ref, rtol=0.05)
    g = net.params["conv1"][0].diff
    assert g.dtype == np.float32
    assert np.corrcoef(g.ravel(), g_ref.ravel())[0, 1] > 0.95
    assert net.blobs["conv1"].diff.dtype == np.float32
    fastmodes.apply(net, fastmodes.FastMode())            # back to the default forward
    assert net.executor is EAGER


def test_solver_attributes_select_the_mode(tmp_path, logged):
    s = caffe.get_solver(make_conv_case(tmp_path, iters=4))
    s.precision = "bf16"
    s.step(2)
    assert s.net.executor.mode.precision == "bf16"
    assert all(isinstance(n.executor, fastmodes.FastExecutor) for n in s.test_nets)
    s.precision = "fp32"
    s.step(2)
    assert s.net.executor is EAGER
    text = logged()
    assert text.index("Compute mode: bf16") < text.index("Compute mode: fp32")


def test_unknown_precision_is_an_error():
    with pytest.raises(FashionCaffeError, match="fp32"):
        fastmodes.configure(precision="fp8")


def test_compile_eager_backend_matches_default(tmp_path, logged):
    base = train(make_conv_case(tmp_path / "a"))
    fastmodes.configure(compile=True, compile_backend="eager")
    c = train(make_conv_case(tmp_path / "b"))
    assert c.net.executor.compiled is not None
    for k, v in weights(base.net).items():
        np.testing.assert_allclose(weights(c.net)[k], v, rtol=1e-6, atol=1e-7, err_msg=k)
    assert "compiled with torch.compile (backend eager)" in logged()


def test_compile_unavailable_falls_back_with_warning(tmp_path, logged, monkeypatch):
    base = train(make_conv_case(tmp_path / "a"))
    monkeypatch.setattr(fastmodes, "_compile_unavailable", lambda m, d: "no C++ compiler (simulated)")
    fastmodes.configure(compile=True)
    c = train(make_conv_case(tmp_path / "b"))
    assert c.net.executor.compiled is None
    for k, v in weights(base.net).items():
        assert np.array_equal(weights(c.net)[k], v), k
    assert "--compile: no C++ compiler (simulated); running the net eagerly." in logged()


def test_compile_backend_failure_falls_back_with_warning(tmp_path, logged):
    def broken(gm, example_inputs):
        raise RuntimeError("backend exploded")

    base = train(make_conv_case(tmp_path / "a"))
    torch._dynamo.reset()
    fastmodes.configure(compile=True, compile_backend=broken)
    c = train(make_conv_case(tmp_path / "b"))
    assert c.net.executor.compiled is None
    for k, v in weights(base.net).items():
        assert np.array_equal(weights(c.net)[k], v), k
    assert "torch.compile failed" in logged()


@pytest.mark.slow
def test_compile_inductor_on_cpu(tmp_path, logged):
    base = train(make_conv_case(tmp_path / "a"))
    torch._dynamo.reset()
    fastmodes.configure(compile=True)
    c = train(make_conv_case(tmp_path / "b"))
    text = logged()
    if "running the net eagerly" in text:
        pytest.skip("inductor unavailable here: " + text.split("--compile:")[1].splitlines()[0])
    for k, v in weights(base.net).items():
        np.testing.assert_allclose(weights(c.net)[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


def test_cli_flags(tmp_path):
    path = make_conv_case(tmp_path, iters=3)
    os.chdir(tmp_path)
    logf = tmp_path / "train.log"
    assert cli.main(["train", "--solver", path, "--precision", "bf16", "--log_file", str(logf)]) == 0
    assert "Compute mode: bf16" in logf.read_text()
    s = caffe.get_solver(path)
    s.solve()
    s.net.save(str(tmp_path / "w.caffemodel"))
    fastmodes.reset()
    logt = tmp_path / "test.log"
    assert cli.main(["test", "--model", str(tmp_path / "net.prototxt"), "--weights", str(tmp_path / "w.caffemodel"),
                     "--iterations", "2", "-precision", "bf16", "--log_file", str(logt)]) == 0
    text = logt.read_text()
    assert "Compute mode: bf16" in text and "acc = " in text
    fastmodes.reset()
    fastmodes.configure(compile_backend="eager")   # --compile with a backend that needs no compiler
    logm = tmp_path / "time.log"
    assert cli.main(["time", "--model", str(tmp_path / "net.prototxt"), "--iterations", "2", "--precision", "tf32",
                     "--compile", "--log_file", str(logm)]) == 0
    text = logm.read_text()
    assert "no effect on the CPU" in text and "Average Forward-Backward" in text
    assert "the compiled net as a whole" in text or "running the net eagerly" in text
