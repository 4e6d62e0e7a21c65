"""Backbones written with pycaffe's NetSpec, shared by the papers' net generators.

One module per family; each exposes a builder that appends the backbone's layers to a NetSpec and
returns the top where the caller cut it (so a paper adds its own heads), and a ``deploy_net`` that
makes a whole deploy NetParameter:

* :mod:`tools.nets.resnet` -- ResNet-50 in the layout of He et al.'s released Caffe model
  (``prototxt/zoo/resnet50``; layer names ``res2a_branch1`` / ``bn2a_branch1`` /
  ``scale2a_branch1`` so a published ResNet-50 caffemodel loads by name), with width, depth and
  input-size knobs for narrow CPU variants.
* :mod:`tools.nets.efficientnet` -- EfficientNet-b0 … b7 and narrow variants (depthwise
  Convolution with ``group``, Swish, squeeze-and-excitation as global pooling → 1×1 convolutions
  → Sigmoid → Scale with a second bottom, BatchNorm + Scale), named after keras.applications.

Conventions of the builders here:
* ``frozen_bn=True`` writes ``BatchNorm { use_global_stats: true }`` (a deploy / feature-extraction
  net, or a frozen encoder inside a training net); ``False`` leaves use_global_stats unset, so
  Caffe picks batch statistics in TRAIN and the running ones in TEST.
* ``fillers=True`` adds weight fillers (MSRA) for training from scratch; published deploy files
  have none, so ``False`` reproduces them exactly.
* Every BatchNorm is followed by its Scale (``bias_term: true``), both in place, as in Caffe models.
"""
from __future__ import annotations

from fashioncaffe.net_spec import layers as L

MSRA = dict(type="msra")
ZERO = dict(type="constant", value=0)
FROZEN = [dict(lr_mult=0, decay_mult=0)] * 3  # BatchNorm's three statistics blobs are never learned


def batch_norm_scale(n, top, bn_name, scale_name, frozen_bn=True, eps=None, fillers=False):
    """BatchNorm + Scale(bias_term) in place on ``top`` under the given layer names."""
    bn = dict(use_global_stats=True) if frozen_bn else {}
    if eps is not None:
        bn["eps"] = eps
    kwargs = dict(batch_norm_param=bn) if bn else {}
    if fillers:
        kwargs["param"] = FROZEN
    n[bn_name] = L.BatchNorm(top, in_place=True, **kwargs)
    sp = dict(bias_term=True)
    if fillers:
        sp.update(filler=dict(type="constant", value=1), bias_filler=ZERO)
    n[scale_name] = L.Scale(top, in_place=True, scale_param=sp)
    return top


def convolution(n, name, bottom, num, kernel, stride=1, pad=None, group=1, bias=False, fillers=False):
    """Convolution ``name`` (pad defaults to kernel // 2; ``pad`` and ``stride`` always written, as
    the released deploy files do); no bias unless ``bias`` (BatchNorm follows)."""
    cp = dict(num_output=num, kernel_size=kernel, stride=stride, pad=kernel // 2 if pad is None else pad)
    if group > 1:
        cp["group"] = group
    if not bias:
        cp["bias_term"] = False
    if fillers:
        cp["weight_filler"] = MSRA
        if bias:
            cp["bias_filler"] = ZERO
    n[name] = L.Convolution(bottom, convolution_param=cp)
    return n[name]


def classifier(n, pooled, fc_name, num_classes, cut, fillers=False):
    """The ImageNet head on ``pooled``: InnerProduct ``fc_name`` → Softmax ``prob``; returns the top
    at ``cut`` (``fc_name`` or "prob")."""
    ip = dict(num_output=num_classes)
    if fillers:
        ip.update(weight_filler=MSRA, bias_filler=ZERO)
    n[fc_name] = L.InnerProduct(pooled, inner_product_param=ip)
    if cut == fc_name:
        return n[fc_name]
    n.prob = L.Softmax(n[fc_name])
    return n.prob


def input_layer(n, name, dims):
    """An Input layer ``name`` of shape ``dims`` (N, C, H, W)."""
    n[name] = L.Input(input_param=dict(shape=dict(dim=list(dims))))
    return n[name]


def conv_out(size, kernel, stride, pad):
    """Caffe's convolution output size (floor arithmetic)."""
    return (size + 2 * pad - kernel) // stride + 1


def pool_out(size, kernel, stride, pad=0):
    """Caffe's pooling output size (ceil arithmetic, last window must start inside the input + pad)."""
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out
