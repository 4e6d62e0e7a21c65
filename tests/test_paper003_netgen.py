"""Paper 003's nets: the per-style train_val (StyleData TRAIN + TEST, backbone, fc_style, weighted
sigmoid loss) and deploy nets, the resampling / cost-sensitive settings per style, the cost-sensitive
gradient through the reused weighted sigmoid cross-entropy layer, and a couple of real solver steps."""
import json
import os
import sys

import cv2
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.formats.lmdb_datum import DatumWriter, encoded_datum, float_datum, make_key
from fashioncaffe.prototxt import parse_net_text
from tools.paper003 import netgen, paper
from tools.paper003.predict import predict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from layer_testing import BlobVector, FBlob  # noqa: E402
from layers.weighted_sigmoid_ce import WeightedSigmoidCrossEntropyLoss  # noqa: E402

MEAN = [100.0, 110.0, 120.0]


def _layers(net):
    return {lp.name: lp for lp in net.layer}


def test_style_settings_follow_the_paper():
    assert [s for s in range(1, 14) if netgen.style_ratio(s) is None] == [3, 5, 6, 9]
    assert all(netgen.style_ratio(s) == netgen.DEFAULT_RATIO for s in paper.UNDERSAMPLED)
    assert [s for s in range(1, 14) if netgen.pos_weight(s) == 1.5] == [1, 4, 7, 8, 11, 12, 13]
    assert all(netgen.pos_weight(s, cost_sensitive=False) == 1.0 for s in range(1, 14))


@pytest.mark.parametrize("style,ratio,weight", [(4, 3, 1.5), (3, None, 1.0)])
def test_style_net_declares_data_and_loss(style, ratio, weight):
    net = netgen.style_net("densenet121", "narrow/8", style, "d/train", "d/val", 16, 64, MEAN, 1 / 64, test_batch=8,
                           seed=3)
    layers = _layers(net)
    train, test = json.loads(layers["data"].python_param.param_str), json.loads(layers["data_val"].python_param.param_str)
    assert layers["data"].include[0].phase == 0 and layers["data_val"].include[0].phase == 1
    assert train["style"] == style and train["ratio"] == ratio and train["resample"] is True
    assert train["rotate"] == 15 and train["erase"] == {"p": 0.5, "area": [0.02, 0.4], "aspect": 0.3}
    assert train["source"] == "d/train" and test["source"] == "d/val" and test["batch_size"] == 8
    assert "rotate" not in test and "ratio" not in test and train["seed"] == 3
    loss = json.loads(layers["loss"].python_param.param_str)
    assert layers["loss"].python_param.module == "layers.weighted_sigmoid_ce" and loss["pos_weight"] == weight
    assert layers["fc_style"].inner_product_param.num_output == 1 and list(layers["loss"].loss_weight) == [1]
    again = parse_net_text(netgen.net_text(net))
    assert [lp.name for lp in again.layer] == [lp.name for lp in net.layer]
    plain = netgen.style_net("densenet121", "narrow/8", style, "d/train", "d/val", 16, 64, MEAN, augment=False,
                             resample=False, cost_sensitive=False)
    p = json.loads(_layers(plain)["data"].python_param.param_str)
    assert p["rotate"] == 0 and p["erase"] is None and p["random_crop"] is False and p["resample"] is False
    assert json.loads(_layers(plain)["loss"].python_param.param_str)["pos_weight"] == 1.0


def test_cost_sensitive_gradient_weights():
    """Style 4's loss (netgen's param_str) weighs a positive's gradient by 1.5 and a negative's by 1,
    in the pycaffe path (driven as BVLC Caffe drives it) and in the engine's tensor path."""
    x = np.array([[0.3], [-1.2], [2.0], [0.1]])
    t = np.array([[1.0], [1.0], [0.0], [0.0]])
    sig = 1 / (1 + np.exp(-x))
    plain = (sig - t) / 4                                   # Caffe's sigmoid cross-entropy, BATCH_SIZE
    want = np.where(t == 1, 1.5, 1.0) * plain
    param = _layers(netgen.style_net("densenet121", "narrow/8", 4, "a", "b", 4, 32, MEAN))["loss"].python_param
    layer = WeightedSigmoidCrossEntropyLoss()
    layer.param_str = param.param_str
    bottom = BlobVector([FBlob(x, dtype=np.float64), FBlob(t, dtype=np.float64)])
    top = BlobVector([FBlob(0.0, dtype=np.float64)])
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    layer.forward(bottom, top)
    top[0].diff[...] = 1.0
    layer.backward(top, [True, False], bottom)
    np.testing.assert_allclose(bottom[0].diff, want, rtol=1e-12)
    loss = (1.5 * t * np.log1p(np.exp(-x)) + (1 - t) * np.log1p(np.exp(x))).sum() / 4
    assert float(top[0].data) == pytest.approx(loss)
    # the same layer in an engine net (tensor path)
    n = caffe.NetSpec()
    n.x, n.t = caffe.layers.Input(ntop=2, input_param=dict(shape=[dict(dim=[4, 1]), dict(dim=[4, 1])]))
    n.loss = caffe.layers.Python(n.x, n.t, python_param=dict(module=param.module, layer=param.layer,
                                                             param_str=param.param_str), loss_weight=1)
    proto = n.to_proto()
    proto.force_backward = True
    net = caffe.Net(proto, caffe.TRAIN)
    net.blobs["x"].data[...] = x
    net.blobs["t"].data[...] = t
    net.forward()
    net.backward()
    np.testing.assert_allclose(net.blobs["x"].diff, want, rtol=1e-5)


def test_pretrain_net_is_multilabel_with_unknowns_ignored():
    net = netgen.pretrain_net("inception_v4", "narrow/8", "c/train", "c/val", 8, 75, MEAN)
    layers = _layers(net)
    p = json.loads(layers["data"].python_param.param_str)
    assert p["style"] is None and p["labels"] == "attr20_lmdb" and "ratio" not in p
    assert layers["fc_attr"].inner_product_param.num_output == 20
    assert json.loads(layers["loss"].python_param.param_str)["ignore_label"] == -1
    assert "pool_8x8_s1_drop" in layers       # Inception-v4's dropout before its classifier


@pytest.fixture(scope="module")
def jd_like(tmp_path_factory):
    """A small JD-like split pair: 80 px images whose colour tells style 3."""
    root = tmp_path_factory.mktemp("p003ng")
    rng = np.random.default_rng(0)
    for split, n in (("train", 24), ("val", 10)):
        d = root / split
        with DatumWriter(str(d / "images_lmdb")) as wi, DatumWriter(str(d / "styles_lmdb")) as wl:
            for i in range(n):
                lab = np.zeros(13, np.float32)
                lab[2] = i % 3 == 0
                lab[8] = 1
                img = np.full((80, 80, 3), 200 if lab[2] else 40, np.uint8)
                img += rng.integers(0, 30, img.shape, dtype=np.uint8)
                ok, buf = cv2.imencode(".png", img)
                key = make_key(i, f"{split}{i}.png")
                wi.put(key, encoded_datum(buf.tobytes()))
                wl.put(key, float_datum(lab))
    return root


@pytest.mark.parametrize("key,variant,crop", [
    ("densenet121", "narrow/8", 32),
    pytest.param("inception_v4", "narrow/8", 75, marks=pytest.mark.slow),   # ~3 min on a busy 2-core CPU
])
def test_style_net_trains_and_predicts(jd_like, tmp_path, key, variant, crop):
    net = netgen.style_net(key, variant, 3, str(jd_like / "train"), str(jd_like / "val"), 4, crop, MEAN, 1 / 64,
                           test_batch=4, seed=1)
    tv = tmp_path / "tv.prototxt"
    tv.write_text(netgen.net_text(net))
    (tmp_path / "solver.prototxt").write_text(netgen.solver_text(str(tv), str(tmp_path / "s"), 2, 0.01, 10, 4,
                                                                 display=1))
    s = caffe.get_solver(str(tmp_path / "solver.prototxt"))
    first = s.net.params["fc_style"][0].data.copy()
    s.solve()
    assert np.isfinite(float(s.net.blobs["loss"].data))
    assert not np.array_equal(first, s.net.params["fc_style"][0].data)
    weights = str(tmp_path / "s_iter_2.caffemodel")
    scores, labels = predict(str(tv), weights, 10)
    # (after 2 iterations the BatchNorm running statistics are rough: scores may saturate, not more)
    assert scores.shape == (10, 1) and ((scores >= 0) & (scores <= 1)).all()
    assert labels[:, 0].tolist() == [float(i % 3 == 0) for i in range(10)]
    deploy = tmp_path / "deploy.prototxt"
    deploy.write_text(netgen.net_text(netgen.deploy_net(key, variant, crop)))
    d = caffe.Net(str(deploy), weights, caffe.TEST)
    d.forward()
    assert d.blobs["prob"].data.shape == (1, 1)
