"""Paper 002's metrics, computed from saved scores (N × C) and 0-based labels (N).

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
