"""Paper 002's predictions: the heads selected on the validation split, scored once on the test split.

Model selection: the solver snapshots every ``select_every`` iterations and Caffe's test phase
scores the whole validation split every ``test_interval`` (``heads.log``); the snapshot with the
best validation top-3 (the earliest among ties) is the run's model, run once over the test
features.  Snapshots not selected are deleted afterwards (the final one stays: the framework's
record of the trained run).

predictions.npz tasks (metrics in :mod:`tools.paper002.metrics`):

    category    ids (test image keys), labels (N, 0-based category), scores (N × C: P_final of HMCN-F,
                the softmax of the flat net)
    parent      ids, labels (N, 0-based parent at the variant's level), scores (N × K: P_L^1) -- HMCN-F only
    prior       ids, labels as ``category``, scores (N × C: the training split's category counts, the same
                for every image; ties broken towards the lower index) -- the image-free reference row
    validation  the training curve from the log, one row per test-phase iteration: ids
                ("iter_<N>"), labels (the iterations), scores (T × 3: validation top-1/3/5 accuracy from
                Caffe's Accuracy layers), train_loss (T: the smoothed training loss logged at that
                iteration; NaN where none), log_var (T × 2: s = log σ² of the +MTL layer; NaN otherwise)
"""
from __future__ import annotations

import glob
import os
import re

import numpy as np

from . import config, data, features
from ..repro import forward

_TEST = re.compile(r"Iteration (\d+), Testing net")
_TEST_OUT = re.compile(r"Test net output #\d+: (accuracy_top[135]) = ([-+0-9.eEnaifNA]+)")
_LOSS = re.compile(r"Iteration (\d+)(?: \([^)]*\))?, loss = ([-+0-9.eEnaifNA]+)")
_LOG_VAR = re.compile(r"Test net output #\d+: log_var = ([-+0-9.eEnaifNA]+)")


def parse_log(path):
    """{iteration: {"top1", "top3", "top5", "train_loss", "log_var": [...]}} from a heads.log."""
    rows, it_test = {}, None
    with open(path, errors="replace") as f:
        for line in f:
            m = _TEST.search(line)
            if m:
                it_test = int(m.group(1))
                rows.setdefault(it_test, {})
                continue
            m = _TEST_OUT.search(line)
            if m and it_test is not None:
                rows[it_test][m.group(1).replace("accuracy_", "")] = float(m.group(2))
                continue
            m = _LOG_VAR.search(line)
            if m and it_test is not None:  # the test net shares the learned s: its value at this iteration
                rows[it_test].setdefault("log_var", []).append(float(m.group(1)))
                continue
            m = _LOSS.search(line)
            if m:
                rows.setdefault(int(m.group(1)), {})["train_loss"] = float(m.group(2))
    return rows


def validation_task(rows):
    its = sorted(i for i, r in rows.items() if "top3" in r)
    if not its:
        raise SystemExit("the training log has no validation scores (Test net output accuracy_top3)")
    acc = np.array([[rows[i].get(k, np.nan) for k in ("top1", "top3", "top5")] for i in its], np.float64)
    loss = np.array([rows[i].get("train_loss", np.nan) for i in its], np.float64)
    lv = np.full((len(its), 2), np.nan)
    for j, i in enumerate(its):
        v = rows[i].get("log_var")
        if v and len(v) == 2:
            lv[j] = v
    return {"ids": np.array([f"iter_{i}" for i in its]), "labels": np.array(its, np.int64), "scores": acc,
            "train_loss": loss, "log_var": lv}


def select(validation, available):
    """The iteration with the best validation top-3 among those with a snapshot (earliest of ties)."""
    best = None
    for it, top3 in zip(validation["labels"], validation["scores"][:, 1]):
        if int(it) in available and (best is None or top3 > best[1]):
            best = (int(it), float(top3))
    if best is None:
        raise SystemExit(f"no snapshot at a validation iteration (snapshots at {sorted(available)})")
    return best


def prune(run, keep):
    """Delete the snapshots other than ``keep`` and the final one."""
    final = run.final_weights
    for p in glob.glob(glob.escape(run.path("heads")) + "_iter_*"):
        stem = re.sub(r"\.(caffemodel|solverstate)$", "", p)
        if p.endswith(".solverstate") and stem + ".caffemodel" == final:
            continue
        if p.endswith(".caffemodel") and p in (final, keep):
            continue
        if p.endswith((".caffemodel", ".solverstate")):
            os.remove(p)


def predict(exp, run):
    import fashioncaffe as caffe

    stats = data.load_stats(exp)
    kind, parents, dropout = config.head_spec(run.variant)
    validation = validation_task(parse_log(run.path("heads.log")))
    available = run.snapshots("heads")
    selected, val_top3 = select(validation, available)
    weights = available[selected]
    names = ["feat", "label", "key"] + ([f"parent{parents}"] if parents else [])
    test = features.read_split(stats["lists"]["test"], names)
    ids = np.array([k.decode("utf-8") if isinstance(k, bytes) else str(k) for k in test["key"]])
    labels = test["label"].astype(np.int64)
    forward.use_device(exp)
    net = caffe.Net(run.training["info"]["deploy"], caffe.TEST, weights=weights)
    blobs = ("prob",) if kind == "flat" else ("prob_final", "prob_local1")
    out = forward.forward_arrays(net, {"feat": test["feat"]}, blobs, batch=256)
    tasks = {"category": {"ids": ids, "labels": labels, "scores": out[blobs[0]].reshape(len(ids), -1)},
             "validation": validation}
    counts = np.bincount(features.read_split(stats["lists"]["train"], ["label"])["label"].astype(np.int64),
                         minlength=stats["n_categories"]).astype(np.float64)
    prior = counts + (stats["n_categories"] - np.arange(stats["n_categories"])) * 1e-3 / stats["n_categories"]
    tasks["prior"] = {"ids": ids, "labels": labels, "scores": np.tile(prior, (len(ids), 1))}
    if parents:
        tasks["parent"] = {"ids": ids, "labels": test[f"parent{parents}"].astype(np.int64),
                           "scores": out["prob_local1"].reshape(len(ids), -1)}
    prune(run, weights)
    info = {"title": config.VARIANT_TITLES[run.variant], "head": kind, "parents": parents, "dropout": dropout,
            "selected_iteration": selected, "selected_val_top3": val_top3, "selected_weights": weights,
            "n_test": int(len(ids)), "n_categories": stats["n_categories"], "feature_dim": stats["feature_dim"],
            "encoder": stats["encoder_how"], "encoder_arch": stats["encoder_arch"],
            "hierarchy_source": stats["hierarchy_source"]}
    return tasks, info
