"""Loss layers and Accuracy: Caffe's formulas, normalisation modes, gradients (finite differences
and Caffe's closed forms), and the BVLC Caffe reference cases for them."""
import math

import numpy as np
import pytest
import torch

from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.layers import layer_class
from fashioncaffe.proto import caffe_pb2

from layer_testing import make, reference_case_problems
from layer_testing import gradcheck_layer as _gradcheck


def gradcheck_layer(layer, inputs):
    return _gradcheck(layer, inputs, params=False)


def rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def labels(n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, k, (n,), generator=g).to(torch.float64)


# ---------------------------------------------------------------------------------------------
# SoftmaxWithLoss
def softmax_loss_reference(x, lab, axis, ignore, mode):
    xm = torch.movedim(x, axis, -1)
    k = xm.shape[-1]
    logp = torch.log_softmax(xm, -1).reshape(-1, k)
    lab = lab.reshape(-1).long()
    valid = lab != ignore if ignore is not None else torch.ones_like(lab, dtype=torch.bool)
    loss = -(logp[torch.arange(len(lab)), lab.clamp(0, k - 1)] * valid).sum()
    outer = int(np.prod(x.shape[:axis]))
    norm = {"FULL": lab.numel(), "VALID": int(valid.sum()), "BATCH_SIZE": outer, "NONE": 1}[mode]
    return loss / max(norm, 1)


@pytest.mark.parametrize("mode", ["FULL", "VALID", "BATCH_SIZE", "NONE"])
@pytest.mark.parametrize("ignore", [None, 2])
def test_softmax_loss_modes(mode, ignore):
    x = rand(2, 4, 3, 3)
    lab = labels(18, 4, seed=3).reshape(2, 1, 3, 3)
    lp = f"normalization: {mode}" + (f" ignore_label: {ignore}" if ignore is not None else "")
    layer, tops = make(f'name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" loss_param {{ {lp} }}',
                       [x.shape, lab.shape])
    assert tops == [()]
    loss = layer.forward([x, lab])[0]
    assert loss.shape == ()
    assert torch.allclose(loss, softmax_loss_reference(x, lab, 1, ignore, mode))
    assert gradcheck_layer(layer, [x.clone().requires_grad_(), lab])


def test_softmax_loss_legacy_normalize_and_axis_and_prob_top():
    x = rand(3, 2, 5)
    lab = labels(6, 5, seed=1).reshape(3, 2)
    layer, tops = make('name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" top: "prob" '
                       'softmax_param { axis: 2 } loss_param { normalize: false }', [x.shape, lab.shape])
    assert tops == [(), (3, 2, 5)]
    loss, prob = layer.forward([x, lab])
    assert torch.allclose(loss, softmax_loss_reference(x, lab, 2, None, "BATCH_SIZE"))
    assert torch.allclose(prob, torch.softmax(x, 2)) and not prob.requires_grad
    with pytest.raises(FashionCaffeError, match="'l'.*label"):
        make('name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss"', [(3, 5), (4,)])


def test_softmax_loss_clamps_log_at_flt_min_but_keeps_gradient():
    x = torch.tensor([[0.0, 200.0]], requires_grad=True)
    lab = torch.tensor([0.0])
    layer, _ = make('name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss"', [(1, 2), (1,)])
    loss = layer.forward([x, lab])[0]
    assert abs(loss.item() + math.log(np.finfo(np.float32).tiny)) < 1e-3  # −log(FLT_MIN) ≈ 87.34
    loss.backward()
    assert torch.allclose(x.grad, torch.tensor([[-1.0, 1.0]]))  # p − 1{label}, not zeroed by the clamp


# ---------------------------------------------------------------------------------------------
# SigmoidCrossEntropyLoss
def test_sigmoid_ce_loss_and_gradient():
    x = rand(4, 6) * 3
    t = (rand(4, 6, seed=1) > 0).to(torch.float64)
    layer, tops = make('name: "l" type: "SigmoidCrossEntropyLoss" bottom: "x" bottom: "t" top: "loss"',
                       [x.shape, t.shape])
    assert tops == [()]
    want = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="sum") / 4
    xr = x.clone().requires_grad_()
    loss = layer.forward([xr, t.clone().requires_grad_()])[0]
    assert torch.allclose(loss, want)
    loss.backward()
    assert torch.allclose(xr.grad, (torch.sigmoid(x) - t) / 4)
    assert gradcheck_layer(layer, [x.clone().requires_grad_(), t])


def test_sigmoid_ce_extreme_logits_are_finite():
    x = torch.tensor([[-200.0, 200.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0]])
    layer, _ = make('name: "l" type: "SigmoidCrossEntropyLoss" bottom: "x" bottom: "t" top: "loss"', [(1, 2), (1, 2)])
    loss = layer.forward([x, t])[0]
    assert torch.isclose(loss, torch.tensor(400.0))


def test_sigmoid_ce_loss_param_switch():
    # default: as the recorded BVLC Caffe, loss_param is not read; honour_loss_param turns it on
    x = rand(2, 3)
    t = torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
    text = ('name: "l" type: "SigmoidCrossEntropyLoss" bottom: "x" bottom: "t" top: "loss" '
            'loss_param { ignore_label: -1 normalization: VALID }')
    elem = -(x * (t - (x >= 0).double())) + torch.log1p(torch.exp(-x.abs()))
    layer, _ = make(text, [x.shape, t.shape])
    assert torch.allclose(layer.forward([x, t])[0], elem.sum() / 2)
    cls = layer_class("SigmoidCrossEntropyLoss")
    cls.honour_loss_param = True
    try:
        layer, _ = make(text, [x.shape, t.shape])
        assert torch.allclose(layer.forward([x, t])[0], elem[t != -1].sum() / 4)
        assert gradcheck_layer(layer, [x.clone().requires_grad_(), t])
    finally:
        cls.honour_loss_param = False


# ---------------------------------------------------------------------------------------------
# Euclidean / Hinge / Contrastive / Infogain / MultinomialLogistic
def test_euclidean_loss():
    a, b = rand(4, 3), rand(4, 3, seed=1)
    layer, tops = make('name: "l" type: "EuclideanLoss" bottom: "a" bottom: "b" top: "loss"', [a.shape, b.shape])
    assert tops == [()]
    assert torch.allclose(layer.forward([a, b])[0], ((a - b) ** 2).sum() / 8)
    assert gradcheck_layer(layer, [a.clone().requires_grad_(), b.clone().requires_grad_()])


@pytest.mark.parametrize("norm", ["L1", "L2"])
def test_hinge_loss(norm):
    x = rand(5, 4)
    lab = labels(5, 4, seed=2)
    # keep 1 ± x away from the hinge
    x = torch.where((1 + x).abs() < 0.05, x + 0.1, x)
    x = torch.where((1 - x).abs() < 0.05, x + 0.1, x)
    layer, _ = make(f'name: "l" type: "HingeLoss" bottom: "x" bottom: "label" top: "loss" hinge_loss_param {{ norm: {norm} }}',
                    [x.shape, lab.shape])
    sign = torch.ones_like(x)
    sign[torch.arange(5), lab.long()] = -1
    z = torch.relu(1 + sign * x)
    want = (z if norm == "L1" else z * z).sum() / 5
    assert torch.allclose(layer.forward([x, lab])[0], want)
    assert gradcheck_layer(layer, [x.clone().requires_grad_(), lab])


@pytest.mark.parametrize("legacy", [False, True])
def test_contrastive_loss(legacy):
    a, b = rand(6, 3), rand(6, 3, seed=1) * 0.5
    sim = torch.tensor([1, 0, 1, 0, 0, 1], dtype=torch.float64)
    margin = 1.5
    layer, _ = make('name: "l" type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "s" top: "loss" '
                    f'contrastive_loss_param {{ margin: {margin} legacy_version: {str(legacy).lower()} }}',
                    [a.shape, b.shape, sim.shape])
    d2 = ((a - b) ** 2).sum(1)
    neg = (margin - d2).clamp(min=0) if legacy else (margin - d2.sqrt()).clamp(min=0) ** 2
    want = torch.where(sim > 0, d2, neg).sum() / 12
    ar, br = a.clone().requires_grad_(), b.clone().requires_grad_()
    loss = layer.forward([ar, br, sim])[0]
    assert torch.allclose(loss, want)
    loss.backward()
    # Caffe's closed form (with its 1e-4 in the denominator)
    dist = d2.sqrt()
    mdist = margin - (d2 if legacy else dist)
    coef = torch.where(sim > 0, torch.ones_like(d2),
                       torch.where(mdist > 0, -torch.ones_like(d2) if legacy else -mdist / (dist + 1e-4),
                                   torch.zeros_like(d2)))
    assert torch.allclose(ar.grad, coef[:, None] * (a - b) / 6)
    assert torch.allclose(br.grad, -ar.grad)
    # and close to the true derivative
    torch.autograd.gradcheck(lambda p, q: layer.forward([p, q, sim])[0], (a.clone().requires_grad_(),
                             b.clone().requires_grad_()), eps=1e-6, atol=1e-4, rtol=1e-3)


def test_infogain_identity_equals_softmax_loss_and_gradients(tmp_path):
    x = rand(4, 5)
    lab = labels(4, 5, seed=4)
    H = torch.eye(5, dtype=torch.float64)
    layer, tops = make('name: "l" type: "InfogainLoss" bottom: "x" bottom: "label" bottom: "H" top: "loss"',
                       [x.shape, lab.shape, (1, 1, 5, 5)])
    assert tops == [()]
    want = softmax_loss_reference(x, lab, 1, None, "VALID")
    assert torch.allclose(layer.forward([x, lab, H.reshape(1, 1, 5, 5)])[0], want)
    Hr = torch.rand(5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert gradcheck_layer(layer, [x.clone().requires_grad_(), lab, Hr])
    # H from a binaryproto file
    bp = caffe_pb2.BlobProto()
    bp.shape.dim.extend([1, 1, 5, 5])
    bp.data.extend(Hr.reshape(-1).tolist())
    path = tmp_path / "H.binaryproto"
    path.write_bytes(bp.SerializeToString())
    layer2, _ = make('name: "l" type: "InfogainLoss" bottom: "x" bottom: "label" top: "loss" '
                     f'infogain_loss_param {{ source: "{path}" }}', [x.shape, lab.shape])
    got = layer2.forward([x.float(), lab.float()])[0]
    assert torch.allclose(got.double(), layer.forward([x, lab, Hr])[0], rtol=1e-5)
    with pytest.raises(FashionCaffeError, match="'l'.*infogain"):
        make('name: "l" type: "InfogainLoss" bottom: "x" bottom: "label" top: "loss"', [x.shape, lab.shape])


def test_multinomial_logistic_loss():
    p = torch.softmax(rand(4, 3), 1)
    lab = labels(4, 3, seed=5)
    layer, _ = make('name: "l" type: "MultinomialLogisticLoss" bottom: "p" bottom: "label" top: "loss"',
                    [p.shape, lab.shape])
    assert torch.allclose(layer.forward([p, lab])[0], -torch.log(p[torch.arange(4), lab.long()]).sum() / 4)
    assert gradcheck_layer(layer, [p.clone().requires_grad_(), lab])
    pz = torch.zeros(1, 2, requires_grad=True)
    loss = layer.forward([pz, torch.tensor([1.0])])[0]
    assert abs(loss.item() - (-math.log(1e-20))) < 1e-3
    loss.backward()
    assert pz.grad[0, 1].item() == pytest.approx(-1e20, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Accuracy
def test_accuracy_ties_count_against_and_per_class():
    x = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 1.0], [3.0, 2.0, 1.0], [0.0, 0.0, 1.0]])
    lab = torch.tensor([0.0, 1.0, 1.0, 2.0])
    layer, tops = make('name: "a" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" top: "per"', [x.shape, lab.shape])
    assert tops == [(), (3,)]
    acc, per = layer.forward([x, lab])
    # row 0: a tie with class 1 counts against → wrong; rows 1 and 3 right; row 2 wrong
    assert acc.item() == pytest.approx(0.5)
    assert torch.allclose(per, torch.tensor([0.0, 0.5, 1.0]))
    layer, _ = make('name: "a" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" accuracy_param { top_k: 2 }',
                    [x.shape, lab.shape])
    assert layer.forward([x, lab])[0].item() == pytest.approx(1.0)
    layer, _ = make('name: "a" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" top: "per" '
                    'accuracy_param { ignore_label: 1 }', [x.shape, lab.shape])
    acc, per = layer.forward([x, lab])
    assert acc.item() == pytest.approx(0.5) and torch.allclose(per, torch.tensor([0.0, 0.0, 1.0]))
    layer, _ = make('name: "a" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" accuracy_param { ignore_label: 0 }',
                    [(1, 3), (1,)])
    assert layer.forward([x[:1], lab[:1]])[0].item() == 0.0  # nothing counted


def test_accuracy_spatial_axis():
    x = rand(2, 4, 3)
    lab = labels(6, 4, seed=7).reshape(2, 1, 3)
    layer, _ = make('name: "a" type: "Accuracy" bottom: "x" bottom: "label" top: "acc"', [x.shape, lab.shape])
    want = (x.argmax(1) == lab.reshape(2, 3).long()).double().mean()
    assert torch.allclose(layer.forward([x, lab])[0], want)
    with pytest.raises(FashionCaffeError, match="'a'.*top_k"):
        make('name: "a" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" accuracy_param { top_k: 5 }',
             [x.shape, lab.shape])


# ---------------------------------------------------------------------------------------------
# BVLC Caffe reference cases
CASES = ["softmax_loss_spatial_modes", "softmax_loss_valid_ignore", "sigmoid_ce_loss", "sigmoid_ce_loss_valid",
         "euclidean_loss", "hinge_losses", "contrastive_loss", "accuracy_topk", "shared_params_loss_weights"]


@pytest.mark.parametrize("case", CASES)
def test_reference_case(case):
    problems = reference_case_problems(case)
    assert problems == []
