"""Caffe's weight fillers (FillerParameter ``type``), filling a tensor in place.

Distributions match Caffe's; Caffe's random stream is not reproduced bit for bit.
``fan_in = count / shape[0]`` and ``fan_out = count / shape[1]``, as Caffe computes them for
(num_output, channels/group, kh, kw) weights.

constant           value
uniform            U[min, max]
gaussian           N(mean, std²); with ``sparse`` = s ≥ 0 each weight is kept with probability
                   s / shape[0] and zeroed otherwise
positive_unitball  U[0, 1], then each of the shape[0] rows scaled to sum to 1
xavier             U[−√(3/n), √(3/n)], n = fan_in | fan_out | (fan_in + fan_out)/2 by variance_norm
msra               N(0, 2/n), n as for xavier
bilinear           the bilinear-upsampling kernel for Deconvolution: f = ⌈k/2⌉, c = (2f − 1 − f mod 2)/(2f),
                   w(x, y) = (1 − |x/f − c|)(1 − |y/f − c|)
"""
from __future__ import annotations

import math

import torch

from .errors import fail

_FAN_IN, _FAN_OUT, _AVERAGE = 0, 1, 2


def _fan_n(t: torch.Tensor, filler) -> float:
    count = t.numel()
    fan_in = count / t.shape[0]
    fan_out = count / t.shape[1] if t.dim() > 1 else count
    norm = filler.variance_norm
    if norm == _AVERAGE:
        return (fan_in + fan_out) / 2.0
    if norm == _FAN_OUT:
        return fan_out
    return fan_in


@torch.no_grad()
def fill(t: torch.Tensor, filler, generator: torch.Generator | None = None) -> torch.Tensor:
    """Fill ``t`` in place.  Like BVLC's fillers, which write ``cpu_data()``, the numbers are drawn on
    the host from the CPU random stream and then copied to ``t``'s device, so a net initialised on a
    GPU starts from the same weights as on the CPU for the same seed (CUDA's generator draws other
    numbers)."""
    if t.device.type != "cpu" and (generator is None or generator.device.type == "cpu"):
        host = torch.empty(t.shape, dtype=t.dtype)
        _fill_host(host, filler, generator)
        t.copy_(host)
        return t
    return _fill_host(t, filler, generator)


def _fill_host(t: torch.Tensor, filler, generator: torch.Generator | None) -> torch.Tensor:
    kind = filler.type or "constant"
    if t.numel() == 0:
        return t
    if kind == "constant":
        t.fill_(filler.value)
    elif kind == "uniform":
        t.uniform_(filler.min, filler.max, generator=generator)
    elif kind == "gaussian":
        t.normal_(filler.mean, filler.std, generator=generator)
        if filler.sparse >= 0:
            if t.dim() < 1:
                raise fail("gaussian filler with 'sparse' needs a blob with at least one axis.")
            p = filler.sparse / float(t.shape[0])
            t.mul_(torch.bernoulli(torch.full_like(t, p), generator=generator))
    elif kind == "positive_unitball":
        t.uniform_(0, 1, generator=generator)
        rows = t.view(t.shape[0], -1)
        rows.div_(rows.sum(dim=1, keepdim=True))
    elif kind == "xavier":
        scale = math.sqrt(3.0 / _fan_n(t, filler))
        t.uniform_(-scale, scale, generator=generator)
    elif kind == "msra":
        t.normal_(0.0, math.sqrt(2.0 / _fan_n(t, filler)), generator=generator)
    elif kind == "bilinear":
        if t.dim() != 4 or t.shape[2] != t.shape[3]:
            raise fail(f"bilinear filler needs a 4-axis blob with a square kernel, got shape {tuple(t.shape)}.")
        k = t.shape[3]
        f = math.ceil(k / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        coords = torch.arange(k, dtype=torch.float64)
        w1 = 1 - torch.abs(coords / f - c)
        kernel = (w1[:, None] * w1[None, :]).to(t.dtype)
        t.copy_(kernel.expand_as(t))
    else:
        raise fail(f"Unknown filler type '{kind}'; expected one of constant, uniform, gaussian, "
                   "positive_unitball, xavier, msra, bilinear.")
    return t
