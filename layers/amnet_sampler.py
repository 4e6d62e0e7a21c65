"""In-batch attribute manipulations and triplets for AMNet (Zhao et al., "Memory-augmented attribute
manipulation networks for interactive fashion search", CVPR 2017) as paper 004 trains it as a
baseline (tools/paper004/amnet.py), as a pycaffe Python layer.

For every image i of the batch (labels l_i over the S special attributes, ``ignore_label`` missing):

    manipulation  an attribute a and a value v ≠ l_i[a] that another image of the batch shows
                  (a, then the image j showing the value, drawn at random among the candidates)
    target        τ_i = l_i with τ_i[a] = v
    indicator     t_i ∈ {−1, 0, 1}^V (V = Σ values): +1 at (a, v), −1 at (a, l_i[a]) -- AMNet's
                  manipulation indicator, read against the memory of attribute prototypes
    positive      the image j ≠ i with l_j[a] = v that agrees with τ_i on the most attributes (ties at
                  random) -- the batch's best stand-in for "an image with the target attributes"
    negative      a random image j with a known l_j[a] ≠ v (i itself included: the unmanipulated
                  query should not be retrieved)

An image without any candidate manipulation gets zeros, its own labels, itself as positive and
negative, and ``valid = 0``.  Random draws use the counter-based hash of
:mod:`layers.attribute_triplet_sampler` (the same on host and device; new at every forward).
Gradients: none to the labels or the indicator; the positive / negative rows' gradients flow back to
the rows they were copied from.

Bottoms:
    0  features   N × D (the unmanipulated embeddings of the batch)
    1  labels     N × S special-attribute value indices (floats), ``ignore_label`` for missing
Tops:
    0  indicator  N × V
    1  target     N × S (the target labels; the original ones where nothing was manipulated)
    2  positive   N × D
    3  negative   N × D
    4  valid      N

``param_str`` (JSON): ``{"sizes": [14, 7, 6, 3, 4], "ignore_label": -1, "seed": 0}`` (``sizes``: the
number of values of each special attribute, required).

Imports only numpy, the standard library and ``caffe``; fashioncaffe runs
:mod:`layers.tensor_impl.amnet_sampler_t` on the device through ``tensor_path``.
"""
import numpy as np

import caffe

from .attribute_triplet_sampler import MASK32, mix32
from .param_str import parse_param_str

SALT_ATTR, SALT_SOURCE, SALT_POS, SALT_NEG = 11, 12, 13, 14


def priorities(seed, count, rows, cols, salt):
    """rows × cols hash priorities in [0, 2^32) (the same formula as the triplet sampler's draw)."""
    i = np.arange(rows, dtype=np.int64)[:, None]
    j = np.arange(cols, dtype=np.int64)[None, :]
    start = np.array([(int(seed) * 4 + salt) & MASK32], np.int64)
    base = mix32(np.array([int(count) & MASK32], np.int64) + mix32(start))
    return mix32(j + mix32(i + base))


def select(labels, sizes, ignore_label=-1, seed=0, count=0):
    """(attribute, value, positive, negative, valid) per image, numpy reference; see the docstring."""
    lab = np.asarray(labels).reshape(labels.shape[0], -1).astype(np.int64)
    n, s = lab.shape
    ok = lab != int(ignore_label)
    differ = ok[:, None, :] & ok[None, :, :] & (lab[:, None, :] != lab[None, :, :])       # i, j, a
    has_attr = differ.any(axis=1)                                                          # i, a
    attr = np.where(has_attr, priorities(seed, count, n, s, SALT_ATTR), -1).argmax(axis=1)
    rows = np.arange(n)
    src_ok = differ[rows, :, attr]                                                         # i, j
    src = np.where(src_ok, priorities(seed, count, n, n, SALT_SOURCE), -1).argmax(axis=1)
    value = lab[src, attr]
    target = lab.copy()
    target[rows, attr] = value
    shows = ok[:, attr].T & (lab[:, attr].T == value[:, None])                            # i, j: l_j[a_i] = v_i
    agree = (ok[None, :, :] & (lab[None, :, :] == target[:, None, :])).sum(axis=2)        # i, j
    pos_ok = shows & ~np.eye(n, dtype=bool)
    pos = np.where(pos_ok, agree * (1 << 32) + priorities(seed, count, n, n, SALT_POS), -1).argmax(axis=1)
    neg_ok = ok[:, attr].T & (lab[:, attr].T != value[:, None])
    neg = np.where(neg_ok, priorities(seed, count, n, n, SALT_NEG), -1).argmax(axis=1)
    valid = has_attr.any(axis=1) & pos_ok.any(axis=1) & neg_ok.any(axis=1)
    return attr, value, np.where(valid, pos, rows), np.where(valid, neg, rows), valid


class AMNetTripletSampler(caffe.Layer):
    """Manipulation indicator, target labels and (positive, negative) rows (see the module docstring)."""

    tensor_path = "layers.tensor_impl.amnet_sampler_t:sample"

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("AMNetTripletSampler takes 2 bottoms (features, labels), got %d" % len(bottom))
        if len(top) != 5:
            raise Exception("AMNetTripletSampler produces 5 tops (indicator, target, positive, negative, valid), "
                            "got %d" % len(top))
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"sizes", "ignore_label", "seed"}
        if unknown:
            raise ValueError("unknown param_str keys: %s" % ", ".join(sorted(unknown)))
        if not p.get("sizes"):
            raise ValueError("param_str needs \"sizes\": the number of values of each special attribute")
        self.sizes = [int(v) for v in p["sizes"]]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        self.ignore_label = float(p.get("ignore_label", -1))
        self.seed = int(p.get("seed", 0))
        self.count = 0

    def reshape(self, bottom, top):
        n = bottom[0].shape[0]
        if bottom[1].shape[0] != n or bottom[1].count != n * len(self.sizes):
            raise Exception("the labels bottom needs %d values (one per special attribute) for each of the %d "
                            "images, got shape %s" % (len(self.sizes), n, tuple(bottom[1].shape)))
        d = bottom[0].count // max(n, 1)
        top[0].reshape(n, int(sum(self.sizes)))
        top[1].reshape(n, len(self.sizes))
        top[2].reshape(n, d)
        top[3].reshape(n, d)
        top[4].reshape(n)

    def forward(self, bottom, top):
        n = bottom[0].shape[0]
        x = np.asarray(bottom[0].data).reshape(n, -1)
        lab = np.asarray(bottom[1].data).reshape(n, -1)
        attr, value, pos, neg, valid = select(lab, self.sizes, self.ignore_label, self.seed, self.count)
        self.count += 1
        self._pos, self._neg = pos, neg
        ind = np.zeros((n, int(sum(self.sizes))))
        target = lab.copy()
        rows = np.flatnonzero(valid)
        off = self.offsets[attr[rows]]
        ind[rows, off + value[rows]] = 1.0
        ind[rows, off + lab[rows, attr[rows]].astype(np.int64)] = -1.0
        target[rows, attr[rows]] = value[rows]
        top[0].data[...] = ind
        top[1].data[...] = target
        top[2].data[...] = x[pos]
        top[3].data[...] = x[neg]
        top[4].data[...] = valid.astype(np.float64)

    def backward(self, top, propagate_down, bottom):
        if len(propagate_down) > 1 and propagate_down[1]:
            bottom[1].diff[...] = 0
        if not propagate_down[0]:
            return
        n = bottom[0].shape[0]
        g = np.zeros((n, bottom[0].count // max(n, 1)))
        np.add.at(g, self._pos, np.asarray(top[2].diff, dtype=np.float64).reshape(n, -1))
        np.add.at(g, self._neg, np.asarray(top[3].diff, dtype=np.float64).reshape(n, -1))
        bottom[0].diff[...] = g.reshape(bottom[0].diff.shape)
