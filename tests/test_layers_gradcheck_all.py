"""A finite-difference gradient check for every registered layer type that has a backward.

The family test files check each layer's formulas, options and errors in depth; this file is the
ledger behind the README's claim: one small gradcheck (float64, torch.autograd.gradcheck) per layer
type, and a test that every registered type is either checked here or named below with the reason it
has no gradient to check.
"""
import pytest
import torch

from fashioncaffe.layers import TEST, TRAIN
from fashioncaffe.layers.base import layer_type_list

from layer_testing import gradcheck_layer, make

NO_BACKWARD = {
    "Accuracy": "no backward in Caffe (its tops are metrics)",
    "ArgMax": "no backward in Caffe (indices)",
    "Data": "data layer: no bottoms",
    "DummyData": "data layer: no bottoms",
    "HDF5Data": "data layer: no bottoms",
    "ImageData": "data layer: no bottoms",
    "Input": "data layer: no bottoms",
    "MemoryData": "data layer: no bottoms",
    "Silence": "no tops: the gradient it sends back is 0 by definition (tests/test_layers_common.py)",
    "Threshold": "no backward in Caffe (NOT_IMPLEMENTED): no gradient flows to x",
    "Python": "each pycaffe layer is checked on its own (tests/test_layers_bvlc.py, tests/test_paper*_layers.py)",
}


def _x(*shape, seed=0, lo=-2.0, hi=2.0, away_from=None):
    g = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(*shape, dtype=torch.float64, generator=g)
    if away_from is not None:  # keep clear of a kink (|x - k| >= 0.1) so finite differences are smooth there
        for k in away_from:
            near = (x - k).abs() < 0.1
            x[near] = k + 0.1 * torch.sign(x[near] - k + 1e-12) + 0.05 * torch.sign(x[near] - k + 1e-12)
    return x


def _labels(n, classes, seed=1):
    return torch.randint(0, classes, (n,), generator=torch.Generator().manual_seed(seed)).double()


def _img(seed=0):
    return _x(2, 3, 5, 5, seed=seed)


# type -> (layer text, bottoms builder, differentiable bottoms, check parameters, phase)
SPECS = {
    "AbsVal": ('type: "AbsVal"', lambda: [_x(3, 4, away_from=[0])], [0], True, TEST),
    "BNLL": ('type: "BNLL"', lambda: [_x(3, 4)], [0], True, TEST),
    "Clip": ('type: "Clip" clip_param { min: -1 max: 1 }', lambda: [_x(3, 4, away_from=[-1, 1])], [0], True, TEST),
    "Dropout": ('type: "Dropout" dropout_param { dropout_ratio: 0.3 }', lambda: [_x(3, 4)], [0], True, TRAIN),
    "ELU": ('type: "ELU" elu_param { alpha: 0.7 }', lambda: [_x(3, 4, away_from=[0])], [0], True, TEST),
    "Exp": ('type: "Exp" exp_param { base: 2 scale: 0.5 shift: 0.1 }', lambda: [_x(3, 4)], [0], True, TEST),
    "Log": ('type: "Log" log_param { scale: 2 shift: 0.5 }', lambda: [_x(3, 4, lo=0.1, hi=2)], [0], True, TEST),
    "Power": ('type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }', lambda: [_x(3, 4)], [0], True, TEST),
    "PReLU": ('type: "PReLU" prelu_param { filler { type: "constant" value: 0.3 } }',
              lambda: [_x(2, 3, 2, 2, away_from=[0])], [0], True, TEST),
    "ReLU": ('type: "ReLU" relu_param { negative_slope: 0.1 }', lambda: [_x(3, 4, away_from=[0])], [0], True, TEST),
    "Sigmoid": ('type: "Sigmoid"', lambda: [_x(3, 4)], [0], True, TEST),
    "Swish": ('type: "Swish" swish_param { beta: 1.5 }', lambda: [_x(3, 4)], [0], True, TEST),
    "TanH": ('type: "TanH"', lambda: [_x(3, 4)], [0], True, TEST),
    "BatchNorm": ('type: "BatchNorm" batch_norm_param { use_global_stats: false }', lambda: [_x(4, 3, 2, 2)], [0],
                  False, TRAIN),
    "Bias": ('type: "Bias" bias_param { axis: 1 num_axes: 1 filler { type: "gaussian" } }', lambda: [_img()], [0],
             True, TEST),
    "Scale": ('type: "Scale" scale_param { axis: 1 num_axes: 1 bias_term: true filler { type: "gaussian" } }',
              lambda: [_img()], [0], True, TEST),
    "LRN": ('type: "LRN" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 }', lambda: [_img()], [0], True, TEST),
    "MVN": ('type: "MVN" mvn_param { normalize_variance: true }', lambda: [_img()], [0], True, TEST),
    "Concat": ('type: "Concat" concat_param { axis: 1 }', lambda: [_img(0), _img(1)], [0, 1], True, TEST),
    "Slice": ('type: "Slice" slice_param { axis: 1 slice_point: 1 }', lambda: [_img()], [0], True, TEST),
    "Split": ('type: "Split"', lambda: [_img()], [0], True, TEST),
    "Crop": ('type: "Crop" crop_param { axis: 2 offset: 1 }', lambda: [_img(), torch.zeros(2, 3, 3, 3,
                                                                                            dtype=torch.float64)],
             [0], True, TEST),
    "Eltwise": ('type: "Eltwise" eltwise_param { operation: PROD }', lambda: [_img(0), _img(1)], [0, 1], True, TEST),
    "Flatten": ('type: "Flatten" flatten_param { axis: 1 }', lambda: [_img()], [0], True, TEST),
    "Reshape": ('type: "Reshape" reshape_param { shape { dim: 0 dim: -1 dim: 5 } }', lambda: [_img()], [0], True,
                TEST),
    "Tile": ('type: "Tile" tile_param { axis: 1 tiles: 2 }', lambda: [_img()], [0], True, TEST),
    "Reduction": ('type: "Reduction" reduction_param { operation: SUMSQ axis: 1 coeff: 0.5 }', lambda: [_img()], [0],
                  True, TEST),
    "Softmax": ('type: "Softmax" softmax_param { axis: 1 }', lambda: [_img()], [0], True, TEST),
    "Convolution": ('type: "Convolution" convolution_param { num_output: 2 kernel_size: 3 pad: 1 stride: 2 '
                    'weight_filler { type: "gaussian" } bias_filler { type: "gaussian" } }', lambda: [_img()], [0],
                    True, TEST),
    "Deconvolution": ('type: "Deconvolution" convolution_param { num_output: 2 kernel_size: 3 stride: 2 '
                      'weight_filler { type: "gaussian" } bias_filler { type: "gaussian" } }', lambda: [_img()], [0],
                      True, TEST),
    "InnerProduct": ('type: "InnerProduct" inner_product_param { num_output: 3 weight_filler { type: "gaussian" } '
                     'bias_filler { type: "gaussian" } }', lambda: [_img()], [0], True, TEST),
    "Pooling": ('type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }', lambda: [_img()], [0],
                True, TEST),
    "SPP": ('type: "SPP" spp_param { pyramid_height: 2 pool: AVE }', lambda: [_img()], [0], True, TEST),
    "Embed": ('type: "Embed" embed_param { num_output: 3 input_dim: 4 weight_filler { type: "gaussian" } '
              'bias_filler { type: "gaussian" } }', lambda: [_labels(5, 4)], [], True, TEST),
    "Parameter": ('type: "Parameter" parameter_param { shape { dim: 2 dim: 3 } }', lambda: [], [], True, TEST),
    "ContrastiveLoss": ('type: "ContrastiveLoss" contrastive_loss_param { margin: 3 }',
                        lambda: [_x(4, 3, seed=0), _x(4, 3, seed=1), torch.tensor([1., 0., 1., 0.],
                                                                                  dtype=torch.float64)],
                        [0, 1], True, TEST),
    "EuclideanLoss": ('type: "EuclideanLoss"', lambda: [_x(4, 3, seed=0), _x(4, 3, seed=1)], [0, 1], True, TEST),
    "HingeLoss": ('type: "HingeLoss" hinge_loss_param { norm: L2 }', lambda: [_x(5, 4), _labels(5, 4)], [0], True,
                  TEST),
    "InfogainLoss": ('type: "InfogainLoss"', lambda: [_x(5, 4), _labels(5, 4), _x(1, 1, 4, 4, lo=0.1, hi=1)],
                     [0], True, TEST),
    "MultinomialLogisticLoss": ('type: "MultinomialLogisticLoss"', lambda: [_x(5, 4, lo=0.2, hi=1), _labels(5, 4)],
                                [0], True, TEST),
    "SigmoidCrossEntropyLoss": ('type: "SigmoidCrossEntropyLoss"',
                                lambda: [_x(4, 3), (_x(4, 3, seed=1) > 0).double()], [0], True, TEST),
    "SoftmaxWithLoss": ('type: "SoftmaxWithLoss"', lambda: [_x(5, 4), _labels(5, 4)], [0], True, TEST),
}


def test_every_layer_type_with_a_backward_has_a_finite_difference_check():
    registered = set(layer_type_list())
    assert set(SPECS) | set(NO_BACKWARD) == registered, (
        f"not covered: {sorted(registered - set(SPECS) - set(NO_BACKWARD))}; "
        f"not registered: {sorted((set(SPECS) | set(NO_BACKWARD)) - registered)}")
    assert not set(SPECS) & set(NO_BACKWARD)


@pytest.mark.parametrize("type_name", sorted(SPECS))
def test_finite_differences(type_name):
    text, bottoms_of, grad_bottoms, params, phase = SPECS[type_name]
    bottoms = bottoms_of()
    names = [f"b{i}" for i in range(len(bottoms))]
    tops = ["loss"] if type_name.endswith("Loss") else \
        (["t0", "t1"] if type_name in ("Slice", "Split") else ["t0"])
    spec = (f'name: "l" {text} ' + " ".join(f'bottom: "{n}"' for n in names) + " " +
            " ".join(f'top: "{t}"' for t in tops))
    layer, _ = make(spec, [tuple(b.shape) for b in bottoms], phase=phase)
    inputs = [b.clone().requires_grad_(i in grad_bottoms) for i, b in enumerate(bottoms)]
    if type_name == "Dropout":  # one fixed mask for every forward the check makes
        forward = layer.forward

        def same_mask(bs):
            torch.manual_seed(3)
            return forward(bs)

        layer.forward = same_mask
    assert grad_bottoms or (params and layer.blobs), "nothing to differentiate"
    assert gradcheck_layer(layer, inputs, params=params)
