"""Schema, prototxt, upgrade, NetState and file-format tests, checked against files BVLC Caffe wrote."""

import glob
import json
import os

import numpy as np
import pytest

from fashioncaffe import formats as fio
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.netstate import filter_net, make_state, state_meets_rule
from fashioncaffe.proto import caffe_pb2
from fashioncaffe.prototxt import (
    net_to_text,
    parse_net_text,
    parse_solver_text,
    read_net_param,
    read_solver_param,
)
from fashioncaffe.upgrade import needs_upgrade, upgrade_net, upgrade_solver

REF = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "caffe_reference")
needs_ref = pytest.mark.skipif(not os.path.isdir(REF), reason="caffe_reference not present beside the repo")


def ref_files(pattern):
    return sorted(glob.glob(os.path.join(REF, "**", pattern), recursive=True))


def rel(path):
    return os.path.relpath(path, REF)


# ---------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------

LAYER_PARAM_NUMBERS = {
    "transform_param": 100, "loss_param": 101, "accuracy_param": 102, "argmax_param": 103,
    "batch_norm_param": 139, "bias_param": 141, "concat_param": 104, "contrastive_loss_param": 105,
    "convolution_param": 106, "crop_param": 144, "data_param": 107, "dropout_param": 108,
    "dummy_data_param": 109, "eltwise_param": 110, "elu_param": 140, "embed_param": 137,
    "exp_param": 111, "flatten_param": 135, "hdf5_data_param": 112, "hdf5_output_param": 113,
    "hinge_loss_param": 114, "image_data_param": 115, "infogain_loss_param": 116,
    "inner_product_param": 117, "input_param": 143, "log_param": 134, "lrn_param": 118,
    "memory_data_param": 119, "mvn_param": 120, "parameter_param": 145, "pooling_param": 121,
    "power_param": 122, "prelu_param": 131, "python_param": 130, "recurrent_param": 146,
    "reduction_param": 136, "relu_param": 123, "reshape_param": 133, "scale_param": 142,
    "sigmoid_param": 124, "softmax_param": 125, "spp_param": 132, "slice_param": 126,
    "swish_param": 147, "tanh_param": 127, "threshold_param": 128, "tile_param": 138,
    "window_data_param": 129,
}


def test_layer_parameter_field_numbers():
    fields = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
    for name, number in LAYER_PARAM_NUMBERS.items():
        assert fields[name].number == number, name
    core = {"name": 1, "type": 2, "bottom": 3, "top": 4, "loss_weight": 5, "param": 6, "blobs": 7,
            "include": 8, "exclude": 9, "phase": 10, "propagate_down": 11}
    for name, number in core.items():
        assert fields[name].number == number, name


def test_key_numbers_and_defaults():
    net = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name
    assert (net["layers"].number, net["layer"].number, net["input_shape"].number) == (2, 100, 8)
    s = caffe_pb2.SolverParameter()
    assert (s.type, s.regularization_type, s.iter_size, s.average_loss) == ("SGD", "L2", 1, 1)
    assert s.snapshot_format == caffe_pb2.SolverParameter.BINARYPROTO
    assert s.solver_mode == caffe_pb2.SolverParameter.GPU
    assert s.test_initialization and s.snapshot_after_train and s.clip_gradients == -1
    assert abs(s.delta - 1e-8) < 1e-12 and abs(s.momentum2 - 0.999) < 1e-6
    assert caffe_pb2.NetState().phase == caffe_pb2.TEST
    assert caffe_pb2.ParamSpec().lr_mult == 1 and caffe_pb2.ParamSpec().decay_mult == 1
    assert caffe_pb2.LossParameter().normalization == caffe_pb2.LossParameter.VALID
    assert caffe_pb2.FillerParameter().type == "constant"
    assert caffe_pb2.V1LayerParameter.SOFTMAX_LOSS == 21
    assert caffe_pb2.V1LayerParameter.DESCRIPTOR.fields_by_name["layer"].number == 1
    assert caffe_pb2.SolverState.DESCRIPTOR.fields_by_name["current_step"].number == 4


# ---------------------------------------------------------------------------------------------
# Files written by BVLC Caffe
# ---------------------------------------------------------------------------------------------

@needs_ref
@pytest.mark.parametrize("path", ref_files("*.prototxt"), ids=rel)
def test_reference_prototxt_parses(path):
    if os.path.basename(path).startswith("solver"):
        solver = read_solver_param(path)
        assert solver.type in ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam")
    else:
        net = read_net_param(path)
        assert len(net.layer) > 0 and not needs_upgrade(net)
        again = parse_net_text(net_to_text(net))
        assert again == net


def _assert_no_unknown_fields(msg, where):
    from google.protobuf import unknown_fields

    assert len(unknown_fields.UnknownFieldSet(msg)) == 0, where
    for fd, value in msg.ListFields():
        if fd.message_type is not None:
            for sub in (value if fd.is_repeated else [value]):
                _assert_no_unknown_fields(sub, where + "." + fd.name)


@needs_ref
@pytest.mark.parametrize("path", ref_files("*.caffemodel"), ids=rel)
def test_reference_caffemodel_parses(path):
    raw = fio.read_caffemodel(path, upgrade=False)
    _assert_no_unknown_fields(raw, rel(path))
    net = fio.read_caffemodel(path)
    layers = fio.iter_layer_blobs(path)
    assert [name for name, _ in layers] == [l.name for l in net.layer]
    for _, arrays in layers:
        for a in arrays:
            assert a.dtype == np.float32 and np.all(np.isfinite(a))
    # Serializing what we parsed gives back Caffe's bytes.
    with open(path, "rb") as f:
        assert raw.SerializeToString() == f.read()


def _test_phase_cases():
    """Reference cases recorded in the TEST phase (a TRAIN-phase forward may update its blobs, e.g.
    BatchNorm statistics, so its recorded params are not the weights file's)."""
    cases = []
    for p in ref_files("weights.caffemodel"):
        with open(os.path.join(os.path.dirname(p), "case.json")) as f:
            if json.load(f)["phase"] == "TEST":
                cases.append(os.path.dirname(p))
    return cases


@needs_ref
@pytest.mark.parametrize("case", _test_phase_cases(), ids=rel)
def test_reference_weights_match_recorded_params(case):
    expected = np.load(os.path.join(case, "expected.npz"))
    blobs = dict(fio.iter_layer_blobs(os.path.join(case, "weights.caffemodel")))
    for key in expected.files:  # cases without learnable parameters have no param/ entries
        if key.startswith("param/"):
            _, layer, i = key.split("/")
            got = blobs[layer][int(i)]
            np.testing.assert_array_equal(got.reshape(expected[key].shape), expected[key])


@needs_ref
@pytest.mark.parametrize("path", ref_files("*.solverstate"), ids=rel)
def test_reference_solverstate_parses(path):
    proto = fio.read_solverstate_proto(path)
    _assert_no_unknown_fields(proto, rel(path))
    state = fio.read_solverstate(path)
    stem = os.path.basename(path)[: -len(".solverstate")]
    assert state.iter == int(stem.rsplit("_", 1)[1])
    assert os.path.basename(state.learned_net) == stem + ".caffemodel"
    model = os.path.join(os.path.dirname(path), stem + ".caffemodel")
    params = [a for _, arrays in fio.iter_layer_blobs(model) for a in arrays]
    assert [h.shape for h in state.history] == [p.shape for p in params]  # SGD: one history per param


# ---------------------------------------------------------------------------------------------
# Prototxt parsing and errors
# ---------------------------------------------------------------------------------------------

def test_malformed_prototxt_names_file_line_column(tmp_path):
    path = tmp_path / "bad.prototxt"
    path.write_text('name: "x"\nlayer {\n  name: "a"\n  tpye: "ReLU"\n}\n')
    with pytest.raises(FashionCaffeError) as e:
        read_net_param(str(path))
    msg = str(e.value)
    assert str(path) in msg and "line 4" in msg and "column 3" in msg and "tpye" in msg
    assert "\n" not in msg


def test_prototxt_syntax_and_value_errors():
    with pytest.raises(FashionCaffeError, match=r"net.prototxt, line 1, column \d+.*"):
        parse_net_text("layer { name: 'a' ", filename="net.prototxt")
    with pytest.raises(FashionCaffeError, match="line 1"):
        parse_net_text("layer { convolution_param { num_output: -3 } }")
    with pytest.raises(FashionCaffeError, match="min|max"):
        parse_net_text("layer { clip_param { min: 0 } }")
    with pytest.raises(FashionCaffeError, match="solver.prototxt, line 2"):
        parse_solver_text('base_lr: 0.1\nlr_policy: fixed\n', filename="solver.prototxt")


def test_missing_file_is_named(tmp_path):
    missing = str(tmp_path / "nope.prototxt")
    for reader in (read_net_param, read_solver_param, fio.read_caffemodel, fio.read_binaryproto,
                   fio.read_solverstate):
        with pytest.raises(FashionCaffeError, match="nope.prototxt.*does not exist"):
            reader(missing)


def test_corrupt_caffemodel_is_named(tmp_path):
    path = tmp_path / "broken.caffemodel"
    path.write_bytes(b"\xff\xff\xff\xff\x0f garbage")
    with pytest.raises(FashionCaffeError, match="broken.caffemodel"):
        fio.read_caffemodel(str(path))


def test_read_net_param_accepts_message_without_modifying_it():
    text = 'input: "d" input_dim: 1 input_dim: 1 input_dim: 2 input_dim: 2 layer { name: "r" type: "ReLU" bottom: "d" top: "d" }'
    original = parse_net_text(text, upgrade=False)
    copy = caffe_pb2.NetParameter()
    copy.CopyFrom(original)
    net = read_net_param(original)
    assert original == copy
    assert [l.type for l in net.layer] == ["Input", "ReLU"]


# ---------------------------------------------------------------------------------------------
# Upgrades
# ---------------------------------------------------------------------------------------------

@needs_ref
def test_v1_reference_net_upgrade():
    path = os.path.join(REF, "layers", "v1_format_net", "net.prototxt")
    raw = parse_net_text(open(path).read(), upgrade=False)
    assert needs_upgrade(raw)
    net = read_net_param(path)
    assert not needs_upgrade(net) and len(net.layers) == 0 and len(net.input) == 0
    types = [(l.name, l.type) for l in net.layer]
    assert types == [("input", "Input"), ("conv1", "Convolution"), ("relu1", "ReLU"), ("pool1", "Pooling"),
                     ("norm1", "LRN"), ("fc", "InnerProduct"), ("prob", "Softmax")]
    assert list(net.layer[0].top) == ["x"]
    assert list(net.layer[0].input_param.shape[0].dim) == [2, 3, 8, 8]
    conv = net.layer[1]
    assert [(p.lr_mult, p.decay_mult) for p in conv.param] == [(1, 1), (2, 0)]
    assert conv.convolution_param.num_output == 4 and list(conv.convolution_param.kernel_size) == [3]
    assert net.layer[3].pooling_param.pool == caffe_pb2.PoolingParameter.MAX
    assert net.force_backward and net.name == "case"
    assert upgrade_net(net) == net  # idempotent


def test_v1_upgrade_all_types_and_fields():
    v1 = caffe_pb2.V1LayerParameter
    net = caffe_pb2.NetParameter()
    expected = {}
    for value in v1.LayerType.values():
        if value == v1.NONE:
            continue
        layer = net.layers.add(name=v1.LayerType.Name(value), type=value)
        expected[layer.name] = layer
    data = net.layers.add(name="data", type=v1.DATA, top=["data", "label"])
    data.data_param.source = "train_lmdb"
    data.data_param.scale = 0.00390625
    data.data_param.mirror = True
    data.data_param.crop_size = 227
    data.data_param.mean_file = "mean.binaryproto"
    data.include.add(phase=caffe_pb2.TRAIN)
    shared = net.layers.add(name="shared", type=v1.INNER_PRODUCT, param=["w", "b"], blobs_lr=[1, 2],
                            weight_decay=[1, 0], blob_share_mode=[v1.PERMISSIVE])
    shared.inner_product_param.num_output = 10
    loss = net.layers.add(name="loss", type=v1.SOFTMAX_LOSS, loss_weight=[0.5])
    loss.loss_param.ignore_label = 3
    out = upgrade_net(net)
    types = {l.name: l.type for l in out.layer}
    for name in ("CONVOLUTION", "INNER_PRODUCT", "RELU", "LRN", "POOLING", "DATA", "IMAGE_DATA"):
        assert types[name] == {"CONVOLUTION": "Convolution", "INNER_PRODUCT": "InnerProduct", "RELU": "ReLU",
                               "LRN": "LRN", "POOLING": "Pooling", "DATA": "Data", "IMAGE_DATA": "ImageData"}[name]
    assert types["SOFTMAX_LOSS"] == "SoftmaxWithLoss" and types["TANH"] == "TanH"
    assert types["HDF5_DATA"] == "HDF5Data" and types["SIGMOID_CROSS_ENTROPY_LOSS"] == "SigmoidCrossEntropyLoss"
    assert types["ABSVAL"] == "AbsVal" and types["IM2COL"] == "Im2col" and types["DUMMY_DATA"] == "DummyData"
    assert all(t for t in types.values())
    d = next(l for l in out.layer if l.name == "data")
    assert d.transform_param.scale == pytest.approx(0.00390625) and d.transform_param.mirror
    assert d.transform_param.crop_size == 227 and d.transform_param.mean_file == "mean.binaryproto"
    assert not d.data_param.HasField("scale") and d.data_param.source == "train_lmdb"
    assert d.include[0].phase == caffe_pb2.TRAIN and list(d.top) == ["data", "label"]
    s = next(l for l in out.layer if l.name == "shared")
    assert [(p.name, p.lr_mult, p.decay_mult) for p in s.param] == [("w", 1, 1), ("b", 2, 0)]
    assert s.param[0].share_mode == caffe_pb2.ParamSpec.PERMISSIVE and s.inner_product_param.num_output == 10
    ls = next(l for l in out.layer if l.name == "loss")
    assert list(ls.loss_weight) == [0.5] and ls.loss_param.ignore_label == 3


def test_v1_and_v2_mixed_is_an_error():
    net = parse_net_text('layers { name: "a" type: RELU } layer { name: "b" type: "ReLU" }', upgrade=False)
    with pytest.raises(FashionCaffeError, match="both V1 'layers' and V2 'layer'"):
        upgrade_net(net, source="mixed.prototxt")


V0_NET = """
name: "v0net"
input: "data"
input_dim: 10 input_dim: 3 input_dim: 32 input_dim: 32
layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
layers {
  layer { name: "conv1" type: "conv" num_output: 16 kernelsize: 5 stride: 1 biasterm: false
          weight_filler { type: "gaussian" std: 0.01 } blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0 }
  bottom: "pad1" top: "conv1"
}
layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
layers { layer { name: "pool1" type: "pool" pool: AVE kernelsize: 3 stride: 2 } bottom: "conv1" top: "pool1" }
layers { layer { name: "norm1" type: "lrn" local_size: 3 alpha: 0.0001 beta: 0.75 } bottom: "pool1" top: "norm1" }
layers { layer { name: "fc" type: "innerproduct" num_output: 10 } bottom: "norm1" top: "fc" }
layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.3 } bottom: "fc" top: "fc" }
layers { layer { name: "prob" type: "softmax" } bottom: "fc" top: "prob" }
"""


def test_v0_upgrade_with_padding_layer():
    raw = parse_net_text(V0_NET, upgrade=False)
    assert needs_upgrade(raw)
    net = parse_net_text(V0_NET)
    assert [(l.name, l.type) for l in net.layer] == [
        ("input", "Input"), ("conv1", "Convolution"), ("relu1", "ReLU"), ("pool1", "Pooling"),
        ("norm1", "LRN"), ("fc", "InnerProduct"), ("drop", "Dropout"), ("prob", "Softmax")]
    conv = net.layer[1]
    cp = conv.convolution_param
    assert list(conv.bottom) == ["data"]  # the padding layer is folded into the convolution
    assert (list(cp.pad), list(cp.kernel_size), list(cp.stride), cp.num_output, cp.bias_term) == ([2], [5], [1], 16, False)
    assert cp.weight_filler.type == "gaussian" and cp.weight_filler.std == pytest.approx(0.01)
    assert [(p.lr_mult, p.decay_mult) for p in conv.param] == [(1, 1), (2, 0)]
    pool = net.layer[3].pooling_param
    assert (pool.pool, pool.kernel_size, pool.stride) == (caffe_pb2.PoolingParameter.AVE, 3, 2)
    assert net.layer[4].lrn_param.local_size == 3 and net.layer[4].lrn_param.alpha == pytest.approx(1e-4)
    assert net.layer[6].dropout_param.dropout_ratio == pytest.approx(0.3)
    assert list(net.layer[0].input_param.shape[0].dim) == [10, 3, 32, 32]
    assert net.name == "v0net" and upgrade_net(net) == net


def test_v0_data_layer_and_errors():
    text = ('layers { layer { name: "d" type: "data" source: "db" batchsize: 64 meanfile: "m.binaryproto" '
            'cropsize: 227 mirror: true scale: 0.5 } top: "data" top: "label" }')
    d = parse_net_text(text).layer[0]
    assert d.type == "Data" and d.data_param.source == "db" and d.data_param.batch_size == 64
    tp = d.transform_param
    assert (tp.mean_file, tp.crop_size, tp.mirror, tp.scale) == ("m.binaryproto", 227, True, 0.5)
    with pytest.raises(FashionCaffeError, match="unknown type 'bogus'"):
        parse_net_text('layers { layer { name: "x" type: "bogus" } }', filename="v0.prototxt")
    with pytest.raises(FashionCaffeError, match="'relu'.*'num_output'"):
        parse_net_text('layers { layer { name: "x" type: "relu" num_output: 3 } }')
    with pytest.raises(FashionCaffeError, match="padding"):
        parse_net_text('input: "a" layers { layer { name: "p" type: "padding" pad: 1 } bottom: "a" top: "p" } '
                       'layers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }')


def test_input_shape_upgrade_and_mismatch():
    net = parse_net_text('input: "a" input_shape { dim: 1 dim: 2 } input: "b" input_shape { dim: 3 } '
                         'layer { name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" }')
    inp = net.layer[0]
    assert inp.type == "Input" and list(inp.top) == ["a", "b"]
    assert [list(s.dim) for s in inp.input_param.shape] == [[1, 2], [3]]
    with pytest.raises(FashionCaffeError, match="input_dim"):
        parse_net_text('input: "a" input_dim: 1 input_dim: 2')
    # Legacy caffemodels carry bare input names; those are just dropped.
    bare = upgrade_net(parse_net_text('input: "a" layer { name: "r" type: "ReLU" }', upgrade=False))
    assert [l.name for l in bare.layer] == ["r"] and not bare.input


def test_solver_type_upgrade():
    s = parse_solver_text("solver_type: ADAM base_lr: 0.1")
    assert s.type == "Adam" and not s.HasField("solver_type")
    names = {"SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad", "RMSPROP": "RMSProp",
             "ADADELTA": "AdaDelta", "ADAM": "Adam"}
    for enum_name, type_name in names.items():
        assert parse_solver_text(f"solver_type: {enum_name}").type == type_name
    assert parse_solver_text('solver_type: NESTEROV type: "Nesterov"').type == "Nesterov"
    with pytest.raises(FashionCaffeError, match="solver_type.*disagree"):
        parse_solver_text('solver_type: ADAM type: "SGD"', filename="s.prototxt")
    assert upgrade_solver(s) == s
    full = parse_solver_text(
        'net: "n.prototxt" test_iter: 10 test_interval: 5 test_initialization: false base_lr: 0.01 '
        'lr_policy: "multistep" stepvalue: 10 stepvalue: 20 gamma: 0.1 iter_size: 2 clip_gradients: 5 '
        'regularization_type: "L1" snapshot_format: HDF5 average_loss: 10 rms_decay: 0.9 momentum2: 0.99 '
        'delta: 1e-6 snapshot_after_train: false layer_wise_reduce: false weights: "a.caffemodel" '
        'train_state { stage: "s" } test_state { phase: TEST } solver_mode: CPU random_seed: 3 '
        'test_net_param { name: "t" } net_param { name: "n" } type: "RMSProp"')
    assert list(full.stepvalue) == [10, 20] and full.snapshot_format == caffe_pb2.SolverParameter.HDF5
    assert full.weights[0] == "a.caffemodel" and full.test_net_param[0].name == "t"


# ---------------------------------------------------------------------------------------------
# NetState filtering
# ---------------------------------------------------------------------------------------------

FILTER_NET = """
name: "f"
layer { name: "always" type: "ReLU" }
layer { name: "train_only" type: "ReLU" include { phase: TRAIN } }
layer { name: "test_only" type: "ReLU" include { phase: TEST } }
layer { name: "not_test" type: "ReLU" exclude { phase: TEST } }
layer { name: "level2" type: "ReLU" include { min_level: 2 } }
layer { name: "upto1" type: "ReLU" include { max_level: 1 } }
layer { name: "stage_ab" type: "ReLU" include { stage: "a" stage: "b" } }
layer { name: "stage_a_or_c" type: "ReLU" include { stage: "a" } include { stage: "c" } }
layer { name: "not_a" type: "ReLU" include { not_stage: "a" } }
layer { name: "excl_a_train" type: "ReLU" exclude { phase: TRAIN stage: "a" } }
"""


def kept(phase, level=0, stages=()):
    net = parse_net_text(FILTER_NET)
    out = filter_net(net, make_state(phase, level, stages))
    assert out.state.phase == phase and out.name == "f"
    return [l.name for l in out.layer]


def test_filter_phase_level_stage():
    assert kept(caffe_pb2.TRAIN) == ["always", "train_only", "not_test", "upto1", "not_a", "excl_a_train"]
    assert kept(caffe_pb2.TEST) == ["always", "test_only", "upto1", "not_a", "excl_a_train"]
    assert kept(caffe_pb2.TEST, level=2) == ["always", "test_only", "level2", "not_a", "excl_a_train"]
    assert kept(caffe_pb2.TRAIN, stages=["a"]) == ["always", "train_only", "not_test", "upto1", "stage_a_or_c"]
    assert kept(caffe_pb2.TEST, stages=["a", "b"]) == [
        "always", "test_only", "upto1", "stage_ab", "stage_a_or_c", "excl_a_train"]
    assert kept(caffe_pb2.TEST, stages=["c"]) == ["always", "test_only", "upto1", "stage_a_or_c", "not_a",
                                                  "excl_a_train"]


def test_filter_defaults_to_net_state_and_rejects_both_rule_kinds():
    net = parse_net_text(FILTER_NET + "state { phase: TRAIN }")
    assert "train_only" in [l.name for l in filter_net(net).layer]
    bad = parse_net_text('layer { name: "x" type: "ReLU" include { phase: TRAIN } exclude { phase: TEST } }')
    with pytest.raises(FashionCaffeError, match="layer 'x'.*both include and exclude"):
        filter_net(bad, make_state("TRAIN"))
    rule = caffe_pb2.NetStateRule(min_level=1, max_level=3, not_stage=["x"])
    assert state_meets_rule(make_state("TEST", 2), rule) and not state_meets_rule(make_state("TEST", 4), rule)


# ---------------------------------------------------------------------------------------------
# Blobs and round trips
# ---------------------------------------------------------------------------------------------

def test_blobproto_conversions():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    d = -a
    b = fio.array_to_blobproto(a, d)
    assert list(b.shape.dim) == [2, 3, 4] and not b.HasField("num")
    np.testing.assert_array_equal(fio.blobproto_to_array(b), a)
    np.testing.assert_array_equal(fio.blobproto_to_array(b, return_diff=True), d)
    # Encoded exactly as protobuf encodes the same message built field by field.
    slow = caffe_pb2.BlobProto(data=a.ravel().tolist(), diff=d.ravel().tolist())
    slow.shape.dim.extend([2, 3, 4])
    assert b.SerializeToString() == slow.SerializeToString()
    scalar = fio.array_to_blobproto(np.float32(3))
    assert fio.blobproto_to_array(scalar).shape == () and scalar.HasField("shape")
    with pytest.raises(FashionCaffeError, match="needs 6"):
        fio.blobproto_to_array(caffe_pb2.BlobProto(data=[1, 2], shape=caffe_pb2.BlobShape(dim=[2, 3])))


def test_legacy_4d_and_double_blobs():
    legacy = caffe_pb2.BlobProto(num=1, channels=2, height=1, width=3, data=list(range(6)))
    arr = fio.blobproto_to_array(legacy)
    assert arr.shape == (1, 2, 1, 3) and arr.dtype == np.float32 and arr[0, 1, 0, 2] == 5
    assert fio.blob_shape(caffe_pb2.BlobProto(width=5)) == (0, 0, 0, 5)  # any legacy field switches to 4-D
    dbl = caffe_pb2.BlobProto(double_data=[0.1, 0.2], double_diff=[1.0, 2.0], shape=caffe_pb2.BlobShape(dim=[2]))
    assert fio.blobproto_to_array(dbl).dtype == np.float64
    np.testing.assert_array_equal(fio.blobproto_to_array(dbl), [0.1, 0.2])
    np.testing.assert_array_equal(fio.blobproto_to_array(dbl, return_diff=True), [1.0, 2.0])
    as_legacy = fio.array_to_blobproto(np.ones((1, 3, 2, 2)), legacy_4d=True)
    assert (as_legacy.num, as_legacy.channels, as_legacy.height, as_legacy.width) == (1, 3, 2, 2)
    assert not as_legacy.HasField("shape")


def test_binaryproto_and_vector_round_trip(tmp_path):
    mean = np.random.RandomState(0).rand(1, 3, 5, 4).astype(np.float32) * 255
    path = str(tmp_path / "mean.binaryproto")
    fio.write_binaryproto(path, mean)
    np.testing.assert_array_equal(fio.read_binaryproto(path), mean)
    fio.write_binaryproto(path, mean, legacy_4d=True)
    assert fio.read_blobproto(path).num == 1
    np.testing.assert_array_equal(fio.read_binaryproto(path), mean)
    arrays = [np.ones((2, 2), np.float32), np.zeros(3, np.float32)]
    back = fio.blobprotovector_str_to_arraylist(fio.arraylist_to_blobprotovector_str(arrays))
    assert [b.shape for b in back] == [(2, 2), (3,)]
    assert [f for f in os.listdir(tmp_path)] == ["mean.binaryproto"]  # no temporary files left


def _small_model():
    rng = np.random.RandomState(1)
    net = parse_net_text('name: "m" input: "x" input_shape { dim: 2 dim: 3 } '
                         'layer { name: "fc" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 4 } } '
                         'layer { name: "relu" type: "ReLU" bottom: "y" top: "y" } '
                         'layer { name: "g/scale" type: "Scale" bottom: "y" top: "z" }')
    weights = {"fc": [rng.randn(4, 3).astype(np.float32), rng.randn(4).astype(np.float32)],
               "g/scale": [rng.randn(4).astype(np.float32)]}
    for layer in net.layer:
        for a in weights.get(layer.name, []):
            layer.blobs.append(fio.array_to_blobproto(a))
    return net, weights


def test_caffemodel_round_trip(tmp_path):
    net, weights = _small_model()
    path = str(tmp_path / "m.caffemodel")
    fio.write_caffemodel(path, net)
    assert fio.read_caffemodel(path) == net
    blobs = dict(fio.iter_layer_blobs(path))
    assert blobs["relu"] == [] and blobs["input"] == []
    for name, arrays in weights.items():
        for got, want in zip(blobs[name], arrays):
            np.testing.assert_array_equal(got, want)


def test_v1_caffemodel_is_upgraded(tmp_path):
    v1 = caffe_pb2.NetParameter(name="old")
    layer = v1.layers.add(name="ip", type=caffe_pb2.V1LayerParameter.INNER_PRODUCT)
    layer.blobs.append(caffe_pb2.BlobProto(num=1, channels=1, height=2, width=3, data=list(range(6))))
    path = str(tmp_path / "old.caffemodel")
    fio.write_caffemodel(path, v1)
    net = fio.read_caffemodel(path)
    assert net.layer[0].type == "InnerProduct" and len(net.layers) == 0
    ((name, (w,)),) = fio.iter_layer_blobs(path)
    assert name == "ip" and w.shape == (1, 1, 2, 3)
    assert fio.iter_layer_blobs(v1)[0][0] == "ip"


def test_hdf5_caffemodel_round_trip(tmp_path):
    import h5py

    net, weights = _small_model()
    path = str(tmp_path / "m.caffemodel.h5")
    fio.write_caffemodel(path, net)
    with h5py.File(path, "r") as f:
        assert f["data/fc/0"].shape == (4, 3) and f["data/fc/0"].dtype == np.float32
        assert "relu" in f["data"] and len(f["data/relu"]) == 0
    blobs = dict(fio.iter_layer_blobs(path))
    assert set(blobs) == {"input", "fc", "relu", "g/scale"}
    np.testing.assert_array_equal(blobs["fc"][1], weights["fc"][1])
    np.testing.assert_array_equal(blobs["g/scale"][0], weights["g/scale"][0])
    diffs = [(n, [np.full_like(a, 2) for a in arrs]) for n, arrs in fio.iter_layer_blobs(net)]
    fio.write_caffemodel_h5(path, fio.iter_layer_blobs(net), diffs=diffs)
    assert np.all(dict(fio.read_caffemodel_h5(path, diff=True))["fc"][0] == 2)
    with pytest.raises(FashionCaffeError, match="HDF5"):
        fio.read_caffemodel(path)


@pytest.mark.parametrize("name", ["s.solverstate", "s.solverstate.h5"])
def test_solverstate_round_trip(tmp_path, name):
    history = [np.random.rand(4, 3).astype(np.float32), np.random.rand(4).astype(np.float32)]
    path = str(tmp_path / name)
    fio.write_solverstate(path, 42, "snap_iter_42.caffemodel", 3, history)
    state = fio.read_solverstate(path)
    assert (state.iter, state.learned_net, state.current_step) == (42, "snap_iter_42.caffemodel", 3)
    for got, want in zip(state.history, history):
        np.testing.assert_array_equal(got, want)
    assert len(state.history) == 2


def test_hdf5_solverstate_layout(tmp_path):
    import h5py

    path = str(tmp_path / "s.solverstate.h5")
    fio.write_solverstate(path, 7, "m.caffemodel.h5", 1, [np.zeros((2, 2), np.float32)])
    with h5py.File(path, "r") as f:
        assert f["iter"].dtype == np.int32 and f["iter"].shape == (1,) and f["iter"][0] == 7
        assert f["learned_net"][()].rstrip(b"\0") == b"m.caffemodel.h5"
        assert f["learned_net"].dtype.itemsize == len("m.caffemodel.h5") + 1  # room for Caffe's NUL
        assert f["history/0"].dtype == np.float32


def test_failed_write_leaves_old_file(tmp_path):
    path = str(tmp_path / "keep.caffemodel")
    fio.write_caffemodel(path, caffe_pb2.NetParameter(name="old"))
    with pytest.raises(TypeError):  # fails half way through writing the history
        fio.write_solverstate(path + ".h5", 1, "x", 0, [np.zeros(2), object()])
    assert fio.read_caffemodel(path).name == "old"
    assert sorted(os.listdir(tmp_path)) == ["keep.caffemodel"]


@pytest.mark.slow
def test_caffemodel_over_64mb(tmp_path):
    big = np.random.RandomState(0).rand(18_000_000).astype(np.float32)  # 72 MB of weights
    net = caffe_pb2.NetParameter(name="big")
    layer = net.layer.add(name="fc", type="InnerProduct")
    layer.blobs.append(fio.array_to_blobproto(big.reshape(4000, 4500)))
    layer.blobs.append(fio.array_to_blobproto(big[:10]))
    path = str(tmp_path / "big.caffemodel")
    fio.write_caffemodel(path, net)
    assert os.path.getsize(path) > 64 * 1024 * 1024
    ((name, (w, b)),) = fio.iter_layer_blobs(path)
    assert name == "fc" and w.shape == (4000, 4500)
    np.testing.assert_array_equal(w.ravel(), big)
    np.testing.assert_array_equal(b, big[:10])
