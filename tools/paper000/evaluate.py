"""Paper 000's predictions: the trained TEST net over the whole test split, ranked per group.

The run's train_val net in the TEST phase reads the test LMDBs in key order; fc7 (after ReLU), the
sigmoid outputs of every label and the labels are collected for every test image.  Per attribute
group and representation (fc7, the group's outputs), the images annotated in the group are ranked
against each other (exact k-NN, R = 50; :mod:`tools.paper000.metrics`).  predictions.npz tasks:

    attributes              ids (test image keys), labels (N × K: 1 / 0 / −1 missing group),
                            scores (N × K sigmoid outputs), group_names, group_sizes
    map_<rep>_<group slug>  ids / labels (the group's annotated images and their labels in the
                            group), ranked (Q × R positions into the same images = the gallery),
                            gallery_ids, gallery_labels
"""
from __future__ import annotations

import os

import numpy as np

from . import config, data, metrics
from ..repro import forward
from ..repro.layout import slug

R = 50


def predict(exp, run):
    import fashioncaffe as caffe

    dataset, method = config.split_variant(run.variant)
    ddir = data.dataset_dir(exp, dataset)
    stats = data.load_stats(ddir)
    names, sizes = stats["groups"], stats["group_sizes"]
    n_test = stats["n_test"]
    forward.use_device(exp)
    net = caffe.Net(run.path("train_val.prototxt"), run.weights("train"), caffe.TEST)
    heads = ["fc8"] if method == "multilabel" else ["fc8_" + slug(g) for g in names]
    out = forward.forward_data_net(net, n_test, ["fc7", "label"] + heads)
    feats = out["fc7"].astype(np.float32)
    scores = (1.0 / (1.0 + np.exp(-np.concatenate([out[h] for h in heads], 1).astype(np.float64)))).astype(np.float32)
    y = out["label"]
    # the label blob must be the test LMDB in key order: the evaluation is aligned with the data
    keys, y_ref = data.read_labels(os.path.join(ddir, "test_labels_lmdb"))
    if not np.array_equal(y, y_ref):
        raise SystemExit(f"{run.dir}: the TEST net's labels are not the test LMDB in order; cannot evaluate")
    ids = np.asarray([k.decode("utf-8") if isinstance(k, bytes) else str(k) for k in keys])
    tasks = {"attributes": {"ids": ids, "labels": y, "scores": scores, "group_names": np.asarray(names),
                            "group_sizes": np.asarray(sizes)}}
    device = f"cuda:{exp.gpus[0]}" if exp.gpus else "cpu"
    offs = np.cumsum([0] + list(sizes))
    for gi, g in enumerate(names):
        yg = y[:, offs[gi]:offs[gi + 1]]
        for rep, f in (("fc7", feats), ("output", scores[:, offs[gi]:offs[gi + 1]])):
            got = metrics.ranked(f, yg, r=R, device=device)
            if got is None:
                continue
            idx, nn = got
            tasks[metrics.task_name(rep, g)] = {"ids": ids[idx], "labels": yg[idx], "ranked": nn.astype(np.int32),
                                                "gallery_ids": ids[idx], "gallery_labels": yg[idx]}
    gamma = None
    if method != "multilabel":
        from layers.gamma_task import gamma_from_counts

        gamma = gamma_from_counts(stats["counts"], config.GAMMA_MODE[method], config.SMOOTHING_C).tolist()
    info = {"dataset": dataset, "method": method, "groups": names, "group_sizes": sizes, "n_test": int(n_test),
            "R": R, "distance": "euclidean", "fc7_dead_fraction": float((feats.max(0) <= 0).mean()),
            "train_counts": stats["counts"], "proportions": stats["proportions"], "gamma": gamma,
            "batch": exp.cfg["batch"]}
    return tasks, info
