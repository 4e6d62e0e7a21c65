"""Paper 003's F2 (eq. 3), threshold search, fusion, style relationship (eqs. 1–2) and the 1-to-5 rule,
against hand-counted cases."""
import numpy as np
import pytest

from tools.paper003 import metrics as M, paper
from tools.paper003 import postprocess as PP


def test_f2_counts_equal_eq3():
    labels = np.array([[1], [1], [0], [0], [1]])
    pred = np.array([[1], [0], [1], [0], [1]], bool)         # TP 2, FP 1, FN 1
    assert M.confusion(pred, labels) == (2, 1, 1)
    assert M.f2_per_style(pred, labels)[0] == pytest.approx(2 / 3)
    assert M.f2_eq3(2 / 3, 2 / 3) == pytest.approx(2 / 3)
    # TP 1, FP 3, FN 0: precision 1/4, recall 1 -> 5 * 0.25 / (1 + 1) = 0.625 = 5 / (5 + 0 + 3)
    assert M.f2_from_counts(1, 3, 0) == pytest.approx(0.625) == pytest.approx(M.f2_eq3(0.25, 1.0))
    assert M.f2_from_counts(0, 2, 3) == 0.0 and np.isnan(M.f2_from_counts(0, 0, 0))


def test_mean_f2_skips_styles_without_f2_and_says_so():
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    pred = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
    # style 1: TP 1 FN 1 -> 5/9; style 2: TP 1 FP 1 -> 5/6; style 3: nothing -> NaN
    mean, per, n = M.mean_f2(pred, labels)
    assert per[0] == pytest.approx(5 / 9) and per[1] == pytest.approx(5 / 6) and np.isnan(per[2])
    assert n == 2 and mean == pytest.approx((5 / 9 + 5 / 6) / 2)


def test_micro_and_per_image_f2():
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    pred = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
    # pooled: TP 2, FP 1, FN 1 -> 10 / 15
    assert M.f2_micro(pred, labels) == pytest.approx(2 / 3)
    # per image: (TP 1, FP 1) 5/6; (TP 1) 1; (FN 1) 0 -> mean 11/18
    assert M.f2_samples(pred, labels) == pytest.approx((5 / 6 + 1 + 0) / 3)


def test_threshold_search_by_hand():
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    y = np.array([1, 0, 1, 0, 0])
    # k=1: 5/9, k=2: 5/10, k=3: 10/11 (best), k=4: 10/12, k=5: 10/13
    thr, f2 = M.best_threshold(s, y)
    assert thr == pytest.approx(0.65) and f2 == pytest.approx(10 / 11)
    assert M.f2_per_style(M.decide(s[:, None], [thr]), y[:, None])[0] == pytest.approx(f2)
    # ties are cut together: k=2 (both 0.5s) gives 5/6, k=3 gives 5/7
    thr, f2 = M.best_threshold([0.5, 0.5, 0.2], [1, 0, 0])
    assert thr == pytest.approx(0.35) and f2 == pytest.approx(5 / 6)
    # equal F2 at several cuts: the highest threshold (fewest positives) is kept
    thr, f2 = M.best_threshold([0.9, 0.1], [1, 0])
    assert thr == pytest.approx(0.5) and f2 == 1.0
    thr, f2 = M.best_threshold([0.3, 0.2], [0, 0])
    assert thr > 0.3 and np.isnan(f2)
    thrs, f2s = M.search_thresholds(np.array([[0.9, 0.3], [0.2, 0.8]]), np.array([[1, 0], [0, 1]]))
    assert thrs == pytest.approx([0.55, 0.55]) and f2s.tolist() == [1.0, 1.0]


def test_paper_means_are_plain_means_of_the_styles():
    for row in paper.TABLE2.values():
        assert np.mean(row[:13]) == pytest.approx(row[13], abs=0.005)


def test_fusion_and_relation_matrix():
    np.testing.assert_allclose(PP.fuse([[[0.2, 0.4]], [[0.6, 0.0]], [[0.1, 0.2]]]), [[0.3, 0.2]])
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1], [1, 1, 0]])
    c = PP.relation_matrix(labels)          # [a, b] = N(a ∩ b) / N(b)
    np.testing.assert_allclose(c, [[1, 2 / 3, 0], [2 / 3, 1, 1], [0, 1 / 3, 1]])
    assert PP.relation_matrix(np.array([[1, 0], [1, 0]]))[0, 1] == 0   # style never seen: no information


def test_relationship_eq2_by_hand():
    cond = np.array([[1.0, 0.9, 0.0], [0.3, 1.0, 0.5], [0.0, 0.2, 1.0]])
    p = np.array([[0.1, 0.8, 0.6], [0.1, 0.2, 0.3]])
    thr = np.array([0.5, 0.5, 0.5])           # image 0: M = {1, 2}; image 1: M = {}
    beta = np.array([0.1, 0.2, 0.4])
    out = PP.relationship(p, thr, cond, beta, alpha=2.0)
    # image 0, A=0: 2·0.1 + 0.2·0.9 + 0.4·0.0;  A=1: 2·0.8 + 0.4·0.5 (B=1 is A itself);  A=2: 2·0.6 + 0.2·0.2
    np.testing.assert_allclose(out[0], [0.2 + 0.18, 1.6 + 0.2, 1.2 + 0.04])
    np.testing.assert_allclose(out[1], 2.0 * p[1])            # M empty: α · P(A)


def test_one_to_five_rule():
    thr = np.full(7, 0.5)
    s = np.array([[0.1, 0.4, 0.3, 0.0, 0.0, 0.0, 0.0],     # none above: the largest margin (style 1)
                  [0.9, 0.6, 0.7, 0.8, 0.55, 0.51, 0.95],  # seven above: keep the five largest
                  [0.9, 0.6, 0.1, 0.1, 0.1, 0.1, 0.1]])    # two: unchanged
    d = PP.one_to_five(s, thr)
    assert d[0].tolist() == [False, True, False, False, False, False, False]
    assert d[1].tolist() == [True, True, True, True, False, False, True]
    assert d[2].tolist() == [True, True, False, False, False, False, False]
    assert (PP.decisions(s, thr, rule=False) == (s >= 0.5)).all()


def test_fit_relationship_learns_an_implication():
    rng = np.random.default_rng(0)
    n = 400
    office = rng.random(n) < 0.15
    lady = office | (rng.random(n) < 0.05)                   # Office lady => Lady
    other = ~lady | (rng.random(n) < 0.2)                    # every image has a style, as in JD's data
    y = np.stack([lady, office, other], 1).astype(int)
    p = np.stack([np.clip(0.3 + 0.05 * lady + rng.normal(0, 0.2, n), 0, 1),   # Lady: a weak network
                  np.clip(0.2 + 0.6 * office + rng.normal(0, 0.1, n), 0, 1),  # Office lady: a good one
                  np.clip(0.3 + 0.4 * other + rng.normal(0, 0.15, n), 0, 1)], 1)
    cond = PP.relation_matrix(y)
    fit = PP.fit_relationship(p, y, cond)
    assert fit["alpha"] == 1.0 and fit["beta"][1] > 0       # Office lady's evidence is used for Lady
    assert fit["val_f2"] > fit["val_f2_start"] + 0.05
    final, dec = PP.apply_relationship(p, fit, cond)
    assert M.mean_f2(dec, y)[0] == pytest.approx(fit["val_f2"])
    assert (dec.sum(1) >= 1).all() and (dec.sum(1) <= 5).all()
