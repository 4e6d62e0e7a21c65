"""ResNet (He et al. 2015) with NetSpec, in the layout of the authors' released Caffe ResNet-50.

    from tools.nets import resnet
    net = resnet.deploy_net()                       # == prototxt/zoo/resnet50/deploy.prototxt, layer for layer
    net = resnet.deploy_net(size=64, width=0.125, blocks=(1, 1, 1, 1), cut="pool5")   # narrow, CPU

Layout (the ``deploy.prototxt`` of KaimingHe/deep-residual-networks, ResNet-50):
``conv1`` 7×7/2 (with bias) → ``bn_conv1`` / ``scale_conv1`` / ``conv1_relu`` → ``pool1`` 3×3/2 MAX →
four stages of bottleneck blocks ``res{s}{b}`` (s = 2 … 5, b = a, b, c, …): ``res{s}{b}_branch2a``
1×1, ``_branch2b`` 3×3, ``_branch2c`` 1×1 (4× wider), each conv without bias followed by
``bn{s}{b}_branch2x`` / ``scale{s}{b}_branch2x`` (and a ReLU ``res{s}{b}_branch2x_relu`` after 2a
and 2b); the first block of a stage has a projection ``res{s}a_branch1`` (1×1, with the stage's
stride) and stage 3 … 5 downsample by stride 2 *in the 1×1 convs* (branch1 and branch2a), as in
the released model; the sum ``res{s}{b}`` (Eltwise) is followed by ``res{s}{b}_relu`` →
``pool5`` (AVE over the whole final map: 7×7 at 224 input) → ``fc1000`` → ``prob``.

Because the names are the released model's, ``ResNet-50-model.caffemodel`` (and any caffemodel
fine-tuned from it) loads into every net written here by name (``--weights``), and a frozen
ResNet-50 encoder cut at ``res5c`` gives the 7 × 7 × 2048 map, at ``pool5`` the 2048-d vector.

Knobs for narrow / other variants (names stay the same):
``width``     multiplies every channel count (int(round(c · width)), at least 1);
``blocks``    blocks per stage (ResNet-50: (3, 4, 6, 3)); at most 26 per stage (letter names);
``size``      input side; ``pool5``'s kernel is the final map's side (7 at 224);
``cut``       "res5c" (the last block's output, after its ReLU), "pool5", "fc1000" or "prob";
``frozen_bn`` / ``fillers``: see :mod:`tools.nets`.
"""
from __future__ import annotations

from fashioncaffe.net_spec import NetSpec, layers as L, params as P

from . import batch_norm_scale, classifier, conv_out, convolution, input_layer, pool_out

RESNET50_BLOCKS = (3, 4, 6, 3)
STAGE_WIDTH = (64, 128, 256, 512)   # bottleneck width per stage; the output is 4× this
CUTS = ("res5c", "pool5", "fc1000", "prob")


def _c(channels, width):
    return max(1, int(round(channels * width)))


def _conv(n, name, bottom, num, kernel, stride, pad, bias, fillers):
    return convolution(n, name, bottom, num, kernel, stride, pad, 1, bias, fillers)


def final_size(size):
    """Side of the last stage's map for a size × size input (7 for 224)."""
    s = conv_out(size, 7, 2, 3)
    s = pool_out(s, 3, 2)
    for _ in range(3):  # stages 3, 4, 5: 1×1 stride-2 convolutions
        s = conv_out(s, 1, 2, 0)
    return s


def block_names(blocks=RESNET50_BLOCKS):
    """The block names ``2a`` … ``5c`` in order."""
    out = []
    for stage, count in zip((2, 3, 4, 5), blocks):
        if count > 26:
            raise ValueError(f"stage {stage}: {count} blocks, at most 26 have letter names")
        out += [f"{stage}{chr(ord('a') + b)}" for b in range(count)]
    return out


def resnet(n, data, width=1.0, blocks=RESNET50_BLOCKS, size=224, cut="prob", num_classes=1000,
           frozen_bn=True, fillers=False):
    """Append ResNet's layers to NetSpec ``n`` on ``data`` (N × 3 × size × size); returns the top at
    ``cut`` (module docstring)."""
    if cut not in CUTS:
        raise ValueError(f"cut must be one of {', '.join(CUTS)}, got {cut!r}")
    if len(blocks) != 4 or min(blocks) < 1:
        raise ValueError(f"blocks must give 4 stages of at least one block, got {blocks}")
    x = _conv(n, "conv1", data, _c(64, width), 7, 2, 3, True, fillers)
    batch_norm_scale(n, x, "bn_conv1", "scale_conv1", frozen_bn, fillers=fillers)
    n.conv1_relu = L.ReLU(x, in_place=True)
    n.pool1 = L.Pooling(x, pooling_param=dict(kernel_size=3, stride=2, pool=P.Pooling.MAX))
    x = n.pool1
    for stage, count, w in zip((2, 3, 4, 5), blocks, STAGE_WIDTH):
        for b in range(count):
            name = f"{stage}{chr(ord('a') + b)}"
            stride = 2 if (b == 0 and stage > 2) else 1
            if b == 0:
                shortcut = _conv(n, f"res{name}_branch1", x, _c(4 * w, width), 1, stride, 0, False, fillers)
                batch_norm_scale(n, shortcut, f"bn{name}_branch1", f"scale{name}_branch1", frozen_bn,
                                 fillers=fillers)
            else:
                shortcut = x
            y = x
            for part, (num, k, s, p) in (("2a", (_c(w, width), 1, stride, 0)), ("2b", (_c(w, width), 3, 1, 1)),
                                         ("2c", (_c(4 * w, width), 1, 1, 0))):
                y = _conv(n, f"res{name}_branch{part}", y, num, k, s, p, False, fillers)
                batch_norm_scale(n, y, f"bn{name}_branch{part}", f"scale{name}_branch{part}", frozen_bn,
                                 fillers=fillers)
                if part != "2c":
                    n[f"res{name}_branch{part}_relu"] = L.ReLU(y, in_place=True)
            n[f"res{name}"] = L.Eltwise(shortcut, y)
            x = n[f"res{name}"]
            n[f"res{name}_relu"] = L.ReLU(x, in_place=True)
    if cut == "res5c":
        return x
    k = final_size(size)
    if k < 1:
        raise ValueError(f"input size {size} is too small for ResNet (the final map would be empty)")
    n.pool5 = L.Pooling(x, pooling_param=dict(kernel_size=k, stride=1, pool=P.Pooling.AVE))
    if cut == "pool5":
        return n.pool5
    return classifier(n, n.pool5, "fc1000", num_classes, cut, fillers)


def deploy_net(size=224, width=1.0, blocks=RESNET50_BLOCKS, cut="prob", num_classes=1000, batch=1,
               name="ResNet-50", legacy_input=False):
    """A deploy NetParameter (input blob ``data``, BatchNorm on stored statistics).

    ``legacy_input=True`` declares the input as the released file does (``input: "data"`` +
    four ``input_dim``) instead of an Input layer."""
    n = NetSpec()
    if legacy_input:
        n.data = L.Input()  # a placeholder producing "data"; removed below
    else:
        input_layer(n, "data", (batch, 3, size, size))
    resnet(n, n.data, width, blocks, size, cut, num_classes, frozen_bn=True, fillers=False)
    net = n.to_proto()
    if legacy_input:
        del net.layer[0]
        net.input.append("data")
        net.input_dim.extend([batch, 3, size, size])
    net.name = name
    return net
