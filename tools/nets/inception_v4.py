"""Inception-v4 (Szegedy, Ioffe, Vanhoucke & Alemi, AAAI 2017) as a Caffe NetSpec generator.

    from tools.nets import inception_v4
    feat = inception_v4.inception_v4(n, n.data)                    # 299 × 299 in, "pool_8x8_s1" out
    feat = inception_v4.inception_v4(n, n.data, variant="narrow/8")   # CPU-sized, e.g. 107 × 107 in

Topology (the paper's Fig. 9 with Figs. 3-8): stem (conv 3×3/2 32, conv 3×3 32, conv 3×3 64 pad 1,
[max pool 3×3/2 | conv 3×3/2 96], [1×1 64 → 3×3 96 | 1×1 64 → 1×7 64 → 7×1 64 → 3×3 96],
[conv 3×3/2 192 | max pool 3×3/2]) → 4 × Inception-A (96 | 1×1 64 → 3×3 96 | 1×1 64 → 3×3 96 →
3×3 96 | avg pool 3×3 → 1×1 96) → Reduction-A (3×3/2 384 | 1×1 192 → 3×3 224 → 3×3/2 256 | max pool)
→ 7 × Inception-B (384 | 1×1 192 → 1×7 224 → 7×1 256 | 1×1 192 → 7×1 192 → 1×7 224 → 7×1 224 →
1×7 256 | avg pool → 1×1 128) → Reduction-B (1×1 192 → 3×3/2 192 | 1×1 256 → 1×7 256 → 7×1 320 →
3×3/2 320 | max pool) → 3 × Inception-C (256 | 1×1 384 → [1×3 256 | 3×1 256] | 1×1 384 → 3×1 448 →
1×3 512 → [1×3 256 | 3×1 256] | avg pool → 1×1 256) → global average pool.  Every convolution is
conv (no bias) → BatchNorm (eps 0.001) → Scale (bias) → ReLU, the last three in place.  At 299 × 299
the maps are 149, 147, 73, 71, 35 (Inception-A, 384 ch), 17 (B, 1024 ch) and 8 (C, 1536 ch) wide.

Layer and blob names follow the widely used Caffe conversion of the TensorFlow-slim weights
(soeaver/caffe-model, ``cls/inception/deploy_inception-v4.prototxt``): ``conv1_3x3_s2``,
``conv2_3x3_s1``, ``conv3_3x3_s1``, ``inception_stem{1,2,3}_*``, ``inception_a{1-4}_*``,
``reduction_a_*``, ``inception_b{1-7}_*``, ``reduction_b_*``, ``inception_c{1-3}_*``, each conv X with
``X_bn``, ``X_scale``, ``X_relu``; pools ``*_pool`` / ``*_pool_ave``; concats ``inception_stem{1,2,3}``
and ``*_concat``; the final global pool ``pool_8x8_s1``.  That file's ``.caffemodel`` therefore
loads by layer name into the full-size net (its 1000-way ``classifier`` is replaced by a paper's
head).  Caffe's average pooling counts the padding (TensorFlow's does not), as in that conversion.

Input sizes: the stride-2 stages concatenate a valid convolution (floor rounding) with a max pool
(Caffe's ceil rounding), which agree only when every such stage sees an odd size: inputs of
32·k + 11 pixels (75, 107, 139, …, 299).  :func:`feature_sizes` checks a size and says which work.

Narrow variants (``NARROW``) divide every width by w and keep the names; they are for CPU scales and
are called "Inception-v4-narrow/<w>" wherever they appear.
"""
from __future__ import annotations

INPUT_SIZE = 299
BN_EPS = 0.001
NARROW = {"narrow/4": 4, "narrow/8": 8}
FROZEN = [dict(lr_mult=0, decay_mult=0)] * 3


def title(variant="full"):
    return "Inception-v4" if variant == "full" else f"Inception-v4-{variant}"


def divisor(variant="full"):
    if variant == "full":
        return 1
    if variant not in NARROW:
        raise ValueError(f"Inception-v4 variant {variant!r}: expected 'full' or one of {sorted(NARROW)}")
    return NARROW[variant]


def output_channels(variant="full"):
    w = divisor(variant)
    return 6 * max(1, 256 // w)   # six 256-wide branches in Inception-C


def feature_sizes(size):
    """Spatial sizes after the stem's three parts and the two reductions for a square input; raises
    ValueError when a stride-2 stage's convolution and pool would disagree (sizes 32·k + 11 work)."""
    def conv(h, k, s, p=0):
        return (h + 2 * p - k) // s + 1

    def pool(h, k, s):
        return -(-(h - k) // s) + 1

    def reduce(h, where):
        c, p = conv(h, 3, 2), pool(h, 3, 2)
        if c != p or c < 1:
            ok = ", ".join(str(32 * k + 11) for k in range(2, 10))
            raise ValueError(f"Inception-v4 input {size} × {size}: at {where} a stride-2 convolution gives {c} "
                             f"and the max pool {p} pixels, which cannot be concatenated; use an input of "
                             f"32·k + 11 pixels ({ok}, …).")
        return c

    h = conv(conv(size, 3, 2), 3, 1)            # conv1_3x3_s2, conv2_3x3_s1 (conv3 keeps the size)
    stem1 = reduce(h, "inception_stem1")
    stem2 = conv(stem1, 3, 1)                    # both branches end in a valid 3 × 3
    stem3 = reduce(stem2, "inception_stem3")
    red_a = reduce(stem3, "reduction_a")
    red_b = reduce(red_a, "reduction_b")
    return dict(stem1=stem1, stem2=stem2, inception_a=stem3, inception_b=red_a, inception_c=red_b)


def _L():
    from fashioncaffe import layers as L, params as P
    return L, P


class _Builder:
    def __init__(self, n, w, bn_fraction=None):
        self.n, self.w = n, w
        self.bn = dict(eps=BN_EPS) if bn_fraction is None else dict(eps=BN_EPS, moving_average_fraction=bn_fraction)

    def conv(self, name, bottom, num, k=1, stride=1, pad=0, kh=None, kw=None):
        """conv → BatchNorm → Scale → ReLU (the last three in place, named X_bn / X_scale / X_relu)."""
        L, _ = _L()
        n = self.n
        geo = dict(kernel_h=kh, kernel_w=kw, pad_h=(kh - 1) // 2, pad_w=(kw - 1) // 2) if kh else \
            dict(kernel_size=k, pad=pad)
        n[name] = L.Convolution(bottom, num_output=max(1, num // self.w), stride=stride, bias_term=False,
                                weight_filler=dict(type="msra"), **geo)
        n[name + "_bn"] = L.BatchNorm(n[name], batch_norm_param=dict(self.bn), param=FROZEN, in_place=True)
        n[name + "_scale"] = L.Scale(n[name], scale_param=dict(bias_term=True), in_place=True)
        n[name + "_relu"] = L.ReLU(n[name], in_place=True)
        return n[name]

    def max_pool(self, name, bottom):
        L, P = _L()
        self.n[name] = L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=3, stride=2)
        return self.n[name]

    def avg_pool(self, name, bottom):
        L, P = _L()
        self.n[name] = L.Pooling(bottom, pool=P.Pooling.AVE, kernel_size=3, stride=1, pad=1)
        return self.n[name]

    def concat(self, name, *bottoms):
        L, _ = _L()
        self.n[name] = L.Concat(*bottoms)
        return self.n[name]

    def stem(self, data):
        c = self.conv
        x = c("conv1_3x3_s2", data, 32, 3, stride=2)
        x = c("conv2_3x3_s1", x, 32, 3)
        x = c("conv3_3x3_s1", x, 64, 3, pad=1)
        x = self.concat("inception_stem1", self.max_pool("inception_stem1_pool", x),
                        c("inception_stem1_3x3_s2", x, 96, 3, stride=2))
        a = c("inception_stem2_3x3", c("inception_stem2_3x3_reduce", x, 64), 96, 3)
        b = c("inception_stem2_1x7_reduce", x, 64)
        b = c("inception_stem2_1x7", b, 64, kh=1, kw=7)
        b = c("inception_stem2_7x1", b, 64, kh=7, kw=1)
        b = c("inception_stem2_3x3_2", b, 96, 3)
        x = self.concat("inception_stem2", a, b)
        return self.concat("inception_stem3", c("inception_stem3_3x3_s2", x, 192, 3, stride=2),
                           self.max_pool("inception_stem3_pool", x))

    def block_a(self, i, x):
        c, p = self.conv, f"inception_a{i}"
        b0 = c(f"{p}_1x1_2", x, 96)
        b1 = c(f"{p}_3x3", c(f"{p}_3x3_reduce", x, 64), 96, 3, pad=1)
        b2 = c(f"{p}_3x3_2", c(f"{p}_3x3_2_reduce", x, 64), 96, 3, pad=1)
        b2 = c(f"{p}_3x3_3", b2, 96, 3, pad=1)
        b3 = c(f"{p}_1x1", self.avg_pool(f"{p}_pool_ave", x), 96)
        return self.concat(f"{p}_concat", b0, b1, b2, b3)

    def reduction_a(self, x):
        c = self.conv
        b0 = c("reduction_a_3x3", x, 384, 3, stride=2)
        b1 = c("reduction_a_3x3_2", c("reduction_a_3x3_2_reduce", x, 192), 224, 3, pad=1)
        b1 = c("reduction_a_3x3_3", b1, 256, 3, stride=2)
        return self.concat("reduction_a_concat", b0, b1, self.max_pool("reduction_a_pool", x))

    def block_b(self, i, x):
        c, p = self.conv, f"inception_b{i}"
        b0 = c(f"{p}_1x1_2", x, 384)
        b1 = c(f"{p}_1x7", c(f"{p}_1x7_reduce", x, 192), 224, kh=1, kw=7)
        b1 = c(f"{p}_7x1", b1, 256, kh=7, kw=1)
        b2 = c(f"{p}_7x1_2", c(f"{p}_7x1_2_reduce", x, 192), 192, kh=7, kw=1)
        b2 = c(f"{p}_1x7_2", b2, 224, kh=1, kw=7)
        b2 = c(f"{p}_7x1_3", b2, 224, kh=7, kw=1)
        b2 = c(f"{p}_1x7_3", b2, 256, kh=1, kw=7)
        b3 = c(f"{p}_1x1", self.avg_pool(f"{p}_pool_ave", x), 128)
        return self.concat(f"{p}_concat", b0, b1, b2, b3)

    def reduction_b(self, x):
        c = self.conv
        b0 = c("reduction_b_3x3", c("reduction_b_3x3_reduce", x, 192), 192, 3, stride=2)
        b1 = c("reduction_b_1x7", c("reduction_b_1x7_reduce", x, 256), 256, kh=1, kw=7)
        b1 = c("reduction_b_7x1", b1, 320, kh=7, kw=1)
        b1 = c("reduction_b_3x3_2", b1, 320, 3, stride=2)
        return self.concat("reduction_b_concat", b0, b1, self.max_pool("reduction_b_pool", x))

    def block_c(self, i, x):
        c, p = self.conv, f"inception_c{i}"
        b0 = c(f"{p}_1x1_2", x, 256)
        r = c(f"{p}_1x1_3", x, 384)
        b1, b2 = c(f"{p}_1x3", r, 256, kh=1, kw=3), c(f"{p}_3x1", r, 256, kh=3, kw=1)
        r = c(f"{p}_1x1_4", x, 384)
        r = c(f"{p}_1x3_2", c(f"{p}_3x1_2", r, 448, kh=3, kw=1), 512, kh=1, kw=3)
        b3, b4 = c(f"{p}_1x3_3", r, 256, kh=1, kw=3), c(f"{p}_3x1_3", r, 256, kh=3, kw=1)
        b5 = c(f"{p}_1x1", self.avg_pool(f"{p}_pool_ave", x), 256)
        return self.concat(f"{p}_concat", b0, b1, b2, b3, b4, b5)


def inception_v4(n, data, variant="full", input_size=None, bn_fraction=None):
    """Add the Inception-v4 trunk on ``data`` to NetSpec ``n``; returns the global average pool
    ``pool_8x8_s1`` (N × 1536 / w × 1 × 1).  ``input_size``, when given, is checked first;
    ``bn_fraction`` sets BatchNorm's moving_average_fraction (Caffe's default 0.999 when None)."""
    L, P = _L()
    if input_size is not None:
        feature_sizes(int(input_size))
    b = _Builder(n, divisor(variant), bn_fraction)
    x = b.stem(data)
    for i in range(1, 5):
        x = b.block_a(i, x)
    x = b.reduction_a(x)
    for i in range(1, 8):
        x = b.block_b(i, x)
    x = b.reduction_b(x)
    for i in range(1, 4):
        x = b.block_c(i, x)
    n.pool_8x8_s1 = L.Pooling(x, pool=P.Pooling.AVE, global_pooling=True)
    return n.pool_8x8_s1
