"""In-batch triplet sampler: forms (anchor, positive, negative) rows from a batch's features and
item ids, as a pycaffe Python layer.  It feeds :class:`layers.triplet_loss.TripletRankingLoss`.

Every image i of the batch is an anchor; its positive is another image of the same item, its
negative an image of a different item, chosen by ``mode``:

    "hard"    batch-hard mining: the farthest positive and the closest negative under the loss's
              distance d(i, j) = ‖f(x_i) − f(x_j)‖² (f = L2 normalisation when "normalize"); ties go to
              the lowest index
    "cyclic"  the next image after i in batch order (cyclically) of the same item / of another item —
              deterministic, and random when the data are shuffled

An anchor without a positive (its item has one image in the batch) or without a negative gets itself
in that row and ``valid = 0`` (the loss ignores the row).  The batch should therefore hold several
images per item: ``tools/paper001/data.py`` writes the training LMDBs in P-items × K-images order
("PK batches", like ``convert_imageset --shuffle`` the order written is the training order).

The selection carries no gradient; gradients of the three tops flow back to the rows they were
copied from (summed where an image is used several times).

Bottoms:
    0  features   N × D (any trailing shape)
    1  item ids   N values (integers stored as floats, as a Data layer's label)
Tops:
    0  anchor     N × D
    1  positive   N × D
    2  negative   N × D
    3  valid      N (1 real triplet, 0 none)

``param_str`` (JSON, keys optional): ``{"mode": "hard", "normalize": true}``

Imports only numpy, the standard library and ``caffe``; fashioncaffe runs
:mod:`layers.tensor_impl.triplet_t` (``sample``) on the device through ``tensor_path``.
"""

import numpy as np

import caffe

from .param_str import parse_param_str



def select(feats, items, mode, normalize):
    """(pos_idx, neg_idx, valid) for N × D features and N item ids (numpy reference)."""
    n = feats.shape[0]
    ids = np.asarray(items).reshape(n)
    same = ids[:, None] == ids[None, :]
    eye = np.eye(n, dtype=bool)
    pos_ok = same & ~eye
    neg_ok = ~same
    if mode == "hard":
        f = feats.reshape(n, -1).astype(np.float64)
        if normalize:
            f = f / np.maximum(np.sqrt((f * f).sum(axis=1, keepdims=True)), 1e-12)
        sq = (f * f).sum(axis=1)
        d = sq[:, None] + sq[None, :] - 2.0 * f.dot(f.T)
        pos = np.where(pos_ok, d, -np.inf).argmax(axis=1)
        neg = np.where(neg_ok, d, np.inf).argmin(axis=1)
    elif mode == "cyclic":
        off = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n  # steps from i forward to j
        big = n + 1
        pos = np.where(pos_ok, off, big).argmin(axis=1)
        neg = np.where(neg_ok, off, big).argmin(axis=1)
    else:
        raise ValueError("mode must be 'hard' or 'cyclic', got %r" % mode)
    has_pos, has_neg = pos_ok.any(axis=1), neg_ok.any(axis=1)
    idx = np.arange(n)
    pos = np.where(has_pos, pos, idx)
    neg = np.where(has_neg, neg, idx)
    return pos, neg, (has_pos & has_neg).astype(np.float64)


class TripletSampler(caffe.Layer):
    """(anchor, positive, negative, valid) from features and item ids (see the module docstring)."""

    tensor_path = "layers.tensor_impl.triplet_t:sample"

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("TripletSampler takes 2 bottoms (features, item ids), got %d" % len(bottom))
        if len(top) != 4:
            raise Exception("TripletSampler produces 4 tops (anchor, positive, negative, valid), got %d" % len(top))
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"mode", "normalize"}
        if unknown:
            raise ValueError("unknown param_str keys: %s" % ", ".join(sorted(unknown)))
        self.mode = str(p.get("mode", "hard"))
        if self.mode not in ("hard", "cyclic"):
            raise ValueError("mode must be 'hard' or 'cyclic', got %r" % self.mode)
        self.normalize = bool(p.get("normalize", True))

    def reshape(self, bottom, top):
        n = bottom[0].shape[0]
        if bottom[1].count != n:
            raise Exception("the item-id bottom needs one value per image, got %d for %d images"
                            % (bottom[1].count, n))
        d = bottom[0].count // max(n, 1)
        for i in range(3):  # top is BVLC's C++ vector: indexed, never iterated
            top[i].reshape(n, d)
        top[3].reshape(n)

    def forward(self, bottom, top):
        n = bottom[0].shape[0]
        x = np.asarray(bottom[0].data).reshape(n, -1)
        pos, neg, valid = select(x, bottom[1].data, self.mode, self.normalize)
        self._pos, self._neg = pos, neg
        top[0].data[...] = x
        top[1].data[...] = x[pos]
        top[2].data[...] = x[neg]
        top[3].data[...] = valid

    def backward(self, top, propagate_down, bottom):
        if len(propagate_down) > 1 and propagate_down[1]:
            bottom[1].diff[...] = 0
        if not propagate_down[0]:
            return
        n = bottom[0].shape[0]
        g = np.array(top[0].diff, dtype=np.float64).reshape(n, -1)
        np.add.at(g, self._pos, np.asarray(top[1].diff, dtype=np.float64).reshape(n, -1))
        np.add.at(g, self._neg, np.asarray(top[2].diff, dtype=np.float64).reshape(n, -1))
        bottom[0].diff[...] = g.reshape(bottom[0].diff.shape)
