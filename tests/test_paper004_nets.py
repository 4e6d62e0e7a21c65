"""Paper 004's nets: committed prototxts = the generator, train nets leave only losses unconsumed, deploy
nets run and export to ONNX (part ROI pooling and AMNet's memory included) with onnxruntime = engine,
the full-scale trunk takes a BVLC AlexNet caffemodel's conv1-conv5, and the AMNet sampler's rules."""
import json
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
from layers.amnet_sampler import AMNetTripletSampler, select as am_select  # noqa: E402
from layers.tensor_impl import amnet_sampler_t as am_t  # noqa: E402
from tools.paper004 import amnet, config, netgen  # noqa: E402

SPEC = netgen.AttrSpec.wardrobe()
TINY = config.SCALES["tiny"]


def test_committed_files_match_generator():
    files = netgen.generate_committed()
    assert len(files) == 2 * (3 * 5 + 2 * 3)  # per scale: deploy + (net, solver) per stage; 3 variants have 2 stages
    for rel, text in files.items():
        path = os.path.join(ROOT, rel)
        assert os.path.exists(path), f"{rel} missing: run python -m tools.paper004.netgen"
        assert open(path).read() == text, f"{rel} differs from the generator"


def test_train_nets_output_only_losses_and_triplet_accuracies():
    from fashioncaffe.prototxt import parse_net_text

    for rel, text in netgen.generate_committed().items():
        if "_train_" not in rel:
            continue
        net = parse_net_text(text, rel)
        consumed = {b for layer in net.layer for b in layer.bottom}
        outputs = {t for layer in net.layer for t in layer.top} - consumed
        assert all(t.startswith("loss_") or t.startswith("triplet_accuracy") for t in outputs), (rel, sorted(outputs))
        types = [layer.type for layer in net.layer]
        if "proposed" in rel:
            rois = [layer for layer in net.layer if layer.type == "Python" and "part_roi" in layer.python_param.module]
            assert len(rois) == len(SPEC.special)
            assert all(list(r.bottom) == ["conv5", "part_boxes", "part_gate"] for r in rois)
        if rel.endswith("joint.prototxt") and "amnet" not in rel:
            assert types.count("Python") >= 2 * (len(SPEC.special) + 1)


def _deploy(tmp_path, variant, batch=2, cfg=TINY):
    p = tmp_path / f"{variant}.prototxt"
    p.write_text(str(netgen.deploy_net(cfg, SPEC, variant, "t", batch=batch)))
    torch.manual_seed(0)
    return caffe.Net(str(p), caffe.TEST)


def _feeds(net, variant, rng, batch=2):
    s = TINY["size"]
    feeds = {"data": rng.randn(batch, 3, s, s).astype(np.float32)}
    if variant == "proposed":
        a = rng.uniform(0, 0.6, (batch, 6, 2))
        feeds["part_boxes"] = np.concatenate([a, a + rng.uniform(0.1, 0.4, (batch, 6, 2))], -1).reshape(batch, 24).astype(np.float32)
    if variant == "amnet":
        feeds["manipulation"] = np.stack([amnet.indicator(SPEC, [("color", 0, 3)]),
                                          np.zeros(amnet.indicator_size(SPEC), np.float32)])[:batch]
    for k, v in feeds.items():
        net.blobs[k].data[...] = v
    return feeds


@pytest.mark.parametrize("variant", config.VARIANTS)
def test_deploy_nets_forward_and_onnx_export(tmp_path, variant):
    from fashioncaffe.onnx import export_net
    from fashioncaffe.onnx.testing import fill_random, ort_session

    net = _deploy(tmp_path, variant)
    fill_random(net, seed=1)
    rng = np.random.RandomState(3)
    feeds = _feeds(net, variant, rng)
    net.forward()
    sigs = {"classic": ["fc7"], "amnet": ["amnet_query"]}.get(variant, [f"fc7_{v}" for v in SPEC.special] + ["fc7_general"])
    outs = sigs + [f"prob_{g}" for g in SPEC.groups]
    if variant == "proposed":
        outs += ["part_gate", "roi_sleeve_length"]
        assert net.blobs["roi_sleeve_length"].data.shape == (2, 2 * TINY["conv"][4], TINY["pooled"], TINY["pooled"])
    want = {b: net.blobs[b].data.copy() for b in outs}
    for b in sigs:
        assert want[b].shape[0] == 2 and np.abs(want[b]).sum() > 0
    path = tmp_path / f"{variant}.onnx"
    export_net(net, str(path), extra_outputs=outs)
    sess = ort_session(str(path))
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, feeds)))
    for b in outs:
        key = b if b in got else next(n for n in names if n.startswith(b))
        np.testing.assert_allclose(got[key], want[b], rtol=1e-4, atol=1e-5)


def test_full_trunk_takes_bvlc_alexnet_conv_weights(tmp_path):
    """conv1-conv5 of the full nets have BVLC AlexNet's names and shapes (a user's bvlc_alexnet.caffemodel)."""
    alexnet = """name: "AlexNet"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 227 dim: 227 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 96 kernel_size: 11 stride: 4 } }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2" convolution_param { num_output: 256 pad: 2 kernel_size: 5 group: 2 } }
layer { name: "conv3" type: "Convolution" bottom: "conv2" top: "conv3" convolution_param { num_output: 384 pad: 1 kernel_size: 3 } }
layer { name: "conv4" type: "Convolution" bottom: "conv3" top: "conv4" convolution_param { num_output: 384 pad: 1 kernel_size: 3 group: 2 } }
layer { name: "conv5" type: "Convolution" bottom: "conv4" top: "conv5" convolution_param { num_output: 256 pad: 1 kernel_size: 3 group: 2 } }
"""
    (tmp_path / "alexnet.prototxt").write_text(alexnet)
    ref = caffe.Net(str(tmp_path / "alexnet.prototxt"), caffe.TEST)
    rng = np.random.RandomState(0)
    for name in ref.params:
        for b in ref.params[name]:
            b.data[...] = rng.randn(*b.data.shape)
    ref.save(str(tmp_path / "alexnet.caffemodel"))
    from fashioncaffe.prototxt import parse_net_text

    full = config.SCALES["full"]
    text = str(netgen.deploy_net(full, SPEC, "wo_parts_ranking", "t"))
    trunk_only = parse_net_text(text, "t")
    keep = [layer for layer in trunk_only.layer if layer.name in ("data", "conv1", "relu1", "norm1", "pool1", "conv2",
                                                                    "relu2", "norm2", "pool2", "conv3", "relu3",
                                                                    "conv4", "relu4", "conv5", "relu5")]
    del trunk_only.layer[:]
    trunk_only.layer.extend(keep)
    (tmp_path / "trunk.prototxt").write_text(str(trunk_only))
    net = caffe.Net(str(tmp_path / "trunk.prototxt"), caffe.TEST, weights=str(tmp_path / "alexnet.caffemodel"))
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        for a, b in zip(net.params[name], ref.params[name]):
            np.testing.assert_array_equal(a.data, b.data)


# ---------------------------------------------------------------------------------------------
# AMNet: indicator, prototypes, in-batch manipulations
def test_indicator_and_memory_prototypes():
    t = amnet.indicator(SPEC, [("color", 0, 3), ("sleeve_length", 1, 1)])
    off = amnet.offsets(SPEC)
    assert t.sum() == 0 and t[off["color"] + 3] == 1 and t[off["color"]] == -1 and np.count_nonzero(t) == 2
    with pytest.raises(ValueError):
        amnet.indicator(SPEC, [("category", 0, 1)])
    feats = np.array([[1.0, 0], [3, 0], [0, 2]])
    labels = np.full((3, len(SPEC.special)), -1)
    labels[:, 0] = [0, 0, 2]
    proto = amnet.memory_prototypes(feats, labels, SPEC)
    assert proto.shape == (2, amnet.indicator_size(SPEC))
    np.testing.assert_array_equal(proto[:, 0], [2, 0])       # mean of images 0 and 1
    np.testing.assert_array_equal(proto[:, 2], [0, 2])
    assert not proto[:, 1].any() and not proto[:, off["pattern"]:].any()


AM_LABELS = np.array([[0, 1, 2], [0, 2, 2], [1, 1, 2], [1, 1, -1], [-1, -1, -1], [0, 1, 0]], dtype=np.float64)
AM_SIZES = [2, 3, 3]


def test_amnet_sampler_rules_and_tensor_path():
    for count in range(20):
        attr, value, pos, neg, valid = am_select(AM_LABELS, AM_SIZES, -1, seed=1, count=count)
        assert valid.tolist() == [True, True, True, True, False, True]
        for i in np.flatnonzero(valid):
            a, v = attr[i], value[i]
            assert AM_LABELS[i, a] >= 0 and v != AM_LABELS[i, a]
            assert AM_LABELS[pos[i], a] == v and pos[i] != i
            assert AM_LABELS[neg[i], a] >= 0 and AM_LABELS[neg[i], a] != v
            target = AM_LABELS[i].copy()
            target[a] = v
            agree = ((AM_LABELS == target) & (AM_LABELS >= 0)).sum(1)
            cands = [j for j in range(6) if j != i and AM_LABELS[j, a] == v]
            assert agree[pos[i]] == max(agree[j] for j in cands)
        layer = AMNetTripletSampler()
        layer.param_str = json.dumps({"sizes": AM_SIZES, "seed": 1})
        layer.setup(BlobVector([FBlob(np.zeros((6, 2))), FBlob(AM_LABELS)]), BlobVector([FBlob(0.0) for _ in range(5)]))
        t_attr, t_value, t_pos, t_neg, t_valid = am_t.select(torch.tensor(AM_LABELS), layer, count)
        assert t_pos.tolist() == pos.tolist() and t_neg.tolist() == neg.tolist()
        assert t_valid.tolist() == valid.tolist()
        assert [t_attr[i].item() for i in np.flatnonzero(valid)] == [attr[i] for i in np.flatnonzero(valid)]


def test_amnet_sampler_layer_tops_gradients_and_blob_vectors():
    rng = np.random.RandomState(0)
    x = rng.randn(6, 4).astype(np.float32)   # FBlob stores float32, as BVLC's blobs
    bottoms = BlobVector([FBlob(x), FBlob(AM_LABELS)])
    tops = BlobVector([FBlob(0.0) for _ in range(5)])
    layer = AMNetTripletSampler()
    layer.param_str = json.dumps({"sizes": AM_SIZES})
    layer.setup(bottoms, tops)
    layer.reshape(bottoms, tops)
    layer.forward(bottoms, tops)
    attr, value, pos, neg, valid = am_select(AM_LABELS, AM_SIZES, -1, 0, 0)
    ind, target = tops[0].data, tops[1].data
    assert ind.shape == (6, 8) and target.shape == (6, 3)
    offs = [0, 2, 5]
    for i in range(6):
        if not valid[i]:
            assert not ind[i].any() and np.array_equal(target[i], AM_LABELS[i])
            continue
        assert ind[i].sum() == 0 and ind[i, offs[attr[i]] + value[i]] == 1
        assert ind[i, offs[attr[i]] + int(AM_LABELS[i, attr[i]])] == -1
        assert target[i, attr[i]] == value[i]
    np.testing.assert_array_equal(tops[2].data, x[pos])
    np.testing.assert_array_equal(tops[3].data, x[neg])
    wp, wn = rng.randn(6, 4).astype(np.float32), rng.randn(6, 4).astype(np.float32)
    tops[2].diff[...] = wp
    tops[3].diff[...] = wn
    layer.backward(tops, [True, False], bottoms)
    want = np.zeros((6, 4))
    np.add.at(want, pos, wp)
    np.add.at(want, neg, wn)
    np.testing.assert_allclose(bottoms[0].diff, want, rtol=1e-6)
    layer2 = AMNetTripletSampler()
    layer2.param_str = layer.param_str
    layer2.setup(bottoms, tops)
    xt = torch.tensor(x, requires_grad=True)
    outs = am_t.sample(layer2, [xt, torch.tensor(AM_LABELS)])
    np.testing.assert_array_equal(outs[0].numpy(), ind)
    np.testing.assert_array_equal(outs[1].numpy(), target)
    ((outs[2] * torch.tensor(wp)).sum() + (outs[3] * torch.tensor(wn)).sum()).backward()
    np.testing.assert_allclose(xt.grad.numpy(), want, rtol=1e-6)
