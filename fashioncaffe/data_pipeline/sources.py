"""Where the data layers' images come from, and in which order they are read.

A *source* loads records by position: :class:`LMDBSource` (Datum LMDBs, for the Data layer) and
:class:`ImageListSource` (an ImageData list file ``path label``).  :class:`ReadPlan` maps a batch
number to record positions exactly as Caffe's readers walk their input:

* sequentially from ``rand_skip`` (a random start in [0, rand_skip)), wrapping to the first record
  at the end ("Restarting data prefetching from start.");
* with ``shuffle`` (ImageData), each pass over the list in a fresh random order;
* with several training processes (multi-GPU), the global stream is dealt round-robin: rank r takes
  the positions p with p mod world = r, as BVLC's ``DataLayer::Skip``.

Every quantity is a pure function of (seed, batch number), so a batch can be built by any worker in
any order and still be the same.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import fail
from ..formats.lmdb_datum import DatumReader, decode_image, parse_datum, read_image
from ..formats.text import read_utf8_text

__all__ = ["LMDBSource", "ImageListSource", "ReadPlan", "read_image_list"]


class LMDBSource:
    """Datum LMDB records as (array, layout) pairs plus their labels."""

    def __init__(self, path, color=None):
        self.reader = DatumReader(path)
        self.path = self.reader.path
        self.color = color

    def __len__(self):
        return len(self.reader)

    def key(self, i) -> str:
        return self.reader.keys[i].decode("utf-8", "replace")

    def first_shape(self):
        """(C, H, W) and dtype of the first record after decoding."""
        (arr, lay), _, _ = self._decode(*self.reader.many([0])[0])
        c, h, w = arr.shape if lay == "chw" else (arr.shape[2], arr.shape[0], arr.shape[1])
        return (c, h, w), arr.dtype

    def _decode(self, k, v):
        key = k.decode("utf-8", "replace")
        d = parse_datum(v, key, self.path)
        what = f"{self.path}: entry {key!r}"
        if d.encoded:
            return (decode_image(d.data, self.color, what), "hwc"), d.label, key
        c, h, w = int(d.channels), int(d.height), int(d.width)
        n = c * h * w
        if d.data:
            if len(d.data) != n:
                raise fail(f"{what}: Datum data holds {len(d.data)} bytes but channels × height × width = "
                           f"{c} × {h} × {w} = {n}.")
            arr = np.frombuffer(d.data, dtype=np.uint8).reshape(c, h, w)
        else:
            if n == 0 or len(d.float_data) != n:
                raise fail(f"{what}: Datum float_data holds {len(d.float_data)} values but channels × height × "
                           f"width = {c} × {h} × {w} = {n}.")
            arr = np.asarray(d.float_data, dtype=np.float32).reshape(c, h, w)
        return (arr, "chw"), d.label, key

    def load(self, indices):
        images, labels, keys = [], np.empty(len(indices), np.float32), []
        for j, (k, v) in enumerate(self.reader.many(indices)):
            img, lab, key = self._decode(k, v)
            images.append(img)
            labels[j] = lab
            keys.append(key)
        return images, labels, keys


def read_image_list(path):
    """Parse an ImageData list file: ``<path> <int label>`` per line (the label after the last space,
    so file names may contain spaces, as in Caffe).  Returns [(name, label)]."""
    if not os.path.isfile(path):
        raise fail(f"{path}: the image list file does not exist (image_data_param.source).")
    lines = []
    text = read_utf8_text(path, "image list")
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        pos = line.rfind(" ")
        if pos <= 0:
            raise fail(f"{path}:{lineno}: expected '<image path> <label>', got {line!r}.")
        try:
            label = int(line[pos + 1:])
        except ValueError:
            raise fail(f"{path}:{lineno}: the label {line[pos + 1:]!r} is not an integer.") from None
        lines.append((line[:pos], label))
    if not lines:
        raise fail(f"{path}: the image list is empty.")
    return lines


class ImageListSource:
    """Images named by a list file, read with OpenCV and optionally resized (Caffe's ReadImageToCVMat)."""

    def __init__(self, list_file, root_folder="", new_height=0, new_width=0, is_color=True):
        if (new_height > 0) != (new_width > 0):
            raise fail(f"{list_file}: image_data_param needs new_height and new_width set together "
                       f"(got {new_height} and {new_width}).")
        self.path = list_file
        self.lines = read_image_list(list_file)
        self.root = root_folder or ""
        self.new_hw = (int(new_height), int(new_width))
        self.is_color = bool(is_color)

    def __len__(self):
        return len(self.lines)

    def key(self, i):
        return self.lines[i][0]

    def _read(self, name):
        import cv2

        full = self.root + name
        img = read_image(full, self.is_color)
        if img is None:
            raise fail(f"{self.path}: could not open or decode image file {full!r}.")
        if self.new_hw[0] > 0:
            img = cv2.resize(img, (self.new_hw[1], self.new_hw[0]))
        if img.ndim == 2:
            img = img[:, :, None]
        return img

    def first_shape(self):
        img = self._read(self.lines[0][0])
        return (img.shape[2], img.shape[0], img.shape[1]), img.dtype

    def load(self, indices):
        images, labels, keys = [], np.empty(len(indices), np.float32), []
        for j, i in enumerate(indices):
            name, lab = self.lines[i]
            images.append((self._read(name), "hwc"))
            labels[j] = lab
            keys.append(name)
        return images, labels, keys


class ReadPlan:
    """Record positions of every batch (see the module docstring)."""

    def __init__(self, n, batch_size, rank=0, world=1, skip=0, shuffle=False, seed=0, stream=0):
        self.n = int(n)
        self.bs = int(batch_size)
        self.rank, self.world = int(rank), int(world)
        self.skip = int(skip)
        self.shuffle = bool(shuffle)
        self.seed, self.stream = int(seed), int(stream)
        self._perms: dict[int, np.ndarray] = {}

    def positions(self, b):
        k = b * self.bs + np.arange(self.bs, dtype=np.int64)
        return self.skip + k * self.world + self.rank

    def _perm(self, epoch):
        p = self._perms.get(epoch)
        if p is None:
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                [self.seed & 0xFFFFFFFFFFFF, self.stream, 0x5EED, int(epoch)])))
            p = rng.permutation(self.n)
            if len(self._perms) > 4:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = p
        return p

    def indices(self, b):
        p = self.positions(b)
        epoch, idx = np.divmod(p, self.n)
        if not self.shuffle:
            return idx
        out = np.empty_like(idx)
        for e in np.unique(epoch):
            m = epoch == e
            out[m] = self._perm(int(e))[idx[m]]
        return out

    def restarts(self, b) -> int:
        """How many times batch b's reading passes the end of the input (for the log line)."""
        last = self.positions(b)[-1] // self.n
        before = (self.positions(b - 1)[-1] if b > 0 else self.skip + self.rank) // self.n
        return int(last - before)
