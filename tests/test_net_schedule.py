"""Net's public schedule API: steps and slots, ForwardFromTo, pure segments, executors and shape
propagation — the seam the solver, the tools, the fast modes and the ONNX exporter are built on."""
import numpy as np
import pytest
import torch
from google.protobuf import text_format

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.schedule import EAGER, Executor
from fashioncaffe.proto import caffe_pb2

NET = """
name: "sched"
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 4 dim: 3 dim: 5 dim: 5 } shape { dim: 4 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 2 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
"""


def make_net(text=NET, phase=caffe.TRAIN):
    caffe.set_random_seed(3)
    net = caffe.Net(text_format.Parse(text, caffe_pb2.NetParameter()), phase)
    rng = np.random.default_rng(0)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].shape)
    net.blobs["label"].data[...] = [0, 1, 2, 1]
    return net


def test_schedule_describes_layers_slots_and_chains():
    net = make_net()
    assert [s.name for s in net.schedule] == net.layer_names == ["data", "conv", "relu", "ip", "loss"]
    assert [s.index for s in net.schedule] == list(range(5))
    assert [s.type for s in net.schedule] == ["Input", "Convolution", "ReLU", "InnerProduct", "SoftmaxWithLoss"]
    assert net.engine_layers == [s.layer for s in net.schedule]
    relu = net.schedule[net.layer_index("relu")]
    assert relu.inplace_tops == [True] and relu.bottoms == [net.blob_slot("conv", first=True)]
    assert relu.tops == [net.blob_slot("conv")] and net.blob_slot("conv") != net.blob_slot("conv", first=True)
    assert [net.slot_names[s] for s in net.input_slots] == net.inputs == ["data", "label"]
    assert net.slot_blob(net.blob_slot("ip")) is net.blobs["ip"]
    assert net.loss_terms == [(net.blob_slot("loss"), 1.0)]
    assert net.slot_uses()[net.blob_slot("conv", first=True)] == 1
    assert net.segment_inputs(1, 4) == [net.blob_slot("data"), net.blob_slot("label")]
    with pytest.raises(FashionCaffeError, match="no layer named 'nope'"):
        net.layer_index("nope")
    with pytest.raises(FashionCaffeError, match="no blob named 'nope'"):
        net.blob_slot("nope")


def test_forward_from_to_is_pycaffe_forward_and_returns_the_weighted_loss():
    net = make_net()
    out = net.forward()
    loss = net.forward_from_to()
    assert float(loss.detach()) == float(out["loss"])
    # a range starting after the inputs reads its bottoms from the blobs
    ip_before = net.blobs["ip"].data.copy()
    net.blobs["conv"].data[...] = 0
    assert net.forward_from_to(net.layer_index("ip"), net.layer_index("ip")) is None  # no loss top computed
    assert np.allclose(net.blobs["ip"].data, net.params["ip"][1].data)  # zeros in: the bias comes out
    assert not np.allclose(net.blobs["ip"].data, ip_before)


def test_run_segment_is_pure_and_equals_the_eager_pass():
    net = make_net(phase=caffe.TEST)
    net.forward_from_to(grad=False)
    want = net.blobs["loss"].data.copy()
    k0, k1 = 1, len(net.schedule) - 1
    inputs = {s: net.slot_blob(s).tensor for s in net.segment_inputs(k0, k1)}
    net.blobs["loss"].data[...] = -1
    with torch.no_grad():
        produced = net.run_segment(k0, k1, inputs, EAGER.run_layer)
    assert len(produced) == k1 - k0 + 1
    assert float(net.blobs["loss"].data) == -1          # no blob was written
    assert np.allclose(produced[-1][0].numpy(), want)


class CountingExecutor(Executor):
    """Records the steps run one by one and the segment fused from step 2 on."""

    def __init__(self):
        self.layers, self.fused = [], []

    def run_layer(self, step, bottoms):
        self.layers.append(step.name)
        return super().run_layer(step, bottoms)

    def fused_from(self, start, end):
        return 2

    def run_fused(self, net, k0, k1, inputs):
        self.fused.append((k0, k1, sorted(inputs)))
        return super().run_fused(net, k0, k1, inputs)


def test_an_executor_runs_the_nets_own_loop_and_gives_the_same_numbers():
    net = make_net()
    want_loss = float(net.forward_backward())
    want_grad = net.params["conv"][0].diff.copy()
    net.clear_param_diffs()
    ex = CountingExecutor()
    net.set_executor(ex)
    assert net.executor is ex
    loss = net.forward_backward()
    # conv eagerly (the Input feeds from its blobs), then relu..loss through run_fused's segment
    assert ex.layers == ["conv", "relu", "ip", "loss"]
    assert ex.fused == [(2, 4, sorted([net.blob_slot("conv", first=True), net.blob_slot("label")]))]
    assert float(loss) == want_loss
    assert np.array_equal(net.params["conv"][0].diff, want_grad)
    # pycaffe's forward records every layer on its own (for Caffe's layer-by-layer backward): no fusing
    ex.layers.clear()
    net.forward()
    assert ex.layers == ["conv", "relu", "ip", "loss"] and len(ex.fused) == 1
    assert float(net.blobs["loss"].data) == want_loss
    net.set_executor(None)
    assert net.executor is EAGER


def test_forward_backward_fills_parameter_diffs_only():
    net = make_net()
    net.set_fast_training(True)
    loss = net.forward_backward()
    assert loss.shape == () and float(loss) > 0
    assert np.abs(net.params["ip"][0].diff).sum() > 0
    assert not np.abs(net.blobs["ip"].diff).any()    # the solver's pass keeps no blob diffs
    assert net.blobs["loss"].diff == 1.0             # a loss top's diff holds its weight (Caffe's SetLossWeights)


def test_propagate_shapes_and_reshape_follow_the_input_blobs():
    net = make_net()
    shapes = net.propagate_shapes(batch=7)
    assert shapes[net.blob_slot("ip")] == (7, 3)
    assert net.blobs["ip"].shape == (4, 3)          # only computed, nothing reshaped
    net.blobs["data"].reshape(2, 3, 5, 5)
    net.blobs["label"].reshape(2)
    net.reshape()
    assert net.blobs["conv"].shape == (2, 2, 3, 3) and net.blobs["ip"].shape == (2, 3)
    net.blobs["data"].reshape(2, 3, 6, 6)           # the bigger image no longer fits ip's weights
    with pytest.raises(FashionCaffeError, match="'ip'.*incompatible"):
        net.reshape()
