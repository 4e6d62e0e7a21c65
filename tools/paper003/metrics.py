"""Paper 003's metric: F2 per style and its mean (eq. 3), with the per-style threshold search.

Per style, from the decisions over the evaluated images — thresholded predictions, positive iff
score ≥ threshold (:func:`decide`), possibly adjusted by the 1-to-5 rule of postprocess.py::

    precision = TP / (TP + FP),   recall = TP / (TP + FN)
    F2 = 5 · precision · recall / (4 · precision + recall)          (eq. 3)
       = 5 TP / (5 TP + 4 FN + FP)                                   (the same, in counts)

The count form is used: it equals eq. 3 wherever precision and recall exist, and gives 0 when the
style has positives or predictions but no true positive (eq. 3's 0 / 0 with precision or recall 0).
A style with no positive image and no positive prediction has no F2 (NaN); the mean F2 is the mean
over the styles that have one (Tables II–IV average the 13 styles: on the paper's data every style
occurs), and ``mean_f2`` reports how many styles it averaged.

The leaderboard figure.  The paper reports the mean of the per-style F2 on its validation split
(Tables II–IV; Table II's mean column is the plain mean of its 13 cells) and 0.6524 on the challenge's
test set without defining the leaderboard's averaging.  Two other common multi-label F2 conventions
are provided so a report can show how far they differ on the same predictions: :func:`f2_micro`
(pooled counts over all styles) and :func:`f2_samples` (F2 per image over its 13 decisions, averaged
over images — Kaggle's "Planet" convention).  Our tables use :func:`mean_f2` (per style, then mean),
the paper's.

Threshold search ("we … traversal searched the decision threshold", Sec. II-F): for each style, every
cut between two distinct validation scores is tried — predicting the k highest-scored images positive
for each k — and the threshold of the best F2 is kept (among equal F2, the highest threshold); the
threshold is the midpoint between the last score kept and the next one.
"""
from __future__ import annotations

import numpy as np


def decide(scores, thresholds):
    """N × K decisions: score ≥ the style's threshold."""
    return np.asarray(scores, np.float64) >= np.asarray(thresholds, np.float64)[None, :]


def confusion(pred, labels, axis=0):
    """(TP, FP, FN) of N × K decisions against N × K labels in {0, 1}, summed over images (axis 0:
    per style) or over styles (axis 1: per image)."""
    pred = np.asarray(pred, bool)
    y = np.asarray(labels) > 0.5
    return (pred & y).sum(axis), (pred & ~y).sum(axis), (~pred & y).sum(axis)


def f2_from_counts(tp, fp, fn):
    """5 TP / (5 TP + 4 FN + FP), NaN where TP = FP = FN = 0 (elementwise)."""
    tp, fp, fn = (np.asarray(a, np.float64) for a in (tp, fp, fn))
    den = 5 * tp + 4 * fn + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 5 * tp / np.where(den > 0, den, 1), np.nan)


def f2_eq3(precision, recall):
    """Eq. 3 as printed: 5 P R / (4 P + R) (0 when P = R = 0)."""
    p, r = float(precision), float(recall)
    return 0.0 if 4 * p + r == 0 else 5 * p * r / (4 * p + r)


def f2_per_style(pred, labels):
    """F2 of every style (K,) from N × K decisions; NaN for a style with no positive and no prediction."""
    return f2_from_counts(*confusion(pred, labels))


def mean_f2(pred, labels):
    """(mean F2 over the styles that have one, per-style F2 (K,), number of styles averaged)."""
    per = f2_per_style(pred, labels)
    ok = ~np.isnan(per)
    return (float(per[ok].mean()) if ok.any() else float("nan")), per, int(ok.sum())


def f2_micro(pred, labels):
    """F2 of the counts pooled over all styles."""
    tp, fp, fn = confusion(pred, labels)
    return float(f2_from_counts(tp.sum(), fp.sum(), fn.sum()))


def f2_samples(pred, labels):
    """Mean over images of each image's F2 over its K decisions (an image with no positive label and
    no positive prediction counts 1: nothing to find, nothing wrongly claimed)."""
    per = f2_from_counts(*confusion(pred, labels, axis=1))
    return float(np.where(np.isnan(per), 1.0, per).mean())


def best_threshold(scores, labels):
    """(threshold, F2) maximising F2 of one style on these scores (see the module docstring).

    Without a positive image every threshold gives F2 0 or NaN: the threshold is then above the top
    score (nothing predicted) and the F2 NaN."""
    s = np.asarray(scores, np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1) > 0.5
    n_pos = int(y.sum())
    top = float(s.max()) if s.size else 0.0
    above = top + max(1e-6, abs(top) * 1e-6)
    if n_pos == 0:
        return above, float("nan")
    order = np.argsort(-s, kind="stable")
    ss, yy = s[order], y[order]
    # cut after position i (predict ss[:i+1] positive) only where the score changes
    last_of_run = np.r_[ss[1:] != ss[:-1], True]
    tp = np.cumsum(yy)[last_of_run]
    fp = np.cumsum(~yy)[last_of_run]
    fn = n_pos - tp
    f2 = 5 * tp / (5 * tp + 4 * fn + fp)
    j = int(np.argmax(f2))                    # first maximum = highest threshold among the best
    kept = np.flatnonzero(last_of_run)[j]
    nxt = ss[kept + 1] if kept + 1 < len(ss) else ss[kept] - max(1e-6, abs(ss[kept]) * 1e-6)
    return float((ss[kept] + nxt) / 2.0), float(f2[j])


def search_thresholds(scores, labels):
    """Per-style best thresholds (K,) and the F2 each reaches on these (validation) scores."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels)
    out = [best_threshold(s[:, k], y[:, k]) for k in range(s.shape[1])]
    return np.array([t for t, _ in out]), np.array([f for _, f in out])
