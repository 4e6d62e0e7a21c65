"""DeepFashion's evaluation metrics (Sec. 2.3 and 4), as the paper defines them.

* category top-k accuracy — Caffe's Accuracy rule: correct iff fewer than k other classes score ≥
  the true class (ties count against);
* attribute top-k **recall** (following [9]): rank the attribute scores of an image, count the
  image's positive attributes among the top k; recall = Σ hits / Σ positives.  "All" ranks every
  attribute; a per-type column ranks that type's attributes only (texture, fabric, shape, part,
  style).  Scores of attributes a model was not trained on are −inf (never ranked in);
* attribute mean AUC (not in the paper; a diagnostic): per attribute, how well its score ranks the
  test images with the attribute above those without, averaged over the attributes;
* retrieval top-k accuracy — the share of queries with at least one gallery image of the same item
  among the k nearest (not a recall over all relevant images); k = 1 … 50;
* landmark detection rate — share of visible ground-truth landmarks whose prediction lies within a
  normalised distance d (Euclidean, in units of the image side) of the truth, per landmark, vs d.

:func:`score` computes every results.json metric from the run's predictions.npz alone (tasks
``category``, ``attributes``, ``landmarks``, ``inshop``, ``c2s``: see tools/paper001/evaluate.py);
:func:`outcome` gives the per-image / per-query outcomes behind a number, so that two variants can
be compared on the same test items (the report's paired bootstrap).
"""
from __future__ import annotations

import numpy as np

ATTR_TYPES = ["texture", "fabric", "shape", "part", "style"]


def topk_hits(scores, labels, k):
    """Per image: 1 when fewer than k other classes score >= the true class (Caffe's Accuracy rule)."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, int)
    true = scores[np.arange(len(labels)), labels][:, None]
    better = (scores >= true).sum(axis=1) - 1  # other classes scoring >= the true one
    return (better < k).astype(np.int8)


def topk_accuracy(scores, labels, k):
    return float(topk_hits(scores, labels, k).mean()) if len(labels) else float("nan")


def attribute_hits(scores, targets, k, columns=None):
    """Per image: (positives among the top k, positives) over ``columns`` (default: all); None if no columns."""
    s = np.asarray(scores, np.float64)
    t = np.asarray(targets)
    if columns is not None:
        s, t = s[:, columns], t[:, columns]
    if s.shape[1] == 0:
        return None
    k = min(k, s.shape[1])
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    pos = t == 1
    hits = np.take_along_axis(pos, top, axis=1) & np.isfinite(np.take_along_axis(s, top, axis=1))
    return hits.sum(axis=1), pos.sum(axis=1)


def attribute_recall(scores, targets, k, columns=None):
    """Σ_images |top-k ∩ positives| / Σ_images |positives| over ``columns`` (default: all)."""
    hp = attribute_hits(scores, targets, k, columns)
    if hp is None or hp[1].sum() == 0:
        return float("nan")
    return float(hp[0].sum() / hp[1].sum())


def attribute_auc(scores, targets, columns=None):
    """Mean over attributes of the ROC AUC of ranking the test *images* by that attribute's score
    (positives = 1 vs negatives = 0; other labels ignored; ties count half; attributes without both
    classes, or with −inf scores (not trained), are skipped).  0.5 = no image evidence.  Top-k recall
    ranks attributes within an image and so rewards frequent ones; this ranks images within an
    attribute, so it shows whether a head learned anything from the pixels."""
    from scipy.stats import rankdata

    s = np.asarray(scores, np.float64)
    t = np.asarray(targets)
    cols = range(s.shape[1]) if columns is None else columns
    aucs = []
    for j in cols:
        keep = (t[:, j] == 1) | (t[:, j] == 0)
        pos = t[keep, j] == 1
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0 or not np.all(np.isfinite(s[keep, j])):
            continue
        ranks = rankdata(s[keep, j])
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else float("nan")


def l2n(x):
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval_ranked(query_feats, gallery_feats, kmax=50, chunk=1024):
    """Per query, the indices of the kmax nearest gallery images (cosine; ties by gallery order)."""
    q, g = l2n(query_feats), l2n(gallery_feats)
    kmax = min(kmax, len(g))
    out = np.empty((len(q), kmax), dtype=np.int64)
    for s in range(0, len(q), chunk):
        sim = q[s:s + chunk] @ g.T
        out[s:s + chunk] = np.argsort(-sim, axis=1, kind="stable")[:, :kmax]
    return out


def first_hit(ranked, query_items, gallery_items):
    """Per query: the 0-based rank of the first same-item gallery image in ``ranked``, or -1."""
    qi, gi = np.asarray(query_items).reshape(-1), np.asarray(gallery_items).reshape(-1)
    match = gi[np.asarray(ranked)] == qi[:, None]
    return np.where(match.any(axis=1), match.argmax(axis=1), -1).astype(np.int64)


def topk_from_first_hit(first_hit, kmax):
    """acc[k-1] = share of queries whose first hit ranks below k, k = 1 … kmax."""
    fh = np.asarray(first_hit)
    hit = fh >= 0
    return [float((hit & (fh < k)).mean()) for k in range(1, kmax + 1)]


def retrieval_topk(query_feats, query_items, gallery_feats, gallery_items, kmax=50, chunk=1024):
    """acc[k-1] = share of queries with a same-item gallery image among the k nearest (cosine)."""
    ranked = retrieval_ranked(query_feats, gallery_feats, kmax, chunk)
    return topk_from_first_hit(first_hit(ranked, query_items, gallery_items), ranked.shape[1])


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


def input_dependence(scores):
    """How much a head's scores vary between images relative to between classes: the mean over
    classes of the std across images, over the std across classes of the mean score.  A net whose
    outputs no longer depend on the input (collapsed training: dead ReLUs, constant features) scores
    near 0 and predicts the same classes for every image; a trained one scores around 1 or more."""
    s = np.asarray(scores, np.float64).reshape(len(scores), -1)
    between_images = s.std(axis=0).mean()
    between_classes = s.mean(axis=0).std()
    return float(between_images / max(between_classes, 1e-12))


#: input_dependence below this marks a collapsed variant in the report
COLLAPSE_THRESHOLD = 0.05


# ----------------------------------------------------------------------------------------------
# the framework's side: metrics and per-item outcomes from predictions.npz
THRESHOLDS = [round(0.01 * i, 2) for i in range(0, 21)]  # normalised distances of Fig. 10
NO_C2S = "no ground-truth landmarks in the consumer-to-shop LMDBs"


def _attribute_metrics(a):
    scores, targets, types = a["scores"], a["labels"], [str(t) for t in a["types"]]
    out = {}
    for k in (3, 5):
        out[f"all_top{k}"] = attribute_recall(scores, targets, k)
        for t in ATTR_TYPES:
            out[f"{t}_top{k}"] = attribute_recall(scores, targets, k, [j for j, tt in enumerate(types) if tt == t])
    out["mean_auc"] = attribute_auc(scores, targets)
    return out


def _retrieval(t):
    fh = first_hit(t["ranked"], t["labels"], t["gallery_labels"])
    return {"topk": topk_from_first_hit(fh, t["ranked"].shape[1]), "n_query": int(len(t["ids"])),
            "n_gallery": int(len(t["gallery_ids"]))}


def score(tasks):
    """Every paper-001 metric of a run from its predictions."""
    c = tasks["category"]
    dep = input_dependence(c["scores"])
    out = {"n_test_images": int(len(c["labels"])),
           "category": {f"top{k}": topk_accuracy(c["scores"], c["labels"], k) for k in (3, 5)},
           "collapse": {"input_dependence": dep, "distinct_top1": int(len(np.unique(np.asarray(c["scores"]).argmax(1)))),
                        "collapsed": bool(dep < COLLAPSE_THRESHOLD)},
           "attributes": _attribute_metrics(tasks["attributes"])}
    if "landmarks" in tasks:
        lm = tasks["landmarks"]
        rates, counts = detection_rates(lm["scores"], lm["labels"], lm["visible"], THRESHOLDS)
        out["landmarks"] = {"thresholds": THRESHOLDS, "rates": rates, "visible_counts": counts,
                            "visibility_accuracy": float(((lm["visible_prob"] > 0.5) == lm["visible"].astype(bool)).mean())}
    for key in ("inshop", "c2s"):
        out[key] = _retrieval(tasks[key]) if key in tasks else {"topk": None, "note": NO_C2S}
    return out


def outcome(tasks, name):
    """(item ids, num, den or None) per test item: ``category_top3`` (hit per C&A test image),
    ``attributes_all_top3`` (positives among the top 3, positives), ``inshop_top20`` (same item among
    the 20 nearest, per in-shop query)."""
    if name == "category_top3":
        c = tasks["category"]
        return c["ids"], topk_hits(c["scores"], c["labels"], 3), None
    if name == "attributes_all_top3":
        a = tasks["attributes"]
        hits, positives = attribute_hits(a["scores"], a["labels"], 3)
        return a["ids"], hits, positives
    if name == "inshop_top20":
        t = tasks["inshop"]
        fh = first_hit(t["ranked"], t["labels"], t["gallery_labels"])
        return t["ids"], (fh >= 0) & (fh < 20), None
    raise SystemExit(f"paper 001: no per-item outcome {name!r} (category_top3, attributes_all_top3, inshop_top20)")
