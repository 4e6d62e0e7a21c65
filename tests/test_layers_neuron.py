"""Neuron layers: formulas, finite-difference gradients, in-place behaviour, and the BVLC Caffe
reference cases for them."""
import numpy as np
import pytest
import torch

from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.layers import TEST, TRAIN

from layer_testing import gradcheck_layer, make, reference_case_problems


def away_from(x, points, margin=0.05):
    """Push entries of x at least `margin` away from each kink point."""
    for p in points:
        near = (x - p).abs() < margin
        x = torch.where(near, x + 2 * margin * torch.sign(x - p + 1e-12), x)
    return x


def rand(*shape, lo=-2.0, hi=2.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g, dtype=torch.float64) * (hi - lo) + lo)


# ---------------------------------------------------------------------------------------------
# forward formulas
def test_relu_and_leaky_forward():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0])
    layer, tops = make('name: "r" type: "ReLU" bottom: "x" top: "y"', [x.shape])
    assert tops == [(5,)]
    assert torch.equal(layer.forward([x])[0], torch.tensor([0.0, 0.0, 0.0, 0.5, 3.0]))
    layer, _ = make('name: "r" type: "ReLU" bottom: "x" top: "y" relu_param { negative_slope: 0.1 }', [x.shape])
    assert torch.allclose(layer.forward([x])[0], torch.tensor([-0.2, -0.05, 0.0, 0.5, 3.0]))


def test_simple_activations_forward():
    x = torch.linspace(-3, 3, 13)
    cases = {
        'type: "Sigmoid"': 1 / (1 + torch.exp(-x)),
        'type: "TanH"': torch.tanh(x),
        'type: "AbsVal"': x.abs(),
        'type: "BNLL"': torch.log1p(torch.exp(x)),
        'type: "ELU" elu_param { alpha: 0.5 }': torch.where(x > 0, x, 0.5 * (torch.exp(x) - 1)),
        'type: "Power" power_param { power: 3 scale: 0.5 shift: 1 }': (1 + 0.5 * x) ** 3,
        'type: "Power" power_param { power: 2 scale: -1 shift: 0.5 }': (0.5 - x) ** 2,
        'type: "Exp"': torch.exp(x),
        'type: "Exp" exp_param { base: 2 scale: 0.5 shift: 1 }': 2 ** (1 + 0.5 * x),
        'type: "Swish" swish_param { beta: 2 }': x * torch.sigmoid(2 * x),
        'type: "Swish"': x * torch.sigmoid(x),
        'type: "Clip" clip_param { min: -1 max: 0.5 }': x.clamp(-1, 0.5),
        'type: "Threshold" threshold_param { threshold: 0.5 }': (x > 0.5).float(),
    }
    for spec, want in cases.items():
        layer, _ = make(f'name: "l" {spec} bottom: "x" top: "y"', [x.shape])
        got = layer.forward([x])[0]
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-6), spec


def test_log_forward():
    x = torch.linspace(0.1, 3, 7)
    layer, _ = make('name: "l" type: "Log" bottom: "x" top: "y" log_param { base: 10 scale: 2 shift: 0.5 }',
                    [x.shape])
    assert torch.allclose(layer.forward([x])[0], torch.log10(0.5 + 2 * x), rtol=1e-6)
    layer, _ = make('name: "l" type: "Log" bottom: "x" top: "y"', [x.shape])
    assert torch.allclose(layer.forward([x])[0], torch.log(x))


def test_power_constant_when_scale_zero():
    x = rand(3, 4).requires_grad_()
    layer, _ = make('name: "p" type: "Power" bottom: "x" top: "y" power_param { power: 2 scale: 0 shift: 3 }',
                    [x.shape])
    y = layer.forward([x])[0]
    assert torch.all(y == 9)
    assert not y.requires_grad  # Caffe: bottom diff = power * scale = 0


def test_threshold_has_no_gradient():
    x = rand(4).requires_grad_()
    layer, _ = make('name: "t" type: "Threshold" bottom: "x" top: "y"', [x.shape])
    assert not layer.forward([x])[0].requires_grad


def test_bad_params_name_layer_and_field():
    with pytest.raises(FashionCaffeError, match="'e'.*exp_param.base"):
        make('name: "e" type: "Exp" bottom: "x" top: "y" exp_param { base: -2 }', [(2,)])
    with pytest.raises(FashionCaffeError, match="'d'.*dropout_ratio"):
        make('name: "d" type: "Dropout" bottom: "x" top: "y" dropout_param { dropout_ratio: 1 }', [(2,)])
    with pytest.raises(FashionCaffeError, match="'p'"):
        make('name: "p" type: "PReLU" bottom: "x" top: "y"', [(5,)])


# ---------------------------------------------------------------------------------------------
# gradients
@pytest.mark.parametrize("spec,kinks,lo,hi", [
    ('type: "ReLU"', [0.0], -2, 2),
    ('type: "ReLU" relu_param { negative_slope: 0.3 }', [0.0], -2, 2),
    ('type: "ELU" elu_param { alpha: 0.7 }', [0.0], -2, 2),
    ('type: "Sigmoid"', [], -4, 4),
    ('type: "TanH"', [], -3, 3),
    ('type: "AbsVal"', [0.0], -2, 2),
    ('type: "BNLL"', [], -5, 5),
    ('type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }', [], -2, 2),
    ('type: "Power" power_param { power: 1.5 scale: 2 shift: 5 }', [], -2, 2),
    ('type: "Power" power_param { power: 3 }', [], -2, 2),
    ('type: "Power" power_param { scale: -2 shift: 1 }', [], -2, 2),
    ('type: "Exp" exp_param { base: -1 scale: 0.5 shift: 0.1 }', [], -2, 2),
    ('type: "Exp" exp_param { base: 3 scale: -1 shift: 0.5 }', [], -2, 2),
    ('type: "Log" log_param { base: 10 scale: 2 shift: 0.5 }', [], 0.1, 3),
    ('type: "Log"', [], 0.2, 3),
    ('type: "Swish" swish_param { beta: 1.5 }', [], -3, 3),
    ('type: "Clip" clip_param { min: -1 max: 0.5 }', [-1.0, 0.5], -2, 2),
])
def test_gradients_match_finite_differences(spec, kinks, lo, hi):
    x = away_from(rand(2, 3, 4, lo=lo, hi=hi), kinks).requires_grad_()
    layer, _ = make(f'name: "l" {spec} bottom: "x" top: "y"', [x.shape])
    assert gradcheck_layer(layer, [x])


@pytest.mark.parametrize("shared", [False, True])
def test_prelu_gradients_and_blob_shape(shared):
    text = 'name: "p" type: "PReLU" bottom: "x" top: "y"'
    if shared:
        text += " prelu_param { channel_shared: true }"
    layer, _ = make(text, [(2, 3, 4)])
    assert layer.blobs[0].shape == (() if shared else (3,))
    assert np.all(layer.blobs[0].data == np.float32(0.25))  # Caffe's default filler
    with torch.no_grad():
        layer.blobs[0].tensor.copy_(torch.tensor([0.25] if shared else [0.1, -0.3, 0.7]).reshape(layer.blobs[0].shape))
    x = away_from(rand(2, 3, 4), [0.0]).requires_grad_()
    assert gradcheck_layer(layer, [x])


def test_prelu_forward_per_channel():
    layer, _ = make('name: "p" type: "PReLU" bottom: "x" top: "y" prelu_param { filler { type: "constant" value: 0.5 } }',
                    [(1, 2, 2)])
    with torch.no_grad():
        layer.blobs[0].tensor.copy_(torch.tensor([0.5, 2.0]))
    x = torch.tensor([[[-1.0, 1.0], [-1.0, 2.0]]])
    assert torch.equal(layer.forward([x])[0], torch.tensor([[[-0.5, 1.0], [-2.0, 2.0]]]))


# ---------------------------------------------------------------------------------------------
# Dropout
def test_dropout_train_scales_and_masks():
    torch.manual_seed(0)
    x = torch.ones(200, 100, requires_grad=True)
    layer, _ = make('name: "d" type: "Dropout" bottom: "x" top: "y" dropout_param { dropout_ratio: 0.3 }',
                    [x.shape], phase=TRAIN)
    y = layer.forward([x])[0]
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert abs(kept.float().mean().item() - 0.7) < 0.02
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.7)
    y2 = layer.forward([x])[0]
    assert not torch.equal(y2 != 0, kept)  # a fresh mask each forward


def test_dropout_test_is_identity():
    x = rand(3, 4).requires_grad_()
    layer, _ = make('name: "d" type: "Dropout" bottom: "x" top: "y"', [x.shape], phase=TEST)
    y = layer.forward([x])[0]
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


# ---------------------------------------------------------------------------------------------
# in-place use in solver mode
def test_inplace_relu_after_linear_overwrites_and_backprops():
    w = torch.randn(4, 3, requires_grad=True)
    inp = torch.randn(5, 3)
    layer, _ = make('name: "r" type: "ReLU" bottom: "h" top: "h"', [(5, 4)])
    layer.inplace = True
    h = torch.nn.functional.linear(inp, w)
    y = layer.forward([h])[0]
    assert y.data_ptr() == h.data_ptr()
    y.sum().backward()
    ref_w = w.detach().clone().requires_grad_()
    torch.relu(torch.nn.functional.linear(inp, ref_w)).sum().backward()
    assert torch.allclose(w.grad, ref_w.grad)


def test_inplace_relu_after_sigmoid_falls_back_to_out_of_place():
    x = torch.randn(6, requires_grad=True)
    layer, _ = make('name: "r" type: "ReLU" bottom: "h" top: "h" relu_param { negative_slope: 0.1 }', [(6,)])
    layer.inplace = True
    s = torch.sigmoid(x)
    y = layer.forward([s])[0]
    assert y.data_ptr() != s.data_ptr()
    y.sum().backward()  # would raise if the sigmoid's saved output had been overwritten
    assert torch.allclose(x.grad, torch.sigmoid(x) * (1 - torch.sigmoid(x)), atol=1e-6)


def test_inplace_dropout_after_linear():
    torch.manual_seed(1)
    w = torch.randn(4, 3, requires_grad=True)
    layer, _ = make('name: "d" type: "Dropout" bottom: "h" top: "h"', [(5, 4)], phase=TRAIN)
    layer.inplace = True
    h = torch.nn.functional.linear(torch.randn(5, 3), w)
    y = layer.forward([h])[0]
    assert y.data_ptr() == h.data_ptr()
    y.sum().backward()
    assert w.grad is not None


# ---------------------------------------------------------------------------------------------
# BVLC Caffe reference cases
CASES = ["activations", "prelu", "log_positive", "threshold_forward", "relu_inplace_chain"]


@pytest.mark.parametrize("case", CASES)
def test_reference_case(case):
    problems = reference_case_problems(case)
    assert problems == []
