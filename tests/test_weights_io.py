"""Net.copy_from / Net.save backends (fashioncaffe.formats.weights)."""
from __future__ import annotations


import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats import read_caffemodel, write_caffemodel
from fashioncaffe.proto import caffe_pb2

NET = """name: "w"
input: "data" input_shape { dim: 2 dim: 4 }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" } } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2" param { name: "shared_w" }
        inner_product_param { num_output: 3 bias_term: false weight_filler { type: "gaussian" std: 1 } } }
layer { name: "ip3" type: "InnerProduct" bottom: "ip2" top: "ip3" param { name: "shared_w" }
        inner_product_param { num_output: 3 bias_term: false } }
"""


@pytest.fixture
def net_file(tmp_path):
    caffe.set_mode_cpu()
    p = tmp_path / "net.prototxt"
    p.write_text(NET)
    return str(p)


def _params(net):
    return {(k, i): np.array(b.data) for k, bl in net.params.items() for i, b in enumerate(bl)}


@pytest.mark.parametrize("ext", [".caffemodel", ".caffemodel.h5"])
def test_save_and_copy_round_trip(net_file, tmp_path, ext):
    a = caffe.Net(net_file, caffe.TEST)
    path = str(tmp_path / ("w" + ext))
    if ext.endswith(".h5"):
        a.save_hdf5(path)   # pycaffe's save() writes the binary format whatever the name; copy_from reads by name
    else:
        a.save(path)
    b = caffe.Net(net_file, caffe.TEST)
    b.params["ip1"][0].data[...] = 0
    b.copy_from(path)
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])
    assert b.params["ip3"][0] is b.params["ip2"][0]
    out_a = a.forward(data=np.ones((2, 4), np.float32))["ip3"].copy()
    out_b = b.forward(data=np.ones((2, 4), np.float32))["ip3"]
    np.testing.assert_array_equal(out_a, out_b)


def test_binary_save_has_every_layer_and_shared_blobs(net_file, tmp_path):
    a = caffe.Net(net_file, caffe.TEST)
    path = str(tmp_path / "w.caffemodel")
    a.save(path)
    m = read_caffemodel(path)
    assert [l.name for l in m.layer][-3:] == ["ip1", "ip2", "ip3"]
    assert [len(l.blobs) for l in m.layer][-3:] == [2, 1, 1]
    assert list(m.layer[-3].blobs[0].shape.dim) == [3, 4]


def test_legacy_4d_blobs_match_right_aligned(net_file, tmp_path):
    a = caffe.Net(net_file, caffe.TEST)
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    bias = np.array([1, 2, 3], np.float32)
    m = caffe_pb2.NetParameter(name="legacy")
    l = m.layer.add(name="ip1", type="InnerProduct")
    for arr, dims in ((w, (1, 1, 3, 4)), (bias, (1, 1, 1, 3))):
        b = l.blobs.add()
        b.num, b.channels, b.height, b.width = dims
        b.data.extend(arr.ravel().tolist())
    m.layer.add(name="not_in_net", type="ReLU")
    path = str(tmp_path / "legacy.caffemodel")
    write_caffemodel(path, m)
    a.copy_from(path)
    np.testing.assert_array_equal(a.params["ip1"][0].data, w)
    np.testing.assert_array_equal(a.params["ip1"][1].data, bias)


def test_shape_mismatch_names_layer_index_and_shapes(net_file, tmp_path):
    m = caffe_pb2.NetParameter(name="bad")
    l = m.layer.add(name="ip1", type="InnerProduct")
    b = l.blobs.add()
    b.shape.dim.extend([4, 3])
    b.data.extend([0.0] * 12)
    b2 = l.blobs.add()
    b2.shape.dim.extend([3])
    b2.data.extend([0.0] * 3)
    path = str(tmp_path / "bad.caffemodel")
    write_caffemodel(path, m)
    net = caffe.Net(net_file, caffe.TEST)
    with pytest.raises(FashionCaffeError) as e:
        net.copy_from(path)
    msg = str(e.value)
    assert "ip1" in msg and "param 0" in msg and "(4, 3)" in msg and "(3, 4)" in msg


def test_blob_count_mismatch_and_missing_file(net_file, tmp_path):
    m = caffe_pb2.NetParameter(name="bad")
    m.layer.add(name="ip1", type="InnerProduct")
    path = str(tmp_path / "bad.caffemodel")
    write_caffemodel(path, m)
    net = caffe.Net(net_file, caffe.TEST)
    with pytest.raises(FashionCaffeError, match="number of blobs"):
        net.copy_from(path)
    with pytest.raises(FashionCaffeError, match="does not exist"):
        net.copy_from(str(tmp_path / "nope.caffemodel"))


def test_v1_caffemodel_is_upgraded(net_file, tmp_path):
    w = np.ones((3, 4), np.float32) * 0.5
    m = caffe_pb2.NetParameter(name="v1")
    l = m.layers.add(name="ip1", type=caffe_pb2.V1LayerParameter.INNER_PRODUCT)
    for arr in (w, np.zeros(3, np.float32)):
        b = l.blobs.add()
        b.num, b.channels, b.height, b.width = (1, 1) + ((3, 4) if arr.ndim == 2 else (1, 3))
        b.data.extend(arr.ravel().tolist())
    path = str(tmp_path / "v1.caffemodel")
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    net = caffe.Net(net_file, caffe.TEST)
    net.copy_from(path)
    np.testing.assert_array_equal(net.params["ip1"][0].data, w)
