"""Running trained nets over test data, for the papers' ``evaluate.predict``.

* :func:`use_device` -- the experiment's device for the nets built next (the first GPU, or the CPU);
* :func:`forward_data_net` -- a TEST net that reads its own data (Data layers): forward until every
  one of ``n`` items has passed, collecting blobs;
* :func:`forward_arrays` -- a deploy net fed from arrays in batches (input blobs reshaped per batch);
* :func:`lmdb_keys_labels`, :func:`float_rows`, :func:`image_rows` -- the converters' LMDBs as arrays.
"""
from __future__ import annotations

import numpy as np


def use_device(exp):
    import fashioncaffe as caffe

    if exp.gpus:
        caffe.set_device(exp.gpus[0])
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()


def forward_data_net(net, n, blobs):
    """{blob: (n, ...) array} over the first ``n`` items a Data-layer net reads (whole batches run;
    the surplus of the last one is dropped)."""
    out = {b: [] for b in blobs}
    batch = net.blobs[blobs[0]].shape[0]
    seen = 0
    while seen < n:
        net.forward()
        for b in blobs:
            out[b].append(np.array(net.blobs[b].data, copy=True).reshape(batch, -1))
        seen += batch
    return {b: np.concatenate(v)[:n] for b, v in out.items()}


def forward_arrays(net, inputs, blobs, batch=50):
    """{blob: array} of a deploy net run on ``inputs`` ({input blob: (N, ...) array}) in batches;
    blobs the net does not have are left out."""
    names = list(inputs)
    n = len(inputs[names[0]])
    outs = {b: [] for b in blobs if b in net.blobs}
    for s in range(0, n, batch):
        for name in names:
            x = inputs[name][s:s + batch]
            net.blobs[name].reshape(len(x), *x.shape[1:])
            net.blobs[name].data[...] = x
        net.reshape()
        net.forward()
        for b in outs:
            outs[b].append(np.array(net.blobs[b].data, copy=True))
    return {b: np.concatenate(v) for b, v in outs.items()}


def lmdb_keys_labels(lmdb_dir):
    """(keys as str, labels as an array): the Datum labels of an image LMDB in key order."""
    from fashioncaffe.formats.lmdb_datum import DatumReader

    keys, labels = [], []
    for k, dat in DatumReader(lmdb_dir):
        keys.append(k.decode("utf-8") if isinstance(k, bytes) else str(k))
        labels.append(dat.label)
    return np.asarray(keys), np.asarray(labels)


def float_rows(lmdb_dir):
    """(keys as str, (N, D) float32) of a companion LMDB's Datum ``float_data``."""
    from fashioncaffe.formats.lmdb_datum import DatumReader

    keys, rows = [], []
    for k, dat in DatumReader(lmdb_dir):
        keys.append(k.decode("utf-8") if isinstance(k, bytes) else str(k))
        rows.append(np.asarray(dat.float_data, np.float32))
    return np.asarray(keys), np.stack(rows)


def image_rows(lmdb_dir, size=None):
    """(keys, images (N, C, H, W) uint8 as stored, labels) of an image LMDB; ``size``: refuse other sizes."""
    from fashioncaffe.formats.lmdb_datum import DatumReader, datum_to_array

    keys, imgs, labels = [], [], []
    for k, dat in DatumReader(lmdb_dir):
        a = datum_to_array(dat, color=True)
        if size is not None and a.shape[1:] != (size, size):
            raise SystemExit(f"{lmdb_dir}: image {k!r} is {a.shape}, expected {size}x{size} (converter --resize)")
        keys.append(k.decode("utf-8") if isinstance(k, bytes) else str(k))
        imgs.append(a)
        labels.append(dat.label)
    return np.asarray(keys), np.stack(imgs), np.asarray(labels)
