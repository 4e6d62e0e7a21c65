"""The model-zoo prototxts (prototxt/zoo/) load, and run forward and backward with the right shapes.

Deploy nets are built in TEST; train_val nets get their Data layers replaced by Input layers of the
same tops (data N×3×crop×crop, label N) so they run without ImageNet, in TRAIN (loss, backward) and
in TEST (accuracy).  Weights are random (gaussian, scaled by fan-in so activations stay finite;
BatchNorm statistics 0 / 1).  Where the engine has a Data layer, AlexNet's train_val also runs on a
tiny LMDB + mean.binaryproto fixture.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import fashioncaffe as caffe
from fashioncaffe.proto import caffe_pb2
from fashioncaffe.prototxt import read_net_param

ZOO = Path(__file__).resolve().parents[1] / "prototxt" / "zoo"
SOLVERS = Path(__file__).resolve().parents[1] / "solvers" / "zoo"

DATA_TYPES = ("Data", "ImageData", "HDF5Data", "WindowData")


def _needs(*types):
    have = set(caffe.layer_type_list())
    missing = [t for t in types if t not in have]
    assert not missing, f"layer types the zoo nets use but the engine lacks: {', '.join(missing)}"


def _net_types(param):
    return sorted({lp.type for lp in param.layer})


def with_inputs(param, batch, size=None):
    """Copy of ``param`` with Data layers replaced by Input layers (same name, tops, include rules)
    and every Input resized to ``batch`` (and spatial ``size`` when given)."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(param)
    del out.layer[:]
    for lp in param.layer:
        if lp.type in DATA_TYPES or lp.type == "Input":
            new = caffe_pb2.LayerParameter()
            new.name, new.type = lp.name, "Input"
            new.top.extend(lp.top)
            new.include.extend(lp.include)
            new.exclude.extend(lp.exclude)
            if lp.type == "Input":
                dims = [list(s.dim) for s in lp.input_param.shape]
            else:
                crop = lp.transform_param.crop_size or 227
                dims = [[batch, 3, crop, crop]] + [[batch]] * (len(lp.top) - 1)
            for d in dims:
                d = list(d)
                d[0] = batch
                if size is not None and len(d) == 4:
                    d[2] = d[3] = size
                new.input_param.shape.add().dim.extend(d)
            out.layer.add().CopyFrom(new)
        else:
            out.layer.add().CopyFrom(lp)
    return out


def fill_random(net, seed=0):
    """Gaussian weights with std √(1/fan_in) (biases std 0.01); BatchNorm mean 0, var 1, factor 1;
    Scale γ ~ N(1, 0.1²).  Activations then stay O(1), so softmax outputs do not saturate."""
    gen = torch.Generator().manual_seed(seed)
    for lname, blobs in net.params.items():
        layer = net.layer_dict[lname]
        ltype = getattr(layer, "type", "")
        with torch.no_grad():
            for i, b in enumerate(blobs):
                t = b.tensor
                if ltype == "BatchNorm":
                    t.fill_(0.0 if i == 0 else 1.0)
                elif ltype == "Scale" and i == 0:
                    t.normal_(1.0, 0.1, generator=gen)
                elif t.dim() >= 2:
                    fan_in = t.numel() / t.shape[0]
                    t.normal_(0.0, math.sqrt(1.0 / fan_in), generator=gen)
                else:
                    t.normal_(0.0, 0.01, generator=gen)


def build(path, phase, batch, size=None, force_backward=False):
    """The net with random weights; ``force_backward`` as a script that back-propagates through a
    deploy net sets it (without it BVLC back-propagates nothing there: no layer feeds a loss)."""
    param = with_inputs(read_net_param(str(path)), batch, size)
    param.force_backward = param.force_backward or force_backward
    _needs(*_net_types(_filtered(param, phase)))
    net = caffe.Net(param, phase)
    fill_random(net)
    return net


def _filtered(param, phase):
    from fashioncaffe.netstate import filter_net

    state = caffe_pb2.NetState()
    state.phase = phase
    return filter_net(param, state)


def feed(net, seed=1):
    rng = np.random.default_rng(seed)
    for name in net.inputs:
        blob = net.blobs[name]
        if name == "label":
            blob.data[...] = rng.integers(0, 1000, size=blob.shape)
        else:
            blob.data[...] = rng.standard_normal(blob.shape).astype(np.float32)


def check_shapes(net, table):
    wrong = {name: (net.blobs[name].shape, tuple(want)) for name, want in table.items()
             if net.blobs[name].shape != tuple(want)}
    assert not wrong, f"blob shapes (got, want): {wrong}"


def run_deploy(net, out="prob"):
    """forward, check outputs, then backward from a random diff on the output."""
    feed(net)
    outs = net.forward()
    prob = outs[out]
    assert np.isfinite(prob).all()
    np.testing.assert_allclose(prob.reshape(prob.shape[0], -1).sum(1), 1.0, rtol=1e-4)
    rng = np.random.default_rng(2)
    net.backward(**{out: rng.standard_normal(prob.shape).astype(np.float32)})
    return outs


def assert_param_grads(net, names):
    for name in names:
        d = net.params[name][0].diff
        assert np.isfinite(d).all(), f"{name}: non-finite weight diff"
        assert np.abs(d).sum() > 0, f"{name}: weight diff is all zero after backward"


def assert_blob_diffs(net):
    for name, blob in net.blobs.items():
        assert blob.diff.shape == blob.data.shape, name
        assert np.isfinite(blob.data).all(), f"{name}: non-finite data"


# ------------------------------------------------------------------------------------------------
# expected shapes
def alexnet_shapes(n, caffenet=False):
    s = {"data": (n, 3, 227, 227), "conv1": (n, 96, 55, 55), "pool1": (n, 96, 27, 27),
         "norm1": (n, 96, 27, 27) if caffenet else (n, 96, 55, 55),
         "conv2": (n, 256, 27, 27), "pool2": (n, 256, 13, 13),
         "norm2": (n, 256, 13, 13) if caffenet else (n, 256, 27, 27),
         "conv3": (n, 384, 13, 13), "conv4": (n, 384, 13, 13), "conv5": (n, 256, 13, 13),
         "pool5": (n, 256, 6, 6), "fc6": (n, 4096), "fc7": (n, 4096), "fc8": (n, 1000)}
    return s


INCEPTION_OUT = {"inception_3a": (256, 28), "inception_3b": (480, 28), "inception_4a": (512, 14),
                 "inception_4b": (512, 14), "inception_4c": (512, 14), "inception_4d": (528, 14),
                 "inception_4e": (832, 14), "inception_5a": (832, 7), "inception_5b": (1024, 7)}


def googlenet_shapes(n):
    s = {"data": (n, 3, 224, 224), "conv1/7x7_s2": (n, 64, 112, 112), "pool1/3x3_s2": (n, 64, 56, 56),
         "pool1/norm1": (n, 64, 56, 56), "conv2/3x3_reduce": (n, 64, 56, 56), "conv2/3x3": (n, 192, 56, 56),
         "conv2/norm2": (n, 192, 56, 56), "pool2/3x3_s2": (n, 192, 28, 28), "pool3/3x3_s2": (n, 480, 14, 14),
         "pool4/3x3_s2": (n, 832, 7, 7), "pool5/7x7_s1": (n, 1024, 1, 1), "loss3/classifier": (n, 1000),
         "inception_3a/1x1": (n, 64, 28, 28), "inception_3a/3x3": (n, 128, 28, 28),
         "inception_3a/5x5": (n, 32, 28, 28), "inception_3a/pool": (n, 192, 28, 28),
         "inception_3a/pool_proj": (n, 32, 28, 28), "inception_5b/5x5_reduce": (n, 48, 7, 7)}
    for name, (c, hw) in INCEPTION_OUT.items():
        s[f"{name}/output"] = (n, c, hw, hw)
    return s


def googlenet_aux_shapes(n):
    s = {}
    for k in (1, 2):
        c = 512 if k == 1 else 528
        s.update({f"loss{k}/ave_pool": (n, c, 4, 4), f"loss{k}/conv": (n, 128, 4, 4), f"loss{k}/fc": (n, 1024),
                  f"loss{k}/classifier": (n, 1000), f"loss{k}/loss1": ()})
    s["loss3/loss3"] = ()
    return s


def vgg_shapes(n, size=224):
    s = {"data": (n, 3, size, size)}
    hw, stage_c = size, (64, 128, 256, 512, 512)
    for stage, (c, reps) in enumerate(zip(stage_c, (2, 2, 3, 3, 3)), start=1):
        for r in range(1, reps + 1):
            s[f"conv{stage}_{r}"] = (n, c, hw, hw)
        hw = hw // 2
        s[f"pool{stage}"] = (n, c, hw, hw)
    s.update({"fc6": (n, 4096), "fc7": (n, 4096), "fc8": (n, 1000), "prob": (n, 1000)})
    return s


def resnet50_shapes(n):
    s = {"data": (n, 3, 224, 224), "conv1": (n, 64, 112, 112), "pool1": (n, 64, 56, 56),
         "pool5": (n, 2048, 1, 1), "fc1000": (n, 1000), "prob": (n, 1000)}
    for stage, blocks, width, out_c, hw in ((2, 3, 64, 256, 56), (3, 4, 128, 512, 28),
                                           (4, 6, 256, 1024, 14), (5, 3, 512, 2048, 7)):
        for bi in range(blocks):
            b = f"{stage}{'abcdef'[bi]}"
            s[f"res{b}"] = (n, out_c, hw, hw)
            s[f"res{b}_branch2a"] = (n, width, hw, hw)
            s[f"res{b}_branch2b"] = (n, width, hw, hw)
            s[f"res{b}_branch2c"] = (n, out_c, hw, hw)
            if bi == 0:
                s[f"res{b}_branch1"] = (n, out_c, hw, hw)
    return s


# ------------------------------------------------------------------------------------------------
# every file parses and upgrades
ALL_FILES = sorted(p.relative_to(ZOO).as_posix() for p in ZOO.glob("*/*.prototxt"))


def test_zoo_files_present():
    assert set(ALL_FILES) >= {
        "bvlc_alexnet/deploy.prototxt", "bvlc_alexnet/train_val.prototxt",
        "bvlc_reference_caffenet/deploy.prototxt", "bvlc_reference_caffenet/train_val.prototxt",
        "bvlc_googlenet/deploy.prototxt", "bvlc_googlenet/train_val.prototxt",
        "vgg16/deploy.prototxt", "resnet50/deploy.prototxt"}


@pytest.mark.parametrize("rel", ALL_FILES)
def test_zoo_prototxt_parses(rel):
    param = read_net_param(str(ZOO / rel))
    assert param.name
    assert len(param.layers) == 0 and len(param.layer) > 10  # V1 / input_dim upgraded to V2
    names = [lp.name for lp in param.layer]
    dup = {n for n in names if names.count(n) > 1 and n != "data"}
    assert not dup, f"duplicate layer names {dup}"


def test_vgg16_is_legacy_v1_syntax():
    text = (ZOO / "vgg16/deploy.prototxt").read_text()
    assert "layers {" in text and "type: CONVOLUTION" in text and text.count("input_dim:") == 4
    assert "layer {" not in text
    param = read_net_param(str(ZOO / "vgg16/deploy.prototxt"))
    assert param.layer[0].type == "Input"
    assert list(param.layer[0].input_param.shape[0].dim) == [10, 3, 224, 224]
    assert [lp.type for lp in param.layer].count("Convolution") == 13
    assert [lp.type for lp in param.layer].count("InnerProduct") == 3


def test_resnet50_structure():
    param = read_net_param(str(ZOO / "resnet50/deploy.prototxt"))
    types = [lp.type for lp in param.layer]
    assert types.count("Convolution") == 53
    assert types.count("BatchNorm") == 53 and types.count("Scale") == 53
    assert types.count("Eltwise") == 16
    for i, lp in enumerate(param.layer):
        if lp.type == "Convolution":  # every conv is followed by its BatchNorm then Scale, in place
            bn, sc = param.layer[i + 1], param.layer[i + 2]
            assert (bn.type, sc.type) == ("BatchNorm", "Scale"), lp.name
            assert bn.batch_norm_param.use_global_stats and sc.scale_param.bias_term
            assert list(bn.bottom) == list(bn.top) == list(sc.top) == list(lp.top)
    pool5 = next(lp for lp in param.layer if lp.name == "pool5")
    assert pool5.pooling_param.pool == caffe_pb2.PoolingParameter.AVE and pool5.pooling_param.kernel_size == 7


def test_googlenet_train_val_structure():
    param = read_net_param(str(ZOO / "bvlc_googlenet/train_val.prototxt"))
    losses = {lp.name: lp for lp in param.layer if lp.type == "SoftmaxWithLoss"}
    assert set(losses) == {"loss1/loss", "loss2/loss", "loss3/loss3"}
    assert list(losses["loss1/loss"].loss_weight) == pytest.approx([0.3])
    assert list(losses["loss2/loss"].loss_weight) == pytest.approx([0.3])
    assert list(losses["loss3/loss3"].loss_weight) == [1.0]
    assert sum(lp.type == "Concat" for lp in param.layer) == 9
    assert sum(lp.type == "LRN" for lp in param.layer) == 2
    convs = [lp for lp in param.layer if lp.type == "Convolution"]
    assert all(lp.convolution_param.weight_filler.type == "xavier" for lp in convs)
    acc = [lp for lp in param.layer if lp.type == "Accuracy"]
    assert len(acc) == 6 and all(lp.include[0].phase == caffe.TEST for lp in acc)


def test_alexnet_train_val_data_layers():
    param = read_net_param(str(ZOO / "bvlc_alexnet/train_val.prototxt"))
    data = [lp for lp in param.layer if lp.type == "Data"]
    assert [lp.include[0].phase for lp in data] == [caffe.TRAIN, caffe.TEST]
    for lp in data:
        assert lp.data_param.backend == caffe_pb2.DataParameter.LMDB
        assert lp.transform_param.crop_size == 227 and lp.transform_param.mean_file
    assert data[0].transform_param.mirror and not data[1].transform_param.mirror
    assert [lp.type for lp in param.layer][-2:] == ["Accuracy", "SoftmaxWithLoss"]


@pytest.mark.parametrize("name", sorted(p.name for p in SOLVERS.glob("*.prototxt")))
def test_zoo_solvers_parse(name):
    from fashioncaffe.prototxt import read_solver_param

    sp = read_solver_param(str(SOLVERS / name))
    assert (Path(__file__).resolve().parents[1] / sp.net).exists()
    assert sp.momentum == pytest.approx(0.9) and sp.base_lr == pytest.approx(0.01)


# ------------------------------------------------------------------------------------------------
# AlexNet / CaffeNet
@pytest.mark.parametrize("key,caffenet", [("bvlc_alexnet", False), ("bvlc_reference_caffenet", True)])
def test_alexnet_deploy_forward_backward(key, caffenet):
    net = build(ZOO / key / "deploy.prototxt", caffe.TEST, batch=2, force_backward=True)
    check_shapes(net, alexnet_shapes(2, caffenet))
    outs = run_deploy(net)
    assert outs["prob"].shape == (2, 1000)
    assert_param_grads(net, ["conv1", "conv2", "conv5", "fc6", "fc8"])
    assert_blob_diffs(net)
    assert net.params["conv2"][0].shape == (256, 48, 5, 5)  # group 2
    assert net.params["fc6"][0].shape == (4096, 9216)


@pytest.mark.parametrize("key,caffenet", [("bvlc_alexnet", False), ("bvlc_reference_caffenet", True)])
def test_alexnet_train_val_train_and_test(key, caffenet):
    net = build(ZOO / key / "train_val.prototxt", caffe.TRAIN, batch=2)
    check_shapes(net, dict(alexnet_shapes(2, caffenet), label=(2,), loss=()))
    assert "accuracy" not in net.blobs
    feed(net)
    loss = float(net.forward()["loss"])
    assert np.isfinite(loss) and loss > 0
    net.backward()
    assert_param_grads(net, ["conv1", "conv3", "fc7", "fc8"])

    test = build(ZOO / key / "train_val.prototxt", caffe.TEST, batch=2)
    feed(test)
    out = test.forward()
    assert set(out) == {"accuracy", "loss"}
    assert 0.0 <= float(out["accuracy"]) <= 1.0


def test_alexnet_train_val_on_lmdb_fixture(tmp_path):
    """The real Data layers on a tiny LMDB + mean.binaryproto (where the engine has a Data layer)."""
    _needs("Data", "LRN", "SoftmaxWithLoss", "Accuracy")
    from fashioncaffe.formats.blobproto import write_binaryproto
    from fashioncaffe.formats.lmdb_datum import DatumWriter, array_to_datum, make_key

    rng = np.random.default_rng(0)
    src = tmp_path / "train_lmdb"
    with DatumWriter(str(src)) as w:
        for i in range(3):
            img = rng.integers(0, 256, size=(3, 240, 240), dtype=np.uint8)
            w.put(make_key(i, f"img{i}.jpg"), array_to_datum(img, label=int(rng.integers(0, 1000))))
    mean = tmp_path / "mean.binaryproto"
    write_binaryproto(str(mean), np.full((1, 3, 240, 240), 120.0, np.float32), legacy_4d=True)

    param = read_net_param(str(ZOO / "bvlc_alexnet/train_val.prototxt"))
    for lp in param.layer:
        if lp.type == "Data":
            lp.data_param.source = str(src)
            lp.data_param.batch_size = 2
            lp.transform_param.mean_file = str(mean)
    for phase in (caffe.TRAIN, caffe.TEST):
        net = caffe.Net(param, phase)
        fill_random(net)
        check_shapes(net, dict(alexnet_shapes(2), label=(2,)))
        out = net.forward()
        assert np.isfinite(float(out["loss"]))
        assert net.blobs["data"].data.min() >= -120.0 and net.blobs["data"].data.max() <= 135.0
        if phase == caffe.TRAIN:
            net.backward()
            assert_param_grads(net, ["conv1", "fc8"])


# ------------------------------------------------------------------------------------------------
# GoogLeNet
def test_googlenet_deploy_forward_backward():
    net = build(ZOO / "bvlc_googlenet/deploy.prototxt", caffe.TEST, batch=1, force_backward=True)
    check_shapes(net, googlenet_shapes(1))
    run_deploy(net)
    assert_param_grads(net, ["conv1/7x7_s2", "inception_3a/5x5", "inception_5b/pool_proj", "loss3/classifier"])
    assert_blob_diffs(net)


def test_googlenet_train_val_three_losses():
    net = build(ZOO / "bvlc_googlenet/train_val.prototxt", caffe.TRAIN, batch=1)
    check_shapes(net, dict(googlenet_shapes(1), **googlenet_aux_shapes(1)))
    assert net.blob_loss_weights["loss1/loss1"] == pytest.approx(0.3)
    assert net.blob_loss_weights["loss2/loss1"] == pytest.approx(0.3)
    assert net.blob_loss_weights["loss3/loss3"] == 1.0
    feed(net)
    out = net.forward()
    assert set(out) == {"loss1/loss1", "loss2/loss1", "loss3/loss3"}
    assert all(np.isfinite(float(v)) for v in out.values())
    net.backward()
    assert_param_grads(net, ["conv1/7x7_s2", "loss1/conv", "loss2/fc", "loss3/classifier"])

    test = build(ZOO / "bvlc_googlenet/train_val.prototxt", caffe.TEST, batch=1)
    feed(test)
    out = test.forward()
    assert {"loss1/top-1", "loss1/top-5", "loss2/top-5", "loss3/top-1", "loss3/top-5"} <= set(out)


# ------------------------------------------------------------------------------------------------
# VGG-16 (legacy V1 file) and ResNet-50
def test_vgg16_reduced_input_forward_backward():
    """VGG-16 at 32×32 (fc6 then sees 512×1×1): every layer of the V1 file runs, quickly."""
    net = build(ZOO / "vgg16/deploy.prototxt", caffe.TEST, batch=2, size=32, force_backward=True)
    check_shapes(net, vgg_shapes(2, 32))
    run_deploy(net)
    assert_param_grads(net, ["conv1_1", "conv3_3", "conv5_3", "fc6", "fc8"])
    assert net.params["fc6"][0].shape == (4096, 512)


@pytest.mark.slow
def test_vgg16_full_forward_backward():
    net = build(ZOO / "vgg16/deploy.prototxt", caffe.TEST, batch=1, force_backward=True)
    check_shapes(net, vgg_shapes(1))
    assert net.blobs["conv5_3"].shape == (1, 512, 14, 14)
    run_deploy(net)
    assert_param_grads(net, ["conv1_1", "conv5_3", "fc6"])
    assert net.params["fc6"][0].shape == (4096, 25088)


@pytest.mark.slow
def test_resnet50_forward_backward():
    net = build(ZOO / "resnet50/deploy.prototxt", caffe.TEST, batch=1, force_backward=True)
    check_shapes(net, resnet50_shapes(1))
    assert net.blobs["res5c"].shape == (1, 2048, 7, 7)
    run_deploy(net)
    assert_param_grads(net, ["conv1", "res2a_branch1", "res3d_branch2b", "res5c_branch2c", "fc1000"])
    assert_blob_diffs(net)
    assert len(net.params["bn_conv1"]) == 3
    assert len(net.params["scale_conv1"]) == 2 and len(net.params["res2a_branch2a"]) == 1


def test_resnet50_fast_subnet():
    """ResNet-50 up to res3a at 2×3×64×64 (the full net at 224 is the slow test): conv1, BatchNorm,
    Scale, projection and identity shortcuts."""
    param = with_inputs(read_net_param(str(ZOO / "resnet50/deploy.prototxt")), 2, 64)
    keep = []
    for lp in param.layer:
        keep.append(lp)
        if lp.name == "res3a_relu":
            break
    del param.layer[len(keep):]
    param.force_backward = True  # a deploy net: back-propagating from an output diff needs it, as in BVLC
    _needs(*_net_types(param))
    net = caffe.Net(param, caffe.TEST)
    fill_random(net)
    check_shapes(net, {"conv1": (2, 64, 32, 32), "pool1": (2, 64, 16, 16), "res2a": (2, 256, 16, 16),
                       "res2c": (2, 256, 16, 16), "res3a_branch1": (2, 512, 8, 8), "res3a": (2, 512, 8, 8)})
    feed(net)
    out = net.forward()
    assert np.isfinite(out["res3a"]).all() and (out["res3a"] >= 0).all()
    net.backward(res3a=np.ones((2, 512, 8, 8), np.float32))
    assert_param_grads(net, ["conv1", "res2a_branch1", "res2b_branch2b", "res3a_branch2c", "scale_conv1"])
    # use_global_stats: the statistics are not learned and the output does not depend on the batch
    assert all(np.abs(b.diff).sum() == 0 for b in net.params["bn_conv1"])
