"""NetSpec (caffe.NetSpec, caffe.layers as L, caffe.params as P) writes the prototxt BVLC's net_spec writes."""
from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format

import fashioncaffe as caffe
from fashioncaffe.proto import caffe_pb2


def parse(text):
    return text_format.Parse(text, caffe_pb2.NetParameter())


def lenet(lmdb, batch_size):
    from caffe import layers as L, params as P  # noqa: the pycaffe idiom must work

    n = caffe.NetSpec()
    n.data, n.label = L.Data(batch_size=batch_size, backend=P.Data.LMDB, source=lmdb,
                             transform_param=dict(scale=1. / 255), ntop=2)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.conv2 = L.Convolution(n.pool1, kernel_size=5, num_output=50, weight_filler=dict(type="xavier"))
    n.pool2 = L.Pooling(n.conv2, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.fc1 = L.InnerProduct(n.pool2, num_output=500, weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.fc1, in_place=True)
    n.score = L.InnerProduct(n.relu1, num_output=10, weight_filler=dict(type="xavier"))
    n.loss = L.SoftmaxWithLoss(n.score, n.label)
    return n.to_proto()


# What BVLC's examples/01-learning-lenet.ipynb writes for lenet('mnist_train_lmdb', 64).
LENET_TEXT = """
layer { name: "data" type: "Data" top: "data" top: "label"
  transform_param { scale: 0.00392156886 }
  data_param { source: "mnist_train_lmdb" batch_size: 64 backend: LMDB } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 20 kernel_size: 5 weight_filler { type: "xavier" } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param { num_output: 50 kernel_size: 5 weight_filler { type: "xavier" } } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc1" type: "InnerProduct" bottom: "pool2" top: "fc1"
  inner_product_param { num_output: 500 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "fc1" top: "fc1" }
layer { name: "score" type: "InnerProduct" bottom: "fc1" top: "score"
  inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
"""


def test_lenet_equals_handwritten_prototxt():
    got = lenet("mnist_train_lmdb", 64)
    want = parse(LENET_TEXT)
    assert got == want
    assert str(got) == str(want)
    # the text form, as BVLC writes it to a file (str(net_param))
    text = str(got)
    assert text.startswith('layer {\n  name: "data"\n  type: "Data"\n  top: "data"\n  top: "label"\n')
    assert '  transform_param {\n    scale: 0.00392156886\n  }\n' in text
    assert '    pool: MAX\n' in text


def test_layers_and_params_from_package():
    from caffe import layers as L, params as P

    assert caffe.layers is not None and caffe.params is P
    assert P.Pooling.MAX == 0 and P.Pooling.AVE == 1 and P.Pooling.STOCHASTIC == 2
    assert P.Data.LMDB == caffe_pb2.DataParameter.LMDB
    assert P.Eltwise.SUM == caffe_pb2.EltwiseParameter.SUM
    assert P.LRN.WITHIN_CHANNEL == caffe_pb2.LRNParameter.WITHIN_CHANNEL
    assert P.Loss.VALID == caffe_pb2.LossParameter.VALID
    top = L.Convolution(L.Input(shape=dict(dim=[1, 1, 4, 4])), num_output=1)
    assert top.fn.type_name == "Convolution"
    with pytest.raises(AttributeError):
        P.Pooling.NOT_AN_ENUM


def test_ntop_tuple_and_zero():
    from fashioncaffe.net_spec import Function, Top, layers as L

    a, b, c = L.Slice(L.Input(shape=dict(dim=[2, 6])), slice_param=dict(axis=1, slice_point=[2, 4]), ntop=3)
    assert all(isinstance(t, Top) for t in (a, b, c)) and (a.n, b.n, c.n) == (0, 1, 2)
    sil = L.Silence(a, b, c, ntop=0)
    assert isinstance(sil, Function)
    n = caffe.NetSpec()
    n.x = L.Input(shape=dict(dim=[2, 6]))
    n.a, n.b, n.c = L.Slice(n.x, slice_point=[2, 4], ntop=3)
    n.silence = L.Silence(n.a, n.c, ntop=0)
    net = n.to_proto()
    sl = net.layer[1]
    assert sl.name == "a" and list(sl.top) == ["a", "b", "c"]
    assert list(sl.slice_param.slice_point) == [2, 4]
    assert net.layer[2].name == "silence" and list(net.layer[2].bottom) == ["a", "c"]
    assert len(net.layer[2].top) == 0


def test_in_place_and_names():
    from fashioncaffe.net_spec import layers as L

    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.conv = L.Convolution(n.data, num_output=4, kernel_size=3)
    n.relu = L.ReLU(n.conv, in_place=True)
    n.drop = L.Dropout(n.relu, dropout_ratio=0.3, in_place=True)
    n.pool = L.Pooling(n.drop, kernel_size=2, stride=2)
    net = n.to_proto()
    relu, drop, pool = net.layer[2], net.layer[3], net.layer[4]
    assert (relu.name, list(relu.bottom), list(relu.top)) == ("relu", ["conv"], ["conv"])
    assert (drop.name, list(drop.bottom), list(drop.top)) == ("drop", ["conv"], ["conv"])
    assert drop.dropout_param.dropout_ratio == pytest.approx(0.3)
    assert list(pool.bottom) == ["conv"]


def test_autonames_for_unassigned_tops():
    from fashioncaffe.net_spec import layers as L, to_proto

    x = L.Input(shape=dict(dim=[1, 2]))
    h = L.ReLU(L.InnerProduct(x, num_output=3))
    y = L.ReLU(L.InnerProduct(h, num_output=4))
    net = to_proto(y)
    assert [lp.name for lp in net.layer] == ["Input1", "InnerProduct1", "ReLU1", "InnerProduct2", "ReLU2"]
    assert list(net.layer[3].bottom) == ["ReLU1"] and list(net.layer[4].top) == ["ReLU2"]
    assert net == y.to_proto()

    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 2]))
    n.out = L.Sigmoid(L.InnerProduct(n.data, num_output=3))
    net = n.to_proto()
    assert [lp.name for lp in net.layer] == ["data", "InnerProduct1", "out"]


def test_repeated_and_nested_fields():
    from fashioncaffe.net_spec import layers as L

    n = caffe.NetSpec()
    n.data, n.label = L.Input(shape=[dict(dim=[2, 3, 8, 8]), dict(dim=[2])], ntop=2)
    n.conv = L.Convolution(n.data, kernel_size=3, pad=[1], stride=1, num_output=8,
                           weight_filler=dict(type="gaussian", std=0.01), bias_filler=dict(type="constant", value=0.1),
                           param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)])
    n.loss = L.SoftmaxWithLoss(L.InnerProduct(n.conv, num_output=3), n.label, loss_weight=0.5,
                               loss_param=dict(ignore_label=-1, normalization=caffe.params.Loss.BATCH_SIZE),
                               propagate_down=[True, False])
    n.acc = L.Accuracy(n.conv, n.label, include=dict(phase=caffe.TEST), top_k=3)
    want = parse("""
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } shape { dim: 2 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 8 pad: 1 kernel_size: 3 stride: 1
    weight_filler { type: "gaussian" std: 0.01 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "InnerProduct1" type: "InnerProduct" bottom: "conv" top: "InnerProduct1"
  inner_product_param { num_output: 3 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "InnerProduct1" bottom: "label" top: "loss"
  loss_weight: 0.5 propagate_down: true propagate_down: false
  loss_param { ignore_label: -1 normalization: BATCH_SIZE } }
layer { name: "acc" type: "Accuracy" bottom: "conv" bottom: "label" top: "acc"
  include { phase: TEST } accuracy_param { top_k: 3 } }
""")
    got = n.to_proto()
    assert got == want, str(got)


def test_generic_param_keywords_and_python_layer():
    from fashioncaffe.net_spec import layers as L

    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 2, 4, 4]))
    # Deconvolution has no DeconvolutionParameter: its settings go in convolution_param, as in BVLC
    n.up = L.Deconvolution(n.data, convolution_param=dict(num_output=2, kernel_size=4, stride=2, group=2,
                                                          bias_term=False, weight_filler=dict(type="bilinear")),
                           param=[dict(lr_mult=0)])
    n.py = L.Python(n.up, module="my_layers", layer="MyLayer", param_str="{'k': 2}")
    n.py2 = L.Python(n.up, python_param=dict(module="m", layer="L2"), exclude=dict(stage="deploy"))
    net = n.to_proto()
    up, py, py2 = net.layer[1], net.layer[2], net.layer[3]
    assert up.convolution_param.num_output == 2 and not up.convolution_param.bias_term
    assert up.convolution_param.weight_filler.type == "bilinear" and up.param[0].lr_mult == 0
    assert (py.python_param.module, py.python_param.layer, py.python_param.param_str) == \
        ("my_layers", "MyLayer", "{'k': 2}")
    assert py2.python_param.layer == "L2" and py2.exclude[0].stage == ["deploy"]


def test_unknown_keyword_raises():
    from fashioncaffe.net_spec import layers as L

    top = L.Convolution(L.Input(shape=dict(dim=[1, 1, 4, 4])), num_output=1, no_such_field=3)
    with pytest.raises(AttributeError):
        top.to_proto()
    with pytest.raises(TypeError):
        L.ReLU("not a top")


def test_netspec_container_api():
    from fashioncaffe.net_spec import layers as L

    n = caffe.NetSpec()
    n["data"] = L.Input(shape=dict(dim=[1, 3]))
    n.fc = L.InnerProduct(n["data"], num_output=2)
    assert n.keys() == ["data", "fc"] and len(n.vals()) == 2 and "fc" in n
    assert n.fc is n["fc"]
    del n["fc"]
    assert n.keys() == ["data"]
    with pytest.raises(AttributeError):
        n.missing


def test_netspec_net_runs_in_engine(tmp_path):
    from fashioncaffe.net_spec import layers as L, params as P

    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 3, 8, 8]))
    n.conv = L.Convolution(n.data, num_output=4, kernel_size=3, pad=1, weight_filler=dict(type="xavier"),
                           bias_filler=dict(type="constant", value=0.5))
    n.relu = L.ReLU(n.conv, in_place=True)
    n.pool = L.Pooling(n.conv, kernel_size=2, stride=2, pool=P.Pooling.AVE)
    n.fc = L.InnerProduct(n.pool, num_output=5, weight_filler=dict(type="gaussian", std=0.1))
    n.prob = L.Softmax(n.fc)
    path = tmp_path / "net.prototxt"
    path.write_text(str(n.to_proto()))
    net = caffe.Net(str(path), caffe.TEST)
    assert list(net.blobs) == ["data", "conv", "pool", "fc", "prob"]
    assert net.blobs["pool"].shape == (2, 4, 4, 4)
    np.testing.assert_allclose(net.params["conv"][1].data, 0.5)
    net.blobs["data"].data[...] = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    out = net.forward()["prob"]
    np.testing.assert_allclose(out.sum(1), 1.0, rtol=1e-5)
    # the same NetParameter object builds the same net
    net2 = caffe.Net(n.to_proto(), caffe.TEST)
    assert list(net2.blobs) == list(net.blobs)


def test_string_enum_values_accepted():
    from fashioncaffe.net_spec import layers as L

    top = L.Pooling(L.Input(shape=dict(dim=[1, 1, 4, 4])), pool="AVE", kernel_size=2)
    assert top.to_proto().layer[1].pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    with pytest.raises(ValueError):
        L.Pooling(L.Input(shape=dict(dim=[1, 1, 4, 4])), pool="MEAN").to_proto()
