"""Hand-written PyTorch models of the zoo nets, the reference side of ``tools/benchmark.py``.

Each is the zoo prototxt's architecture written the way a PyTorch user would write it (torch.nn
modules, nn.BatchNorm2d with its affine part for Caffe's BatchNorm + Scale pair), initialised with the
gaussian scales the engine's benchmark net uses, so that the two sides do the same arithmetic:

* ``alexnet``: BVLC AlexNet (grouped conv2/4/5, LRN before pooling, ceil-mode pooling, dropout);
* ``vgg16``: VGG ILSVRC-16 (13 3×3 convolutions, 5 ceil-mode max pools, two 4096 fc + dropout);
* ``resnet50``: MSRA ResNet-50 as the zoo deploy has it (stride 2 in the first 1×1 convolution of
  stages 3–5, projection shortcuts, conv1 with a bias, pool5 averaging the last map).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["build_torch_model", "MODELS"]


def _gauss(layer, std, bias=0.0):
    nn.init.normal_(layer.weight, 0.0, std)
    if layer.bias is not None:
        nn.init.constant_(layer.bias, bias)
    return layer


def _head(feats, size, fc, last, dropout=True):
    with torch.no_grad():
        n_flat = feats.eval()(torch.zeros(1, 3, size, size)).numel()  # eval: BatchNorm takes a batch of 1
    feats.train()
    head, d = [nn.Flatten()], n_flat
    for out, std, b in fc:
        head += [_gauss(nn.Linear(d, out), std, b), nn.ReLU(inplace=True)]
        if dropout:
            head.append(nn.Dropout(0.5))
        d = out
    head.append(_gauss(nn.Linear(d, last[0]), last[1], last[2]))
    return nn.Sequential(feats, *head)


def alexnet(size):
    feats = nn.Sequential(
        _gauss(nn.Conv2d(3, 96, 11, stride=4), 0.01, 0.0), nn.ReLU(inplace=True),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0), nn.MaxPool2d(3, 2, ceil_mode=True),
        _gauss(nn.Conv2d(96, 256, 5, padding=2, groups=2), 0.01, 0.1), nn.ReLU(inplace=True),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0), nn.MaxPool2d(3, 2, ceil_mode=True),
        _gauss(nn.Conv2d(256, 384, 3, padding=1), 0.01, 0.0), nn.ReLU(inplace=True),
        _gauss(nn.Conv2d(384, 384, 3, padding=1, groups=2), 0.01, 0.1), nn.ReLU(inplace=True),
        _gauss(nn.Conv2d(384, 256, 3, padding=1, groups=2), 0.01, 0.1), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, ceil_mode=True))
    return _head(feats, size, [(4096, 0.005, 0.1), (4096, 0.005, 0.1)], (1000, 0.01, 0.0))


def vgg16(size):
    layers, c_in = [], 3
    for c, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(reps):
            layers += [_gauss(nn.Conv2d(c_in, c, 3, padding=1), 0.01, 0.0), nn.ReLU(inplace=True)]
            c_in = c
        layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
    return _head(nn.Sequential(*layers), size, [(4096, 0.01, 0.0), (4096, 0.01, 0.0)], (1000, 0.01, 0.0))


class _Bottleneck(nn.Module):
    """1×1 (stride s) → 3×3 → 1×1 (×4), each followed by BatchNorm; projection shortcut where the
    shape changes; ReLU after the sum."""

    def __init__(self, c_in, mid, stride):
        super().__init__()
        c_out = 4 * mid
        self.a = _gauss(nn.Conv2d(c_in, mid, 1, stride=stride, bias=False), 0.01)
        self.bn_a = nn.BatchNorm2d(mid, momentum=0.001)
        self.b = _gauss(nn.Conv2d(mid, mid, 3, padding=1, bias=False), 0.01)
        self.bn_b = nn.BatchNorm2d(mid, momentum=0.001)
        self.c = _gauss(nn.Conv2d(mid, c_out, 1, bias=False), 0.01)
        self.bn_c = nn.BatchNorm2d(c_out, momentum=0.001)
        self.proj = None
        if stride != 1 or c_in != c_out:
            self.proj = nn.Sequential(_gauss(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), 0.01),
                                      nn.BatchNorm2d(c_out, momentum=0.001))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        y = self.relu(self.bn_a(self.a(x)))
        y = self.relu(self.bn_b(self.b(y)))
        y = self.bn_c(self.c(y))
        return self.relu(y + (x if self.proj is None else self.proj(x)))


def resnet50(size):
    stem = [_gauss(nn.Conv2d(3, 64, 7, stride=2, padding=3), 0.01), nn.BatchNorm2d(64, momentum=0.001),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, ceil_mode=True)]
    blocks, c_in = [], 64
    for mid, reps, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(reps):
            blocks.append(_Bottleneck(c_in, mid, stride if i == 0 else 1))
            c_in = 4 * mid
    feats = nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d(1))
    return _head(feats, size, [], (1000, 0.01, 0.0), dropout=False)


MODELS = {"alexnet": alexnet, "vgg16": vgg16, "resnet50": resnet50}


def build_torch_model(net: str, size: int) -> nn.Module:
    """The hand-written model of zoo net ``net`` for ``size``×``size`` inputs."""
    return MODELS[net](size)
