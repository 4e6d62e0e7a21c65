"""Per-style resampling of paper 003 (Sec. II-A): which records make up training batch b of one
style's binary classifier.

"We resampled the training set to make sure each training batch contains proper positive samples.
Moreover, we undersampled negative samples for classes 1, 2, 4, 7, 8, 10, 11, 12, 13 and kept the
original proportion for classes 3, 5, 6, 9."

With P positives, N negatives and batch size B, the share of positives in a batch is

    f = max(P / (P + N), 1 / (1 + ratio))     ``ratio``: at most this many negatives per positive
    f = P / (P + N)                           ``ratio`` None: the original proportion

and batch b holds k_b = ⌊(b + 1)·q⌋ − ⌊b·q⌋ positives, q = max(f·B, min_pos): on average f·B, never
fewer than ``min_pos`` (1: "every batch holding positives" — for a style rarer than 1/B this
oversamples its positives, the only way a batch can hold one).  Positives and negatives are each read
as an endless stream of passes, every pass a fresh permutation: batch b takes positives ⌊b·q⌋ …
⌊(b + 1)·q⌋ − 1 and negatives b·B − ⌊b·q⌋ onward of their streams, then the B records are shuffled.
So with undersampling every positive is seen once per ⌈P / q⌉ batches and each such "epoch" meets a
new part of the negatives; with the original proportion every record is seen about once per
(P + N) / B batches.  Everything is a function of (seed, stream, b) alone: any process can build any
batch.  Imports only numpy (BVLC Caffe runs it unchanged).
"""
import numpy as np

_POS, _NEG, _MIX = 0x905, 0x4E6, 0x313


def _generator(*words):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(w) & 0xFFFFFFFF for w in words])))


class StyleSampler:
    """Record indices of batch b (see the module docstring).

    ``labels``: (n,) 0/1 (or booleans) of the style over the records; ``ratio``: negatives per positive
    (None keeps the data's proportion); ``stream`` separates samplers sharing a seed (e.g. the style)."""

    def __init__(self, labels, batch_size, ratio=None, seed=0, stream=0, min_pos=1):
        lab = np.asarray(labels).reshape(-1) > 0.5
        self.pos = np.flatnonzero(lab)
        self.neg = np.flatnonzero(~lab)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive, got %d" % self.batch_size)
        if not len(self.pos):
            raise ValueError("the style has no positive record among %d: no batch can hold positives" % len(lab))
        if not len(self.neg):
            raise ValueError("the style is positive on all %d records: a binary classifier needs negatives"
                             % len(lab))
        if ratio is not None and float(ratio) <= 0:
            raise ValueError("ratio (negatives per positive) must be positive or null, got %r" % (ratio,))
        natural = len(self.pos) / float(len(lab))
        self.ratio = None if ratio is None else float(ratio)
        self.fraction = natural if ratio is None else max(natural, 1.0 / (1.0 + float(ratio)))
        self.min_pos = int(min_pos)
        self.q = min(float(self.batch_size), max(self.fraction * self.batch_size, float(self.min_pos)))
        self.seed, self.stream = int(seed), int(stream)
        self._perm_cache = {}

    @property
    def batches_per_epoch(self):
        """Batches in which every positive is drawn once."""
        return int(np.ceil(len(self.pos) / self.q))

    def positives_in(self, b):
        """k_b, the number of positives of batch b."""
        return int(np.floor((b + 1) * self.q) - np.floor(b * self.q))

    def _pass(self, which, members, e):
        key = (which, e)
        p = self._perm_cache.get(key)
        if p is None:
            p = members[_generator(self.seed, self.stream, which, e).permutation(len(members))]
            if len(self._perm_cache) > 8:
                self._perm_cache.clear()
            self._perm_cache[key] = p
        return p

    def _take(self, which, members, start, count):
        out = np.empty(count, np.int64)
        m = len(members)
        for j in range(count):
            e, i = divmod(start + j, m)
            out[j] = self._pass(which, members, e)[i]
        return out

    def indices(self, b):
        """The batch_size record indices of batch b (positives and negatives shuffled together)."""
        b = int(b)
        pos_start = int(np.floor(b * self.q))
        k = self.positives_in(b)
        neg_start = b * self.batch_size - pos_start
        idx = np.concatenate([self._take(_POS, self.pos, pos_start, k),
                              self._take(_NEG, self.neg, neg_start, self.batch_size - k)])
        return idx[_generator(self.seed, self.stream, _MIX, b).permutation(self.batch_size)]
