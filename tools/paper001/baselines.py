"""Image-free reference rows for Table 2: what the metrics give without looking at an image, and
the most they can give.

* **frequency prior** — every test image gets the same scores: the training set's category counts
  and attribute positive counts (``stats.json``).  A variant at or below this row has learned
  nothing image-specific about that column.
* **perfect ranking** — the attribute recall of an oracle that ranks an image's positives first.
  Top-k recall counts at most k hits per image, so with many positives per image it stays far
  below 100 % (synthetic wardrobe, small: 25.7 positives of 300 per image, so all top-3 ≤ 11.7 %;
  DeepFashion has about 3), and the paper's percentages are not comparable to ours without it.

Both rows are computed from the converted C&A test / training LMDBs (``<data dir>/conv/cat``) and
cached in the experiment folder (``runs/paper001/<data>-<scale>/baselines.json``).
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import metrics
from ..repro.forward import float_rows, lmdb_keys_labels


def _labels(lmdb_dir):
    return lmdb_keys_labels(lmdb_dir)[1].astype(np.int64)


def compute(test_labels, test_attributes, train_category_counts, train_attribute_positives, attribute_types):
    """{"frequency prior": {column: value}, "perfect ranking": {...}} in Table 2's column names."""
    n = len(test_labels)
    n_cat = max(len(train_category_counts), int(test_labels.max()) + 1)
    counts = np.zeros(n_cat)
    counts[:len(train_category_counts)] = train_category_counts
    prior_cat = np.broadcast_to(counts, (n, n_cat))
    prior_attr = np.broadcast_to(np.asarray(train_attribute_positives, np.float64), test_attributes.shape)
    oracle_attr = (test_attributes == 1).astype(np.float64)
    rows = {"frequency prior": {}, "perfect ranking": {}}
    for k in (3, 5):
        rows["frequency prior"][f"category_top{k}"] = metrics.topk_accuracy(prior_cat, test_labels, k)
        rows["perfect ranking"][f"category_top{k}"] = 1.0
        groups = [("all", None)] + [(t, [j for j, tt in enumerate(attribute_types) if tt == t])
                                    for t in metrics.ATTR_TYPES]
        for name, cols in groups:
            rows["frequency prior"][f"{name}_top{k}"] = metrics.attribute_recall(prior_attr, test_attributes, k, cols)
            rows["perfect ranking"][f"{name}_top{k}"] = metrics.attribute_recall(oracle_attr, test_attributes, k, cols)
    return rows


def load_or_compute(exp):
    """The reference rows of an experiment (cached in ``<out>/baselines.json``), or None when its
    converted data are not on disk (e.g. a report rebuilt from copied results.json files)."""
    outdir = exp.out_dir
    cache = os.path.join(outdir, "baselines.json")
    if os.path.exists(cache):
        return json.load(open(cache))
    droot = exp.data_dir
    cat = os.path.join(droot, "conv", "cat")
    stats_file = os.path.join(droot, "p001", "stats.json")
    need = [os.path.join(cat, "test", "images_lmdb"), os.path.join(cat, "test", "attributes_lmdb"),
            os.path.join(cat, "train", "images_lmdb"), stats_file]
    if not all(os.path.exists(p) for p in need):
        return None
    stats = json.load(open(stats_file))
    train_counts = np.bincount(_labels(os.path.join(cat, "train", "images_lmdb")), minlength=len(stats["categories"]))
    test_attributes = float_rows(os.path.join(cat, "test", "attributes_lmdb"))[1]
    rows = compute(_labels(os.path.join(cat, "test", "images_lmdb")), test_attributes, train_counts, stats["pos"],
                   stats["attribute_types"])
    rows["positives_per_test_image"] = float((test_attributes == 1).sum(axis=1).mean())
    os.makedirs(outdir, exist_ok=True)
    with open(cache, "w") as f:
        json.dump(rows, f, indent=1)
    return rows
