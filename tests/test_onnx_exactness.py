"""What an exported graph promises through onnxruntime, checked at the scales where it could break.

* Landmark pooling: the windows of the exported graph are the layer's at the paper's full geometry
  (a 28 × 28 map, landmarks given for a 224 × 224 input), for every integer pixel position and
  fractional ones, in normalised and pixel coordinates -- pooled values equal bit for bit.
* Sigmoid outputs (a Sigmoid layer, Swish, the probability head that replaces a sigmoid
  cross-entropy loss at deploy time): see ``fashioncaffe.onnx.converters.sigmoid`` for the promise.
"""
import json
import os
import sys

import numpy as np
import pytest
import torch

import fashioncaffe as caffe
from fashioncaffe.onnx import export_net
from fashioncaffe.onnx.testing import ort_session

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import layers.tensor_impl.landmark_pooling_onnx  # noqa: E402,F401  (registers the converter)


def _net(tmp_path, text, name="net"):
    p = tmp_path / f"{name}.prototxt"
    p.write_text(text)
    return caffe.Net(str(p), caffe.TEST)


def _landmarks_224(fraction):
    """x, y in pixels of a 224 input: x runs over 0..223 (+ ``fraction``), y over a permutation of it."""
    px = np.arange(224, dtype=np.float64)
    return np.stack([px + fraction, ((px * 37) % 224) + fraction], axis=-1)        # 224 × 2


@pytest.mark.parametrize("coords,spatial_scale", [("normalized", None), ("pixels", 28 / 224), ("pixels", 0.1)])
@pytest.mark.parametrize("window,pooled", [(3, 1), (4, 2)])
def test_landmark_pooling_export_windows_equal_the_layer_at_full_geometry(tmp_path, coords, spatial_scale, window,
                                                                          pooled):
    n, nl, c = 8, 28, 3
    param = {"window": window, "pooled_size": pooled, "coords": coords}
    if coords == "pixels":
        param["spatial_scale"] = spatial_scale
    net = _net(tmp_path, f"""
layer {{ name: "in" type: "Input" top: "feat" top: "lm" top: "vis"
  input_param {{ shape {{ dim: {n} dim: {c} dim: 28 dim: 28 }} shape {{ dim: {n} dim: {2 * nl} }}
                shape {{ dim: {n} dim: {nl} }} }} }}
layer {{ name: "pool5_local" type: "Python" bottom: "feat" bottom: "lm" bottom: "vis" top: "pooled"
  python_param {{ module: "layers.landmark_pooling" layer: "LandmarkPooling" param_str: '{json.dumps(param)}' }} }}
""")
    onnx_path = tmp_path / "lp.onnx"
    export_net(net, str(onnx_path))
    sess = ort_session(str(onnx_path))
    rng = np.random.RandomState(0)
    feat = rng.randn(n, c, 28, 28).astype(np.float32)   # distinct values: a shifted window changes the max
    vis = rng.uniform(0.6, 1, (n, nl)).astype(np.float32)
    shifted_somewhere = False
    for fraction in (0.0, 0.25, 0.5, 0.75, 0.999):
        pts = _landmarks_224(fraction)
        lm = (pts / 224.0 if coords == "normalized" else pts).astype(np.float32).reshape(n, 2 * nl)
        net.blobs["feat"].data[...] = feat
        net.blobs["lm"].data[...] = lm
        net.blobs["vis"].data[...] = vis
        want = net.forward()["pooled"].copy()
        got = sess.run(None, {"feat": feat, "lm": lm, "vis": vis})[0]
        differ = int((got != want).sum())
        assert differ == 0, f"{differ} of {want.size} pooled values differ at fraction {fraction}"
        # the float32 formula the export used to compute moves windows here: the case is a real test
        lm32 = torch.from_numpy(lm.reshape(n, nl, 2)[..., 0])
        scale = 28.0 if coords == "normalized" else spatial_scale
        f32 = torch.floor(lm32 * np.float32(scale) + np.float32(-window / 2 + 0.5))
        f64 = torch.floor(lm32.double() * scale - window / 2 + 0.5)
        shifted_somewhere |= bool((f32.double() != f64).any())
    if coords == "normalized":   # (28/224 = 1/8 is exact in float32; 0.1 is not, but shifts no window here)
        assert shifted_somewhere


# ---------------------------------------------------------------------------------------------
def _sigmoid_points():
    dense = np.linspace(-90, 90, 180001)
    ints = np.arange(-90, 91, dtype=np.float64)
    near = np.concatenate([ints + d for d in (-1e-3, 1e-3, 0.5)])
    return np.concatenate([dense, ints, near]).astype(np.float32)


def _ulps(got, exact):
    """|got − exact| in float32 ulps of exact (the subnormal spacing at the bottom)."""
    spacing = np.maximum(np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64), 2.0 ** -149)
    return np.abs(got.astype(np.float64) - exact) / spacing


def test_exported_sigmoid_is_within_4_ulps_of_exact_math_engine_and_bvlc(tmp_path):
    x = _sigmoid_points()
    net = _net(tmp_path, f"""
layer {{ name: "in" type: "Input" top: "x" input_param {{ shape {{ dim: 1 dim: {x.size} }} }} }}
layer {{ name: "prob" type: "Sigmoid" bottom: "x" top: "prob" }}
layer {{ name: "swish" type: "Swish" bottom: "x" top: "swish" swish_param {{ beta: 0.5 }} }}
""")
    onnx_path = tmp_path / "sig.onnx"
    model = export_net(net, str(onnx_path))
    assert "Sigmoid" not in {n.op_type for n in model.graph.node}      # onnxruntime's approximates
    got = dict(zip(["prob", "swish"], ort_session(str(onnx_path)).run(["prob", "swish"], {"x": x[None]})))
    prob = got["prob"][0]
    x64 = x.astype(np.float64)
    exact = 1.0 / (1.0 + np.exp(-x64))
    assert _ulps(prob, exact).max() <= 4.0
    assert prob[np.argmin(np.abs(x + 10))] == pytest.approx(4.5397868702e-05, rel=3e-7)   # issue 21's point
    assert prob.min() > 0                                              # no flush to 0 (x = −90: 8.2e-40)
    # the engine's Sigmoid (torch.sigmoid, float32): within 5 ulps where its value is a normal float
    net.blobs["x"].data[...] = x[None]
    eng = net.forward()["prob"][0].astype(np.float64)
    normal = x >= -87.3
    assert _ulps(prob[normal], eng[normal]).max() <= 5.0
    # BVLC Caffe's Sigmoid: 0.5·tanh(0.5x) + 0.5 in double, rounded to float (its own cancellation: 1.2e-16)
    bvlc = (0.5 * np.tanh(0.5 * x64) + 0.5).astype(np.float32).astype(np.float64)
    np.testing.assert_array_less(np.abs(prob - bvlc), 4 * np.spacing(bvlc.astype(np.float32)) + 1.2e-16)
    # Swish = x·σ(βx) through the same form
    swish_exact = x64 / (1.0 + np.exp(-0.5 * x64))
    assert _ulps(got["swish"][0], swish_exact).max() <= 5.0
