"""DenseNet-121 (Huang, Liu, van der Maaten & Weinberger, CVPR 2017) as a Caffe NetSpec generator.

    from fashioncaffe import NetSpec
    from tools.nets import densenet
    n = NetSpec()
    n.data = ...                                   # N × 3 × 224 × 224
    feat = densenet.densenet121(n, n.data)         # "pool5": N × 1024 × 1 × 1 (global average)
    feat = densenet.densenet121(n, n.data, **densenet.NARROW["narrow/4"])   # a CPU-sized variant

Topology (ImageNet DenseNet-BC-121): conv1 7×7/2 (64) → BN-Scale-ReLU → max pool 3×3/2 (pad 1,
floor rounding) → dense blocks of 6, 12, 24, 16 layers with growth rate k = 32 — each layer is
BN-Scale-ReLU-conv 1×1 (4k) → BN-Scale-ReLU-conv 3×3 (k), concatenated to its input — with a
transition after the first three blocks (BN-Scale-ReLU-conv 1×1 halving the channels, average pool
2×2/2) → BN-Scale-ReLU → global average pool.  Convolutions have no bias; BatchNorm (eps 1e-5) is
followed by Scale with a bias, as Caffe conversions write it.  At 224 × 224 the feature maps are
112, 56, 28, 14 and 7 pixels wide; the output has 1024 channels.

Layer and blob names follow the widely used Caffe conversion of the ImageNet models
(shicai/DenseNet-Caffe, ``DenseNet_121.prototxt``): ``conv1``, ``conv1/bn``, ``conv1/scale``, ``relu1``,
``pool1``; per layer l of block b (b = 2..5) ``conv{b}_{l}/x1/bn`` (BatchNorm, not in place),
``conv{b}_{l}/x1/scale``, ``relu{b}_{l}/x1``, ``conv{b}_{l}/x1``, the same for ``x2``, and
``concat_{b}_{l}``; transitions ``conv{b}_blk/bn``, ``conv{b}_blk/scale``, ``relu{b}_blk``,
``conv{b}_blk``, ``pool{b}``; the last block ends in ``conv5_blk/bn`` … ``relu5_blk`` and ``pool5``.
So that conversion's ``.caffemodel`` loads by layer name (``Net.copy_from``) into the full-size net;
its 1000-way ``fc6`` is not generated here (a paper's head takes its place).  One difference: pool1
sets ``round_mode: FLOOR`` (as that file does, for the 56-pixel map of the original); BVLC Caffe
builds older than 2018 lack the field and need it removed (their ceil rounding gives 57 pixels).

Narrow variants (``NARROW``) keep the topology and every name, scaling the growth rate and the stem's
width; they are for CPU scales and are called "DenseNet-121-narrow/<w>" wherever they appear.
BatchNorm layers carry three ``param { lr_mult: 0 decay_mult: 0 }`` (their statistics are not
learned by the solver); convolutions use the MSRA filler, Scale starts at γ = 1, β = 0.
"""
from __future__ import annotations

#: DenseNet-121 at the paper's geometry
FULL = dict(growth_rate=32, num_init_features=64, block_config=(6, 12, 24, 16), bn_size=4)
#: CPU-scale variants (same depth and names, narrower): "DenseNet-121-narrow/<w>"
NARROW = {
    "narrow/4": dict(growth_rate=8, num_init_features=16, block_config=(6, 12, 24, 16), bn_size=4),
    "narrow/8": dict(growth_rate=4, num_init_features=8, block_config=(6, 12, 24, 16), bn_size=4),
}
INPUT_SIZE = 224
BN_EPS = 1e-5
FROZEN = [dict(lr_mult=0, decay_mult=0)] * 3


def title(variant="full"):
    """The name a table uses for the variant."""
    return "DenseNet-121" if variant == "full" else f"DenseNet-121-{variant}"


def config(variant="full"):
    if variant == "full":
        return dict(FULL)
    if variant not in NARROW:
        raise ValueError(f"DenseNet-121 variant {variant!r}: expected 'full' or one of {sorted(NARROW)}")
    return dict(NARROW[variant])


def _L():
    from fashioncaffe import layers as L, params as P
    return L, P


def _bn_scale_relu(n, bottom, bn_name, scale_name, relu_name, eps=BN_EPS, fraction=None):
    """BatchNorm into a new blob ``bn_name``, then Scale and ReLU in place on it."""
    L, _ = _L()
    bp = dict(eps=eps) if fraction is None else dict(eps=eps, moving_average_fraction=fraction)
    n[bn_name] = L.BatchNorm(bottom, batch_norm_param=bp, param=FROZEN)
    n[scale_name] = L.Scale(n[bn_name], scale_param=dict(bias_term=True), in_place=True)
    n[relu_name] = L.ReLU(n[bn_name], in_place=True)
    return n[bn_name]


def _conv(n, name, bottom, num, k, stride=1, pad=0):
    L, _ = _L()
    geo = dict(kernel_size=k)
    if stride != 1:
        geo["stride"] = stride
    if pad:
        geo["pad"] = pad
    n[name] = L.Convolution(bottom, num_output=num, bias_term=False, weight_filler=dict(type="msra"), **geo)
    return n[name]


def densenet(n, data, growth_rate=32, num_init_features=64, block_config=(6, 12, 24, 16), bn_size=4,
             eps=BN_EPS, bn_fraction=None):
    """Add a DenseNet-BC trunk on ``data`` to NetSpec ``n``; returns the globally pooled ``pool5``
    (N × C × 1 × 1).  Block numbering starts at 2 (conv1 is the stem), as in the Caffe conversion.
    ``bn_fraction`` sets BatchNorm's moving_average_fraction (Caffe's default 0.999 when None)."""
    L, P = _L()

    def bsr(x, bn, sc, relu):
        return _bn_scale_relu(n, x, bn, sc, relu, eps, bn_fraction)

    x = _conv(n, "conv1", data, num_init_features, 7, stride=2, pad=3)
    x = bsr(x, "conv1/bn", "conv1/scale", "relu1")
    n.pool1 = L.Pooling(x, pool=P.Pooling.MAX, kernel_size=3, stride=2, pad=1, round_mode=P.Pooling.FLOOR)
    x = n.pool1
    channels = num_init_features
    last = len(block_config) + 1
    for b, layers in enumerate(block_config, start=2):
        for i in range(1, layers + 1):
            p = f"conv{b}_{i}"
            h = bsr(x, f"{p}/x1/bn", f"{p}/x1/scale", f"relu{b}_{i}/x1")
            h = _conv(n, f"{p}/x1", h, bn_size * growth_rate, 1)
            h = bsr(h, f"{p}/x2/bn", f"{p}/x2/scale", f"relu{b}_{i}/x2")
            h = _conv(n, f"{p}/x2", h, growth_rate, 3, pad=1)
            n[f"concat_{b}_{i}"] = L.Concat(x, h)
            x = n[f"concat_{b}_{i}"]
            channels += growth_rate
        x = bsr(x, f"conv{b}_blk/bn", f"conv{b}_blk/scale", f"relu{b}_blk")
        if b == last:
            n[f"pool{b}"] = L.Pooling(x, pool=P.Pooling.AVE, global_pooling=True)
            return n[f"pool{b}"]
        channels //= 2
        x = _conv(n, f"conv{b}_blk", x, channels, 1)
        n[f"pool{b}"] = L.Pooling(x, pool=P.Pooling.AVE, kernel_size=2, stride=2)
        x = n[f"pool{b}"]
    raise ValueError("block_config must name at least one dense block")


def densenet121(n, data, variant="full", bn_fraction=None):
    """DenseNet-121 (``variant`` "full") or one of its NARROW variants on ``data``; returns ``pool5``."""
    return densenet(n, data, bn_fraction=bn_fraction, **config(variant))


def output_channels(variant="full"):
    """Channels of ``pool5`` for the variant."""
    c = config(variant)
    ch = c["num_init_features"]
    for i, layers in enumerate(c["block_config"]):
        ch += layers * c["growth_rate"]
        if i < len(c["block_config"]) - 1:
            ch //= 2
    return ch
