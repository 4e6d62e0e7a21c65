"""tools/nets/efficientnet.py: EfficientNet as standard Caffe layers.

* b5 at the paper's 224 gives the 7 × 7 × 2048 map (456 gives 15 × 15), by shape inference only;
* parameter counts equal torchvision's published ones (b0, b1, b5): the channel / repeat scaling,
  SE widths and biases are right;
* one MBConv block (expand, depthwise, SE, project, residual) equals a hand-written torch reference;
* a narrow variant trains a step; the torchvision state_dict mapping puts known torchvision shapes on
  the right blobs, and the converted caffemodel with the folded input normalisation reproduces
  torchvision's normalised-RGB stem output on Caffe's BGR mean-subtracted input.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fashioncaffe as caffe
from fashioncaffe.net_spec import NetSpec, layers as L
from tools.nets import efficientnet as eff


def test_b5_geometry_by_shape_inference():
    net = caffe.Net(eff.deploy_net("b5", size=224, batch=2), caffe.TEST)
    assert net.blobs["top_conv"].shape == (2, 2048, 7, 7)     # paper 002: 7 × 7 × 2048
    assert net.blobs["avg_pool"].shape == (2, 2048, 1, 1)
    assert net.blobs["block7c_project_conv"].shape == (2, 512, 7, 7)
    assert net.blobs["block2a_se_flatten"].shape == (2, 144)
    assert len(eff.blocks("b5")) == 39
    assert [eff.final_size(s) for s in (224, 193, 192, 456)] == [7, 7, 6, 15]
    big = caffe.Net(eff.deploy_net("b5", size=456, cut="avg_pool"), caffe.TEST)
    assert big.blobs["top_conv"].shape == (1, 2048, 15, 15)


@pytest.mark.parametrize("variant,count", [("b0", 5288548), ("b1", 7794184), ("b5", 30389784)])
def test_parameter_counts_equal_torchvisions(variant, count):
    net = caffe.Net(eff.deploy_net(variant, size=32), caffe.TEST)
    learnable = sum(b.count for name, bl in net.params.items() if not name.endswith("_bn") for b in bl)
    assert learnable == count


def _block_net(block, size=6):
    n = NetSpec()
    n.data = L.Input(input_param=dict(shape=dict(dim=[2, block[4], size, size])))
    eff.mbconv(n, n.data, block)
    return caffe.Net(n.to_proto(), caffe.TEST)


@pytest.mark.parametrize("block", [("blockx", 6, 3, 1, 8, 8, 2), ("blocky", 4, 5, 2, 4, 6, 1),
                                   ("blockz", 1, 3, 1, 6, 6, 1)])
def test_mbconv_equals_a_torch_reference(block):
    name, e, k, s, cin, cout, se = block
    net = _block_net(block, size=7)
    rng = np.random.RandomState(1)
    for layer, bl in net.params.items():
        for i, b in enumerate(bl):
            b.data[...] = rng.uniform(0.5, 1.5, b.shape) if (layer.endswith("_bn") and i == 1) else \
                rng.randn(*b.shape) * 0.3
            if layer.endswith("_bn") and i == 2:
                b.data[...] = 2.0  # the scale factor: statistics are sum / factor
    x = rng.randn(2, cin, 7, 7).astype(np.float32)
    net.blobs["data"].data[...] = x
    out_name = net.outputs[0]
    got = net.forward()[out_name]

    def P(layer, i=0):
        return torch.tensor(net.params[layer][i].data, dtype=torch.float64)

    def bn(t, layer):
        mean, var = P(layer, 0) / 2.0, P(layer, 1) / 2.0
        t = (t - mean.view(1, -1, 1, 1)) / torch.sqrt(var.view(1, -1, 1, 1) + 1e-3)
        return t * P(layer + "_scale", 0).view(1, -1, 1, 1) + P(layer + "_scale", 1).view(1, -1, 1, 1)

    p = name + "_"
    t = torch.tensor(x, dtype=torch.float64)
    y = t
    if e != 1:
        y = F.silu(bn(F.conv2d(y, P(p + "expand_conv")), p + "expand_bn"))
    mid = cin * e
    y = F.silu(bn(F.conv2d(y, P(p + "dwconv"), stride=s, padding=k // 2, groups=mid), p + "bn"))
    g = y.mean((2, 3), keepdim=True)
    g = F.silu(F.conv2d(g, P(p + "se_reduce"), P(p + "se_reduce", 1)))
    g = torch.sigmoid(F.conv2d(g, P(p + "se_expand"), P(p + "se_expand", 1)))
    y = bn(F.conv2d(y * g, P(p + "project_conv")), p + "project_bn")
    if s == 1 and cin == cout:
        y = y + t
    np.testing.assert_allclose(got, y.numpy(), rtol=1e-4, atol=1e-4)


def test_narrow_variant_trains_a_step():
    spec = eff.narrow(0.25, 0.5, 4)
    n = NetSpec()
    n.data = L.Input(input_param=dict(shape=dict(dim=[4, 3, 32, 32])))
    n.label = L.Input(input_param=dict(shape=dict(dim=[4])))
    feat = eff.efficientnet(n, n.data, spec, cut="avg_pool", frozen_bn=False, fillers=True)
    n.fc = L.InnerProduct(feat, num_output=3, weight_filler=dict(type="xavier"))
    n.loss = L.SoftmaxWithLoss(n.fc, n.label)
    net = caffe.Net(n.to_proto(), caffe.TRAIN)
    top = eff.channels(spec)[1]
    assert net.blobs["top_conv"].shape == (4, top, 1, 1) and net.blobs["avg_pool"].shape == (4, top, 1, 1)
    rng = np.random.RandomState(0)
    net.blobs["data"].data[...] = rng.randn(4, 3, 32, 32)
    net.blobs["label"].data[...] = [0, 1, 2, 1]
    assert np.isfinite(float(net.forward()["loss"]))
    net.backward()
    assert np.abs(net.params["stem_conv"][0].diff).sum() > 0
    assert np.abs(net.params["block1a_se_reduce"][0].diff).sum() > 0


# torchvision efficientnet_b0 state_dict facts (key → shape)
TORCHVISION_B0 = {
    "features.0.0.weight": (32, 3, 3, 3),
    "features.1.0.block.0.0.weight": (32, 1, 3, 3),
    "features.1.0.block.1.fc1.weight": (8, 32, 1, 1),
    "features.1.0.block.2.0.weight": (16, 32, 1, 1),
    "features.2.0.block.0.0.weight": (96, 16, 1, 1),
    "features.2.0.block.1.0.weight": (96, 1, 3, 3),
    "features.2.0.block.2.fc1.weight": (4, 96, 1, 1),
    "features.2.1.block.2.fc2.bias": (144,),
    "features.6.3.block.3.0.weight": (192, 1152, 1, 1),
    "features.8.0.weight": (1280, 320, 1, 1),
    "features.8.1.running_var": (1280,),
    "classifier.1.weight": (1000, 1280),
}


def test_torchvision_keys_cover_every_blob_once_and_match_known_shapes():
    net = caffe.Net(eff.deploy_net("b0", size=32), caffe.TEST)
    keys = eff.torchvision_keys("b0")
    expected = {(layer, i) for layer, bl in net.params.items() for i in range(len(bl))
                if not (layer.endswith("_bn") and i == 2)}
    assert set(keys) == expected
    assert len(set(keys.values())) == len(keys)
    by_key = {v: k for k, v in keys.items()}
    for key, shape in TORCHVISION_B0.items():
        layer, i = by_key[key]
        assert int(np.prod(net.params[layer][i].shape)) == int(np.prod(shape)), key
        assert net.params[layer][i].shape[0] == shape[0], key


def test_state_dict_conversion_and_folded_input_normalisation(tmp_path):
    spec = "b0"
    net = caffe.Net(eff.deploy_net(spec, size=32), caffe.TEST)
    keys = eff.torchvision_keys(spec)
    rng = np.random.RandomState(2)
    sd = {}
    for (layer, i), key in keys.items():
        shape = net.params[layer][i].shape
        value = rng.uniform(0.5, 1.5, shape) if key.endswith(("running_var", "1.weight")) else rng.randn(*shape) * 0.1
        sd[key] = torch.tensor(value, dtype=torch.float32)
    raw, folded = str(tmp_path / "raw.caffemodel"), str(tmp_path / "folded.caffemodel")
    assert eff.caffemodel_from_state_dict(sd, raw, spec, caffe_input=False) == len(keys)
    eff.caffemodel_from_state_dict(sd, folded, spec)
    a = caffe.Net(eff.deploy_net(spec, size=32, cut="avg_pool"), caffe.TEST, weights=raw)
    np.testing.assert_array_equal(a.params["block2a_se_reduce"][0].data,
                                  sd["features.2.0.block.2.fc1.weight"].numpy())
    np.testing.assert_array_equal(a.params["top_bn"][1].data, sd["features.8.1.running_var"].numpy())
    assert float(a.params["top_bn"][2].data[0]) == 1.0
    b = caffe.Net(eff.deploy_net(spec, size=32, cut="avg_pool"), caffe.TEST, weights=folded)
    pixels_bgr = rng.uniform(0, 255, (1, 3, 32, 32))
    a.blobs["data"].data[...] = (pixels_bgr[:, ::-1] / 255.0 - np.reshape(eff.TORCHVISION_MEAN_RGB, (1, 3, 1, 1))) \
        / np.reshape(eff.TORCHVISION_STD_RGB, (1, 3, 1, 1))
    b.blobs["data"].data[...] = pixels_bgr - np.reshape(eff.CAFFE_MEAN_BGR, (1, 3, 1, 1))
    out_b, out_a = b.forward()["avg_pool"], a.forward()["avg_pool"]
    np.testing.assert_allclose(b.blobs["stem_conv"].data, a.blobs["stem_conv"].data, rtol=1e-4, atol=1e-5)
    assert np.abs(out_a).max() > 1e-3
    np.testing.assert_allclose(out_b, out_a, rtol=1e-3, atol=1e-5)
    sd.pop("features.8.0.weight")
    with pytest.raises(ValueError, match="top_conv blob 0"):
        eff.caffemodel_from_state_dict(sd, raw, spec)


def test_onnx_export_of_a_narrow_variant_matches_the_engine(tmp_path):
    import onnxruntime as ort
    from google.protobuf import text_format

    from fashioncaffe.onnx.api import export

    param = eff.deploy_net(eff.narrow(0.25, 0.25, 4), size=64, cut="predictions", num_classes=5, batch=2)
    (tmp_path / "e.prototxt").write_text(text_format.MessageToString(param))
    net = caffe.Net(param, caffe.TEST)
    rng = np.random.RandomState(0)
    for name, bl in net.params.items():
        for i, b in enumerate(bl):
            if len(b.shape) >= 2:  # weights: MSRA scale, so that the image's signal survives the depth
                b.data[...] = rng.randn(*b.shape) * np.sqrt(2.0 / np.prod(b.shape[1:]))
            elif name.endswith("_bn"):
                b.data[...] = [rng.randn(*b.shape) * 0.01, rng.uniform(0.5, 1.5, b.shape), 1.0][i]
            else:
                b.data[...] = rng.uniform(0.8, 1.2, b.shape) if (name.endswith("_scale") and i == 0) else \
                    rng.randn(*b.shape) * 0.01
    net.save(str(tmp_path / "e.caffemodel"))
    export(str(tmp_path / "e.prototxt"), str(tmp_path / "e.caffemodel"), str(tmp_path / "e.onnx"))
    x = rng.randn(2, 3, 64, 64).astype(np.float32)
    net.blobs["data"].data[...] = x
    ref = net.forward()["predictions"]
    sess = ort.InferenceSession(str(tmp_path / "e.onnx"))
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-6)
    assert np.abs(ref - ref.mean(0)).max() > 1e-4  # the two images score differently
