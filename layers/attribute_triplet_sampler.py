"""In-batch triplets per attribute (paper 004, Ak et al., Sec. 4.5 and 6), as a pycaffe Python layer.
It feeds :class:`layers.triplet_loss.TripletRankingLoss` (anchor, positive, negative, valid).

Every image i of the batch is an anchor.  Its key is its row of M labels (one special attribute:
M = 1; the general path: M = 2, category and gender -- "anchor and positive must have same attribute
label for each general attribute").  A row holding ``ignore_label`` (a missing label) takes no part:
it is no anchor, positive or negative.  Among the other valid images j ≠ i:

    positive  an image with the same key;   negative  an image with another key

chosen uniformly at random among the candidates -- the paper's rule ("the images with the same
label are randomly chosen ... i⁻ is picked from an attribute which does not have the same attribute
label").  The draw is a counter-based hash of (seed, forward count, i, j, salt): the same numbers on
the host and on the device, and a new draw at every forward pass, although Caffe's Data layer
repeats the same batches every epoch.

An anchor without a positive or a negative gets itself in those rows and ``valid = 0``.  The
selection carries no gradient; the gradients of the three tops flow back to the rows they were
copied from (summed where an image is used several times).

Bottoms:
    0  features   N × D (any trailing shape)
    1  labels     N × M (count M per image), integer values stored as floats
Tops:
    0  anchor     N × D
    1  positive   N × D
    2  negative   N × D
    3  valid      N (1 a triplet, 0 none)

``param_str`` (JSON, keys optional): ``{"ignore_label": -1, "seed": 0}``

The backward pass is :class:`layers.triplet_sampler.TripletSampler`'s (this class extends it with
keys from labels and the random rule).

Imports only numpy, the standard library and ``caffe``; fashioncaffe runs
:mod:`layers.tensor_impl.attribute_triplet_t` on the device through ``tensor_path``.
"""
import numpy as np

from .param_str import parse_param_str
from .triplet_sampler import TripletSampler

MASK32 = 0xFFFFFFFF
SALT_POS, SALT_NEG = 1, 2


def mix32(x):
    """A 32-bit integer hash (xor-shift-multiply) on int64 arrays; the int64 products may wrap, their
    low 32 bits -- all that is kept -- are exact, on the host and on the device alike."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def draw(seed, count, n, salt):
    """N × N pseudo-random priorities in [0, 2^32): (i, j) hashed with the seed, the forward count
    and a salt (the device path repeats this exactly)."""
    i = np.arange(n, dtype=np.int64)[:, None]
    j = np.arange(n, dtype=np.int64)[None, :]
    start = np.array([(int(seed) * 4 + salt) & MASK32], np.int64)  # arrays: int64 products wrap silently
    base = mix32(np.array([int(count) & MASK32], np.int64) + mix32(start))
    return mix32(j + mix32(i + base))


def candidates(labels, ignore_label):
    """(positive mask, negative mask) N × N from N × M labels (numpy reference)."""
    lab = np.asarray(labels).reshape(labels.shape[0], -1)
    n = lab.shape[0]
    ok = ~(lab == ignore_label).any(axis=1)
    same = (lab[:, None, :] == lab[None, :, :]).all(axis=2)
    both = ok[:, None] & ok[None, :]
    eye = np.eye(n, dtype=bool)
    return same & both & ~eye, ~same & both


def select(labels, ignore_label=-1, seed=0, count=0):
    """(pos_idx, neg_idx, valid) for N × M labels: random candidates (numpy reference)."""
    n = labels.shape[0]
    pos_ok, neg_ok = candidates(np.asarray(labels).reshape(n, -1), ignore_label)
    pos = np.where(pos_ok, draw(seed, count, n, SALT_POS), -1).argmax(axis=1)
    neg = np.where(neg_ok, draw(seed, count, n, SALT_NEG), -1).argmax(axis=1)
    has = pos_ok.any(axis=1) & neg_ok.any(axis=1)
    idx = np.arange(n)
    return np.where(has, pos, idx), np.where(has, neg, idx), has.astype(np.float64)


class AttributeTripletSampler(TripletSampler):
    """(anchor, positive, negative, valid) by attribute label keys (see the module docstring)."""

    tensor_path = "layers.tensor_impl.attribute_triplet_t:sample"

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("AttributeTripletSampler takes 2 bottoms (features, labels), got %d" % len(bottom))
        if len(top) != 4:
            raise Exception("AttributeTripletSampler produces 4 tops (anchor, positive, negative, valid), got %d"
                            % len(top))
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"ignore_label", "seed"}
        if unknown:
            raise ValueError("unknown param_str keys: %s" % ", ".join(sorted(unknown)))
        self.ignore_label = float(p.get("ignore_label", -1))
        self.seed = int(p.get("seed", 0))
        self.count = 0  # forward passes so far: the draw changes with it

    def reshape(self, bottom, top):
        n = bottom[0].shape[0]
        if bottom[1].shape[0] != n or bottom[1].count % max(n, 1):
            raise Exception("the labels bottom needs the same number of rows as the features (%d), got shape %s"
                            % (n, tuple(bottom[1].shape)))
        d = bottom[0].count // max(n, 1)
        for i in range(3):
            top[i].reshape(n, d)
        top[3].reshape(n)

    def forward(self, bottom, top):
        n = bottom[0].shape[0]
        x = np.asarray(bottom[0].data).reshape(n, -1)
        pos, neg, valid = select(np.asarray(bottom[1].data).reshape(n, -1), self.ignore_label, self.seed, self.count)
        self.count += 1
        self._pos, self._neg = pos, neg
        top[0].data[...] = x
        top[1].data[...] = x[pos]
        top[2].data[...] = x[neg]
        top[3].data[...] = valid
