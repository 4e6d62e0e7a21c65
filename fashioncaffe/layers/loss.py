"""Loss layers and Accuracy, with Caffe's exact formulas, normalisation and gradients.

Loss tops are scalars of shape () (Caffe ≥ 1.0's ``vector<int> loss_shape(0)``).  The net's loss is
Σ loss_weight · top; ``loss_weight`` defaults to 1 on top 0 of layers whose type ends in "Loss".
Where Caffe's gradient is not the autograd gradient of its forward formula (clamped logs, the
1e-4 in ContrastiveLoss, label bottoms that get no gradient) the layer uses a custom
``torch.autograd.Function`` that writes Caffe's backward.  No gradient ever reaches a label or
target bottom (its diff stays 0), as in Caffe.

Normalisation (``loss_param.normalization``; the legacy ``normalize: true`` means VALID and
``false`` BATCH_SIZE, used only when ``normalization`` is not given):
FULL = outer·inner (every prediction), VALID = the number of predictions whose label is not
``ignore_label`` (all of them without an ignore_label), BATCH_SIZE = outer, NONE = 1; the divisor
is max(1, that).  "outer" is the product of the axes before the class axis and "inner" of those
after it.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import fail
from .base import FLT_MIN, Layer, canonical_axis, register
from .class_labels import ClassLabelled

LOG_FLT_MIN = math.log(FLT_MIN)
kLOG_THRESHOLD = 1e-20

_FULL, _VALID, _BATCH_SIZE, _NONE = 0, 1, 2, 3


_WARNED: set = set()


def _warn_once(msg: str) -> None:
    if msg not in _WARNED:
        _WARNED.add(msg)
        import logging

        logging.getLogger("fashioncaffe").warning(msg)


def _normalization_mode(layer, default=_VALID) -> int:
    lp = layer.param.loss_param
    if lp.HasField("normalization"):
        return int(lp.normalization)
    if lp.HasField("normalize"):
        return _VALID if lp.normalize else _BATCH_SIZE
    return default


def _normalizer(mode, outer, inner, valid_count):
    """Caffe's LossLayer::GetNormalizer; ``valid_count`` is a tensor or None (= every element)."""
    if mode == _FULL:
        return float(max(outer * inner, 1))
    if mode == _VALID:
        if valid_count is None:
            return float(max(outer * inner, 1))
        return valid_count.clamp(min=1.0)
    if mode == _BATCH_SIZE:
        return float(max(outer, 1))
    if mode == _NONE:
        return 1.0
    raise ValueError(mode)


def _ignore_label(layer, field_owner=None):
    p = layer.param.loss_param if field_owner is None else field_owner
    return int(p.ignore_label) if p.HasField("ignore_label") else None


def _split_axis(shape, axis):
    outer = int(math.prod(shape[:axis]))
    inner = int(math.prod(shape[axis + 1:]))
    return outer, shape[axis], inner


class _LossLayer(Layer):
    num_bottoms = (2, 2)
    num_tops = (1, 1)

    def _check_first_dim(self, bottom_shapes):
        a, b = bottom_shapes[0], bottom_shapes[1]
        if len(a) == 0 or len(b) == 0 or a[0] != b[0]:
            raise fail(f"{self.type} layer '{self.name}': bottoms 0 and 1 must have the same first dimension "
                       f"(the batch), got shapes {tuple(a)} and {tuple(b)}.")


# ------------------------------------------------------------------------------------------------
class _SoftmaxLossFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x3, safe, valid, norm, has_norm_tensor):
        # x3: (outer, C, inner); safe: (outer, inner) int64; valid: (outer, inner) bool or None
        logp = torch.log_softmax(x3, dim=1)
        picked = logp.gather(1, safe.unsqueeze(1)).squeeze(1).clamp(min=LOG_FLT_MIN)
        if valid is not None:
            picked = torch.where(valid, picked, torch.zeros_like(picked))
        loss = -picked.sum() / norm
        ctx.save_for_backward(logp, safe, valid if valid is not None else torch.empty(0),
                              norm if has_norm_tensor else torch.empty(0))
        ctx.has_valid = valid is not None
        ctx.norm = None if has_norm_tensor else norm
        return loss

    @staticmethod
    def backward(ctx, g):
        logp, safe, valid, norm_t = ctx.saved_tensors
        norm = ctx.norm if ctx.norm is not None else norm_t
        d = logp.exp()
        d.scatter_add_(1, safe.unsqueeze(1), torch.full_like(d[:, :1], -1.0))
        if ctx.has_valid:
            d = d * valid.unsqueeze(1).to(d.dtype)
        d = d * (g / norm)
        return d, None, None, None, None


@register("SoftmaxWithLoss")
class SoftmaxWithLossLayer(ClassLabelled, _LossLayer):
    """Multinomial logistic loss of the softmax of the scores.

    p = softmax(x) along ``softmax_param.axis`` (default 1);
    loss = −Σ_{n : label_n ≠ ignore_label} log(max(p_{n, label_n}, FLT_MIN)) / normaliser;
    ∂loss/∂x = (p − 1{class = label}) / normaliser (0 at ignored positions).
    Normalisation: ``loss_param.normalization`` (default VALID; see the module docstring),
    ``loss_param.ignore_label``.
    bottoms: x (… × C × …), label (outer·inner integer labels in [0, C));
    tops: loss (scalar), optionally p (the softmax, same shape as x; it passes no gradient back).
    """

    num_tops = (1, 2)

    def setup(self, bottom_shapes):
        self.mode = _normalization_mode(self)
        self.ignore = _ignore_label(self)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        self.axis = canonical_axis(int(self.param.softmax_param.axis), len(s), self, "softmax_param.axis")
        outer, _, inner = _split_axis(s, self.axis)
        nlab = int(math.prod(bottom_shapes[1]))
        if outer * inner != nlab:
            raise fail(f"SoftmaxWithLoss layer '{self.name}': the label count ({nlab}, shape "
                       f"{tuple(bottom_shapes[1])}) must equal the number of predictions ({outer * inner}): for "
                       f"scores of shape {s} and softmax axis {self.axis}, one integer label per position.")
        tops = [()]
        if len(self.param.top) > 1:
            tops.append(s)
        return tops

    def forward(self, bottoms):
        x, label = bottoms
        outer, c, inner = _split_axis(tuple(x.shape), self.axis)
        x3 = x.reshape(outer, c, inner)
        valid, safe = self.class_labels(label.reshape(outer, inner), c, self.ignore)
        count = valid.sum().to(x.dtype) if (valid is not None and self.mode == _VALID) else None
        norm = _normalizer(self.mode, outer, inner, count)
        is_t = torch.is_tensor(norm)
        tops = [_SoftmaxLossFn.apply(x3, safe, valid, norm, is_t)]
        if len(self.param.top) > 1:  # Caffe's backward ignores this top's diff
            tops.append(torch.softmax(x.detach(), dim=self.axis))
        return tops


# ------------------------------------------------------------------------------------------------
class _SigmoidCEFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, t, valid, norm, is_t):
        pos = (x >= 0).to(x.dtype)
        elem = -(x * (t - pos)) + torch.log1p(torch.exp(-torch.abs(x)))
        if valid is not None:
            elem = torch.where(valid, elem, torch.zeros_like(elem))
        ctx.save_for_backward(x, t, valid if valid is not None else torch.empty(0),
                              norm if is_t else torch.empty(0))
        ctx.has_valid = valid is not None
        ctx.norm = None if is_t else norm
        return elem.sum() / norm

    @staticmethod
    def backward(ctx, g):
        x, t, valid, norm_t = ctx.saved_tensors
        norm = ctx.norm if ctx.norm is not None else norm_t
        d = torch.sigmoid(x) - t
        if ctx.has_valid:
            d = torch.where(valid, d, torch.zeros_like(d))
        return d * (g / norm), None, None, None, None


@register("SigmoidCrossEntropyLoss")
class SigmoidCrossEntropyLossLayer(_LossLayer):
    """Cross-entropy of sigmoid(x) against targets t ∈ [0, 1], computed stably:

    loss = Σ_{t ≠ ignore_label} −[x (t − 1{x ≥ 0}) − log(1 + e^(−|x|))] / normaliser;
    ∂loss/∂x = (σ(x) − t) / normaliser (0 where t = ignore_label); no gradient to t.
    Normalisation defaults to BATCH_SIZE (outer = x.shape[0]); VALID counts the non-ignored
    targets.  bottoms: x (N × …), t (same count);  top: loss (scalar).

    The BVLC Caffe that recorded ``caffe_reference`` (case ``sigmoid_ce_loss_valid``) ignores
    ``loss_param`` here: the loss is always Σ over every element / N, ignore_label included, as in
    Caffe 1.0's layer.  ``honour_loss_param`` (False) follows it; set it True for the later
    upstream behaviour (ignore_label and normalization honoured).
    """

    honour_loss_param = False

    def setup(self, bottom_shapes):
        lp = self.param.loss_param
        if self.honour_loss_param:
            self.mode = _normalization_mode(self, default=_BATCH_SIZE)
            self.ignore = _ignore_label(self)
        else:
            self.mode, self.ignore = _BATCH_SIZE, None
            if lp.HasField("ignore_label") or lp.HasField("normalization") or lp.HasField("normalize"):
                _warn_once(f"SigmoidCrossEntropyLoss layer '{self.name}': loss_param ignore_label / normalization "
                           "have no effect (BVLC Caffe 1.0 semantics): the loss sums every element and divides by "
                           "the batch size.")

    def reshape(self, bottom_shapes):
        a, b = tuple(bottom_shapes[0]), tuple(bottom_shapes[1])
        if math.prod(a) != math.prod(b):
            raise fail(f"SigmoidCrossEntropyLoss layer '{self.name}': the scores {a} and targets {b} must have the "
                       "same count.")
        return [()]

    def forward(self, bottoms):
        x, t = bottoms
        t = t.detach().reshape(x.shape)
        outer = x.shape[0] if x.dim() else 1
        inner = x.numel() // max(outer, 1)
        valid = None
        if self.ignore is not None:
            valid = t.to(torch.int64) != self.ignore
        count = valid.sum().to(x.dtype) if (valid is not None and self.mode == _VALID) else None
        norm = _normalizer(self.mode, outer, inner, count)
        return [_SigmoidCEFn.apply(x, t, valid, norm, torch.is_tensor(norm))]


# ------------------------------------------------------------------------------------------------
@register("EuclideanLoss")
class EuclideanLossLayer(_LossLayer):
    """loss = Σ (a − b)² / (2N), N = a.shape[0];  ∂loss/∂a = (a − b)/N, ∂loss/∂b = −(a − b)/N.
    bottoms: a, b (same count per sample);  top: loss (scalar)."""

    def allow_force_backward(self, bottom_index):
        return True  # both bottoms are data (Caffe's EuclideanLossLayer)

    def reshape(self, bottom_shapes):
        a, b = tuple(bottom_shapes[0]), tuple(bottom_shapes[1])
        if math.prod(a[1:]) != math.prod(b[1:]) or (a[:1] != b[:1]):
            raise fail(f"EuclideanLoss layer '{self.name}': bottoms must have the same batch size and dimension, "
                       f"got shapes {a} and {b}.")
        return [()]

    def forward(self, bottoms):
        a, b = bottoms
        d = a - b.reshape(a.shape)
        return [(d * d).sum() / (2.0 * max(a.shape[0], 1))]


# ------------------------------------------------------------------------------------------------
@register("HingeLoss")
class HingeLossLayer(ClassLabelled, _LossLayer):
    """One-vs-all hinge loss.  With δ_nk = −1 if k = label_n else +1:

    L1: loss = Σ_n Σ_k max(0, 1 + δ_nk x_nk) / N;  L2: loss = Σ_n Σ_k max(0, 1 + δ_nk x_nk)² / N.
    ∂/∂x_nk = δ_nk 1{1 + δ_nk x_nk > 0} / N (L1), 2 δ_nk max(0, 1 + δ_nk x_nk) / N (L2).
    bottoms: x (N × K …), label (N integer classes);  top: loss (scalar).  ``hinge_loss_param.norm``.
    """

    def setup(self, bottom_shapes):
        self.l2 = int(self.param.hinge_loss_param.norm) == 2

    def reshape(self, bottom_shapes):
        self._check_first_dim(bottom_shapes)
        return [()]

    def forward(self, bottoms):
        x, label = bottoms
        n = x.shape[0]
        x2 = x.reshape(n, -1)
        _, lab = self.class_labels(label.reshape(n, -1)[:, :1], x2.shape[1], None)
        sign = torch.ones_like(x2).scatter_(1, lab, -1.0)
        z = torch.relu(1.0 + x2 * sign)
        loss = (z * z).sum() if self.l2 else z.sum()
        return [loss / max(n, 1)]


# ------------------------------------------------------------------------------------------------
class _ContrastiveFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, sim, margin, legacy):
        n = a.shape[0]
        d = a - b
        dsq = (d * d).sum(1)
        if legacy:
            mdist = margin - dsq
            neg = mdist.clamp(min=0)
            coef_neg = -torch.ones_like(dsq)
        else:
            dist = dsq.sqrt()
            mdist = margin - dist
            neg = mdist.clamp(min=0) ** 2
            coef_neg = -mdist / (dist + 1e-4)
        loss = torch.where(sim, dsq, neg).sum() / (2.0 * max(n, 1))
        zero = torch.zeros_like(dsq)
        coef = torch.where(sim, torch.ones_like(dsq), torch.where(mdist > 0, coef_neg, zero))
        ctx.save_for_backward(d, coef)
        ctx.n = max(n, 1)
        return loss

    @staticmethod
    def backward(ctx, g):
        d, coef = ctx.saved_tensors
        ga = d * (coef * (g / ctx.n)).unsqueeze(1)
        return ga, -ga, None, None, None


@register("ContrastiveLoss")
class ContrastiveLossLayer(_LossLayer):
    """Contrastive loss for pairs (a_n, b_n) with similarity labels s_n, d_n = ‖a_n − b_n‖₂:

    loss = Σ_n [s_n d_n² + (1 − s_n) max(margin − d_n, 0)²] / (2N);
    ``legacy_version``: the dissimilar term is max(margin − d_n², 0).
    Gradient as Caffe writes it: for a dissimilar pair with margin − d_n > 0,
    ∂/∂a_n = −(margin − d_n)/(d_n + 1e-4) · (a_n − b_n)/N (legacy: −(a_n − b_n)/N);
    for a similar pair (a_n − b_n)/N; ∂/∂b_n = −∂/∂a_n; none to s.
    bottoms: a (N × C), b (N × C), s (N; nonzero = similar);  top: loss (scalar).
    ``contrastive_loss_param``: margin (1), legacy_version (false).
    """

    def allow_force_backward(self, bottom_index):
        return bottom_index != 2  # the similarity label

    num_bottoms = (3, 3)

    def setup(self, bottom_shapes):
        p = self.param.contrastive_loss_param
        self.margin = float(p.margin)
        self.legacy = bool(p.legacy_version)

    def reshape(self, bottom_shapes):
        a, b, s = (tuple(x) for x in bottom_shapes)
        if a != b or math.prod(s) != (a[0] if a else 0):
            raise fail(f"ContrastiveLoss layer '{self.name}': bottoms a and b must have the same shape and the "
                       f"similarity bottom one value per pair; got {a}, {b}, {s}.")
        return [()]

    def forward(self, bottoms):
        a, b, s = bottoms
        n = a.shape[0]
        sim = s.detach().reshape(n).to(torch.int64) != 0
        return [_ContrastiveFn.apply(a.reshape(n, -1), b.reshape(n, -1), sim, self.margin, self.legacy)]


# ------------------------------------------------------------------------------------------------
class _InfogainFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x3, safe, valid, H, norm, is_t):
        prob = torch.softmax(x3, dim=1)                       # (outer, C, inner)
        logp = torch.log(prob.clamp(min=kLOG_THRESHOLD))
        rows = H[safe].permute(0, 2, 1)                       # (outer, C, inner): H[label, l]
        elem = -(rows * logp).sum(1)                          # (outer, inner)
        if valid is not None:
            elem = torch.where(valid, elem, torch.zeros_like(elem))
        loss = elem.sum() / norm
        ctx.save_for_backward(prob, rows, H.sum(1)[safe], valid if valid is not None else torch.empty(0),
                              norm if is_t else torch.empty(0))
        ctx.has_valid = valid is not None
        ctx.norm = None if is_t else norm
        ctx.mark_non_differentiable(prob)
        return loss, prob

    @staticmethod
    def backward(ctx, g, _gprob):
        prob, rows, rowsum, valid, norm_t = ctx.saved_tensors
        norm = ctx.norm if ctx.norm is not None else norm_t
        d = prob * rowsum.unsqueeze(1) - rows
        if ctx.has_valid:
            d = d * valid.unsqueeze(1).to(d.dtype)
        return d * (g / norm), None, None, None, None, None


@register("InfogainLoss")
class InfogainLossLayer(ClassLabelled, _LossLayer):
    """Infogain loss: SoftmaxWithLoss generalised by a K × K gain matrix H (identity H gives
    SoftmaxWithLoss, up to the log clamp).

    p = softmax(x) along ``infogain_loss_param.axis`` (default 1);
    loss = −Σ_{n : label_n ≠ ignore_label} Σ_k H[label_n, k] log(max(p_nk, 1e-20)) / normaliser;
    ∂loss/∂x_nk = (p_nk Σ_j H[label_n, j] − H[label_n, k]) / normaliser.
    H comes from the third bottom or from the BlobProto file ``infogain_loss_param.source``.
    Normalisation as SoftmaxWithLoss (default VALID, ``ignore_label``).
    bottoms: x, label, [H];  tops: loss (scalar), optionally p.  No gradient to label or H.
    """

    num_bottoms = (2, 3)
    num_tops = (1, 2)

    def setup(self, bottom_shapes):
        self.mode = _normalization_mode(self)
        self.ignore = _ignore_label(self)
        p = self.param.infogain_loss_param
        self.H = None
        if len(bottom_shapes) < 3:
            if not p.source:
                raise fail(f"InfogainLoss layer '{self.name}' needs the infogain matrix: give "
                           "infogain_loss_param.source (a binaryproto) or a third bottom.")
            self.H = self._read_matrix(p.source)

    def _read_matrix(self, path):
        from ..proto import caffe_pb2

        bp = caffe_pb2.BlobProto()
        try:
            with open(path, "rb") as f:
                bp.ParseFromString(f.read())
        except OSError as e:
            raise fail(f"InfogainLoss layer '{self.name}': cannot read infogain_loss_param.source '{path}' "
                       f"({e.strerror}).") from None
        except Exception as e:
            raise fail(f"InfogainLoss layer '{self.name}': '{path}' is not a BlobProto (binaryproto) file: {e}") \
                from None
        vals = list(bp.double_data) if len(bp.double_data) else list(bp.data)
        k = int(round(math.sqrt(len(vals))))
        if k * k != len(vals) or k == 0:
            raise fail(f"InfogainLoss layer '{self.name}': the matrix in '{path}' has {len(vals)} values, "
                       "not K*K for a square matrix.")
        return torch.tensor(vals, dtype=torch.float32, device=self.device).reshape(k, k)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        self.axis = canonical_axis(int(self.param.infogain_loss_param.axis), len(s), self,
                                   "infogain_loss_param.axis")
        outer, k, inner = _split_axis(s, self.axis)
        if outer * inner != int(math.prod(bottom_shapes[1])):
            raise fail(f"InfogainLoss layer '{self.name}': the label count {int(math.prod(bottom_shapes[1]))} must "
                       f"equal the number of predictions {outer * inner}.")
        hcount = int(math.prod(bottom_shapes[2])) if len(bottom_shapes) > 2 else self.H.numel()
        if hcount != k * k:
            raise fail(f"InfogainLoss layer '{self.name}': the infogain matrix has {hcount} entries; with {k} classes "
                       f"it must be {k}x{k}.")
        tops = [()]
        if len(self.param.top) > 1:
            tops.append(s)
        return tops

    def forward(self, bottoms):
        x, label = bottoms[0], bottoms[1]
        outer, k, inner = _split_axis(tuple(x.shape), self.axis)
        if len(bottoms) > 2:
            H = bottoms[2].detach().reshape(k, k)
        else:
            if self.H.device != x.device:
                self.H = self.H.to(x.device)
            H = self.H
        valid, safe = self.class_labels(label.reshape(outer, inner), k, self.ignore)
        count = valid.sum().to(x.dtype) if (valid is not None and self.mode == _VALID) else None
        norm = _normalizer(self.mode, outer, inner, count)
        loss, prob = _InfogainFn.apply(x.reshape(outer, k, inner), safe, valid, H, norm, torch.is_tensor(norm))
        tops = [loss]
        if len(self.param.top) > 1:
            tops.append(prob.reshape(x.shape))
        return tops


# ------------------------------------------------------------------------------------------------
class _MultinomialFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p2, lab):
        n = p2.shape[0]
        picked = p2.gather(1, lab.unsqueeze(1)).squeeze(1).clamp(min=kLOG_THRESHOLD)
        ctx.save_for_backward(picked, lab)
        ctx.shape = p2.shape
        ctx.n = max(n, 1)
        return -torch.log(picked).sum() / ctx.n

    @staticmethod
    def backward(ctx, g):
        picked, lab = ctx.saved_tensors
        d = torch.zeros(ctx.shape, dtype=picked.dtype, device=picked.device)
        d.scatter_(1, lab.unsqueeze(1), (-(g / ctx.n) / picked).unsqueeze(1))
        return d, None


@register("MultinomialLogisticLoss")
class MultinomialLogisticLossLayer(ClassLabelled, _LossLayer):
    """loss = −Σ_n log(max(p_{n, label_n}, 1e-20)) / N on probabilities p (N × K);
    ∂loss/∂p_{n, label_n} = −1 / (N · max(p_{n, label_n}, 1e-20)), 0 elsewhere.
    bottoms: p (N × K …), label (N integer classes);  top: loss (scalar)."""

    def reshape(self, bottom_shapes):
        self._check_first_dim(bottom_shapes)
        if int(math.prod(bottom_shapes[1][1:])) != 1:
            raise fail(f"MultinomialLogisticLoss layer '{self.name}': the label bottom must hold one label per "
                       f"sample, got shape {tuple(bottom_shapes[1])}.")
        return [()]

    def forward(self, bottoms):
        p, label = bottoms
        n = p.shape[0]
        p2 = p.reshape(n, -1)
        _, lab = self.class_labels(label.reshape(n), p2.shape[1], None)
        return [_MultinomialFn.apply(p2, lab)]


# ------------------------------------------------------------------------------------------------
@register("Accuracy")
class AccuracyLayer(ClassLabelled, Layer):
    """Top-k classification accuracy (no backward).

    A prediction is correct iff fewer than top_k classes *other than the true one* score ≥ the
    true class's score (ties count against).  Positions whose label is ``ignore_label`` are skipped.
    accuracy = #correct / #counted (0 when nothing is counted).
    bottoms: x (scores, classes along ``axis``, default 1), label (outer·inner integer labels);
    tops: accuracy (scalar), optionally the per-class accuracy (C,) (0 for a class with no samples).
    ``accuracy_param``: top_k (1), axis (1), ignore_label.
    """

    num_bottoms = (2, 2)
    num_tops = (1, 2)

    def setup(self, bottom_shapes):
        p = self.param.accuracy_param
        self.top_k = int(p.top_k)
        self.ignore = _ignore_label(self, p)

    def reshape(self, bottom_shapes):
        s = tuple(bottom_shapes[0])
        self.axis = canonical_axis(int(self.param.accuracy_param.axis), len(s), self, "accuracy_param.axis")
        outer, c, inner = _split_axis(s, self.axis)
        nlab = int(math.prod(bottom_shapes[1]))
        if outer * inner != nlab:
            raise fail(f"Accuracy layer '{self.name}': the label count ({nlab}) must equal the number of "
                       f"predictions ({outer * inner}) for scores of shape {s} with axis {self.axis}.")
        if self.top_k > c:
            raise fail(f"Accuracy layer '{self.name}': accuracy_param.top_k ({self.top_k}) exceeds the number of "
                       f"classes ({c}).")
        tops = [()]
        if len(self.param.top) > 1:
            tops.append((c,))
        return tops

    def forward(self, bottoms):
        x, label = bottoms[0].detach(), bottoms[1]
        outer, c, inner = _split_axis(tuple(x.shape), self.axis)
        x3 = x.reshape(outer, c, inner)
        valid, safe = self.class_labels(label.reshape(outer, inner), c, self.ignore)
        true = x3.gather(1, safe.unsqueeze(1))                 # (outer, 1, inner)
        better = (x3 >= true).sum(1) - 1                       # the true class counts itself once
        correct = better < self.top_k
        if valid is not None:
            correct = correct & valid
            counted = valid.sum().to(x.dtype)
        else:
            counted = torch.tensor(float(outer * inner), dtype=x.dtype, device=x.device)
        ncorrect = correct.sum().to(x.dtype)
        acc = torch.where(counted > 0, ncorrect / counted.clamp(min=1), torch.zeros_like(counted))
        tops = [acc]
        if len(self.param.top) > 1:
            flat = safe.reshape(-1)
            w = valid.reshape(-1).to(x.dtype) if valid is not None else torch.ones_like(flat, dtype=x.dtype)
            nums = torch.zeros(c, dtype=x.dtype, device=x.device).scatter_add_(0, flat, w)
            hits = torch.zeros(c, dtype=x.dtype, device=x.device).scatter_add_(
                0, flat, correct.reshape(-1).to(x.dtype))
            tops.append(torch.where(nums > 0, hits / nums.clamp(min=1), torch.zeros_like(nums)))
        return tops
