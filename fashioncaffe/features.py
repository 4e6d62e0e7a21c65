"""BVLC's ``extract_features`` tool: run a TEST-phase net over its own data layer and store blobs'
values per item as Datums in LMDBs.

Each item ``n`` of a feature blob becomes a Datum with the blob's legacy ``channels``/``height``/
``width`` and the item's values as ``float_data`` (no label), under the key ``%010d`` of its running
index -- what ``extract_features`` writes, so readers of its databases read ours.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from . import logging_caffe as log
from .errors import fail
from .formats.lmdb_datum import DatumWriter
from .layers.base import TEST
from .net import Net
from .proto import caffe_pb2

__all__ = ["extract_features", "feature_datum"]


def feature_datum(blob, n: int) -> caffe_pb2.Datum:
    """Item ``n`` of a blob as extract_features stores it."""
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = blob.channels, blob.height, blob.width
    datum.float_data.extend(np.asarray(blob.data[n], dtype=np.float32).ravel().tolist())
    return datum


def extract_features(weights, model, blob_names, db_paths, num_batches: int, progress: bool = False) -> list[int]:
    """Forward ``model`` (with ``weights``) ``num_batches`` times and write blob ``blob_names[i]``'s
    items into the new LMDB ``db_paths[i]``; returns the number of items written per blob."""
    blob_names, db_paths = list(blob_names), list(db_paths)
    if len(blob_names) != len(db_paths):
        raise fail(f"extract_features: {len(blob_names)} blob name(s) but {len(db_paths)} dataset name(s); "
                   "the number of blob names and dataset names must be equal.")
    net = Net(model, TEST)
    net.copy_from(weights)
    for name in blob_names:
        if name not in net.blobs:
            raise fail(f"extract_features: unknown feature blob name '{name}' in the network {model} "
                       f"(its blobs: {', '.join(net.blobs)}).")
    writers = []
    try:
        for path in db_paths:
            log.info(f"Opening dataset {path}", "extract_features.cpp:125")
            writers.append(DatumWriter(path))
        counts = [0] * len(blob_names)
        log.info("Extracting Features", "extract_features.cpp:133")
        for _ in tqdm(range(int(num_batches)), disable=not progress, desc="extract_features", unit="batch"):
            net.forward_from_to(grad=False)
            for i, name in enumerate(blob_names):
                blob = net.blobs[name]
                for n in range(blob.num):
                    writers[i].put(f"{counts[i]:010d}", feature_datum(blob, n))
                    counts[i] += 1
        for name, count in zip(blob_names, counts):
            log.info(f"Extracted features of {count} query images for feature blob {name}",
                     "extract_features.cpp:178")
    finally:
        for writer in writers:
            writer.close()
    log.info("Successfully extracted the features!", "extract_features.cpp:182")
    return counts
