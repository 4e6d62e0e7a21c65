"""Triplet ranking loss with margin (FashionNet's L_triplet, DeepFashion eq. 2, after FaceNet), as a
pycaffe Python layer.

For T triplets (anchor a_i, positive p_i of the same item, negative n_i of another item)::

    f(x)  = x / max(‖x‖₂, 1e-12)   if "normalize" (distances between L2-normalised features), else x
    d⁺_i  = ‖f(a_i) − f(p_i)‖²,   d⁻_i = ‖f(a_i) − f(n_i)‖²
    l_i   = max(0, m + d⁺_i − d⁻_i)
    loss  = Σ_i w_i · l_i / normalizer       (w_i = the optional valid bottom, else 1)

    normalizer  VALID (default): max(1, Σ_i w_i);  BATCH_SIZE: T;  NONE: 1
    ∂loss/∂f(a_i) = w_i·1[l_i > 0]·2(f(n_i) − f(p_i)) / normalizer,
    ∂loss/∂f(p_i) = −w_i·1[l_i > 0]·2(f(a_i) − f(p_i)) / normalizer,
    ∂loss/∂f(n_i) =  w_i·1[l_i > 0]·2(f(a_i) − f(n_i)) / normalizer,
    chained through the normalisation (I − f fᵀ)/‖x‖ when "normalize" is set.

The paper sums over the training set; Caffe's losses average over the batch, and so does this layer
(VALID: over the triplets that exist).

Bottoms:
    0  anchor     T × D (any trailing shape)
    1  positive   T × D
    2  negative   T × D
    3  valid      optional, T values in {0, 1} (or weights): which rows are real triplets
                  (:class:`layers.triplet_sampler.TripletSampler` writes it); no gradient
Tops:
    0  loss       scalar
    1  accuracy   optional scalar: share of (valid) triplets with d⁻ > d⁺ (no gradient)

``param_str`` (JSON, keys optional): ``{"margin": 0.2, "normalize": true, "normalization": "VALID"}``

Imports only numpy, the standard library and ``caffe``; fashioncaffe runs
:mod:`layers.tensor_impl.triplet_t` (``triplet_loss``) with autograd through ``tensor_path``.
"""

import numpy as np

import caffe

from .param_str import parse_param_str



def l2_normalize(x):
    norm = np.maximum(np.sqrt((x * x).sum(axis=1, keepdims=True)), 1e-12)
    return x / norm, norm


def l2_normalize_backward(f, norm, g):
    """Gradient through f = x / ‖x‖ (norm clamped at 1e-12 as in the forward)."""
    return (g - f * (f * g).sum(axis=1, keepdims=True)) / norm


class TripletRankingLoss(caffe.Layer):
    """max(0, m + d(a, p) − d(a, n)) averaged over the triplets (see the module docstring)."""

    tensor_path = "layers.tensor_impl.triplet_t:triplet_loss"

    def setup(self, bottom, top):
        if len(bottom) not in (3, 4):
            raise Exception("TripletRankingLoss takes 3 or 4 bottoms (anchor, positive, negative[, valid])")
        if len(top) not in (1, 2):
            raise Exception("TripletRankingLoss produces 1 or 2 tops (loss[, accuracy])")
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"margin", "normalize", "normalization"}
        if unknown:
            raise ValueError("unknown param_str keys: %s" % ", ".join(sorted(unknown)))
        self.margin = float(p.get("margin", 0.2))
        self.normalize = bool(p.get("normalize", True))
        self.normalization = str(p.get("normalization", "VALID")).upper()
        if self.normalization not in ("VALID", "BATCH_SIZE", "NONE"):
            raise ValueError("normalization must be VALID, BATCH_SIZE or NONE, got %r" % self.normalization)
        self._two_tops = len(top) == 2

    def reshape(self, bottom, top):
        t = bottom[0].shape[0]
        # bottom and top are BVLC's C++ vectors: indexed, never iterated
        if bottom[1].count != bottom[0].count or bottom[2].count != bottom[0].count:
            raise Exception("anchor, positive and negative must have the same shape")
        if len(bottom) == 4 and bottom[3].count != t:
            raise Exception("the valid bottom needs one value per triplet")
        for i in range(len(top)):
            top[i].reshape()

    def normalizer(self, t, wsum):
        if self.normalization == "VALID":
            return max(1.0, float(wsum))
        if self.normalization == "BATCH_SIZE":
            return float(max(t, 1))
        return 1.0

    def _feats(self, bottom):
        t = bottom[0].shape[0]
        xs = [np.asarray(bottom[i].data, dtype=np.float64).reshape(t, -1) for i in range(3)]
        if self.normalize:
            fn = [l2_normalize(x) for x in xs]
            return t, [f for f, _ in fn], [nrm for _, nrm in fn]
        return t, xs, None

    def forward(self, bottom, top):
        t, (a, p, n), _ = self._feats(bottom)
        w = (np.asarray(bottom[3].data, dtype=np.float64).reshape(t) if len(bottom) == 4 else np.ones(t))
        dp = ((a - p) ** 2).sum(axis=1)
        dn = ((a - n) ** 2).sum(axis=1)
        l = np.maximum(0.0, self.margin + dp - dn)
        top[0].data[...] = (w * l).sum() / self.normalizer(t, w.sum())
        if len(top) > 1:
            ok = w > 0
            top[1].data[...] = float((dn[ok] > dp[ok]).mean()) if ok.any() else 0.0

    def backward(self, top, propagate_down, bottom):
        t, (a, p, n), norms = self._feats(bottom)
        w = (np.asarray(bottom[3].data, dtype=np.float64).reshape(t) if len(bottom) == 4 else np.ones(t))
        dp = ((a - p) ** 2).sum(axis=1)
        dn = ((a - n) ** 2).sum(axis=1)
        active = (self.margin + dp - dn > 0).astype(np.float64) * w
        scale = float(np.asarray(top[0].diff).reshape(-1)[0]) / self.normalizer(t, w.sum())
        c = (active * scale)[:, None]
        grads = [2 * c * (n - p), -2 * c * (a - p), 2 * c * (a - n)]
        for i in range(3):
            if not propagate_down[i]:
                continue
            g = grads[i]
            if self.normalize:
                f = (a, p, n)[i]
                g = l2_normalize_backward(f, norms[i], g)
            bottom[i].diff[...] = g.reshape(bottom[i].diff.shape)
        if len(bottom) == 4 and len(propagate_down) > 3 and propagate_down[3]:
            bottom[3].diff[...] = 0
