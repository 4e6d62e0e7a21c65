"""Caffe's update rules (``ComputeUpdateValue`` of each solver), on lists of tensors with foreach ops.

Each rule works on a *group* of parameters sharing ``local_rate = rate · lr_mult``; it reads the
(clipped, normalised, regularised) gradients ``g``, overwrites them with the update and subtracts
that from the weights ``w``, as Caffe does (``diff = update; data -= diff``): after a step a
parameter's diff holds the step it took, in Caffe's order of operations.  ``h`` / ``h2`` are the group's history tensors, in the
order Caffe keeps them in ``history_`` (first all params' first history, then the second halves).

    SGD       h = μ·h + lr·g;                                 w -= h
    Nesterov  h' = μ·h + lr·g;  u = (1+μ)·h' − μ·h;           w -= u
    AdaGrad   h += g²;          u = lr · g / (√h + δ);        w -= u
    RMSProp   h = ρ·h + (1−ρ)·g²;  u = lr · g / (√h + δ);     w -= u      (ρ = rms_decay)
    AdaDelta  h = μ·h + (1−μ)·g²;  d = g·√((h2+δ)/(h+δ));  h2 = μ·h2 + (1−μ)·d²;  w -= lr·d
    Adam      m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
              u = lr·√(1−β2^t)/(1−β1^t) · m / (√v + ε);  w -= u          (t = iter + 1; ε not corrected)
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import fail


def _f32(x) -> float:
    return float(np.float32(x))


def _scaled_ratio_update(w, g, h, delta, lr):
    """AdaGrad/RMSProp's last step: g = lr · g / (√h + δ); w -= g."""
    d = torch._foreach_sqrt(h)
    torch._foreach_add_(d, delta)
    torch._foreach_div_(g, d)
    torch._foreach_mul_(g, lr)
    torch._foreach_sub_(w, g)


class UpdateRule:
    """Base: ``num_history`` history tensors per parameter."""

    name = "SGD"
    num_history = 1

    def __init__(self, param):
        self.param = param
        self.momentum = _f32(param.momentum)
        self.delta = _f32(param.delta)

    def check(self):
        pass

    def apply(self, w, g, hist, local_rate, it):
        """Update weights ``w`` (list) from grads ``g`` using history lists ``hist``."""
        raise NotImplementedError


class SGDRule(UpdateRule):
    name = "SGD"

    def apply(self, w, g, hist, lr, it):
        (h,) = hist
        torch._foreach_mul_(h, self.momentum)
        torch._foreach_add_(h, g, alpha=lr)
        torch._foreach_copy_(g, h)
        torch._foreach_sub_(w, g)


class NesterovRule(UpdateRule):
    name = "Nesterov"

    def apply(self, w, g, hist, lr, it):
        (h,) = hist
        m = self.momentum
        u = torch._foreach_mul(h, -m)          # −μ·h_old
        torch._foreach_mul_(h, m)
        torch._foreach_add_(h, g, alpha=lr)    # h_new
        torch._foreach_add_(u, h, alpha=1.0 + m)
        torch._foreach_copy_(g, u)
        torch._foreach_sub_(w, g)


class AdaGradRule(UpdateRule):
    name = "AdaGrad"

    def check(self):
        if self.momentum != 0:
            raise fail("AdaGrad solver: momentum cannot be used with AdaGrad (Caffe requires momentum 0).")

    def apply(self, w, g, hist, lr, it):
        (h,) = hist
        torch._foreach_addcmul_(h, g, g)
        _scaled_ratio_update(w, g, h, self.delta, lr)


class RMSPropRule(UpdateRule):
    name = "RMSProp"

    def __init__(self, param):
        super().__init__(param)
        self.rms_decay = _f32(param.rms_decay)

    def check(self):
        if self.momentum != 0:
            raise fail("RMSProp solver: momentum cannot be used with RMSProp (Caffe requires momentum 0).")
        if not (0.0 <= self.rms_decay < 1.0):   # BVLC: CHECK_GE(rms_decay, 0), CHECK_LT(rms_decay, 1)
            raise fail(f"RMSProp solver: rms_decay must be in [0, 1), got {self.rms_decay}.")

    def apply(self, w, g, hist, lr, it):
        (h,) = hist
        torch._foreach_mul_(h, self.rms_decay)
        torch._foreach_addcmul_(h, g, g, value=_f32(1.0 - self.rms_decay))
        _scaled_ratio_update(w, g, h, self.delta, lr)


class AdaDeltaRule(UpdateRule):
    name = "AdaDelta"
    num_history = 2

    def apply(self, w, g, hist, lr, it):
        h, h2 = hist
        m = self.momentum
        one_m = _f32(1.0 - m)
        torch._foreach_mul_(h, m)
        torch._foreach_addcmul_(h, g, g, value=one_m)
        num = torch._foreach_add(h2, self.delta)
        den = torch._foreach_add(h, self.delta)
        torch._foreach_div_(num, den)
        torch._foreach_sqrt_(num)
        torch._foreach_mul_(g, num)            # d = g · √((h2+δ)/(h+δ))
        torch._foreach_mul_(h2, m)
        torch._foreach_addcmul_(h2, g, g, value=one_m)
        torch._foreach_mul_(g, lr)
        torch._foreach_sub_(w, g)


class AdamRule(UpdateRule):
    name = "Adam"
    num_history = 2

    def __init__(self, param):
        super().__init__(param)
        self.beta2 = _f32(param.momentum2)

    def check(self):
        b1, b2 = self.momentum, self.beta2
        if not (0 <= b1 < 1) or not (0 <= b2 < 1):
            raise fail(f"Adam solver: momentum (beta1 = {b1}) and momentum2 (beta2 = {b2}) must be in [0, 1).")

    def correction(self, it):
        t = it + 1
        return _f32(math.sqrt(1.0 - math.pow(self.beta2, t)) / (1.0 - math.pow(self.momentum, t)))

    def apply(self, w, g, hist, lr, it):
        m_, v = hist
        b1, b2 = self.momentum, self.beta2
        torch._foreach_mul_(m_, b1)
        torch._foreach_add_(m_, g, alpha=_f32(1.0 - b1))
        torch._foreach_mul_(v, b2)
        torch._foreach_addcmul_(v, g, g, value=_f32(1.0 - b2))
        d = torch._foreach_sqrt(v)
        torch._foreach_add_(d, self.delta)
        step = _f32(lr * self.correction(it))
        torch._foreach_copy_(g, m_)
        torch._foreach_div_(g, d)
        torch._foreach_mul_(g, step)
        torch._foreach_sub_(w, g)
