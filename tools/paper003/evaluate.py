"""Paper 003's predictions: every backbone's style probabilities on validation and test, their fusion,
and the style-relationship post-processing -- the thresholds searched on validation, saved with them.

predictions.npz tasks (test split; ``val_<task>`` holds the same on the validation split)::

    <backbone>   resnet50 / densenet121 / inception_v4: ids (image keys), labels (N × 13 in {0, 1}),
                 scores (N × 13 sigmoid probabilities), thresholds (13,) searched on validation,
                 one_to_five (1,) 0: decisions are scores ≥ thresholds
    fusion       the mean of the backbones' probabilities (Sec. II-B), thresholds on the fused validation
    final        P_final of eq. 2 on the fusion (β tuned on validation, α = 1), thresholds searched on the
                 validation P_final (Table IV's last row)
    final_rule   the same decisions with the 1-to-5 styles rule (Sec. II-F; one_to_five 1)

The F2 of a task follows from its arrays alone: ``postprocess.decisions(scores, thresholds,
one_to_five)`` then eq. 3 (``metrics.score``).  Per-style nets (``full``) give one column each; the
CPU scales' shared trunk gives all 13.  Real JD data without a labelled test split is evaluated on
the validation split (info ``evaluated_on``), as the paper's tables are.
"""
from __future__ import annotations

import os

import numpy as np

from . import config, data, metrics, netgen, paper, postprocess
from .predict import predict as predict_split


def _backbone_scores(exp, run, bb, split_dir, count):
    """(N × 13 probabilities, N × 13 labels) of one backbone on a split."""
    if exp.cfg["protocol"] == "shared":
        s, y = predict_split(run.path(f"{bb}_styles_train_val.prototxt"), run.weights(f"{bb}_styles"), count,
                             source=split_dir, score_blob="fc_styles")
        return s, y
    cols, ys = [], []
    for k in range(1, len(paper.STYLES) + 1):
        s, y = predict_split(run.path(f"{bb}_style{k}_train_val.prototxt"), run.weights(f"{bb}_style{k}"), count,
                             source=split_dir)
        cols.append(s[:, 0])
        ys.append(y[:, 0])
    return np.stack(cols, 1), np.stack(ys, 1)


def _task(ids, labels, scores, thresholds, rule):
    return {"ids": ids, "labels": labels.astype(np.int8), "scores": scores.astype(np.float64),
            "thresholds": np.asarray(thresholds, np.float64), "one_to_five": np.array([int(rule)], np.int8)}


def predict(exp, run):
    from ..repro import forward

    forward.use_device(exp)
    stats = data.load_stats(exp)
    jd = data.jd_dir(exp)
    test_split = "test" if "test" in stats["jd"] else "val"
    splits = {"val": os.path.join(jd, "val"), "test": os.path.join(jd, test_split)}
    keys, y, probs = {}, {}, {}
    for part, d in splits.items():
        k, lab = data.style_labels(d)
        keys[part], y[part] = np.asarray(k), lab
        probs[part] = {}
        for bb in exp.cfg["backbones"]:
            s, got = _backbone_scores(exp, run, bb, d, len(k))
            if not np.array_equal(np.rint(got).astype(np.int64), lab):
                raise SystemExit(f"{run.dir}: {bb}'s TEST data layer did not read {d} in key order; cannot evaluate")
            probs[part][bb] = s
    for part in probs:
        probs[part]["fusion"] = postprocess.fuse([probs[part][bb] for bb in exp.cfg["backbones"]])
    tasks = {}
    for name in list(exp.cfg["backbones"]) + ["fusion"]:
        thr, _ = metrics.search_thresholds(probs["val"][name], y["val"])
        tasks[name] = _task(keys["test"], y["test"], probs["test"][name], thr, False)
        tasks["val_" + name] = _task(keys["val"], y["val"], probs["val"][name], thr, False)
    _, train_y = data.style_labels(os.path.join(jd, "train"))
    cond = postprocess.relation_matrix(train_y)
    fit = postprocess.fit_relationship(probs["val"]["fusion"], y["val"], cond, rule=False)
    final_test, _ = postprocess.apply_relationship(probs["test"]["fusion"], fit, cond, rule=False)
    final_val, _ = postprocess.apply_relationship(probs["val"]["fusion"], fit, cond, rule=False)
    for name, rule in (("final", False), ("final_rule", True)):
        tasks[name] = _task(keys["test"], y["test"], final_test, fit["thresholds"], rule)
        tasks["val_" + name] = _task(keys["val"], y["val"], final_val, fit["thresholds"], rule)
    info = {"protocol": exp.cfg["protocol"], "protocol_title": config.PROTOCOL_TITLES[exp.cfg["protocol"]],
            "backbones": {bb: netgen.backbone(bb).title(exp.cfg["net_variant"]) for bb in exp.cfg["backbones"]},
            "evaluated_on": test_split, "n_val": int(len(keys["val"])), "n_test": int(len(keys["test"])),
            "train_share": [float(v) for v in train_y.mean(0)], "n_train": int(len(train_y)),
            "conditional": [[float(v) for v in row] for row in cond],
            "relationship": {"alpha": fit["alpha"], "beta": [float(b) for b in fit["beta"]],
                             "thresholds_p": [float(t) for t in fit["thresholds_p"]],
                             "val_f2_without": fit["val_f2_start"], "val_f2_with": fit["val_f2"]}}
    return tasks, info
