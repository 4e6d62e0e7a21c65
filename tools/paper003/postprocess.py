"""Paper 003's post-processing (Sec. II-B, II-E, II-F): model fusion, the style relationship of
eqs. 1–2, and the 1-to-5 styles rule.

Model fusion: the mean of the backbones' probabilities, style by style ("Model Fusion" of Table II).

Style relationship.  From the training labels, P(A|B) = N(A ∩ B) / N(B) (eq. 1,
``data_prep.jd_style.conditional_probability``; a style that never occurs contributes nothing).  Then
for every image and style A::

    P_final(A) = α · P(A) + Σ_{i ∈ M} β_i · P(A | B_i)                         (eq. 2)

with P the network's (fused) probabilities and M the styles B_i ≠ A "that our network predict[s] to be
positive" — here: P(B_i) ≥ t_{B_i}, the per-style thresholds searched on validation for P.  β_i is one
weight per conditioning style B_i.  The paper adds that with no style predicted positive
P_final(A) = P(A); eq. 2 then gives α · P(A), the same decisions once the thresholds are searched again
on P_final (a per-style threshold absorbs the scale).  For the same reason only the ratios β_i / α
matter: :func:`fit_relationship` keeps α = 1 and tunes the β_i on validation by coordinate ascent over
a grid, each trial re-searching the thresholds on P_final and scoring the mean F2 of the decisions.

1-to-5 rule (Sec. II-F: "each image belongs to at least 1 style and at most 5 styles"): an image
with no style above its threshold gets the style of the largest margin score − threshold; one with
more than five keeps the five largest margins.
"""
from __future__ import annotations

import numpy as np

from data_prep.jd_style import conditional_probability

from .metrics import decide, mean_f2, search_thresholds

BETA_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)


def fuse(probabilities):
    """Mean of several N × K probability arrays (one per backbone)."""
    arrs = [np.asarray(p, np.float64) for p in probabilities]
    if not arrs:
        raise ValueError("fuse needs at least one model's probabilities")
    if len({a.shape for a in arrs}) != 1:
        raise ValueError(f"fused probabilities must share a shape, got {[a.shape for a in arrs]}")
    return np.mean(arrs, axis=0)


def relation_matrix(train_labels):
    """P(A|B) of eq. 1 from N × K training labels, entry [a, b]; 0 where B never occurs."""
    return np.nan_to_num(conditional_probability(train_labels), nan=0.0)


def relationship(scores, thresholds, cond, beta, alpha=1.0):
    """P_final of eq. 2 (N × K) for scores P (N × K), thresholds t (K) defining M, P(A|B) ``cond``
    (K × K, [a, b]) and weights β (K, one per conditioning style)."""
    p = np.asarray(scores, np.float64)
    on = decide(p, thresholds).astype(np.float64)
    beta = np.asarray(beta, np.float64)
    cond = np.asarray(cond, np.float64)
    off_diag = cond * (1.0 - np.eye(cond.shape[0]))          # B_i ≠ A
    return float(alpha) * p + (on * beta[None, :]) @ off_diag.T


def one_to_five(scores, thresholds, low=1, high=5):
    """N × K decisions: score ≥ threshold, then at least ``low`` and at most ``high`` styles per image
    by the margin score − threshold (see the module docstring)."""
    margin = np.asarray(scores, np.float64) - np.asarray(thresholds, np.float64)[None, :]
    pred = margin >= 0
    order = np.argsort(-margin, axis=1, kind="stable")
    rows = np.arange(len(margin))[:, None]
    count = pred.sum(1)
    few = count < low
    if few.any():
        pred[rows[few], order[few, :low]] = True
    many = count > high
    if many.any():
        keep = np.zeros_like(pred[many])
        keep[np.arange(many.sum())[:, None], order[many, :high]] = True
        pred[many] = keep
    return pred


def decisions(scores, thresholds, rule=True):
    """The decisions a table scores: thresholded, with the 1-to-5 rule when ``rule``."""
    return one_to_five(scores, thresholds) if rule else decide(scores, thresholds)


def fit_relationship(val_scores, val_labels, cond, grid=BETA_GRID, sweeps=2, rule=True):
    """α = 1 and the β_i of eq. 2 that maximise the validation mean F2 (coordinate ascent over
    ``grid``, ``sweeps`` passes over the 13 β_i; a change is kept only when it improves the mean F2).

    Returns dict(alpha, beta (K,), thresholds_p (K,): the thresholds defining M, thresholds (K,): those
    searched on P_final, val_f2: the validation mean F2 reached, val_f2_start: with β = 0)."""
    p = np.asarray(val_scores, np.float64)
    y = np.asarray(val_labels)
    thr_p, _ = search_thresholds(p, y)

    def score(beta):
        final = relationship(p, thr_p, cond, beta)
        thr, _ = search_thresholds(final, y)
        return mean_f2(decisions(final, thr, rule), y)[0], thr

    beta = np.zeros(p.shape[1])
    start, thr = score(beta)
    best = start
    for _ in range(int(sweeps)):
        changed = False
        for b in range(len(beta)):
            for v in grid:
                if v == beta[b]:
                    continue
                trial = beta.copy()
                trial[b] = v
                f, t = score(trial)
                if f > best + 1e-12:
                    best, beta, thr, changed = f, trial, t, True
        if not changed:
            break
    return dict(alpha=1.0, beta=beta, thresholds_p=thr_p, thresholds=thr, val_f2=best, val_f2_start=start)


def apply_relationship(scores, fit, cond, rule=True):
    """Scores P_final and decisions of ``fit`` (from :func:`fit_relationship`) on new images."""
    final = relationship(scores, fit["thresholds_p"], cond, fit["beta"], fit["alpha"])
    return final, decisions(final, fit["thresholds"], rule)
