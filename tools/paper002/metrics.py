"""Paper 002's metrics, computed from saved scores (N × C) and 0-based labels (N); ``score`` / ``outcome``
for the framework (predictions.npz tasks of evaluate.py).

* :func:`topk_accuracy` -- the paper's "top-3 / top-5": the share of **images** whose true category
  is among their k best-scored categories (Table 1).
* :func:`per_class_topk_recall` / :func:`macro_topk_recall` -- top-k recall per **category**,
  averaged over categories: a different metric (rare categories weigh as much as frequent ones),
  which a widely used toolkit reports under the name "top-k accuracy".  Reported beside the paper's
  metric, always under its own name.
* :func:`iterations_to_accuracy` / :func:`shared_target` -- the convergence claim ("MTL reduces
  convergence time"): the first evaluated iteration at which a run's validation top-k accuracy
  reaches a target that is the same for every compared run.

Ties follow Caffe's Accuracy layer: an image counts as correct at k iff fewer than k *other*
categories score ≥ its true category (a tie counts against), so a net's "Test net output" accuracy
and these numbers agree.
"""
from __future__ import annotations

import numpy as np


def _check(scores, labels):
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    if s.ndim != 2 or s.shape[0] != y.size:
        raise ValueError(f"scores must be N × C with one label per row, got {s.shape} and {y.size} labels")
    if y.size and (y.min() < 0 or y.max() >= s.shape[1]):
        raise ValueError(f"labels must be 0-based category indices below C = {s.shape[1]}, got {y.min()} … {y.max()}")
    return s, y


def rank_of_true(scores, labels):
    """Per image, the number of other categories scoring ≥ the true one (0 = correct at top-1)."""
    s, y = _check(scores, labels)
    true = s[np.arange(y.size), y][:, None]
    return (s >= true).sum(1) - 1


def topk_hits(scores, labels, k):
    """Bool (N,): the true category is among the k best (Caffe's tie rule)."""
    return rank_of_true(scores, labels) < int(k)


def topk_accuracy(scores, labels, k):
    """The paper's top-k accuracy: mean over images of :func:`topk_hits`."""
    hits = topk_hits(scores, labels, k)
    return float(hits.mean()) if hits.size else float("nan")


def per_class_topk_recall(scores, labels, k):
    """{category index: top-k recall over its images} for the categories present in ``labels``."""
    hits = topk_hits(scores, labels, k)
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    return {int(c): float(hits[y == c].mean()) for c in np.unique(y)}


def macro_topk_recall(scores, labels, k):
    """Mean over the categories present in ``labels`` of their top-k recall (NOT the paper's metric)."""
    per = per_class_topk_recall(scores, labels, k)
    return float(np.mean(list(per.values()))) if per else float("nan")


def iterations_to_accuracy(iterations, accuracies, target):
    """The first iteration whose accuracy is ≥ ``target`` (None if the run never reaches it).

    ``iterations`` / ``accuracies``: one run's validation curve, in training order."""
    it = np.asarray(iterations)
    acc = np.asarray(accuracies, dtype=np.float64)
    if it.shape != acc.shape:
        raise ValueError(f"{it.size} iterations but {acc.size} accuracies")
    reached = np.flatnonzero(acc >= target)
    return int(it[reached[0]]) if reached.size else None


def shared_target(curves, fraction=0.95):
    """One target for every compared run: ``fraction`` × the lowest best validation accuracy among
    ``curves`` (a list of accuracy sequences), so that every run reaches it at some iteration."""
    bests = [float(np.max(c)) for c in curves if len(c)]
    if not bests:
        raise ValueError("no validation curves")
    return fraction * min(bests)


# ---------------------------------------------------------------------------------------------
# the framework's hooks
KS = (1, 3, 5)


def _nan_to_none(v):
    v = float(v)
    return None if np.isnan(v) else v


def level_metrics(task):
    """{"top1", "top3", "top5": the paper's, "macro_recall_top1/3/5": not the paper's}."""
    s, y = task["scores"], task["labels"]
    out = {}
    for k in KS:
        if k <= s.shape[1]:
            out[f"top{k}"] = topk_accuracy(s, y, k)
            out[f"macro_recall_top{k}"] = macro_topk_recall(s, y, k)
    return out


def score(tasks):
    """Every number the tables show: per level the accuracies, and the validation curve."""
    out = {"category": level_metrics(tasks["category"])}
    for name in ("parent", "prior"):
        if name in tasks:
            out[name] = level_metrics(tasks[name])
    v = tasks.get("validation")
    if v is not None:
        acc = np.asarray(v["scores"], np.float64)
        lv = np.asarray(v["log_var"], np.float64)
        out["validation"] = {"iterations": [int(i) for i in v["labels"]],
                             "top1": [_nan_to_none(a) for a in acc[:, 0]],
                             "top3": [_nan_to_none(a) for a in acc[:, 1]],
                             "top5": [_nan_to_none(a) for a in acc[:, 2]],
                             "train_loss": [_nan_to_none(a) for a in v["train_loss"]],
                             "log_var": [[_nan_to_none(a) for a in row] for row in lv] if np.isfinite(lv).any() else None,
                             "best_top3": _nan_to_none(np.nanmax(acc[:, 1]))}
    return out


def outcome(tasks, name):
    """Per test image: ``top1`` / ``top3`` / ``top5`` hits of the category (``parent_top1`` … of the parent)."""
    level, _, k = name.rpartition("_") if name.startswith("parent_") else ("category", "", name)
    task = tasks[level]
    if not k.startswith("top"):
        raise ValueError(f"paper 002 outcome {name!r}: expected top1/top3/top5 or parent_top1/…")
    return task["ids"], topk_hits(task["scores"], task["labels"], int(k[3:])).astype(np.float64), None
