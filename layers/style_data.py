"""Augmenting, per-style resampling image data layer (paper 003), as a pycaffe Python layer.

Reads a converter split — ``<source>/images_lmdb`` (Datums, raw or encoded) and the companion float
label LMDB ``<source>/<labels>`` with the same keys (``styles_lmdb`` from data_prep.jd_style,
``attributes_lmdb`` …) — and produces

    top 0  data   N × C × c × c float32, (pixels − mean) · scale, BGR (c = crop_size, else the image size)
    top 1  label  one style: N × 1 in {0, 1} ("output": "sigmoid") or N ("softmax", the class index);
                  no style: N × K, every label column (multi-label, e.g. attribute pre-training)

TRAIN: batch b's records come from layers.style_sampler (one style: positives in every batch, the
negatives undersampled to ``ratio`` per positive or kept at the data's proportion; no style: a fresh
shuffle per pass), and each image goes through layers.augment: rotation within ±``rotate`` degrees →
random crop → (mirror) → random erasing.  TEST: records in key order (wrapping at the end, as Caffe's
Data layer), centre crop, no augmentation.  Batch b depends on (seed, style, b) only.

``param_str`` (JSON; keys not listed are an error)::

    {"source": "lmdb/jd/train",      # folder with images_lmdb and the label LMDB (required)
     "labels": "styles_lmdb",        # the label LMDB's folder name in source
     "style": 4,                     # 1-based column (paper 003's Table I index); null: all columns
     "batch_size": 32,
     "crop_size": 224,               # 0: no crop
     "mean": [104, 117, 123],        # per-channel (BGR) value subtracted, or one value for all
     "scale": 1.0,
     "rotate": 15,                   # max |angle| in degrees, TRAIN only; 0 off
     "mirror": false,                # random horizontal flip, TRAIN only
     "erase": {"p": 0.5, "area": [0.02, 0.4], "aspect": 0.3},   # random erasing; true = these; null off
     "random_crop": true,            # TRAIN: a random crop_size window (false: the centre, as in TEST)
     "resample": true,               # TRAIN with a style: the per-style sampler; false: plain shuffled passes
     "ratio": 3,                     # negatives per positive (undersampling); null = original proportion
     "min_pos": 1,                   # positives per batch at least
     "output": "sigmoid",            # "sigmoid" (N × 1 float) or "softmax" (N class indices)
     "seed": 0}                      # default: the solver's random_seed under fashioncaffe, else 0

Runtimes.  Under BVLC Caffe the batches are made serially inside ``forward`` (BVLC passes bottom and
top as indexable, non-iterable vectors; this file only indexes them).  Under fashioncaffe the same
batch maker runs in the engine's data workers (``caffe.python_batches``: the prefetch ring of the
Data layer) and a restored solver's position is honoured (``resume_at``); the batches are identical.
Imports numpy, OpenCV, lmdb, the standard library and ``caffe`` only.
"""
import os

import cv2
import lmdb
import numpy as np

import caffe
from caffe.proto import caffe_pb2

from .augment import ERASE_DEFAULTS, augment
from .param_str import parse_param_str
from .style_sampler import StyleSampler

KEYS = {"source", "labels", "style", "batch_size", "crop_size", "mean", "scale", "rotate", "mirror", "erase",
        "random_crop", "resample", "ratio", "min_pos", "output", "seed"}
_AUG = 0xA06


def _generator(*words):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(w) & 0xFFFFFFFF for w in words])))


def decode_datum(value, what="record"):
    """H × W × C uint8 BGR pixels of a serialized Datum (encoded: decoded keeping what the file holds,
    grey made 3-channel and alpha dropped; raw: C × H × W bytes transposed)."""
    d = caffe_pb2.Datum()
    d.ParseFromString(value)
    if d.encoded:
        img = cv2.imdecode(np.frombuffer(d.data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError("%s: the encoded image cannot be decoded" % what)
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.shape[2] == 4:
            img = img[:, :, :3]
        return img
    c, h, w = d.channels, d.height, d.width
    if len(d.data) != c * h * w:
        raise ValueError("%s: Datum holds %d bytes, channels x height x width = %d" % (what, len(d.data), c * h * w))
    return np.ascontiguousarray(np.frombuffer(d.data, np.uint8).reshape(c, h, w).transpose(1, 2, 0))


_ENVS = {}  # realpath -> (pid, env): py-lmdb allows one handle per path and process


def open_lmdb(path):
    """A read-only LMDB handle shared in this process, reopened after a fork (the inherited one closed)."""
    real = os.path.realpath(path)
    cached = _ENVS.get(real)
    if cached is not None:
        if cached[0] == os.getpid():
            return cached[1]
        cached[1].close()
    env = lmdb.open(path, readonly=True, lock=False, readahead=False, max_readers=1024)
    _ENVS[real] = (os.getpid(), env)
    return env


def close_lmdbs():
    """Close this process's handles opened by :func:`open_lmdb`."""
    for _, env in _ENVS.values():
        env.close()
    _ENVS.clear()


def read_labels(path, opener=open_lmdb):
    """(keys, (n, K) float32) of a float_data Datum LMDB, in key order."""
    keys, rows = [], []
    with opener(path).begin() as txn:
        for k, v in txn.cursor():
            d = caffe_pb2.Datum()
            d.ParseFromString(v)
            keys.append(bytes(k))
            rows.append(np.asarray(d.float_data, np.float32))
    if not rows:
        raise ValueError("%s holds no records" % path)
    return keys, np.stack(rows)


class SequentialOrder:
    """TEST order: records in key order, wrapping at the end."""

    def __init__(self, n, batch_size):
        self.n, self.batch_size = int(n), int(batch_size)

    def indices(self, b):
        return (int(b) * self.batch_size + np.arange(self.batch_size)) % self.n


class ShuffledOrder:
    """TRAIN order without a style: passes over all records, each a fresh permutation."""

    def __init__(self, n, batch_size, seed, stream=0):
        self.n, self.batch_size, self.seed, self.stream = int(n), int(batch_size), int(seed), int(stream)

    def indices(self, b):
        pos = int(b) * self.batch_size + np.arange(self.batch_size)
        out = np.empty(self.batch_size, np.int64)
        for e in np.unique(pos // self.n):
            m = pos // self.n == e
            out[m] = _generator(self.seed, self.stream, 0x5EED, e).permutation(self.n)[pos[m] % self.n]
        return out


class StyleBatchMaker:
    """Batch b of the layer as (uint8 N × C × c × c pixels, labels): a pure function of b (picklable;
    the LMDB is opened lazily in each process)."""

    def __init__(self, images, keys, labels, order, batch_size, train, crop_size, rotate, mirror, erase,
                 seed, stream, opener=open_lmdb, random_crop=True):
        self.images, self.keys, self.labels, self.order = images, keys, labels, order
        self.opener = opener
        self.batch_size, self.train = int(batch_size), bool(train)
        self.crop_size, self.rotate, self.mirror, self.erase = int(crop_size), float(rotate), bool(mirror), erase
        self.random_crop = bool(random_crop)
        self.seed, self.stream = int(seed), int(stream)
        first = self._image(0)
        h, w, c = first.shape
        self.shape = (c, self.crop_size or h, self.crop_size or w)
        if self.crop_size and (h < self.crop_size or w < self.crop_size):
            raise ValueError("%s: crop_size %d is larger than the images (%d x %d)" % (images, self.crop_size, h, w))

    def _image(self, i):
        with self.opener(self.images).begin() as txn:
            value = txn.get(self.keys[i])
        if value is None:
            raise ValueError("%s has no record %r (the label LMDB has it)" % (self.images, self.keys[i]))
        return decode_datum(value, "%s: %r" % (self.images, self.keys[i]))

    def batch_nbytes(self):
        return self.batch_size * int(np.prod(self.shape))

    def make(self, b, alloc=None):
        idx = self.order.indices(b)
        rng = _generator(self.seed, self.stream, _AUG, b)
        out = (alloc or np.empty)((self.batch_size,) + self.shape, np.uint8)
        for j in range(self.batch_size):
            img = augment(self._image(int(idx[j])), rng, self.crop_size, self.rotate, self.mirror, self.erase,
                          self.train, self.random_crop)
            if img.shape[:2] != self.shape[1:] or img.shape[2] != self.shape[0]:
                raise ValueError("%s: record %r is %s, the batch's first is %s; without a crop all images must "
                                 "share a size (convert with --resize)" % (self.images, self.keys[int(idx[j])],
                                                                            img.shape, self.shape))
            out[j] = img.transpose(2, 0, 1)
        return out, self.labels[idx]


class SerialBatches:
    """Batches made in the calling process (BVLC Caffe, or no engine hook)."""

    def __init__(self, maker, start=0):
        self.maker, self.b = maker, int(start)

    def next(self):
        b = self.b
        self.b += 1
        data, labels = self.maker.make(b)
        return b, data, labels

    def resume_at(self, batch):
        self.b = int(batch)


def parse_config(param_str):
    p = parse_param_str(param_str)
    unknown = set(p) - KEYS
    if unknown:
        raise ValueError("unknown param_str keys: %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(sorted(KEYS))))
    if not p.get("source"):
        raise ValueError("param_str needs \"source\": a folder holding images_lmdb and the label LMDB")
    erase = p.get("erase")
    if erase is True:
        erase = dict(ERASE_DEFAULTS)
    elif erase:
        extra = set(erase) - set(ERASE_DEFAULTS)
        if extra:
            raise ValueError("unknown erase keys: %s (known: p, area, aspect, attempts)" % ", ".join(sorted(extra)))
        erase = dict(ERASE_DEFAULTS, **erase)
    else:
        erase = None
    output = p.get("output", "sigmoid")
    if output not in ("sigmoid", "softmax"):
        raise ValueError("output must be \"sigmoid\" or \"softmax\", got %r" % (output,))
    return dict(source=p["source"], labels=p.get("labels", "styles_lmdb"), style=p.get("style"),
                batch_size=int(p.get("batch_size", 32)), crop_size=int(p.get("crop_size", 0)),
                mean=p.get("mean", 0.0), scale=float(p.get("scale", 1.0)), rotate=float(p.get("rotate", 0.0)),
                mirror=bool(p.get("mirror", False)), erase=erase, random_crop=bool(p.get("random_crop", True)),
                resample=bool(p.get("resample", True)), ratio=p.get("ratio"),
                min_pos=int(p.get("min_pos", 1)), output=output, seed=p.get("seed"))


class StyleData(caffe.Layer):
    """See the module docstring."""

    def setup(self, bottom, top):
        if len(bottom) != 0:
            raise Exception("StyleData takes no bottoms, got %d" % len(bottom))
        if len(top) != 2:
            raise Exception("StyleData produces 2 tops (data, label), got %d" % len(top))
        cfg = self.cfg = parse_config(self.param_str)
        images = os.path.join(cfg["source"], "images_lmdb")
        label_path = os.path.join(cfg["source"], cfg["labels"])
        for path in (images, label_path):
            if not os.path.isdir(path):
                raise IOError("%s does not exist (param_str source %r)" % (path, cfg["source"]))
        hook = getattr(caffe, "python_batches", None)  # fashioncaffe's data workers; BVLC Caffe has none
        opener = hook.open_lmdb if hook is not None else open_lmdb
        keys, labels = read_labels(label_path, opener)
        style = cfg["style"]
        train = self.phase == caffe.TRAIN
        if style is not None:
            style = int(style)
            if not 1 <= style <= labels.shape[1]:
                raise ValueError("style %d is not among the %d label columns of %s" % (style, labels.shape[1],
                                                                                     label_path))
            y = labels[:, style - 1]
            labels = (y.reshape(-1, 1) if cfg["output"] == "sigmoid" else y).astype(np.float32)
        seed = int(cfg["seed"]) if cfg["seed"] is not None else (hook.seed(0) if hook is not None else 0)
        stream = style or 0
        n, bs = len(keys), cfg["batch_size"]
        if not train:
            order = SequentialOrder(n, bs)
        elif style is not None and cfg["resample"]:
            order = StyleSampler(labels, bs, cfg["ratio"], seed, stream, cfg["min_pos"])
        else:
            order = ShuffledOrder(n, bs, seed, stream)
        self.order = order
        self.maker = StyleBatchMaker(images, keys, labels, order, bs, train, cfg["crop_size"], cfg["rotate"],
                                     cfg["mirror"], cfg["erase"], seed, stream, opener, cfg["random_crop"])
        mean = np.asarray(cfg["mean"], np.float32).reshape(-1)
        c = self.maker.shape[0]
        if mean.size not in (1, c):
            raise ValueError("mean has %d values for %d-channel images; give one or one per channel" % (mean.size, c))
        self.mean = mean.reshape(-1, 1, 1)
        self.scale = np.float32(cfg["scale"])
        self.label_shape = (bs,) + labels.shape[1:]
        self.batches = hook.prefetch(self.maker, self.phase) if hook is not None else SerialBatches(self.maker)

    def reshape(self, bottom, top):
        top[0].reshape(*((self.cfg["batch_size"],) + self.maker.shape))
        top[1].reshape(*self.label_shape)

    def forward(self, bottom, top):
        _, data, labels = self.batches.next()
        top[0].data[...] = (data.astype(np.float32) - self.mean) * self.scale
        top[1].data[...] = labels.reshape(self.label_shape)

    def backward(self, top, propagate_down, bottom):
        pass

    def resume_at(self, batch):
        """Continue with batch number ``batch`` (fashioncaffe calls this when a solver is restored)."""
        self.batches.resume_at(batch)
