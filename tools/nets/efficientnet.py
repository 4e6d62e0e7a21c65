"""EfficientNet (Tan & Le 2019) with NetSpec: b0 … b7 and narrow variants, in standard Caffe layers.

    from tools.nets import efficientnet as eff
    net = eff.deploy_net("b5", size=224, cut="top_activation")    # 7 × 7 × 2048, paper 002's encoder
    net = eff.deploy_net(eff.narrow(0.25, 0.5), size=64, cut="avg_pool")   # CPU scale

Architecture (MBConv blocks of the b0 table, scaled by width / depth coefficients)::

    stem_conv 3×3/2 → stem_bn → stem_activation (Swish)
    7 stages × repeats of MBConv(expand e, kernel k, stride s, out c):
        [expand_conv 1×1 → expand_bn → expand_activation]            (e ≠ 1)
        dwconv k×k/s, group = channels  → bn → activation
        se_squeeze (global AVE pooling) → se_reduce 1×1 (+bias) → se_reduce_swish
            → se_expand 1×1 (+bias) → se_expand_sigmoid → se_flatten (N × C)
            → se_excite: Scale(x, gate) with axis 0  (Caffe's Scale needs the gate's shape to be
              x.shape[axis:axis+k], so the N × C × 1 × 1 gate is flattened to N × C first)
        project_conv 1×1 → project_bn
        add (Eltwise SUM with the block input)                        (s = 1 and in = out)
    top_conv 1×1 → top_bn → top_activation → avg_pool (global) → [predictions (InnerProduct) → prob]

b5 = width 1.6, depth 2.2 (39 blocks; stem 48, stages 24-40-64-128-176-304-512, top_conv 2048
channels; 30,389,784 learnable parameters with the 1000-way classifier, torchvision's count).
Convolutions have no bias (BatchNorm follows); BatchNorm eps = 1e-3 (TensorFlow's and Keras's,
which the published weights were trained with).  Every convolution pads k // 2 on each side
(Caffe has no asymmetric padding), as PyTorch's / torchvision's EfficientNet does; TensorFlow's
"SAME" pads stride-2 layers of even inputs by (k//2 − 1, k//2) instead, so TF-trained weights see
a one-pixel shift at the five stride-2 layers (torchvision runs its TF-ported weights in this
symmetric layout too).

Input size and the 7 × 7 map.  Every stride-2 layer maps a side H to ceil(H / 2) here, so the final
map is ceil(H / 32) wide: b5's native 456 gives 15 × 15 × 2048; the paper's "7 × 7 grid × 2048"
comes from inputs of 193 … 224, so paper 002's encoder uses 224 (``PAPER_SIZE``).

Layer names follow keras.applications.EfficientNetB* (``block{stage}{letter}_{part}``), with
Caffe's BatchNorm + Scale split of a Keras BatchNormalization ``X_bn`` into BatchNorm ``X_bn`` +
Scale ``X_bn_scale``; Keras's fused activations get their own layers (``X_se_reduce_swish``,
``X_se_expand_sigmoid``).  No public Caffe conversion of EfficientNet with stable names exists, so
weights must be converted: :func:`torchvision_keys` maps every parameter blob here to its
torchvision ``efficientnet_b*`` state_dict key and :func:`caffemodel_from_state_dict` writes the
.caffemodel (docs in tools/nets/README.md).  Drop-connect (stochastic depth) and the final
dropout are training-time regularisers of the original recipe and are not written (deploy nets,
frozen encoders; a narrow net trained here from scratch does without them).

Swish is BVLC Caffe's ``Swish`` layer (BVLC master since 2018, not in the 1.0 release).
"""
from __future__ import annotations

import math

from fashioncaffe.net_spec import NetSpec, layers as L, params as P

from . import batch_norm_scale, classifier, conv_out, convolution, input_layer

# b0's stages: (expand ratio, kernel, stride, output channels, repeats)
B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
STEM, TOP, SE_RATIO, BN_EPS, DIVISOR = 32, 1280, 0.25, 1e-3, 8
# (width, depth, native resolution)
VARIANTS = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260), "b3": (1.2, 1.4, 300),
            "b4": (1.4, 1.8, 380), "b5": (1.6, 2.2, 456), "b6": (1.8, 2.6, 528), "b7": (2.0, 3.1, 600)}
PAPER_SIZE = 224  # the input that gives paper 002's 7 × 7 × 2048 map with b5


def round_filters(channels, width, divisor=DIVISOR):
    """Channels scaled by ``width``, rounded to a multiple of ``divisor`` (never down by > 10 %)."""
    c = channels * width
    out = max(divisor, int(c + divisor / 2) // divisor * divisor)
    if out < 0.9 * c:
        out += divisor
    return int(out)


def round_repeats(repeats, depth):
    return int(math.ceil(depth * repeats))


def narrow(width, depth=1.0, divisor=DIVISOR):
    """A spec for a narrow variant: ``(width, depth, divisor)`` (divisor 8 as the published nets;
    a smaller divisor keeps very narrow nets from being rounded up)."""
    return (float(width), float(depth), int(divisor))


def _spec(variant):
    if isinstance(variant, str):
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet variant {variant!r} (known: {', '.join(VARIANTS)})")
        w, d, _ = VARIANTS[variant]
        return w, d, DIVISOR
    if len(variant) == 2:
        return float(variant[0]), float(variant[1]), DIVISOR
    return float(variant[0]), float(variant[1]), int(variant[2])


def blocks(variant="b5"):
    """[(name, expand, kernel, stride, in_channels, out_channels, se_channels)] of every MBConv block."""
    w, d, div = _spec(variant)
    out = []
    cin = round_filters(STEM, w, div)
    for stage, (e, k, s, c, r) in enumerate(B0_STAGES, start=1):
        cout = round_filters(c, w, div)
        for j in range(round_repeats(r, d)):
            if j >= 26:
                raise ValueError(f"stage {stage} has more than 26 blocks; letter names run out")
            se = max(1, int(cin * SE_RATIO))
            out.append((f"block{stage}{chr(ord('a') + j)}", e, k, s if j == 0 else 1, cin, cout, se))
            cin = cout
    return out


def channels(variant="b5"):
    """(stem, top) channel counts; the top is the feature dimension."""
    w, _, div = _spec(variant)
    return round_filters(STEM, w, div), round_filters(TOP, w, div)


def _conv(n, name, bottom, num, kernel, stride=1, group=1, bias=False, fillers=False):
    return convolution(n, name, bottom, num, kernel, stride, kernel // 2, group, bias, fillers)


def _bn(n, top, name, frozen_bn, fillers, eps=BN_EPS):
    return batch_norm_scale(n, top, name, name + "_scale", frozen_bn, eps=eps, fillers=fillers)


def mbconv(n, x, block, frozen_bn=True, fillers=False, bn_eps=BN_EPS):
    """One MBConv block (see the module docstring) on ``x``; returns its output top."""
    name, e, k, s, cin, cout, se = block
    p = name + "_"
    y = x
    mid = cin * e
    if e != 1:
        y = _conv(n, p + "expand_conv", y, mid, 1, fillers=fillers)
        _bn(n, y, p + "expand_bn", frozen_bn, fillers, bn_eps)
        n[p + "expand_activation"] = L.Swish(y, in_place=True)
    y = _conv(n, p + "dwconv", y, mid, k, stride=s, group=mid, fillers=fillers)
    _bn(n, y, p + "bn", frozen_bn, fillers, bn_eps)
    n[p + "activation"] = L.Swish(y, in_place=True)
    n[p + "se_squeeze"] = L.Pooling(y, pooling_param=dict(pool=P.Pooling.AVE, global_pooling=True))
    g = _conv(n, p + "se_reduce", n[p + "se_squeeze"], se, 1, bias=True, fillers=fillers)
    n[p + "se_reduce_swish"] = L.Swish(g, in_place=True)
    g = _conv(n, p + "se_expand", g, mid, 1, bias=True, fillers=fillers)
    n[p + "se_expand_sigmoid"] = L.Sigmoid(g, in_place=True)
    n[p + "se_flatten"] = L.Flatten(g)
    n[p + "se_excite"] = L.Scale(y, n[p + "se_flatten"], scale_param=dict(axis=0))
    y = _conv(n, p + "project_conv", n[p + "se_excite"], cout, 1, fillers=fillers)
    _bn(n, y, p + "project_bn", frozen_bn, fillers, bn_eps)
    if s == 1 and cin == cout:
        n[p + "add"] = L.Eltwise(x, y)
        return n[p + "add"]
    return y


CUTS = ("top_activation", "avg_pool", "predictions", "prob")


def efficientnet(n, data, variant="b5", cut="prob", num_classes=1000, frozen_bn=True, fillers=False,
                 bn_eps=BN_EPS):
    """Append EfficientNet's layers to NetSpec ``n`` on ``data``; returns the top at ``cut``:
    "top_activation" (the final map, N × C × H/32 × W/32), "avg_pool" (N × C × 1 × 1),
    "predictions" (class scores) or "prob".  ``bn_eps``: BatchNorm's eps (1e-3 as TensorFlow's
    weights; torchvision's b0 … b4 were trained with PyTorch's 1e-5)."""
    if cut not in CUTS:
        raise ValueError(f"cut must be one of {', '.join(CUTS)}, got {cut!r}")
    stem, top = channels(variant)
    x = _conv(n, "stem_conv", data, stem, 3, stride=2, fillers=fillers)
    _bn(n, x, "stem_bn", frozen_bn, fillers, bn_eps)
    n.stem_activation = L.Swish(x, in_place=True)
    for block in blocks(variant):
        x = mbconv(n, x, block, frozen_bn, fillers, bn_eps)
    x = _conv(n, "top_conv", x, top, 1, fillers=fillers)
    _bn(n, x, "top_bn", frozen_bn, fillers, bn_eps)
    n.top_activation = L.Swish(x, in_place=True)
    if cut == "top_activation":
        return x
    n.avg_pool = L.Pooling(x, pooling_param=dict(pool=P.Pooling.AVE, global_pooling=True))
    if cut == "avg_pool":
        return n.avg_pool
    return classifier(n, n.avg_pool, "predictions", num_classes, cut, fillers)


def final_size(size):
    """Side of the final map for a size × size input (ceil(size / 32))."""
    s = conv_out(size, 3, 2, 1)
    for _, _, k, stride, _, _, _ in blocks("b0"):
        s = conv_out(s, k, stride, k // 2)
    return s


def deploy_net(variant="b5", size=PAPER_SIZE, cut="prob", num_classes=1000, batch=1, name=None,
               bn_eps=BN_EPS):
    """A deploy NetParameter (input blob ``data``, BatchNorm on stored statistics)."""
    n = NetSpec()
    input_layer(n, "data", (batch, 3, size, size))
    efficientnet(n, n.data, variant, cut, num_classes, frozen_bn=True, fillers=False, bn_eps=bn_eps)
    net = n.to_proto()
    net.name = name or (f"EfficientNet-{variant}" if isinstance(variant, str) else "EfficientNet-narrow")
    return net


# ---------------------------------------------------------------------------------------------
# weights from torchvision's efficientnet_b* state_dict
def torchvision_keys(variant="b5", num_classes=1000):
    """{(caffe layer name, blob index): torchvision state_dict key} for every parameter blob of
    :func:`deploy_net` (cut "prob").  BatchNorm blobs are (mean, variance, scale factor 1); Scale
    blobs are (γ, β).  torchvision's layout: ``features.0`` stem, ``features.1`` … ``features.7``
    stages (``.{j}.block.{i}``: expand, depthwise, SE (``fc1``/``fc2``), project; no expand in
    stage 1), ``features.8`` top conv, ``classifier.1`` the Linear layer."""
    out = {}

    def conv_bn(caffe_conv, caffe_bn, tv):
        out[(caffe_conv, 0)] = f"{tv}.0.weight"
        out[(caffe_bn, 0)] = f"{tv}.1.running_mean"
        out[(caffe_bn, 1)] = f"{tv}.1.running_var"
        out[(caffe_bn + "_scale", 0)] = f"{tv}.1.weight"
        out[(caffe_bn + "_scale", 1)] = f"{tv}.1.bias"

    conv_bn("stem_conv", "stem_bn", "features.0")
    stage_index = {}
    for name, e, *_ in blocks(variant):
        stage = int(name[5])
        j = stage_index.get(stage, 0)
        stage_index[stage] = j + 1
        tv = f"features.{stage}.{j}.block"
        i = 0
        if e != 1:
            conv_bn(f"{name}_expand_conv", f"{name}_expand_bn", f"{tv}.{i}")
            i += 1
        conv_bn(f"{name}_dwconv", f"{name}_bn", f"{tv}.{i}")
        i += 1
        out[(f"{name}_se_reduce", 0)] = f"{tv}.{i}.fc1.weight"
        out[(f"{name}_se_reduce", 1)] = f"{tv}.{i}.fc1.bias"
        out[(f"{name}_se_expand", 0)] = f"{tv}.{i}.fc2.weight"
        out[(f"{name}_se_expand", 1)] = f"{tv}.{i}.fc2.bias"
        i += 1
        conv_bn(f"{name}_project_conv", f"{name}_project_bn", f"{tv}.{i}")
    conv_bn("top_conv", "top_bn", "features.8")
    out[("predictions", 0)] = "classifier.1.weight"
    out[("predictions", 1)] = "classifier.1.bias"
    return out


# torchvision's input normalisation: RGB in [0, 1], minus mean, divided by std (per channel)
TORCHVISION_MEAN_RGB = (0.485, 0.456, 0.406)
TORCHVISION_STD_RGB = (0.229, 0.224, 0.225)
# the Caffe-side mean (transform_param mean_value, BGR order, 0-255 pixels) for caffe_input=True
CAFFE_MEAN_BGR = tuple(round(255 * m, 3) for m in TORCHVISION_MEAN_RGB[::-1])


def caffemodel_from_state_dict(state_dict, out_path, variant="b5", num_classes=1000, caffe_input=True):
    """Write a .caffemodel for :func:`deploy_net` (any input size) from a torchvision
    ``efficientnet_b*`` state_dict (name → tensor / array); returns the number of blobs written.

    ``caffe_input=True`` makes the weights take Caffe's usual input -- BGR pixels in 0 … 255 minus
    ``transform_param { mean_value: CAFFE_MEAN_BGR }``, scale 1 -- by reversing ``stem_conv``'s
    input channels and folding torchvision's 1 / (255 · std) into them (exact: the stem is linear
    and pads with zeros, which is the mean after subtraction in both conventions).  ``False``
    copies the weights unchanged (RGB input normalised as torchvision does).  Every blob of the net
    must be found with the right shape, else ValueError names the first problem; BatchNorm's
    scale-factor blob is set to 1."""
    import numpy as np

    import fashioncaffe as caffe

    keys = torchvision_keys(variant, num_classes)
    net = caffe.Net(deploy_net(variant, size=32, num_classes=num_classes), caffe.TEST)
    written = 0
    for layer, blobs_ in net.params.items():
        for i, blob in enumerate(blobs_):
            if layer.endswith("_bn") and i == 2:
                blob.data[...] = 1.0
                continue
            key = keys.get((layer, i))
            if key is None or key not in state_dict:
                raise ValueError(f"{layer} blob {i}: no state_dict entry {key!r}")
            value = state_dict[key]
            value = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value,
                               dtype=np.float64)
            if value.size != blob.count:
                raise ValueError(f"{layer} blob {i}: {key} has shape {tuple(value.shape)}, "
                                 f"the net expects {tuple(blob.shape)}")
            value = value.reshape(blob.shape)
            if layer == "stem_conv" and caffe_input:
                std = np.asarray(TORCHVISION_STD_RGB).reshape(1, 3, 1, 1)
                value = (value / (255.0 * std))[:, ::-1]
            blob.data[...] = value
            written += 1
    net.save(out_path)
    return written
