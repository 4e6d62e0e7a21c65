"""Paper 004's part ROI pooling layer (layers/part_roi_pooling.py).

* numpy (pycaffe) path: hand-computed bins (Fast R-CNN's float32 rule, C's rounding), the whole map =
  AlexNet's pool5, finite-difference gradients, driven through BVLC's RawBlobVec stand-in;
* tensor path = numpy path (forward, gradients), gradcheck;
* both paths inside a fashioncaffe Net agree; onnxruntime = engine (negative features included).
"""
import ast
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

from layer_testing import BlobVector, FBlob  # noqa: E402
from layers.part_roi_pooling import PartROIPooling, bin_edges, round_half_away  # noqa: E402
from layers.tensor_impl import part_roi_pooling_t as roi_t  # noqa: E402


def make(param, bottoms, dtype=np.float32):
    layer = PartROIPooling()
    layer.param_str = json.dumps(param)
    top = BlobVector([FBlob(0.0, dtype=dtype)])
    bv = BlobVector(bottoms)
    layer.setup(bv, top)
    layer.reshape(bv, top)
    return layer, top


def run(layer, bottoms, top):
    bv = BlobVector(bottoms)
    layer.reshape(bv, top)
    layer.forward(bv, top)
    return np.array(top[0].data)


def test_round_is_c_round_and_bins_follow_fast_rcnn_in_float32():
    got = round_half_away([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997, 2.4999998, -1.2])
    assert got.tolist() == [1, 2, 3, -1, -3, 0, 2, -1]
    # 13 cells into 6 bins: float32(13/6) * 6 rounds to exactly 13 (float64 would give 13.0000005 -> 14)
    assert bin_edges(0, 12, 6, 13) == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 11), (10, 13)]
    assert bin_edges(0, 6, 3, 7) == [(0, 3), (2, 5), (4, 7)]
    assert bin_edges(3, 1, 2, 10) == [(3, 4), (3, 4)]          # a malformed ROI is forced to 1 cell
    assert bin_edges(-3, 2, 2, 10) == [(0, 0), (0, 3)]         # clipped at the border: first bin empty


def test_hand_values_gate_and_pixel_mode():
    x = np.arange(2 * 6 * 8, dtype=np.float64).reshape(1, 2, 6, 8)
    x[0, 1] *= -1                                               # all-negative channel
    # box 0: normalized (0.3, 0.2)-(0.6, 1.0) -> cells x round(2.1)=2..round(4.2)=4, y round(1.0)=1..5
    # box 1: gated off -> whole map; box 2: pixels are not used (normalized layer)
    boxes = np.array([[0.3, 0.2, 0.6, 1.0, 0.9, 0.9, 0.95, 0.95, 0, 0, 1, 1]])
    gate = np.array([[1.0, 0.0, 1.0]])
    bottoms = [FBlob(x), FBlob(boxes), FBlob(gate)]
    layer, top = make({"parts": [0, 1], "pooled_h": 2, "pooled_w": 1}, bottoms)
    out = run(layer, bottoms, top).reshape(2, 2, 2)             # part, channel, bin row
    # part 0: rows 1..5 -> bins [1, 4) and [3, 6) (roi 5 / 2 = 2.5); columns 2..4
    ch0 = x[0, 0]
    assert out[0, 0].tolist() == [ch0[1:4, 2:5].max(), ch0[3:6, 2:5].max()]
    assert out[0, 1].tolist() == [x[0, 1, 1:4, 2:5].max(), x[0, 1, 3:6, 2:5].max()]   # negative maxima kept
    # part 1 gated off: the whole 6 x 8 map in 2 x 1 bins
    assert out[1, 0].tolist() == [ch0[0:3].max(), ch0[3:6].max()]
    assert top[0].data.shape == (1, 4, 2, 1)
    # pixel coordinates with spatial_scale reproduce the same cells (Fast R-CNN mode)
    px = np.array([[2.0 * 16, 1.0 * 16, 4.0 * 16 + 7, 5.0 * 16 + 7, 0, 0, 1, 1, 0, 0, 1, 1]])
    b2 = [FBlob(x), FBlob(px)]
    layer2, top2 = make({"parts": [0], "pooled_h": 2, "pooled_w": 1, "coords": "pixels",
                         "spatial_scale": 1 / 16.0}, b2)
    np.testing.assert_array_equal(run(layer2, b2, top2).reshape(2, 2), out[0])


def test_whole_map_is_alexnet_pool5():
    rng = np.random.RandomState(0)
    for size, pooled in ((13, 6), (7, 3)):
        x = rng.randn(2, 3, size, size).astype(np.float32)
        bottoms = [FBlob(x), FBlob(rng.rand(2, 4)), FBlob(np.zeros((2, 1)))]
        layer, top = make({"pooled_size": pooled}, bottoms)
        want = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2).numpy()
        np.testing.assert_array_equal(run(layer, bottoms, top), want)
        # the full normalised box without a gate gives the same
        b2 = [FBlob(x), FBlob(np.tile([0.0, 0.0, 1.0, 1.0], (2, 1)))]
        layer2, top2 = make({"pooled_size": pooled}, b2)
        np.testing.assert_array_equal(run(layer2, b2, top2), want)


def roi_case(seed=0, n=2, c=2, h=7, w=6, k=3):
    rng = np.random.RandomState(seed)
    x = rng.randn(n, c, h, w)  # distinct values: no ties, finite differences well defined
    a = rng.uniform(-0.2, 0.9, size=(n, k, 2))
    b = a + rng.uniform(0.05, 0.8, size=(n, k, 2))
    boxes = np.concatenate([a, b], -1).reshape(n, 4 * k)
    gate = (rng.rand(n, k) > 0.3).astype(np.float64)
    return x, boxes, gate


def fd_grad(layer, bottoms, top, wts, eps=1e-6):
    def obj():
        return float((run(layer, bottoms, top) * wts).sum())
    b = bottoms[0]
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


@pytest.mark.parametrize("param", [
    {"pooled_size": 2},
    {"parts": [2, 0], "pooled_h": 3, "pooled_w": 2},
    {"parts": [1], "pooled_size": 4},
    {"pooled_h": 2, "pooled_w": 3, "coords": "pixels", "spatial_scale": 0.25},
])
def test_fd_gradients_and_tensor_path(param):
    x, boxes, gate = roi_case(seed=sum(map(ord, json.dumps(param))) % 97)
    if param.get("coords") == "pixels":
        boxes = boxes * 24
    # float64 blobs (the FD opt-in): finite differences need more than float32's digits
    bottoms = [FBlob(x, dtype=np.float64), FBlob(boxes, dtype=np.float64), FBlob(gate, dtype=np.float64)]
    layer, top = make(param, bottoms, dtype=np.float64)
    out = run(layer, bottoms, top)
    wts = np.random.RandomState(1).randn(*out.shape)
    top[0].diff[...] = wts
    layer.backward(top, [True, True, True], BlobVector(bottoms))
    np.testing.assert_allclose(bottoms[0].diff, fd_grad(layer, bottoms, top, wts), rtol=1e-6, atol=1e-7)
    assert np.all(bottoms[1].diff == 0) and np.all(bottoms[2].diff == 0)
    assert np.abs(bottoms[0].diff).sum() > 0
    # tensor path: the same forward and gradients
    run(layer, bottoms, top)
    xt = torch.tensor(x, requires_grad=True)
    got = roi_t.forward(layer, [xt, torch.tensor(boxes), torch.tensor(gate)])[0]
    np.testing.assert_array_equal(got.detach().numpy(), top[0].data)
    (got * torch.tensor(wts)).sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), bottoms[0].diff, rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(
        lambda a: roi_t.forward(layer, [a, torch.tensor(boxes), torch.tensor(gate)])[0],
        (xt.detach().requires_grad_(),), fast_mode=True)


def test_ties_route_to_the_first_maximum_in_raster_order():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 3] = x[0, 0, 2, 0] = 5.0                          # tie across rows and columns
    bottoms = [FBlob(x), FBlob(np.array([[0.0, 0.0, 1.0, 1.0]]))]
    layer, top = make({"pooled_size": 1}, bottoms)
    run(layer, bottoms, top)
    top[0].diff[...] = 1.0
    layer.backward(top, [True, False], BlobVector(bottoms))
    want = np.zeros((4, 4))
    want[1, 3] = 1.0                                             # row 1 comes before row 2
    np.testing.assert_array_equal(bottoms[0].diff[0, 0], want)
    xt = torch.tensor(x, requires_grad=True)
    roi_t.forward(layer, [xt, torch.tensor(bottoms[1].data)])[0].sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy()[0, 0], want)


def test_param_and_shape_errors():
    x, boxes, gate = roi_case()
    for bad in ({"pooled_size": 0}, {"coords": "cm"}, {"bogus": 1}, {"parts": []}):
        with pytest.raises(ValueError):
            make(bad, [FBlob(x), FBlob(boxes), FBlob(gate)])
    with pytest.raises(Exception, match="4 values"):
        make({}, [FBlob(x), FBlob(boxes[:, :5]), FBlob(gate)])
    with pytest.raises(Exception, match="asks for box 5"):
        make({"parts": [5]}, [FBlob(x), FBlob(boxes), FBlob(gate)])
    with pytest.raises(Exception, match="gate bottom"):
        make({}, [FBlob(x), FBlob(boxes), FBlob(gate[:, :2])])


# ---------------------------------------------------------------------------------------------
NET = """
name: "p004_roi"
force_backward: true
layer {{ name: "in" type: "Input" top: "feat" top: "boxes" top: "gate" top: "target"
        input_param {{ shape {{ dim: 3 dim: 4 dim: 7 dim: 7 }} shape {{ dim: 3 dim: 12 }} shape {{ dim: 3 dim: 3 }}
                      shape {{ dim: 3 dim: 5 }} }} }}
layer {{ name: "roi" type: "Python" bottom: "feat" bottom: "boxes" bottom: "gate" top: "pooled"
        python_param {{ module: "{mod}" layer: "ROI" param_str: '{{"parts": [1, 2], "pooled_size": 3}}' }} }}
layer {{ name: "fc" type: "InnerProduct" bottom: "pooled" top: "emb"
        inner_product_param {{ num_output: 5 weight_filler {{ type: "gaussian" std: 0.3 }} }} }}
layer {{ name: "loss" type: "EuclideanLoss" bottom: "emb" bottom: "target" top: "loss" }}
"""


def _engine(tmp_path, numpy_only):
    mod = "p004_roi_numpy" if numpy_only else "p004_roi_tensor"
    (tmp_path / f"{mod}.py").write_text(
        "from layers.part_roi_pooling import PartROIPooling as _R\n"
        f"class ROI(_R):\n    {'tensor_path = None' if numpy_only else 'pass'}\n")
    path = tmp_path / f"net_{int(numpy_only)}.prototxt"
    path.write_text(NET.format(mod=mod))
    sys.path.insert(0, str(tmp_path))
    try:
        torch.manual_seed(0)
        net = caffe.Net(str(path), caffe.TRAIN)
    finally:
        sys.path.remove(str(tmp_path))
    x, boxes, gate = roi_case(seed=5, n=3, c=4, h=7, w=7, k=3)
    rng = np.random.RandomState(2)
    net.params["fc"][0].data[...] = rng.randn(*net.params["fc"][0].data.shape) * 0.1
    for name, v in (("feat", x), ("boxes", boxes), ("gate", gate), ("target", rng.randn(3, 5))):
        net.blobs[name].data[...] = v
    out = net.forward()
    net.backward()
    return float(out["loss"]), net.blobs["pooled"].data.copy(), net.blobs["feat"].diff.copy()


def test_engine_numpy_and_tensor_paths_agree(tmp_path):
    l_np, p_np, d_np = _engine(tmp_path, True)
    l_t, p_t, d_t = _engine(tmp_path, False)
    assert l_np == pytest.approx(l_t, rel=1e-5)
    np.testing.assert_allclose(p_np, p_t, rtol=1e-6)
    np.testing.assert_allclose(d_np, d_t, rtol=1e-5, atol=1e-7)
    assert np.abs(d_t).sum() > 0


def test_onnx_export_matches_engine(tmp_path):
    from fashioncaffe.onnx import export_net
    from fashioncaffe.onnx.testing import ort_session

    deploy = tmp_path / "roi_deploy.prototxt"
    deploy.write_text("""
name: "roi_deploy"
layer { name: "in" type: "Input" top: "feat" top: "boxes" top: "gate"
        input_param { shape { dim: 2 dim: 3 dim: 13 dim: 13 } shape { dim: 2 dim: 16 } shape { dim: 2 dim: 4 } } }
layer { name: "roi" type: "Python" bottom: "feat" bottom: "boxes" bottom: "gate" top: "pooled"
        python_param { module: "layers.part_roi_pooling" layer: "PartROIPooling"
                       param_str: '{"parts": [3, 0, 2], "pooled_size": 6}' } }
layer { name: "roi_px" type: "Python" bottom: "feat" bottom: "boxes" top: "pooled_px"
        python_param { module: "layers.part_roi_pooling" layer: "PartROIPooling"
                       param_str: '{"pooled_h": 2, "pooled_w": 3, "coords": "pixels", "spatial_scale": 0.0625}' } }
""")
    net = caffe.Net(str(deploy), caffe.TEST)
    x, boxes, gate = roi_case(seed=9, n=2, c=3, h=13, w=13, k=4)
    x = x - 1.5                                                   # mostly negative features
    feeds = {"feat": x.astype(np.float32), "boxes": boxes.astype(np.float32), "gate": gate.astype(np.float32)}
    for k, v in feeds.items():
        net.blobs[k].data[...] = v
    net.forward()
    want = {b: net.blobs[b].data.copy() for b in ("pooled", "pooled_px")}
    path = tmp_path / "roi.onnx"
    export_net(net, str(path), extra_outputs=["pooled", "pooled_px"])
    sess = ort_session(str(path))
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, feeds)))
    assert (want["pooled"] < 0).any()
    for b in want:
        np.testing.assert_array_equal(got[b], want[b])
    # a batch size other than the export's
    feeds3 = {k: np.concatenate([v, v[:1]]) for k, v in feeds.items()}
    got3 = sess.run(["pooled"], feeds3)[0]
    np.testing.assert_array_equal(got3[:2], want["pooled"])


def test_pixel_mode_equals_onnxruntime_max_roi_pool():
    """An independent implementation of Fast R-CNN's ROI pooling: onnxruntime's MaxRoiPool (CPU) on
    random pixel boxes at AlexNet's conv5 scale, negative features included, gives the same numbers."""
    import onnx
    from onnx import TensorProto, helper

    from fashioncaffe.onnx.testing import ort_session

    rng = np.random.RandomState(0)
    x = rng.randn(1, 3, 13, 13).astype(np.float32) - 1
    r = 120
    xy1 = rng.uniform(-20, 230, (r, 2))
    xy2 = np.maximum(xy1 + rng.uniform(0, 120, (r, 2)), rng.uniform(-20, 230, (r, 2)))
    rois = np.concatenate([np.zeros((r, 1)), xy1, xy2], 1).astype(np.float32)
    node = helper.make_node("MaxRoiPool", ["x", "rois"], ["y"], pooled_shape=[6, 6], spatial_scale=1 / 16.0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 13, 13]),
                                            helper.make_tensor_value_info("rois", TensorProto.FLOAT, [r, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [r, 3, 6, 6])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    want = ort_session(model).run(None, {"x": x, "rois": rois})[0]
    bottoms = [FBlob(np.repeat(x, r, 0)), FBlob(rois[:, 1:])]
    layer, top = make({"pooled_size": 6, "coords": "pixels", "spatial_scale": 1 / 16.0}, bottoms)
    np.testing.assert_array_equal(run(layer, bottoms, top), want)
    assert (want < 0).mean() > 0.2


@pytest.mark.parametrize("fname", ["part_roi_pooling.py", "attribute_triplet_sampler.py", "amnet_sampler.py"])
def test_paper004_layer_files_import_only_numpy_stdlib_and_caffe(fname):
    src = open(os.path.join(ROOT, "layers", fname)).read()
    tops = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            tops.add((node.module or "").split(".")[0])
    assert tops <= {"numpy", "caffe"} | set(sys.stdlib_module_names), tops
