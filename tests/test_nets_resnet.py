"""tools/nets/resnet.py: the ResNet-50 generator equals the released deploy file (prototxt/zoo/resnet50)
field for field, shapes at full geometry come from shape inference (no forward), and a narrow
variant runs forward and backward."""
import os

import numpy as np
import pytest
from google.protobuf import text_format

import fashioncaffe as caffe
from fashioncaffe.net_spec import NetSpec, layers as L
from fashioncaffe.proto import caffe_pb2
from tools.nets import resnet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO = os.path.join(ROOT, "prototxt", "zoo", "resnet50", "deploy.prototxt")


def test_resnet50_equals_the_zoo_file_layer_for_layer():
    zoo = text_format.Parse(open(ZOO).read(), caffe_pb2.NetParameter())
    gen = resnet.deploy_net(legacy_input=True)
    assert len(gen.layer) == len(zoo.layer) == 228
    for a, b in zip(zoo.layer, gen.layer):
        assert a == b, f"layer {a.name} differs:\n{a}\nvs generated\n{b}"
    assert gen == zoo  # name, input, input_dim too
    # the Input-layer form differs only in how the input is declared
    modern = resnet.deploy_net()
    assert modern.layer[0].type == "Input" and list(modern.layer[0].input_param.shape[0].dim) == [1, 3, 224, 224]
    assert list(modern.layer[1:]) == list(zoo.layer)


def test_resnet50_shapes_at_224_by_shape_inference():
    net = caffe.Net(resnet.deploy_net(batch=2), caffe.TEST)
    assert net.blobs["res5c"].shape == (2, 2048, 7, 7)
    assert net.blobs["pool5"].shape == (2, 2048, 1, 1)
    assert net.blobs["res4f"].shape == (2, 1024, 14, 14)
    assert net.blobs["prob"].shape == (2, 1000)
    assert resnet.final_size(224) == 7 and resnet.final_size(64) == 2
    n_params = sum(b.count for name, bl in net.params.items() if not name.startswith("bn") for b in bl)
    assert n_params == 25557032 + 64  # torchvision's ResNet-50 count + the released conv1's bias


def test_cut_points_and_errors():
    for cut, last in (("res5c", "res5c_relu"), ("pool5", "pool5"), ("fc1000", "fc1000"), ("prob", "prob")):
        assert resnet.deploy_net(cut=cut).layer[-1].name == last
    with pytest.raises(ValueError, match="cut"):
        resnet.deploy_net(cut="fc7")
    with pytest.raises(ValueError, match="26"):
        resnet.block_names((3, 27, 1, 1))


def test_narrow_variant_trains_one_step_and_keeps_the_names():
    n = NetSpec()
    n.data = L.Input(input_param=dict(shape=dict(dim=[4, 3, 64, 64])))
    n.label = L.Input(input_param=dict(shape=dict(dim=[4])))
    feat = resnet.resnet(n, n.data, width=0.125, blocks=(1, 1, 2, 1), size=64, cut="pool5", frozen_bn=False,
                         fillers=True)
    n.fc = L.InnerProduct(feat, num_output=3, weight_filler=dict(type="xavier"))
    n.loss = L.SoftmaxWithLoss(n.fc, n.label)
    net = caffe.Net(n.to_proto(), caffe.TRAIN)
    assert net.blobs["res5a"].shape == (4, 256, 2, 2)
    assert net.blobs["pool5"].shape == (4, 256, 1, 1)
    assert "res4b_branch2c" in net.params and "scale4b_branch2c" in net.params
    rng = np.random.RandomState(0)
    net.blobs["data"].data[...] = rng.randn(4, 3, 64, 64)
    net.blobs["label"].data[...] = [0, 1, 2, 1]
    loss = float(net.forward()["loss"])
    net.backward()
    assert np.isfinite(loss) and np.abs(net.params["conv1"][0].diff).sum() > 0
    # frozen-BN form of the same net loads the trained blobs by name (a frozen encoder)
    n2 = NetSpec()
    n2.data = L.Input(input_param=dict(shape=dict(dim=[4, 3, 64, 64])))
    resnet.resnet(n2, n2.data, width=0.125, blocks=(1, 1, 2, 1), size=64, cut="pool5")
    frozen = caffe.Net(n2.to_proto(), caffe.TEST)
    assert set(frozen.params) == set(net.params) - {"fc"}
    for name in frozen.params:
        assert [b.shape for b in frozen.params[name]] == [b.shape for b in net.params[name]]
