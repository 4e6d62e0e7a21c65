"""Bad input gets one clear paragraph naming the file / layer / blob / field — never a bare traceback."""
import subprocess
import sys

import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError


def _write(tmp_path, text, name="net.prototxt"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


INPUT = 'layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }\n'


def test_malformed_prototxt_names_file_line_and_column(tmp_path):
    path = _write(tmp_path, INPUT + 'layer { name: "c" type: "Convolution" bottom: "x" top: "c"\n'
                  '  convolution_param { num_outptu: 4 } }\n')
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(path, caffe.TEST)
    msg = str(e.value)
    assert path in msg and "line 3" in msg and "column" in msg and "num_outptu" in msg


def test_unknown_layer_type_lists_nearest_known_types(tmp_path):
    path = _write(tmp_path, INPUT + 'layer { name: "c" type: "Convolutoin" bottom: "x" top: "c" }\n')
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(path, caffe.TEST)
    msg = str(e.value)
    assert "'c'" in msg and "Convolutoin" in msg and "Convolution" in msg


def test_missing_bottom_names_layer_and_blob(tmp_path):
    path = _write(tmp_path, INPUT + 'layer { name: "relu" type: "ReLU" bottom: "conv9" top: "r" }\n')
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(path, caffe.TEST)
    msg = str(e.value)
    assert "'relu'" in msg and "'conv9'" in msg


def test_weights_that_do_not_fit_name_layer_and_both_shapes(tmp_path):
    net_a = _write(tmp_path, INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
                   'inner_product_param { num_output: 5 } }\n', "a.prototxt")
    net_b = _write(tmp_path, INPUT + 'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
                   'inner_product_param { num_output: 7 } }\n', "b.prototxt")
    a = caffe.Net(net_a, caffe.TEST)
    weights = str(tmp_path / "a.caffemodel")
    a.save(weights)
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(net_b, weights, caffe.TEST)
    msg = str(e.value)
    assert "'ip'" in msg or '"ip"' in msg or " ip " in msg
    assert "(5, 192)" in msg.replace(" x ", ", ") or "5, 192" in msg
    assert "7, 192" in msg


def test_shared_param_shape_mismatch_is_explained(tmp_path):
    path = _write(tmp_path, INPUT +
                  'layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" param { name: "w" } '
                  'inner_product_param { num_output: 4 bias_term: false } }\n'
                  'layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" param { name: "w" } '
                  'inner_product_param { num_output: 5 bias_term: false } }\n')
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(path, caffe.TEST)
    assert "'w'" in str(e.value) and "'a'" in str(e.value)


def test_cli_prints_one_paragraph_and_exits_2(tmp_path):
    path = _write(tmp_path, INPUT + 'layer { name: "c" type: "Convolutoin" bottom: "x" top: "c" }\n')
    r = subprocess.run([sys.executable, "-m", "fashioncaffe", "time", "--model", path, "--iterations", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "Convolutoin" in r.stderr


def test_input_batch_mismatch_in_forward_kwargs(tmp_path):
    path = _write(tmp_path, INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "r" }\n')
    net = caffe.Net(path, caffe.TEST)
    with pytest.raises(FashionCaffeError):
        net.forward(x=np.zeros((5, 3, 8, 8), np.float32))
