"""Synthetic stand-ins for the data and weights BVLC Caffe's examples download (nothing here
downloads anything): MNIST LMDBs, CaffeNet weights, ILSVRC synset words.

* MNIST: 28×28 grey digits as convert_mnist_data writes them (and 3-channel 256×256 ones for CaffeNet) (keys ``%08d``, Datum 1×28×28 uint8
  with its label); each class is a bright bar at its own row plus noise, so a LeNet learns it.
* CaffeNet: ``bvlc_reference_caffenet.caffemodel`` with Gaussian weights (σ 0.01, seeded) in the
  deploy net's shapes -- predictions are meaningless, the code paths are the real ones.
* ``synset_words.txt``: 1000 made-up synset lines in the real file's format.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["make_mnist_lmdb", "make_caffenet_weights", "make_synset_words"]


def make_mnist_lmdb(path, count: int, seed: int, channels: int = 1, size: int = 28) -> None:
    """``count`` size×size digits (``channels`` copies of the grey image: 3 for a colour stand-in)."""
    from fashioncaffe.formats.lmdb_datum import DatumWriter
    from fashioncaffe.proto import caffe_pb2

    rng = np.random.default_rng(seed)
    with DatumWriter(path, overwrite=True) as writer:
        for i in range(count):
            label = int(rng.integers(0, 10))
            img = rng.integers(0, 60, (size, size)).astype(np.uint8)
            row = (3 + 2 * label) * size // 28
            img[row:row + 2 * size // 28, 4 * size // 28:24 * size // 28] = 255
            datum = caffe_pb2.Datum()
            datum.channels, datum.height, datum.width = channels, size, size
            datum.data = np.repeat(img[None], channels, axis=0).tobytes()
            datum.label = label
            writer.put(f"{i:08d}", datum)


def make_caffenet_weights(deploy_prototxt, path, seed: int = 0) -> None:
    import fashioncaffe as caffe

    rng = np.random.default_rng(seed)
    net = caffe.Net(deploy_prototxt, caffe.TEST)
    for blobs in net.params.values():
        blobs[0].data[...] = rng.normal(0.0, 0.01, blobs[0].data.shape).astype(np.float32)
        if len(blobs) > 1:
            blobs[1].data[...] = 0.1
    net.save(path)


def make_synset_words(path) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for i in range(1000):
            f.write(f"n{i:08d} synthetic class {i}\n")
