"""Weighted sigmoid cross-entropy loss, as a pycaffe Python layer.

Used by paper 000 (per-group multi-label losses, eq. 1-2, with missing labels ignored) and by
FashionNet's attribute loss (paper 001: per-attribute positive / negative weights).

Formula (for scores x and targets t of N images and K labels, weights w⁺_k, w⁻_k)::

    l_nk = w⁺_k · t_nk · softplus(−x_nk) + w⁻_k · (1 − t_nk) · softplus(x_nk)
         = −[ w⁺_k t_nk log σ(x_nk) + w⁻_k (1 − t_nk) log(1 − σ(x_nk)) ]
    loss = Σ_{n,k: t_nk ≠ ignore_label} l_nk / normalizer
    ∂loss/∂x_nk = [ w⁻_k (1 − t_nk) σ(x_nk) − w⁺_k t_nk (1 − σ(x_nk)) ] / normalizer   (0 where ignored)

With w⁺ = w⁻ = 1 this is exactly Caffe's ``SigmoidCrossEntropyLoss`` (l = softplus(x) − t·x,
gradient σ(x) − t), including its ``ignore_label`` and its normalisation modes:

    FULL        N·K (every label, ignored ones included)
    VALID       number of labels ≠ ignore_label
    BATCH_SIZE  N (Caffe's default for SigmoidCrossEntropyLoss; the paper's 1/B of eq. 1)
    NONE        1
    the normaliser is max(1, ·), as in Caffe (a batch with no valid label gives loss 0, not NaN).

Bottoms:
    0  scores   (N × …), K = count / N scores per image (any trailing shape, e.g. N×K or N×K×1×1)
    1  targets  same count as the scores; values in [0, 1], or ``ignore_label`` for a missing label
Tops:
    0  loss     a scalar (0-axis blob, as Caffe's loss layers)

No gradient to the targets: their diff is zero (Caffe's loss layers never backpropagate to labels).

``param_str``: a JSON object (Python-literal dicts also accepted); every key is optional::

    {"pos_weight": 1.0 | [w⁺_1 … w⁺_K],
     "neg_weight": 1.0 | [w⁻_1 … w⁻_K],
     "weights_file": "w.npz" | "w.json",   # arrays / lists "pos_weight", "neg_weight" (length K)
     "ignore_label": -1,                   # null / absent: no label is ignored
     "normalization": "BATCH_SIZE"}        # FULL | VALID | BATCH_SIZE | NONE

Prototxt (a Python layer's loss_weight defaults to 0 in Caffe, so give it)::

    layer { name: "loss" type: "Python" bottom: "fc8" bottom: "label" top: "loss"
            python_param { module: "layers.weighted_sigmoid_ce" layer: "WeightedSigmoidCrossEntropyLoss"
                           param_str: '{"ignore_label": -1}' }
            loss_weight: 1 }

This file imports only numpy, the standard library and ``caffe``, so BVLC Caffe runs it unchanged.
fashioncaffe runs the same formula on the device with autograd through ``tensor_path``.
"""
import json

import numpy as np

import caffe

from .param_str import parse_param_str

NORMALIZATIONS = ("FULL", "VALID", "BATCH_SIZE", "NONE")



def _load_weights_file(path):
    if path.endswith(".json"):
        with open(path) as f:
            d = json.load(f)
        return d.get("pos_weight"), d.get("neg_weight")
    d = np.load(path)
    return (d["pos_weight"] if "pos_weight" in d else None,
            d["neg_weight"] if "neg_weight" in d else None)


def _weight_vector(value, k, what):
    w = np.asarray(1.0 if value is None else value, dtype=np.float64).reshape(-1)
    if w.size == 1:
        return np.full(k, float(w[0]))
    if w.size != k:
        raise ValueError("%s has %d values but the scores have K = %d labels per image" % (what, w.size, k))
    return w


class WeightedSigmoidCrossEntropyLoss(caffe.Layer):
    """Weighted sigmoid cross-entropy with ignored labels (see the module docstring)."""

    tensor_path = "layers.tensor_impl.weighted_sigmoid_ce:forward"

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("WeightedSigmoidCrossEntropyLoss takes 2 bottoms (scores, targets), got %d" % len(bottom))
        if len(top) != 1:
            raise Exception("WeightedSigmoidCrossEntropyLoss produces 1 top (loss), got %d" % len(top))
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"pos_weight", "neg_weight", "weights_file", "ignore_label", "normalization",
                            "normalize"}
        if unknown:
            raise ValueError("unknown param_str keys: %s" % ", ".join(sorted(unknown)))
        norm = p.get("normalization")
        if norm is None and "normalize" in p:  # Caffe's legacy bool
            norm = "VALID" if p["normalize"] else "BATCH_SIZE"
        self.normalization = str(norm or "BATCH_SIZE").upper()
        if self.normalization not in NORMALIZATIONS:
            raise ValueError("normalization must be one of %s, got %r" % (", ".join(NORMALIZATIONS), norm))
        ig = p.get("ignore_label")
        self.ignore_label = None if ig is None else float(ig)
        pos, neg = p.get("pos_weight"), p.get("neg_weight")
        if p.get("weights_file"):
            fpos, fneg = _load_weights_file(p["weights_file"])
            pos = fpos if pos is None else pos
            neg = fneg if neg is None else neg
        n = bottom[0].shape[0] if len(bottom[0].shape) else 1
        self.num_labels = bottom[0].count // max(n, 1)
        self.pos_weight = _weight_vector(pos, self.num_labels, "pos_weight")
        self.neg_weight = _weight_vector(neg, self.num_labels, "neg_weight")

    # -- helpers shared by both paths (pure numpy) ----------------------------------------------
    def normalizer(self, n, k, valid_count):
        if self.normalization == "FULL":
            d = float(n * k)
        elif self.normalization == "VALID":
            d = float(valid_count)
        elif self.normalization == "BATCH_SIZE":
            d = float(n)
        else:
            d = 1.0
        return max(1.0, d)

    def reshape(self, bottom, top):
        if bottom[0].count != bottom[1].count:
            raise Exception("scores (%s) and targets (%s) must have the same count"
                            % (bottom[0].shape, bottom[1].shape))
        n = bottom[0].shape[0]
        if bottom[0].count // max(n, 1) != self.num_labels:
            raise Exception("the number of labels per image changed from %d to %d"
                            % (self.num_labels, bottom[0].count // max(n, 1)))
        top[0].reshape()

    def _terms(self, bottom):
        n = bottom[0].shape[0]
        x = np.asarray(bottom[0].data, dtype=np.float64).reshape(n, -1)
        t = np.asarray(bottom[1].data, dtype=np.float64).reshape(n, -1)
        valid = np.ones_like(t, dtype=bool) if self.ignore_label is None else (t != self.ignore_label)
        t = np.where(valid, t, 0.0)
        return n, x, t, valid

    def forward(self, bottom, top):
        n, x, t, valid = self._terms(bottom)
        sp_pos = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))  # softplus(x)  = -log(1 - σ(x))
        sp_neg = sp_pos - x                                        # softplus(-x) = -log σ(x)
        loss = self.pos_weight * t * sp_neg + self.neg_weight * (1.0 - t) * sp_pos
        loss = np.where(valid, loss, 0.0)
        top[0].data[...] = loss.sum() / self.normalizer(n, x.shape[1], valid.sum())

    def backward(self, top, propagate_down, bottom):
        if len(propagate_down) > 1 and propagate_down[1]:
            bottom[1].diff[...] = 0  # targets get no gradient (force_backward may still ask)
        if not propagate_down[0]:
            return
        n, x, t, valid = self._terms(bottom)
        sig = 0.5 * (1.0 + np.tanh(0.5 * x))  # σ(x), overflow-free
        g = self.neg_weight * (1.0 - t) * sig - self.pos_weight * t * (1.0 - sig)
        g = np.where(valid, g, 0.0)
        scale = float(np.asarray(top[0].diff).reshape(-1)[0]) / self.normalizer(n, x.shape[1], valid.sum())
        bottom[0].diff[...] = (g * scale).reshape(bottom[0].diff.shape)
