"""tools/paper002/netgen.py + heads.py + features.write_split: the heads' nets.

* the deploy HMCN-F equals a numpy implementation of Sec. 3.2's equations (TEST mode);
* the training losses are L_L + L_G (plain) and the uncertainty formula of the same terms (+MTL);
* every learnable blob receives a gradient; TEST-only layers stay out of TRAIN;
* on separable toy features written by features.write_split, training raises validation top-3.
"""
import numpy as np
import pytest

import fashioncaffe as caffe
from tools.paper002 import features, heads, hierarchy, netgen

C, K, D = 12, 5, 16
SMALL = dict(embed=32, global_width=32, local_width=16, train_batch=16)


def toy_hierarchy():
    cats = [f"c{i}" for i in range(C)]
    return hierarchy.Hierarchy(cats, {5: ([f"p{i}" for i in range(5)], np.arange(C) % 5),
                                      10: ([f"q{i}" for i in range(10)], np.arange(C) % 10)}, "toy")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Separable toy features in HDF5: class centres + noise."""
    d = tmp_path_factory.mktemp("p002_feats")
    rng = np.random.RandomState(0)
    centres = rng.randn(C, D) * 2
    lists = {}
    for split, n in (("train", 240), ("val", 60)):
        y = rng.randint(0, C, n)
        f = centres[y] + rng.randn(n, D)
        lists[split] = features.write_split(str(d), split, f, y, [f"{split}{i}".encode() for i in range(n)],
                                            toy_hierarchy(), chunk_rows=100)
    return d, lists


def test_write_split_round_trip(toy):
    d, lists = toy
    a = features.read_split(lists["train"])
    assert len(open(lists["train"]).read().split()) == 3  # 240 rows in chunks of 100
    assert a["feat"].shape == (240, D) and a["feat"].dtype == np.float32
    y = a["label"].astype(int)
    np.testing.assert_array_equal(a["onehot_cat"].argmax(1), y)
    np.testing.assert_array_equal(a["parent5"].astype(int), y % 5)
    np.testing.assert_array_equal(a["onehot_parent10"].argmax(1), y % 10)
    assert a["onehot_parent5"].sum(1).tolist() == [1.0] * 240
    assert a["key"][3] == b"train3"


def _layers(net):
    return {lp.name: lp for lp in net.layer}


@pytest.mark.parametrize("variant", netgen.VARIANTS)
def test_train_val_structure(variant):
    net = netgen.train_val_net(variant, D, C, K, "t.txt", "v.txt", 60)
    ly = _layers(net)
    assert ly["data_train"].include[0].phase == 0 and ly["data_val"].include[0].phase == 1
    assert list(ly["data_train"].top) == list(ly["data_val"].top)
    assert ly["data_train"].hdf5_data_param.shuffle and not ly["data_val"].hdf5_data_param.shuffle
    for kk in (1, 3, 5):
        assert ly[f"accuracy_top{kk}"].include[0].phase == 1
    drops = [lp for lp in net.layer if lp.type == "Dropout"]
    assert drops and all(lp.dropout_param.dropout_ratio == pytest.approx(0.7) for lp in drops)
    if variant == "flat":
        assert ly["loss"].type == "SoftmaxWithLoss"
        return
    assert list(ly["data_train"].top) == ["feat", "label", "onehot_cat", f"onehot_parent{K}"]
    assert list(ly["loss_local1"].bottom) == ["score_local1", f"onehot_parent{K}"]
    assert list(ly["loss_global"].bottom) == ["score_global", "onehot_cat"]
    assert list(ly["concat_global2"].bottom) == ["a_global1", "x"]
    assert list(ly["local2"].bottom) == ["a_global2"]
    assert list(ly["prob_final"].eltwise_param.coeff) == pytest.approx([0.7, 0.3])
    weights = [ly[n].loss_weight[0] for n in ("loss_local1", "loss_local2", "loss_global")]
    if variant == "hmcn":
        assert weights == [1, 1, 1]
    else:
        assert weights == [0, 0, 0]
        mtl = ly["mtl_loss"]
        assert mtl.python_param.module == "layers.uncertainty_weighting"
        assert list(mtl.bottom) == ["loss_local", "loss_global"] and list(mtl.loss_weight) == [1, 0]
        assert mtl.param[0].lr_mult == 1 and mtl.param[0].decay_mult == 0


def _fill(net, rng):
    for name, blobs in net.params.items():
        for i, b in enumerate(blobs):
            if name.endswith("_bn"):
                b.data[...] = [rng.randn(*b.shape) * 0.3, rng.uniform(0.5, 2, b.shape), 2.0][i]
            else:
                b.data[...] = rng.randn(*b.shape) * 0.3


def test_deploy_hmcn_equals_the_papers_equations():
    net = caffe.Net(netgen.deploy_net("hmcn", D, C, K, batch=4, **SMALL), caffe.TEST)
    rng = np.random.RandomState(3)
    _fill(net, rng)
    feat = rng.randn(4, D)
    net.blobs["feat"].data[...] = feat
    out = net.forward()

    def p(name, i=0):
        return np.asarray(net.params[name][i].data, dtype=np.float64)

    def block(name, v, residual=None):  # φ → BN (stored statistics / factor) → Scale → + residual
        z = np.maximum(v @ p(name).T + p(name, 1), 0)
        z = (z - p(name + "_bn") / 2.0) / np.sqrt(p(name + "_bn", 1) / 2.0 + 1e-5)
        z = z * p(name + "_scale") + p(name + "_scale", 1)
        return z if residual is None else z + residual

    def fc(name, v):
        return v @ p(name).T + p(name, 1)

    def sig(v):
        return 1 / (1 + np.exp(-v))

    x = block("x", feat)
    a1 = block("global1", x, x)
    a2 = block("global2", np.concatenate([a1, x], 1), a1)
    p_g = sig(fc("score_global", a2))
    p_l1 = sig(fc("score_local1", block("local1", a1)))
    p_l2 = sig(fc("score_local2", block("local2", a2)))
    np.testing.assert_allclose(out["prob_local1"], p_l1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["prob_final"], 0.7 * p_l2 + 0.3 * p_g, rtol=1e-4, atol=1e-6)
    assert out["prob_final"].shape == (4, C) and out["prob_local1"].shape == (4, K)


def test_losses_plain_sum_and_uncertainty_weighting(toy):
    d, lists = toy
    plain = caffe.Net(netgen.train_val_net("hmcn", D, C, K, lists["train"], lists["val"], 60, **SMALL), caffe.TEST)
    out = plain.forward()
    parts = [float(out[n]) for n in ("loss_local1", "loss_local2", "loss_global")]
    assert heads.net_loss(plain) == pytest.approx(sum(parts), rel=1e-6)
    mtl = caffe.Net(netgen.train_val_net("hmcn_mtl", D, C, K, lists["train"], lists["val"], 60, **SMALL),
                    caffe.TEST)
    mtl.params["mtl_loss"][0].data[...] = [0.4, -0.3]
    out = mtl.forward()
    l_l = float(mtl.blobs["loss_local1"].data) + float(mtl.blobs["loss_local2"].data)
    l_g = float(mtl.blobs["loss_global"].data)
    want = np.exp(-0.4) * l_l + np.exp(0.3) * l_g + (0.4 - 0.3) / 2
    assert float(out["mtl_loss"]) == pytest.approx(want, rel=1e-5)
    assert heads.net_loss(mtl) == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(out["log_var"], [0.4, -0.3], rtol=1e-6)


def test_every_learnable_blob_gets_a_gradient_and_train_outputs_are_losses(toy):
    d, lists = toy
    net = caffe.Net(netgen.train_val_net("hmcn_mtl", D, C, K, lists["train"], lists["val"], 60, **SMALL),
                    caffe.TRAIN)
    net.forward()
    net.backward()
    assert set(net.outputs) == {"mtl_loss", "log_var"}
    for name, blobs in net.params.items():
        if name.endswith("_bn"):
            continue
        for i, b in enumerate(blobs):
            assert np.abs(b.diff).sum() > 0, (name, i)


def test_solver_is_adam_with_a_schedule():
    text = netgen.solver_text("n.prototxt", 400, "runs/x", 3)
    assert 'type: "Adam"' in text and 'lr_policy: "multistep"' in text
    assert "stepvalue: 200" in text and "stepvalue: 300" in text and "test_iter: 3" in text


@pytest.mark.parametrize("variant", ["flat", "hmcn_mtl"])
def test_heads_learn_on_separable_features(toy, tmp_path, variant):
    d, lists = toy
    caffe.set_random_seed(1)
    texts = netgen.render(variant, D, C, K, lists["train"], lists["val"], 60, 1, 60, str(tmp_path / "h"),
                          net_path=str(tmp_path / "tv.prototxt"), test_interval=1000, **dict(SMALL, dropout=0.0))
    (tmp_path / "tv.prototxt").write_text(texts["train_val"])
    (tmp_path / "solver.prototxt").write_text(texts["solver"])
    val = features.read_split(lists["val"], ["feat", "label"])
    curve, model = heads.train(str(tmp_path / "solver.prototxt"),
                               netgen.deploy_net(variant, D, C, K, **SMALL), val, eval_every=30)
    assert [c["iteration"] for c in curve] == [0, 30, 60]
    assert curve[-1]["top3"] > max(0.45, curve[0]["top3"] + 0.2)  # chance: 3 / 12
    if variant == "hmcn_mtl":
        assert curve[-1]["log_var"] != curve[0]["log_var"]
    scores = heads.score(netgen.deploy_net(variant, D, C, K, **SMALL), model, val["feat"])
    assert heads.evaluate(scores, val["label"].astype(int))["top3"] == pytest.approx(curve[-1]["top3"])


def test_deploy_heads_export_to_onnx(tmp_path):
    import onnxruntime as ort
    from google.protobuf import text_format

    from fashioncaffe.onnx.api import export

    param = netgen.deploy_net("hmcn", D, C, K, **SMALL)
    (tmp_path / "h.prototxt").write_text(text_format.MessageToString(param))
    net = caffe.Net(param, caffe.TEST)
    rng = np.random.RandomState(5)
    _fill(net, rng)
    net.save(str(tmp_path / "h.caffemodel"))
    export(str(tmp_path / "h.prototxt"), str(tmp_path / "h.caffemodel"), str(tmp_path / "h.onnx"))
    feat = rng.randn(1, D).astype(np.float32)
    net.blobs["feat"].data[...] = feat
    ref = net.forward()
    sess = ort.InferenceSession(str(tmp_path / "h.onnx"))
    outs = sess.run(None, {sess.get_inputs()[0].name: feat})
    assert [o.name for o in sess.get_outputs()] == ["prob_final", "prob_local1"]
    for o, got in zip(sess.get_outputs(), outs):
        np.testing.assert_allclose(got, ref[o.name], rtol=1e-4, atol=1e-6)
