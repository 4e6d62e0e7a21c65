"""DenseNet-121 and Inception-v4 NetSpec generators (tools/nets): the paper geometry through the engine's
shape inference (meta device: no full-size forward), parameter counts, the names of the Caffe conversions,
and narrow variants that run forward and backward in TRAIN."""
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe import layers as L
from fashioncaffe.prototxt import parse_net_text
from tools.nets import densenet, inception_v4


def _spec(trunk, size, batch=1, **kw):
    n = caffe.NetSpec()
    n.data = L.Input(input_param=dict(shape=dict(dim=[batch, 3, size, size])))
    trunk(n, n.data, **kw)
    return n.to_proto()


def _learned_count(net):
    return sum(int(np.prod(b.shape)) for name, blobs in net.params.items()
               if net.layer_dict[name].type != "BatchNorm" for b in blobs)


def test_densenet121_full_geometry():
    net = caffe.Net(_spec(densenet.densenet121, 224), caffe.TEST, device="meta")
    shapes = {k: tuple(b.shape) for k, b in net.blobs.items()}
    assert shapes["conv1"] == (1, 64, 112, 112)
    assert shapes["pool1"] == (1, 64, 56, 56)          # round_mode FLOOR, as the original
    assert shapes["concat_2_6"] == (1, 256, 56, 56)
    assert shapes["pool2"] == (1, 128, 28, 28)
    assert shapes["concat_3_12"] == (1, 512, 28, 28)
    assert shapes["pool3"] == (1, 256, 14, 14)
    assert shapes["concat_4_24"] == (1, 1024, 14, 14)
    assert shapes["pool4"] == (1, 512, 7, 7)
    assert shapes["concat_5_16"] == (1, 1024, 7, 7)
    assert shapes["pool5"] == (1, 1024, 1, 1) and densenet.output_channels() == 1024
    # torchvision's densenet121 has 7,978,856 parameters, 1,025,000 of them in its 1000-way classifier
    assert _learned_count(net) == 7_978_856 - 1_025_000
    names = list(net.layer_dict)
    for name in ("conv1", "conv1/bn", "conv1/scale", "relu1", "conv2_1/x1/bn", "conv2_1/x1/scale",
                 "relu2_1/x1", "conv2_1/x1", "conv2_1/x2", "concat_2_1", "conv2_blk", "pool2",
                 "conv5_16/x2", "conv5_blk/bn", "conv5_blk/scale", "relu5_blk", "pool5"):
        assert name in names
    assert net.top_names["conv1/scale"] == ["conv1/bn"] and net.bottom_names["conv2_1/x1/bn"] == ["pool1"]
    assert len(net.layer_dict) == 1 + 546  # our Input + the conversion's 547 layers less its fc6


def test_inception_v4_full_geometry():
    net = caffe.Net(_spec(inception_v4.inception_v4, 299), caffe.TEST, device="meta")
    shapes = {k: tuple(b.shape) for k, b in net.blobs.items()}
    assert shapes["conv1_3x3_s2"] == (1, 32, 149, 149)
    assert shapes["conv3_3x3_s1"] == (1, 64, 147, 147)
    assert shapes["inception_stem1"] == (1, 160, 73, 73)
    assert shapes["inception_stem2"] == (1, 192, 71, 71)
    assert shapes["inception_stem3"] == (1, 384, 35, 35)
    assert shapes["inception_a4_concat"] == (1, 384, 35, 35)
    assert shapes["reduction_a_concat"] == (1, 1024, 17, 17)
    assert shapes["inception_b7_concat"] == (1, 1024, 17, 17)
    assert shapes["reduction_b_concat"] == (1, 1536, 8, 8)
    assert shapes["inception_c3_concat"] == (1, 1536, 8, 8)
    assert shapes["pool_8x8_s1"] == (1, 1536, 1, 1) and inception_v4.output_channels() == 1536
    # TF-slim's Inception-v4: 42,679,816 parameters, 1,537,000 of them in its 1000-way classifier
    assert _learned_count(net) == 42_679_816 - 1_537_000
    for name in ("conv1_3x3_s2_bn", "conv1_3x3_s2_scale", "conv1_3x3_s2_relu", "inception_stem2_1x7",
                 "inception_a1_pool_ave", "reduction_a_3x3_2_reduce", "inception_b7_1x7_3",
                 "reduction_b_7x1", "inception_c3_3x1_3", "inception_c3_concat"):
        assert name in net.layer_dict
    assert inception_v4.feature_sizes(299) == dict(stem1=73, stem2=71, inception_a=35, inception_b=17,
                                                   inception_c=8)


@pytest.mark.parametrize("size", [75, 107, 139, 299])
def test_inception_v4_valid_sizes_build(size):
    inception_v4.feature_sizes(size)
    net = caffe.Net(_spec(inception_v4.inception_v4, size, variant="narrow/8", input_size=size), caffe.TEST,
                    device="meta")
    assert net.blobs["pool_8x8_s1"].shape == (1, 192, 1, 1)


@pytest.mark.parametrize("size", [128, 224, 112])
def test_inception_v4_rejects_sizes_whose_branches_disagree(size):
    with pytest.raises(ValueError, match=r"32·k \+ 11"):
        inception_v4.feature_sizes(size)


def test_generated_text_is_caffe_prototxt():
    for proto in (_spec(densenet.densenet121, 224), _spec(inception_v4.inception_v4, 299)):
        again = parse_net_text(str(proto))
        assert [lp.name for lp in again.layer] == [lp.name for lp in proto.layer]


def _train_step(trunk, size, variant):
    n = caffe.NetSpec()
    n.data = L.Input(input_param=dict(shape=dict(dim=[4, 3, size, size])))
    n.label = L.Input(input_param=dict(shape=dict(dim=[4, 1])))
    feat = trunk(n, n.data, variant=variant)
    n.score = L.InnerProduct(feat, num_output=1, weight_filler=dict(type="gaussian", std=0.01))
    n.loss = L.SigmoidCrossEntropyLoss(n.score, n.label)
    net = caffe.Net(n.to_proto(), caffe.TRAIN)
    rng = np.random.default_rng(0)
    net.blobs["data"].data[...] = rng.normal(0, 1, (4, 3, size, size))
    net.blobs["label"].data[...] = [[1], [0], [1], [0]]
    net.forward()
    net.backward()
    return net


@pytest.mark.parametrize("trunk,size,variant,first,channels", [
    (densenet.densenet121, 64, "narrow/8", "conv1", 128),
    (inception_v4.inception_v4, 75, "narrow/8", "conv1_3x3_s2", 192),
])
def test_narrow_variants_train(trunk, size, variant, first, channels):
    net = _train_step(trunk, size, variant)
    loss = float(net.blobs["loss"].data)
    assert np.isfinite(loss) and 0.1 < loss < 5
    g = net.params[first][0].diff
    assert np.isfinite(g).all() and np.abs(g).sum() > 0      # the gradient reaches the first conv
    out = net.bottom_names["score"][0]
    assert net.blobs[out].shape == (4, channels, 1, 1)


def test_variant_names():
    assert densenet.title() == "DenseNet-121" and densenet.title("narrow/4") == "DenseNet-121-narrow/4"
    assert inception_v4.title("narrow/8") == "Inception-v4-narrow/8"
    assert densenet.output_channels("narrow/4") == 256 and inception_v4.output_channels("narrow/4") == 384
    with pytest.raises(ValueError):
        densenet.config("narrow/3")
    with pytest.raises(ValueError):
        inception_v4.divisor("wide")
