"""Neuron layers: element-wise maps, one bottom to one top of the same shape (Caffe's NeuronLayer).

Every layer here takes exactly one bottom and produces one top of the bottom's shape, and may be
used in place (top == bottom).  Gradients are autograd's, which equal Caffe's hand-written ones for
these formulas (the custom cases are noted in the class docstrings).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import fail
from .base import Layer, TRAIN, register

# Producers whose backward does not read their own output: an in-place op on their output keeps
# autograd's saved tensors intact.  Anything else (ReLU, Sigmoid, TanH, Exp, Softmax, a Python
# layer, ...) saves or may save its output, so an in-place op after it would corrupt its backward;
# there the layer silently computes out of place.
_SAFE_PRODUCERS = (
    "Convolution", "Addmm", "AddBackward", "SubBackward", "MmBackward", "BmmBackward", "CatBackward",
    "NativeBatchNorm", "CudnnBatchNorm", "MulBackward", "MaxPool", "AvgPool", "Linear",
)


def may_overwrite(layer: Layer, x: torch.Tensor) -> bool:
    """True when ``layer`` may modify its bottom ``x`` in place (solver mode, sole consumer, and
    the op that produced ``x`` does not need it for its own backward)."""
    if not layer.inplace or not x.requires_grad or x.grad_fn is None:
        return False
    name = type(x.grad_fn).__name__
    return any(name.startswith(p) for p in _SAFE_PRODUCERS)


class _Neuron(Layer):
    num_bottoms = (1, 1)
    num_tops = (1, 1)

    def reshape(self, bottom_shapes):
        return [tuple(bottom_shapes[0])]


def _alias(x: torch.Tensor) -> torch.Tensor:
    """An identity top: a new autograd node (so its diff is its own) sharing ``x``'s memory."""
    return x.view_as(x) if x.requires_grad else x


def c_pow(a: float, b: float) -> float:
    """C's pow(a, b) for floats: 0^0 = 1, 0^negative = inf, negative^fraction = nan."""
    if b == 0.0:
        return 1.0
    try:
        return math.pow(a, b)
    except ZeroDivisionError:
        return math.inf
    except ValueError:
        return math.nan


@register("ReLU")
class ReLULayer(_Neuron):
    """Rectified linear unit, optionally leaky.

    y = max(0, x) + negative_slope · min(0, x);  ∂y/∂x = 1 if x > 0 else negative_slope.
    bottom: x (any shape);  top: y (same shape).
    """

    def setup(self, bottom_shapes):
        self.slope = float(self.param.relu_param.negative_slope)

    def forward(self, bottoms):
        x = bottoms[0]
        inplace = may_overwrite(self, x)
        if self.slope == 0.0:
            return [F.relu(x, inplace=inplace)]
        return [F.leaky_relu(x, self.slope, inplace=inplace)]


@register("PReLU")
class PReLULayer(_Neuron):
    """Parametric ReLU: y = max(0, x) + a_c · min(0, x), a learned slope per channel c (axis 1).

    bottom: x (N, C, ...), at least 2 axes;  top: y (same shape).
    blobs[0]: a, shape (C,), or a scalar of shape () with ``channel_shared`` (as Caffe stores it);
    filler default constant 0.25.
    ∂y/∂x = 1 if x > 0 else a_c;  ∂E/∂a_c = Σ_{x ≤ 0} ∂E/∂y · x.
    """

    def setup(self, bottom_shapes):
        shape = bottom_shapes[0]
        if len(shape) < 2:
            raise fail(f"PReLU layer '{self.name}' needs a bottom with at least 2 axes (N, C, ...), "
                       f"got shape {tuple(shape)}.")
        p = self.param.prelu_param
        self.shared = bool(p.channel_shared)
        if p.HasField("filler"):
            filler = p.filler
        else:
            from ..proto import caffe_pb2

            filler = caffe_pb2.FillerParameter(type="constant", value=0.25)
        self.add_param(() if self.shared else (shape[1],), filler)

    def forward(self, bottoms):
        return [F.prelu(bottoms[0], self.blobs[0].tensor)]


@register("ELU")
class ELULayer(_Neuron):
    """Exponential linear unit: y = x if x > 0 else α(eˣ − 1);  ∂y/∂x = 1 if x > 0 else y + α.

    bottom: x;  top: y.  ``elu_param.alpha`` (default 1).
    """

    def setup(self, bottom_shapes):
        self.alpha = float(self.param.elu_param.alpha)

    def forward(self, bottoms):
        return [F.elu(bottoms[0], self.alpha)]


@register("Sigmoid")
class SigmoidLayer(_Neuron):
    """y = 1 / (1 + e^(−x));  ∂y/∂x = y(1 − y).  bottom: x;  top: y."""

    def forward(self, bottoms):
        return [torch.sigmoid(bottoms[0])]


@register("TanH")
class TanHLayer(_Neuron):
    """y = tanh(x);  ∂y/∂x = 1 − y².  bottom: x;  top: y."""

    def forward(self, bottoms):
        return [torch.tanh(bottoms[0])]


@register("AbsVal")
class AbsValLayer(_Neuron):
    """y = |x|;  ∂y/∂x = sign(x) (0 at x = 0).  bottom: x;  top: y."""

    def forward(self, bottoms):
        return [torch.abs(bottoms[0])]


@register("BNLL")
class BNLLLayer(_Neuron):
    """Binomial normal log-likelihood (softplus): y = log(1 + eˣ), computed stably;
    ∂y/∂x = eˣ / (1 + eˣ).  bottom: x;  top: y."""

    def forward(self, bottoms):
        return [F.softplus(bottoms[0])]


@register("Power")
class PowerLayer(_Neuron):
    """y = (shift + scale · x)^power;  ∂y/∂x = power · scale · (shift + scale · x)^(power − 1).

    bottom: x;  top: y.  ``power_param``: power (1), scale (1), shift (0).  When power · scale = 0
    the top is the constant shift^power and the gradient is 0, as in Caffe.
    """

    def setup(self, bottom_shapes):
        p = self.param.power_param
        self.power, self.scale, self.shift = float(p.power), float(p.scale), float(p.shift)

    def forward(self, bottoms):
        x = bottoms[0]
        if self.power * self.scale == 0.0:
            value = c_pow(self.shift, self.power)
            return [torch.full_like(x, value)]
        y = x
        if self.scale != 1.0:
            y = y * self.scale
        if self.shift != 0.0:
            y = y + self.shift
        if self.power != 1.0:
            y = y * y if self.power == 2.0 else torch.pow(y, self.power)
        elif y is x:
            y = _alias(x)
        return [y]


@register("Exp")
class ExpLayer(_Neuron):
    """y = base^(shift + scale · x), base = e when ``base`` is −1 (the default);
    ∂y/∂x = ln(base) · scale · y.  bottom: x;  top: y.  ``exp_param``: base (−1), scale (1), shift (0).
    """

    def setup(self, bottom_shapes):
        p = self.param.exp_param
        base = float(p.base)
        if base != -1.0 and not base > 0:
            raise fail(f"Exp layer '{self.name}': exp_param.base must be strictly positive (or -1 for e), "
                       f"got {base}.")
        log_base = 1.0 if base == -1.0 else math.log(base)
        self.inner_scale = log_base * float(p.scale)
        shift = float(p.shift)
        self.outer_scale = 1.0 if shift == 0.0 else (math.exp(shift) if base == -1.0 else base ** shift)

    def forward(self, bottoms):
        x = bottoms[0]
        y = torch.exp(x * self.inner_scale if self.inner_scale != 1.0 else x)
        if self.outer_scale != 1.0:
            y = y * self.outer_scale
        return [y]


@register("Log")
class LogLayer(_Neuron):
    """y = log_base(shift + scale · x), natural log when ``base`` is −1 (the default);
    ∂y/∂x = scale / (ln(base) · (shift + scale · x)).  bottom: x;  top: y.
    ``log_param``: base (−1), scale (1), shift (0).
    """

    def setup(self, bottom_shapes):
        p = self.param.log_param
        base = float(p.base)
        if base != -1.0 and not base > 0:
            raise fail(f"Log layer '{self.name}': log_param.base must be strictly positive (or -1 for e), "
                       f"got {base}.")
        self.base_scale = 1.0 if base == -1.0 else 1.0 / math.log(base)
        self.scale, self.shift = float(p.scale), float(p.shift)

    def forward(self, bottoms):
        y = bottoms[0]
        if self.scale != 1.0:
            y = y * self.scale
        if self.shift != 0.0:
            y = y + self.shift
        y = torch.log(y)
        if self.base_scale != 1.0:
            y = y * self.base_scale
        return [y]


@register("Threshold")
class ThresholdLayer(_Neuron):
    """y = 1 if x > threshold else 0.  bottom: x;  top: y.  No backward (as in Caffe): no gradient
    flows to x.  ``threshold_param.threshold`` (default 0)."""

    def setup(self, bottom_shapes):
        self.threshold = float(self.param.threshold_param.threshold)

    def forward(self, bottoms):
        x = bottoms[0]
        return [(x.detach() > self.threshold).to(x.dtype)]


@register("Dropout")
class DropoutLayer(_Neuron):
    """Dropout.  TRAIN: y = x · m / (1 − r), m ~ Bernoulli(1 − r) drawn per element each forward;
    ∂y/∂x = m / (1 − r).  TEST: y = x.  bottom: x;  top: y.  ``dropout_param.dropout_ratio`` r (0.5).
    """

    def setup(self, bottom_shapes):
        self.ratio = float(self.param.dropout_param.dropout_ratio)
        if not 0.0 <= self.ratio < 1.0:
            raise fail(f"Dropout layer '{self.name}': dropout_param.dropout_ratio must be in [0, 1), "
                       f"got {self.ratio}.")

    @property
    def uses_global_rng(self):
        return self.phase == TRAIN and self.ratio > 0.0

    def forward(self, bottoms):
        x = bottoms[0]
        if self.phase != TRAIN or self.ratio == 0.0:
            return [_alias(x)]
        return [F.dropout(x, self.ratio, training=True, inplace=may_overwrite(self, x))]


@register("Swish")
class SwishLayer(_Neuron):
    """y = x · σ(β x);  ∂y/∂x = β y + σ(β x)(1 − β y).  bottom: x;  top: y.
    ``swish_param.beta`` (default 1)."""

    def setup(self, bottom_shapes):
        self.beta = float(self.param.swish_param.beta)

    def forward(self, bottoms):
        x = bottoms[0]
        if self.beta == 1.0:
            return [F.silu(x)]
        return [x * torch.sigmoid(x * self.beta)]


@register("Clip")
class ClipLayer(_Neuron):
    """y = min(max(x, min), max);  ∂y/∂x = 1 if min ≤ x ≤ max else 0.  bottom: x;  top: y.
    ``clip_param``: min, max (both required)."""

    def setup(self, bottom_shapes):
        p = self.param.clip_param
        if not (p.HasField("min") and p.HasField("max")):
            raise fail(f"Clip layer '{self.name}' needs clip_param with both 'min' and 'max'.")
        self.lo, self.hi = float(p.min), float(p.max)
        if self.lo > self.hi:
            raise fail(f"Clip layer '{self.name}': clip_param.min ({self.lo}) is greater than max ({self.hi}).")

    def forward(self, bottoms):
        return [torch.clamp(bottoms[0], self.lo, self.hi)]
