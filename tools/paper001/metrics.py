"""DeepFashion's evaluation metrics (Sec. 2.3 and 4), as the paper defines them.

* category top-k accuracy — Caffe's Accuracy rule: correct iff fewer than k other classes score ≥
  the true class (ties count against);
* attribute top-k **recall** (following [9]): rank the attribute scores of an image, count the
  image's positive attributes among the top k; recall = Σ hits / Σ positives.  "All" ranks every
  attribute; a per-type column ranks that type's attributes only (texture, fabric, shape, part,
  style).  Scores of attributes a model was not trained on are −inf (never ranked in);
* retrieval top-k accuracy — the share of queries with at least one gallery image of the same item
  among the k nearest (not a recall over all relevant images); k = 1 … 50;
* landmark detection rate — share of visible ground-truth landmarks whose prediction lies within a
  normalised distance d (Euclidean, in units of the image side) of the truth, per landmark, vs d.
"""
from __future__ import annotations

import numpy as np

ATTR_TYPES = ["texture", "fabric", "shape", "part", "style"]


def topk_accuracy(scores, labels, k):
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, int)
    true = scores[np.arange(len(labels)), labels][:, None]
    better = (scores >= true).sum(axis=1) - 1  # other classes scoring >= the true one
    return float((better < k).mean()) if len(labels) else float("nan")


def attribute_recall(scores, targets, k, columns=None):
    """Σ_images |top-k ∩ positives| / Σ_images |positives| over ``columns`` (default: all)."""
    s = np.asarray(scores, np.float64)
    t = np.asarray(targets)
    if columns is not None:
        s, t = s[:, columns], t[:, columns]
    if s.shape[1] == 0:
        return float("nan")
    k = min(k, s.shape[1])
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    pos = t == 1
    hits = np.take_along_axis(pos, top, axis=1) & np.isfinite(np.take_along_axis(s, top, axis=1))
    n = pos.sum()
    return float(hits.sum() / n) if n else float("nan")


def l2n(x):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval_topk(query_feats, query_items, gallery_feats, gallery_items, kmax=50, chunk=1024):
    """acc[k-1] = share of queries with a same-item gallery image among the k nearest (cosine)."""
    q, g = l2n(query_feats), l2n(gallery_feats)
    qi, gi = np.asarray(query_items).reshape(-1), np.asarray(gallery_items).reshape(-1)
    kmax = min(kmax, len(gi))
    first_hit = np.full(len(qi), np.inf)
    for s in range(0, len(qi), chunk):
        sim = q[s:s + chunk] @ g.T
        order = np.argsort(-sim, axis=1, kind="stable")[:, :kmax]
        match = gi[order] == qi[s:s + chunk, None]
        has = match.any(axis=1)
        fh = np.where(has, match.argmax(axis=1), np.inf)
        first_hit[s:s + chunk] = fh
    ks = np.arange(1, kmax + 1)
    return [float((first_hit < k).mean()) for k in ks]


def detection_rates(pred_xy, gt_xy, visible, thresholds):
    """rates[l][j] for landmark l at thresholds[j]; NaN where landmark l is never visible."""
    pred = np.asarray(pred_xy, np.float64).reshape(len(pred_xy), -1, 2)
    gt = np.asarray(gt_xy, np.float64).reshape(len(gt_xy), -1, 2)
    vis = np.asarray(visible, bool).reshape(len(visible), -1)
    d = np.linalg.norm(pred - gt, axis=2)
    out = []
    for l in range(gt.shape[1]):
        dl = d[vis[:, l], l]
        out.append([float((dl <= t).mean()) if dl.size else float("nan") for t in thresholds])
    return out, vis.sum(axis=0).tolist()
