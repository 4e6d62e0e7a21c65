"""Features of the frozen encoder, extracted once per split into HDF5 files the heads' HDF5Data reads.

    feats, labels, keys = extract(encoder_net_param, weights, images_lmdb)
    list_file = write_split(out_dir, "train", feats, labels, keys, hierarchy)
    arrays = read_split(list_file)                       # {"feat": …, "label": …, …}

Per split, ``<out_dir>/<split>_<NNN>.h5`` (≤ ``chunk_rows`` rows each: BVLC's HDF5Data holds one
file in memory at a time) and the source list ``<out_dir>/<split>_h5.txt`` naming them (paths as
given by ``out_dir``: Caffe opens them relative to its working directory).  Datasets:

    feat              N × D   float32   the encoder's pooled features (avg_pool / pool5, flattened)
    label             N       float32   0-based category (Caffe's HDF5 labels are floats)
    parent5, parent10 N       float32   0-based parent class at each hierarchy level
    onehot_cat        N × C   float32   one-hot category (the sigmoid cross-entropies' Y^{|H|})
    onehot_parent5/10 N × K   float32   one-hot parents (Y^1)
    key               N       bytes     the image LMDB key of the row (rows are in the LMDB's key order)

The encoder runs in TEST phase (BatchNorm on stored statistics, centre crop) over the image LMDB in
key order, exactly once per image.
"""
from __future__ import annotations

import math
import os

import numpy as np


def extract(net_param, weights, images_lmdb, blob="feat"):
    """Run an encoder net whose Data layer reads ``images_lmdb`` (see pretrain.encoder_net) over
    every record once; returns (features N × D float32, labels N int64, keys list of bytes)."""
    from tqdm import tqdm

    import fashioncaffe as caffe
    from fashioncaffe.formats.lmdb_datum import DatumReader

    reader = DatumReader(images_lmdb)
    keys = list(reader.keys)
    reader.close()
    net = caffe.Net(net_param, caffe.TEST, weights=weights) if weights else caffe.Net(net_param, caffe.TEST)
    batch = net.blobs[blob].shape[0]
    feats, labels = [], []
    split = os.path.basename(os.path.dirname(os.path.abspath(images_lmdb)))
    for _ in tqdm(range(math.ceil(len(keys) / batch)), desc=f"features {split}", unit="batch", leave=False):
        out = net.forward()
        feats.append(np.array(out[blob], dtype=np.float32).reshape(batch, -1))
        labels.append(np.array(net.blobs["label"].data, dtype=np.int64).reshape(-1))
    n = len(keys)
    return np.concatenate(feats)[:n], np.concatenate(labels)[:n], keys


def write_split(out_dir, split, feats, labels, keys, hierarchy, chunk_rows=50000):
    """Write one split's HDF5 files + source list (module docstring); returns the list file path."""
    import h5py

    feats = np.asarray(feats, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if feats.ndim != 2 or feats.shape[0] != labels.size or labels.size != len(keys):
        raise ValueError(f"{split}: {feats.shape} features, {labels.size} labels and {len(keys)} keys do not match")
    c = len(hierarchy.categories)
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"{split}: labels {labels.min()}…{labels.max()} outside the hierarchy's {c} categories")
    os.makedirs(out_dir, exist_ok=True)
    eye_c = np.eye(c, dtype=np.float32)
    paths = []
    for i, start in enumerate(range(0, max(labels.size, 1), chunk_rows)):
        sl = slice(start, start + chunk_rows)
        path = os.path.join(out_dir, f"{split}_{i:03d}.h5")
        tmp = path + ".tmp"
        with h5py.File(tmp, "w") as f:
            f["feat"] = feats[sl]
            f["label"] = labels[sl].astype(np.float32)
            f["onehot_cat"] = eye_c[labels[sl]]
            for level in hierarchy.levels:
                parents = hierarchy.parent_labels(labels[sl], level)
                f[f"parent{level}"] = parents.astype(np.float32)
                f[f"onehot_parent{level}"] = np.eye(level, dtype=np.float32)[parents]
            f["key"] = np.array([bytes(k) for k in keys[sl]], dtype=object).astype("S")
        os.replace(tmp, path)
        paths.append(path)
    list_file = os.path.join(out_dir, f"{split}_h5.txt")
    with open(list_file, "w") as f:
        f.write("".join(p + "\n" for p in paths))
    return list_file


def read_split(list_file, names=None):
    """{dataset: array} of a split, the files of its source list concatenated in order."""
    import h5py

    with open(list_file) as f:
        paths = [ln.strip() for ln in f if ln.strip()]
    out = {}
    for p in paths:
        with h5py.File(p, "r") as h:
            for k in (names or list(h.keys())):
                out.setdefault(k, []).append(h[k][...])
    return {k: np.concatenate(v) for k, v in out.items()}
