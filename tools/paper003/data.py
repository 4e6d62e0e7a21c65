"""Data side of paper 003: JD style labels and DeepFashion attributes → the LMDBs the nets read.

JD styles.  ``data_prep.jd_style`` reads ``train.txt`` (+ ``folds.txt``, ``test.txt``) of the real
challenge files or of the wardrobe's ``JD/`` and writes, per split, encoded images resized to S × S
(``images_lmdb``) and the 13 styles (``styles_lmdb``, 1 / 0, Table I order): ``train`` = folds ≠ 0,
``val`` = fold 0 (the paper's 80 / 20 split of 54,908 images: 43,926 / 10,981), ``test`` = the
held-out ``test.txt`` (the wardrobe writes one, ~15 % of its items, as the paper's 10,000 test images;
the real challenge's test labels were never released, so real data has train / val only).

Attribute pre-training (Sec. II-C, "we cleaned the dataset and selected 20 attributes with more
balanced data distribution").  ``data_prep.deepfashion_category`` converts the Category and Attribute
benchmark (``attributes_lmdb``: 1 / 0 / −1 unknown).  :func:`select_balanced_attributes` ranks the
attributes on the *training* split by balance = min(P, N) / (P + N) over the images where the
attribute is known (P positives, N negatives; 0.5 is perfectly balanced), ties broken by more known
images, then by position, and keeps the first 20; :func:`write_pretrain_labels` writes those columns
as the companion ``attr20_lmdb`` of every split (``data_prep.common.write_companion``: same keys as
``images_lmdb``, names and balances in meta.json), which the StyleData layer reads with
``"labels": "attr20_lmdb", "style": null``.
"""
from __future__ import annotations

import json
import os

import numpy as np

from data_prep.common import read_companion, write_companion

STYLE_COMPANION = "styles"      # the JD converter's companion: styles_lmdb
PRETRAIN_NAME = "attr20"


def _converter(module, root, out, size, workers, extra=()):
    args = ["--root", root, "--out", out, "--resize", str(int(size)), "--encoded", "--overwrite", "--no-progress"]
    if workers:
        args += ["--workers", str(int(workers))]
    status = module.main(args + list(extra))
    if status:
        raise SystemExit(f"{module.__name__} failed on {root} (exit status {status}); see the messages above.")
    return out


def convert_jd(jd_root, out, size, workers=None, fold=0):
    """JD style LMDBs (train / val [/ test]) under ``out``; returns ``out``."""
    from data_prep import jd_style

    return _converter(jd_style, jd_root, out, size, workers, ["--fold", str(int(fold))])


def convert_attributes(category_root, out, size, workers=None):
    """DeepFashion Category and Attribute LMDBs (train / val / test) under ``out``; returns ``out``."""
    from data_prep import deepfashion_category

    return _converter(deepfashion_category, category_root, out, size, workers)


def channel_mean(split_dir):
    """Per-channel (B, G, R) mean of a split from its mean.binaryproto."""
    from fashioncaffe.formats.blobproto import read_binaryproto

    m = np.asarray(read_binaryproto(os.path.join(split_dir, "mean.binaryproto")), np.float64)
    return [round(float(v), 3) for v in m.reshape(m.shape[-3], -1).mean(1)]


def style_labels(split_dir):
    """(keys, N × 13 labels in {0, 1}) of a JD split."""
    keys, rows = read_companion(split_dir, STYLE_COMPANION)
    return keys, rows.astype(np.int64)


def attribute_balance(rows):
    """(balance, known) per attribute of an N × A matrix in {1, 0, −1 unknown}."""
    rows = np.asarray(rows)
    pos = (rows == 1).sum(0)
    neg = (rows == 0).sum(0)
    known = pos + neg
    with np.errstate(invalid="ignore", divide="ignore"):
        balance = np.where(known > 0, np.minimum(pos, neg) / np.maximum(known, 1), 0.0)
    return balance, known


def select_balanced_attributes(rows, k=20):
    """Indices of the k most balanced attributes (see the module docstring), most balanced first."""
    balance, known = attribute_balance(rows)
    order = sorted(range(len(balance)), key=lambda j: (-balance[j], -known[j], j))
    chosen = [j for j in order if balance[j] > 0][:k]
    if len(chosen) < k:
        raise ValueError(f"only {len(chosen)} attributes have both positive and negative training images; "
                         f"{k} were asked for")
    return chosen


def write_pretrain_labels(category_out, k=20, name=PRETRAIN_NAME):
    """Select the attributes on ``category_out/train`` and write the companion ``<name>_lmdb`` into every
    split of ``category_out``; returns dict(indices, names, balance, splits)."""
    train = os.path.join(category_out, "train")
    _, rows = read_companion(train, "attributes")
    chosen = select_balanced_attributes(rows, k)
    meta = json.load(open(os.path.join(train, "meta.json"), encoding="utf-8"))
    all_names = meta["companions"]["attributes"]["names"]
    balance, known = attribute_balance(rows)
    spec = {"names": [all_names[j] for j in chosen], "source_columns": chosen,
            "encoding": {"positive": 1, "negative": 0, "unknown": -1},
            "selection": f"the {k} most balanced attributes of the training split: min(P, N) / (P + N) over "
                         "known labels, ties by more known labels",
            "train_balance": [round(float(balance[j]), 4) for j in chosen]}
    splits = []
    for split in sorted(os.listdir(category_out)):
        d = os.path.join(category_out, split)
        if not os.path.isdir(os.path.join(d, "attributes_lmdb")):
            continue
        keys, r = read_companion(d, "attributes")
        write_companion(d, name, keys, r[:, chosen], spec)
        splits.append(split)
    return dict(indices=chosen, names=spec["names"], balance=spec["train_balance"],
                known=[int(known[j]) for j in chosen], splits=splits)
