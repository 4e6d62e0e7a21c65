"""ONNX export: onnxruntime (and onnx's reference evaluator) reproduce the engine's numbers.

Small nets cover every layer the exporter converts (each op kind the converters emit), Caffe's
pooling geometry (ceil output size without ceil_mode, AVE divisor map), the BatchNorm + Scale fold,
the dynamic batch, the metadata, opset variants, the Python-layer converter registry and the errors
for layers that cannot be exported.  Weights are random; tolerance: max|ort − engine| ≤ 1e-4·max|engine|.
"""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.onnx import ExportError, export_net, register_python_converter
from fashioncaffe.onnx.metadata import read_metadata
from fashioncaffe.onnx.testing import engine_forward, fill_random, ort_session, rel_error
from fashioncaffe.prototxt import parse_net_text

TOL = 1e-4

VISION = """
name: "vision"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 17 dim: 19 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 6 kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "sc1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" relu_param { negative_slope: 0.1 } }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
        convolution_param { num_output: 6 kernel_size: 3 pad: 2 dilation: 2 group: 3 } }
layer { name: "bn2" type: "BatchNorm" bottom: "conv2" top: "bn2" batch_norm_param { eps: 0.001 } }
layer { name: "sc2" type: "Scale" bottom: "bn2" top: "sc2" }
layer { name: "sum2" type: "Eltwise" bottom: "bn2" bottom: "sc2" top: "sum2" }
layer { name: "pool_max" type: "Pooling" bottom: "sum2" top: "pool_max"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "pool_ave" type: "Pooling" bottom: "sum2" top: "pool_ave"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "pool_ceil" type: "Pooling" bottom: "sum2" top: "pool_ceil"
        pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 2 } }
layer { name: "relu_s" type: "ReLU" bottom: "sum2" top: "pos" }
layer { name: "pool_sto" type: "Pooling" bottom: "pos" top: "pool_sto"
        pooling_param { pool: STOCHASTIC kernel_size: 2 stride: 2 } }
layer { name: "gmax" type: "Pooling" bottom: "pool_max" top: "gmax" pooling_param { pool: MAX global_pooling: true } }
layer { name: "gave" type: "Pooling" bottom: "pool_ave" top: "gave" pooling_param { pool: AVE global_pooling: true } }
layer { name: "spp" type: "SPP" bottom: "sum2" top: "spp" spp_param { pyramid_height: 3 pool: AVE } }
layer { name: "spp_max" type: "SPP" bottom: "sum2" top: "spp_max" spp_param { pyramid_height: 2 pool: MAX } }
layer { name: "lrn1" type: "LRN" bottom: "pool_max" top: "lrn1" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }
layer { name: "lrn2" type: "LRN" bottom: "lrn1" top: "lrn2"
        lrn_param { local_size: 3 alpha: 0.3 beta: 0.6 norm_region: WITHIN_CHANNEL } }
layer { name: "deconv" type: "Deconvolution" bottom: "lrn2" top: "deconv"
        convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "scale3" type: "Scale" bottom: "deconv" top: "deconv" scale_param { bias_term: true } }
layer { name: "fc" type: "InnerProduct" bottom: "deconv" top: "fc" inner_product_param { num_output: 7 } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" }
layer { name: "fc_t" type: "InnerProduct" bottom: "pool_ceil" top: "fc_t" inner_product_param { num_output: 5 transpose: true } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
layer { name: "cat" type: "Concat" bottom: "gmax" bottom: "gave" top: "cat" }
layer { name: "flat_s" type: "Flatten" bottom: "pool_sto" top: "flat_s" }
"""

NEURONS = """
name: "neurons"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 4 dim: 5 dim: 6 } } }
layer { name: "relu" type: "ReLU" bottom: "data" top: "relu" }
layer { name: "prelu" type: "PReLU" bottom: "data" top: "prelu" }
layer { name: "prelu_s" type: "PReLU" bottom: "data" top: "prelu_s" prelu_param { channel_shared: true } }
layer { name: "elu" type: "ELU" bottom: "data" top: "elu" elu_param { alpha: 0.7 } }
layer { name: "sig" type: "Sigmoid" bottom: "data" top: "sig" }
layer { name: "tanh" type: "TanH" bottom: "data" top: "tanh" }
layer { name: "abs" type: "AbsVal" bottom: "data" top: "abs" }
layer { name: "bnll" type: "BNLL" bottom: "data" top: "bnll" }
layer { name: "pow2" type: "Power" bottom: "data" top: "pow2" power_param { power: 2 scale: 0.5 shift: 1 } }
layer { name: "pow3" type: "Power" bottom: "abs" top: "pow3" power_param { power: 1.5 shift: 0.1 } }
layer { name: "pow0" type: "Power" bottom: "data" top: "pow0" power_param { power: 2 scale: 0 shift: 3 } }
layer { name: "exp" type: "Exp" bottom: "data" top: "exp" exp_param { base: 2 scale: 0.5 shift: 0.3 } }
layer { name: "log" type: "Log" bottom: "pow3" top: "log" log_param { base: 10 scale: 2 shift: 0.5 } }
layer { name: "thr" type: "Threshold" bottom: "data" top: "thr" threshold_param { threshold: 0.2 } }
layer { name: "swish" type: "Swish" bottom: "data" top: "swish" swish_param { beta: 1.5 } }
layer { name: "clip" type: "Clip" bottom: "data" top: "clip" clip_param { min: -0.5 max: 0.7 } }
layer { name: "bias" type: "Bias" bottom: "data" top: "bias" }
layer { name: "red_mean" type: "Reduction" bottom: "data" top: "red_mean" reduction_param { operation: MEAN axis: 2 coeff: 2 } }
layer { name: "scale2" type: "Scale" bottom: "data" bottom: "red_mean" top: "scale2" scale_param { axis: 0 } }
layer { name: "bias2" type: "Bias" bottom: "data" bottom: "red_mean" top: "bias2" bias_param { axis: 0 } }
layer { name: "red_sum" type: "Reduction" bottom: "data" top: "red_sum" reduction_param { operation: SUM axis: 1 } }
layer { name: "red_asum" type: "Reduction" bottom: "data" top: "red_asum" reduction_param { operation: ASUM axis: 1 } }
layer { name: "red_sq" type: "Reduction" bottom: "data" top: "red_sq" reduction_param { operation: SUMSQ axis: 3 } }
layer { name: "mvn" type: "MVN" bottom: "data" top: "mvn" }
layer { name: "mvn_a" type: "MVN" bottom: "data" top: "mvn_a" mvn_param { across_channels: true normalize_variance: false } }
layer { name: "sum" type: "Eltwise" bottom: "relu" bottom: "elu" bottom: "tanh" top: "sum" eltwise_param { operation: SUM coeff: 1 coeff: -2 coeff: 0.5 } }
layer { name: "prod" type: "Eltwise" bottom: "sig" bottom: "tanh" bottom: "data" top: "prod" eltwise_param { operation: PROD } }
layer { name: "max" type: "Eltwise" bottom: "sig" bottom: "tanh" bottom: "data" top: "max" eltwise_param { operation: MAX } }
layer { name: "cat" type: "Concat" bottom: "sum" bottom: "prod" top: "cat" concat_param { axis: 2 } }
layer { name: "slice" type: "Slice" bottom: "cat" top: "s1" top: "s2" top: "s3" slice_param { axis: 2 slice_point: 2 slice_point: 7 } }
layer { name: "split" type: "Split" bottom: "s2" top: "sp1" top: "sp2" }
layer { name: "spsum" type: "Eltwise" bottom: "sp1" bottom: "sp2" top: "spsum" }
layer { name: "soft" type: "Softmax" bottom: "max" top: "soft" softmax_param { axis: 2 } }
layer { name: "argmax" type: "ArgMax" bottom: "data" top: "argmax" argmax_param { top_k: 3 } }
layer { name: "argmax_v" type: "ArgMax" bottom: "data" top: "argmax_v" argmax_param { top_k: 2 out_max_val: true } }
layer { name: "argmax_a" type: "ArgMax" bottom: "data" top: "argmax_a" argmax_param { top_k: 2 axis: 1 } }
layer { name: "tile" type: "Tile" bottom: "s1" top: "tile" tile_param { axis: 3 tiles: 2 } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 3 kernel_size: 3 } }
layer { name: "crop" type: "Crop" bottom: "s3" bottom: "conv" top: "crop" crop_param { axis: 2 offset: 0 offset: 2 } }
layer { name: "flat" type: "Flatten" bottom: "swish" top: "flat" flatten_param { axis: 2 } }
layer { name: "resh" type: "Reshape" bottom: "clip" top: "resh" reshape_param { shape { dim: 0 dim: -1 dim: 6 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "bias" top: "ip2" inner_product_param { num_output: 3 axis: 2 } }
layer { name: "param" type: "Parameter" top: "param" parameter_param { shape { dim: 2 dim: 3 } } }
layer { name: "silence" type: "Silence" bottom: "pow0" }
"""


def reference_evaluator(model):
    """onnx.reference.ReferenceEvaluator, with LRN as the ONNX spec defines it: onnx's own reference
    LRN (1.23) loops over the batch axis instead of the channels, so it is replaced by this one."""
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    class LRN(OpRun):
        op_domain = ""

        def _run(self, x, alpha=None, beta=None, bias=None, size=None):
            sq = np.zeros_like(x)
            lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
            C = x.shape[1]
            for c in range(C):
                sq[:, c] = np.sum(x[:, max(0, c - lo):min(C, c + hi + 1)] ** 2, axis=1)
            return ((x / (bias + (alpha / size) * sq) ** beta).astype(x.dtype),)

    return ReferenceEvaluator(model, new_ops=[LRN])


def make_net(text, seed=0):
    net = caffe.Net(parse_net_text(textwrap.dedent(text)), caffe.TEST)
    fill_random(net, seed)
    return net


def check(net, model, batch=None, seed=0, scale=1.0, reference=False, inputs=None):
    name = net.inputs[0]
    shape = list(net.blobs[name].shape)
    if batch:
        shape[0] = batch
    x = inputs if inputs is not None else \
        (np.random.RandomState(seed).randn(*shape) * scale).astype(np.float32)
    want = engine_forward(net, {name: x})
    sess = ort_session(model)
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, {name: x})))
    assert set(want) <= set(got), (sorted(want), sorted(got))
    for k in want:
        err = rel_error(got[k], want[k])
        assert err <= TOL, f"output {k}: onnxruntime differs from the engine by {err:.3g} (relative)"
    if reference:
        ref = reference_evaluator(model)
        rgot = dict(zip(names, ref.run(None, {name: x})))
        for k in want:
            err = rel_error(np.asarray(rgot[k], np.float32), want[k])
            assert err <= TOL, f"output {k}: onnx.reference differs from the engine by {err:.3g} (relative)"
    return got, want


@pytest.mark.parametrize("text", [VISION, NEURONS], ids=["vision", "neurons"])
def test_small_nets_match_engine_ort_and_reference(text):
    net = make_net(text)
    model = export_net(net)  # runs onnx.checker (full check)
    check(net, model, reference=True)
    check(net, model, batch=3, seed=1)  # dynamic batch
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_grouped_deconvolution():
    # (onnx.reference's ConvTranspose mishandles group > 1, so this one is checked on onnxruntime only)
    text = VISION.replace("num_output: 4 kernel_size: 3 stride: 2 pad: 1 }",
                          "num_output: 4 kernel_size: 3 stride: 2 pad: 1 group: 2 }")
    net = make_net(text)
    check(net, export_net(net))


def test_every_emitted_op_kind_is_checked_by_the_reference_evaluator():
    kinds = set()
    for text in (VISION, NEURONS):
        kinds |= {n.op_type for n in export_net(make_net(text), check=False).graph.node}
    kinds |= {n.op_type for n in export_net(make_net(EMBED), check=False).graph.node}
    expected = {"Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "PRelu", "Elu", "Neg", "Less", "Where",
                "Tanh", "Abs", "Softplus", "Pow", "Exp", "Log", "Greater", "Cast", "Clip", "Mul", "Add", "Sub",
                "Div", "Sum", "Max", "MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool", "LRN",
                "Gemm", "Flatten", "Reshape", "Softmax", "Concat", "Split", "Slice", "TopK", "Unsqueeze",
                "Tile", "ReduceSum", "ReduceMean", "Sqrt", "Shape", "ConstantOfShape", "Identity", "Gather"}
    assert expected <= kinds, sorted(expected - kinds)


EMBED = """
name: "embed"
layer { name: "idx" type: "Input" top: "idx" input_param { shape { dim: 2 dim: 5 } } }
layer { name: "emb" type: "Embed" bottom: "idx" top: "emb" embed_param { num_output: 4 input_dim: 10 } }
"""


def test_embed():
    net = make_net(EMBED)
    model = export_net(net)
    x = np.random.RandomState(0).randint(0, 10, size=(2, 5)).astype(np.float32)
    check(net, model, inputs=x, reference=True)


POOL_CASES = [
    # H, W, kernel, stride, pad, method
    (7, 7, 3, 2, 0, "MAX"), (8, 8, 3, 2, 0, "MAX"), (8, 9, 3, 2, 1, "MAX"), (13, 13, 3, 2, 0, "AVE"),
    (6, 6, 3, 2, 1, "AVE"), (7, 10, 2, 2, 1, "AVE"), (5, 5, 4, 3, 2, "AVE"), (5, 5, 4, 3, 2, "MAX"),
    (9, 9, 2, 3, 1, "MAX"), (9, 9, 2, 3, 1, "AVE"), (10, 10, 5, 5, 0, "AVE"), (3, 3, 3, 1, 1, "AVE"),
    (11, 6, 2, 4, 1, "AVE"), (4, 4, 2, 1, 0, "STOCHASTIC"),
]


@pytest.mark.parametrize("H,W,k,s,p,method", POOL_CASES)
def test_pooling_geometry(H, W, k, s, p, method):
    net = make_net(f"""
        name: "pool"
        layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: 2 dim: 3 dim: {H} dim: {W} }} }} }}
        layer {{ name: "pool" type: "Pooling" bottom: "data" top: "pool"
                pooling_param {{ pool: {method} kernel_size: {k} stride: {s} pad: {p} }} }}
    """)
    model = export_net(net)
    assert all(not any(a.name == "ceil_mode" and a.i for a in n.attribute) for n in model.graph.node)
    x = np.random.RandomState(3).rand(2, 3, H, W).astype(np.float32) + (0.1 if method == "STOCHASTIC" else -0.5)
    check(net, model, inputs=x, reference=True)


def test_batchnorm_scale_fold_and_unfoldable():
    net = make_net(VISION)
    model = export_net(net)
    ops = [n.op_type for n in model.graph.node]
    # bn1 + sc1 fold into one node; bn2 feeds two layers, so its Scale stays a Mul
    assert ops.count("BatchNormalization") == 2
    bn = [n for n in model.graph.node if n.op_type == "BatchNormalization"][0]
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    gamma = net.params["sc1"][0].data
    np.testing.assert_allclose(inits[bn.input[1]], gamma, rtol=1e-6)


def test_batchnorm_zero_factor_and_batch_stats():
    net = make_net(VISION)
    net.params["bn1"][2].data[...] = 0  # Caffe: statistics read as 0 when the factor is 0
    check(net, export_net(net))
    text = VISION.replace('top: "bn2" batch_norm_param { eps: 0.001 }',
                          'top: "bn2" batch_norm_param { eps: 0.001 use_global_stats: false }')
    with pytest.raises(ExportError, match=r"Layer 'bn2' \(type BatchNorm\).*use_global_stats"):
        export_net(make_net(text))


@pytest.mark.parametrize("opset", [13, 18])
def test_opsets(opset):
    net = make_net(NEURONS)
    model = export_net(net, opset=opset)
    assert model.opset_import[0].version == opset
    check(net, model)


def test_bad_opset():
    with pytest.raises(ExportError, match="opset"):
        export_net(make_net(EMBED), opset=7)


def test_metadata_and_output_names():
    net = make_net(VISION)
    model = export_net(net)
    meta = read_metadata(model)
    assert meta["preprocess"]["input_layout"] == "CHW" and meta["preprocess"]["channel_order"] == "BGR"
    names = [o.name for o in model.graph.output]
    assert names == net.outputs
    prob = next(o for o in meta["outputs"] if o["name"] == "prob")
    assert prob["activation"] == "softmax" and prob["kind"] == "category" and prob["shape"] == [None, 7]


def test_extra_outputs_expose_inner_blobs():
    net = make_net(VISION)
    model = export_net(net, extra_outputs=["fc", "conv1"])
    sess = ort_session(model)
    x = np.random.RandomState(0).randn(2, 3, 17, 19).astype(np.float32)
    got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"data": x})))
    engine_forward(net, {"data": x})
    assert rel_error(got["fc"], net.blobs["fc"].data) < TOL
    assert rel_error(got["conv1"], net.blobs["conv1"].data) < TOL  # the value after the in-place ReLU


def test_loss_and_data_layers_are_refused_with_their_names():
    text = """
        name: "tv"
        layer { name: "data" type: "Input" top: "data" top: "label"
                input_param { shape { dim: 2 dim: 4 } shape { dim: 2 } } }
        layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 3 } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
    """
    with pytest.raises(ExportError, match=r"Layer 'loss' \(type SoftmaxWithLoss\).*--from-train-val"):
        export_net(make_net(text))


PYMOD = '''
import numpy as np
import caffe


class Doubler(caffe.Layer):
    def setup(self, bottom, top):
        self.k = float(self.param_str or 2)

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data * self.k

    def backward(self, top, propagate_down, bottom):
        pass


def convert(cx):
    k = cx.g.const(np.float32(cx.layer.obj.k))
    return [cx.g.node("Mul", [cx.inputs[0], k], cx.top(0))]


class Tripler(Doubler):
    onnx_converter = "fc_onnx_testlayers:convert"
'''


def _py_net(tmp_path, cls):
    (tmp_path / "fc_onnx_testlayers.py").write_text(PYMOD)
    sys.path.insert(0, str(tmp_path))
    return make_net(f"""
        name: "py"
        layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: 2 dim: 3 }} }} }}
        layer {{ name: "dbl" type: "Python" bottom: "data" top: "dbl"
                python_param {{ module: "fc_onnx_testlayers" layer: "{cls}" param_str: "3" }} }}
    """)


def test_python_layer_without_converter_names_the_layer(tmp_path):
    try:
        net = _py_net(tmp_path, "Doubler")
        with pytest.raises(ExportError, match=r"Layer 'dbl' \(type Python, fc_onnx_testlayers.Doubler\)"):
            export_net(net)
        register_python_converter("fc_onnx_testlayers.Doubler", sys.modules["fc_onnx_testlayers"].convert)
        check(net, export_net(net))
        check(_py_net(tmp_path, "Tripler"), export_net(_py_net(tmp_path, "Tripler")))  # class attribute hook
    finally:
        sys.path.remove(str(tmp_path))
        from fashioncaffe.onnx import registry

        registry._PY_CONVERTERS.pop("fc_onnx_testlayers.Doubler", None)


def test_unsupported_layer_type_names_the_layer():
    text = """
        name: "u"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }
        layer { name: "mp" type: "Pooling" bottom: "data" top: "mp" top: "mask"
                pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
    """
    with pytest.raises(FashionCaffeError, match=r"Layer 'mp' \(type Pooling\)"):
        export_net(make_net(text))
