"""Bad net definitions (issue 20): each is refused at construction with one paragraph naming the file,
layer and what was expected, as BVLC Caffe's Net::Init refuses it; what BVLC accepts is accepted with
one clear warning."""
import pytest

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError

INPUT = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }\n'
CONV = ('layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" '
        'convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }\n')

# (case id, prototxt, words every message must contain)
REFUSED = [
    ("input_negative_dim",
     'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: -3 dim: 8 } } }\n',
     ["'data'", "input_param.shape[0]", "dimension 1 = -3", ">= 0"]),
    ("input_over_int_max",
     'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 70000 dim: 70000 } } }\n',
     ["'data'", "INT_MAX", "4900000000"]),
    ("dummy_negative_dim",
     'layer { name: "noise" type: "DummyData" top: "n" dummy_data_param { shape { dim: -1 dim: 4 } } }\n',
     ["'noise'", "dimension 0 = -1"]),
    ("param_sized_by_empty_bottom",
     'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 0 dim: 8 dim: 8 } } }\n'
     + CONV,
     ["'conv'", "parameter 0", "(4, 0, 3, 3)", "no elements"]),
    ("inplace_conv_changes_channels",
     INPUT + 'layer { name: "conv" type: "Convolution" bottom: "data" top: "data" '
             'convolution_param { num_output: 4 kernel_size: 1 } }\n',
     ["'conv'", "in place", "'data'", "(2, 3, 8, 8)", "(2, 4, 8, 8)"]),
    ("inplace_pooling_changes_size",
     INPUT + 'layer { name: "pool" type: "Pooling" bottom: "data" top: "data" '
             'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n',
     ["'pool'", "in place", "(2, 3, 4, 4)"]),
    ("two_sources_of_one_top",
     INPUT + CONV + 'layer { name: "conv2" type: "Convolution" bottom: "data" top: "conv" '
                    'convolution_param { num_output: 4 kernel_size: 3 } }\n',
     ["'conv2'", "'conv'", "already produced", "multiple sources"]),
    ("one_layer_two_equal_tops",
     INPUT + 'layer { name: "slice" type: "Slice" bottom: "data" top: "a" top: "a" }\n',
     ["'slice'", "'a'", "own earlier top"]),
    ("top_equals_other_bottom",
     INPUT + CONV + 'layer { name: "sum" type: "Eltwise" bottom: "data" bottom: "conv" top: "conv" }\n',
     ["'sum'", "top 0 'conv' is its bottom 1", "multiple sources"]),
    ("inplace_flatten",
     INPUT + 'layer { name: "flat" type: "Flatten" bottom: "data" top: "data" }\n',
     ["'flat'", "Flatten", "does not allow in-place"]),
    ("inplace_reshape",
     INPUT + 'layer { name: "rs" type: "Reshape" bottom: "data" top: "data" '
             'reshape_param { shape { dim: 0 dim: -1 } } }\n',
     ["'rs'", "Reshape", "does not allow in-place"]),
    ("inplace_absval",
     INPUT + 'layer { name: "abs" type: "AbsVal" bottom: "data" top: "data" }\n',
     ["'abs'", "AbsVal", "does not allow in-place"]),
    ("too_many_param_specs",
     INPUT + 'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" param { lr_mult: 1 } '
             'param { lr_mult: 2 } param { lr_mult: 0 } convolution_param { num_output: 4 kernel_size: 3 } }\n',
     ["'conv'", "3 'param { }' specs", "only 2 parameter blob(s)", "Too many params"]),
    ("param_spec_on_layer_without_blobs",
     INPUT + 'layer { name: "relu" type: "ReLU" bottom: "data" top: "data" param { lr_mult: 0 } }\n',
     ["'relu'", "1 'param { }' specs", "only 0 parameter blob(s)"]),
    ("empty_file", "", ["no layers", "empty"]),
    ("comment_only_file", "# a net\n# nothing here\nname: \"x\"\n", ["no layers", "comments"]),
]


@pytest.mark.parametrize("case,text,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_net_is_refused_naming_file_and_layer(tmp_path, case, text, words):
    path = tmp_path / f"{case}.prototxt"
    path.write_text(text)
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(str(path), caffe.TEST)
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg
    for w in words:
        assert w in msg, (w, msg)
    if case.startswith(("inplace", "two_", "one_layer", "top_equals", "too_many", "param_spec", "empty", "comment")):
        assert str(path) in msg, msg


def test_solver_nets_name_their_file(tmp_path):
    (tmp_path / "net.prototxt").write_text(INPUT + CONV + 'layer { name: "conv2" type: "Convolution" bottom: "data" '
                                           'top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }\n')
    (tmp_path / "solver.prototxt").write_text(f'net: "{tmp_path}/net.prototxt" base_lr: 0.1 max_iter: 1\n')
    with pytest.raises(FashionCaffeError) as e:
        caffe.get_solver(str(tmp_path / "solver.prototxt"))
    assert f"{tmp_path}/net.prototxt" in str(e.value)


def test_zero_batch_input_is_accepted_with_one_warning(tmp_path, capsys):
    path = tmp_path / "zero.prototxt"
    path.write_text('layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 0 dim: 3 dim: 8 '
                    'dim: 8 } } }\n' + CONV)
    net = caffe.Net(str(path), caffe.TEST)       # BVLC's Blob accepts a 0-sized dimension
    caffe.Net(str(path), caffe.TEST)
    err = capsys.readouterr().err
    assert err.count("has dimension 0 = 0") == 1, err
    assert "Input layer 'data'" in err and "BVLC Caffe accepts it" in err
    assert net.forward()["conv"].shape == (0, 4, 6, 6)


def test_net_with_every_layer_filtered_out_warns(tmp_path, capsys):
    path = tmp_path / "train_only.prototxt"
    path.write_text(INPUT.replace("} } }", "} } include { phase: TRAIN } }"))
    caffe.Net(str(path), caffe.TEST)
    err = capsys.readouterr().err
    assert str(path) in err and "TEST phase" in err and "computes nothing" in err


def test_legal_inplace_layers_still_build(tmp_path):
    path = tmp_path / "ok.prototxt"
    path.write_text(INPUT + CONV + """
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "scale" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "drop" type: "Dropout" bottom: "conv" top: "conv" }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip" param { lr_mult: 1 } param { lr_mult: 2 }
  inner_product_param { num_output: 2 } }
layer { name: "dup" type: "InnerProduct" bottom: "conv" top: "ip2" inner_product_param { num_output: 2 } }
""")
    net = caffe.Net(str(path), caffe.TEST)
    assert net.forward()["ip"].shape == (2, 2)
