"""tools/paper002/pretrain.py + features.py on a miniature converter output (random images, the
converter's file layout), and the whole learning check on the tiny wardrobe (slow).

* prepare: the shuffled copy keeps every image with its own attribute row; weights from the counts;
* the pretraining net never reads the category labels (one-top Data layers, no softmax);
* a pretrained caffemodel loads into the frozen encoder by name, blob for blob;
* extraction covers every image once, in key order, with the Datum labels, deterministically.
"""
import json
import os

import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.formats.blobproto import write_binaryproto
from fashioncaffe.formats.lmdb_datum import DatumReader, DatumWriter, array_to_datum, float_datum, make_key
from tools.nets import efficientnet as eff
from tools.paper002 import features, hierarchy, pretrain

MICRO = dict(arch="efficientnet", variant=eff.narrow(0.125, 0.25, 4), size=32, resize=36, input_scale=1 / 64.,
             batch=4, iters=2, base_lr=1e-3)
N_TRAIN, N_VAL, A = 14, 9, 6


def _split(root, split, n, rng):
    d = os.path.join(root, split)
    os.makedirs(d)
    attrs = np.where(rng.rand(n, A) < 0.3, 1.0, 0.0)
    attrs[rng.rand(n, A) < 0.1] = -1
    with DatumWriter(os.path.join(d, "images_lmdb")) as wi, DatumWriter(os.path.join(d, "attributes_lmdb")) as wa:
        for i in range(n):
            img = np.full((3, 36, 36), i * 7 % 256, np.uint8)  # image i is recognisable by its value
            key = make_key(i, f"img/{split}_{i:03d}.jpg")
            wi.put(key, array_to_datum(img, label=i % 3))
            wa.put(key, float_datum(np.r_[attrs[i, :-1], i]))  # last column: the image index
    write_binaryproto(os.path.join(d, "mean.binaryproto"), np.full((1, 3, 36, 36), 100, np.float32), legacy_4d=True)
    meta = {"companions": {"attributes": {"K": A, "names": [f"a{j}" for j in range(A)],
                                          "types": ["texture", "fabric", "shape", "part", "style", "style"]}}}
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f)


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("p002_conv"))
    rng = np.random.RandomState(0)
    _split(root, "train", N_TRAIN, rng)
    _split(root, "val", N_VAL, rng)
    return root


def test_prepare_shuffles_images_with_their_attributes(conv, tmp_path):
    out = str(tmp_path / "pre")
    info = pretrain.prepare(conv, out, seed=3)
    assert info["n_images"] == N_TRAIN and info["n_attributes"] == A and "category labels unused" in info["task"]
    ri, ra = DatumReader(os.path.join(out, "images_lmdb")), DatumReader(os.path.join(out, "attributes_lmdb"))
    assert ri.keys == ra.keys and len(ri.keys) == N_TRAIN
    order = []
    for k in ri.keys:
        idx = int(np.asarray(ra.get(k).float_data)[-1])
        d = ri.get(k)
        assert d.data[0] == idx * 7 % 256               # the image and its attribute row travel together
        assert k.decode().endswith(f"train_{idx:03d}.jpg")
        order.append(idx)
    assert sorted(order) == list(range(N_TRAIN)) and order != sorted(order)
    w = json.load(open(os.path.join(out, "attr_weights.json")))
    assert len(w["pos_weight"]) == A and all(0 <= v <= 10 for v in w["pos_weight"] + w["neg_weight"])
    sub = pretrain.prepare(conv, str(tmp_path / "sub"), seed=3, attr_types=("texture", "fabric"))
    assert sub["attributes"] == ["a0", "a1"]
    assert len(DatumReader(str(tmp_path / "sub" / "attributes_lmdb")).get(ri.keys[0]).float_data) == 2


def test_attribute_weights_balance_each_attribute():
    a = np.array([[1, 0, -1], [0, 0, -1], [0, 0, 1], [0, 1, -1]])
    wp, wn = pretrain.attribute_weights(a)
    np.testing.assert_allclose(wp, [4 / 2, 4 / 2, 1 / 2])
    np.testing.assert_allclose(wn, [4 / 6, 4 / 6, 0])


def test_pretraining_net_never_reads_category_labels(conv, tmp_path):
    out = str(tmp_path / "pre")
    pretrain.prepare(conv, out, seed=1)
    net = pretrain.train_net(MICRO, out, A, mean_file=os.path.join(conv, "train", "mean.binaryproto"))
    data = [lp for lp in net.layer if lp.type == "Data"]
    assert [len(lp.top) for lp in data] == [1, 1]
    assert all("label" not in lp.top for lp in net.layer)
    assert not [lp for lp in net.layer if lp.type in ("SoftmaxWithLoss", "Accuracy")]
    assert data[0].transform_param.mirror and data[0].transform_param.crop_size == 32


@pytest.fixture(scope="module")
def pretrained(conv, tmp_path_factory):
    root = tmp_path_factory.mktemp("p002_pre")
    data = str(root / "data")
    pretrain.prepare(conv, data, seed=1)
    caffe.set_mode_cpu()
    model = pretrain.pretrain(MICRO, data, str(root / "enc"), seed=1)
    return model


def test_pretrained_encoder_loads_into_the_frozen_net(pretrained, conv):
    assert pretrained.endswith("encoder_iter_2.caffemodel") and os.path.exists(pretrained)
    net = caffe.Net(pretrain.encoder_net(MICRO, batch=2), caffe.TEST, weights=pretrained)
    ref = caffe.Net(pretrain.encoder_net(MICRO, batch=2), caffe.TEST)
    trained = caffe.Net(os.path.join(os.path.dirname(pretrained), "encoder_train.prototxt"), caffe.TEST,
                        weights=pretrained)
    assert set(net.params) == set(trained.params) - {"score_attr"}
    for name in net.params:
        for a, b in zip(net.params[name], trained.params[name]):
            np.testing.assert_array_equal(a.data, b.data)
    assert any(not np.array_equal(a.data, b.data) for name in net.params
               for a, b in zip(net.params[name], ref.params[name]))
    layers = {lp.name: lp for lp in pretrain.encoder_net(MICRO).layer}
    assert layers["stem_bn"].batch_norm_param.use_global_stats
    assert net.blobs["feat"].shape == (2, pretrain.feature_dim(MICRO))


def test_extraction_covers_each_image_once_in_key_order(pretrained, conv, tmp_path):
    lmdb = os.path.join(conv, "val", "images_lmdb")
    mean = os.path.join(conv, "train", "mean.binaryproto")
    net = pretrain.encoder_net(MICRO, lmdb, batch=4, mean_file=mean)
    f1, y1, k1 = features.extract(net, pretrained, lmdb)
    f2, _, _ = features.extract(net, pretrained, lmdb)
    assert f1.shape == (N_VAL, pretrain.feature_dim(MICRO)) and np.isfinite(f1).all()
    np.testing.assert_array_equal(f1, f2)
    r = DatumReader(lmdb)
    assert k1 == r.keys
    np.testing.assert_array_equal(y1, [r.get(k).label for k in r.keys])
    # image i is constant i·7: different images give different features, in the LMDB's order
    assert np.abs(f1[1] - f1[2]).max() > 0
    h = hierarchy.Hierarchy(["a", "b", "c"], {5: (list("ABCDE"), [0, 1, 1]), 10: (list("ABCDEFGHIJ"), [0, 1, 2])}, "t")
    lf = features.write_split(str(tmp_path / "h5"), "val", f1, y1, k1, h)
    a = features.read_split(lf)
    np.testing.assert_array_equal(a["feat"], f1)
    assert [bytes(k) for k in a["key"]] == k1
    np.testing.assert_array_equal(a["parent5"], np.array([0, 1, 1])[y1])


@pytest.mark.parametrize("scale", ["full", "full_resnet50"])
def test_full_scale_encoders_give_the_papers_2048_features_from_7x7(scale):
    cfg = pretrain.ENCODERS[scale]
    net = caffe.Net(pretrain.encoder_net(cfg, batch=1), caffe.TEST)   # shape inference only
    last_map = "top_conv" if cfg["arch"] == "efficientnet" else "res5c"
    assert net.blobs[last_map].shape == (1, 2048, 7, 7)
    assert net.blobs["feat"].shape == (1, 2048) == (1, pretrain.feature_dim(cfg))
    assert pretrain.transform_param(cfg)["crop_size"] == 224


@pytest.mark.slow
def test_learning_check_on_the_tiny_wardrobe(tmp_path, monkeypatch):
    from tools.paper002 import learning

    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    s = learning.run(root=str(tmp_path / "learn"), head_iters=20, pretrain_iters=4, eval_every=10,
                     variants=("flat", "hmcn_mtl"))
    assert [r["variant"] for r in s["runs"]] == ["flat", "hmcn_mtl"]
    for r in s["runs"]:
        assert [c["iteration"] for c in r["curve"]] == [0, 10, 20]
        assert 0 <= r["curve"][-1]["top3"] <= 1
    assert "log_var" in s["runs"][1]["curve"][-1]
