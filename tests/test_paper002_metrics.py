"""tools/paper002/metrics.py on hand-counted cases."""
import numpy as np
import pytest

from tools.paper002 import metrics as m

# 5 images, 4 categories; the rank of the true category is written beside each row
SCORES = np.array([
    [0.9, 0.1, 0.0, 0.0],   # label 0: best                         -> rank 0
    [0.5, 0.4, 0.3, 0.2],   # label 2: two above                     -> rank 2
    [0.1, 0.2, 0.3, 0.4],   # label 0: three above                   -> rank 3
    [0.2, 0.2, 0.2, 0.1],   # label 1: ties with 0 and 2 count against -> rank 2
    [0.0, 0.3, 0.1, 0.2],   # label 1: best                          -> rank 0
])
LABELS = np.array([0, 2, 0, 1, 1])


def test_rank_and_topk_accuracy_per_image():
    assert list(m.rank_of_true(SCORES, LABELS)) == [0, 2, 3, 2, 0]
    assert m.topk_accuracy(SCORES, LABELS, 1) == pytest.approx(2 / 5)
    assert m.topk_accuracy(SCORES, LABELS, 2) == pytest.approx(2 / 5)
    assert m.topk_accuracy(SCORES, LABELS, 3) == pytest.approx(4 / 5)
    assert m.topk_accuracy(SCORES, LABELS, 4) == 1.0


def test_macro_recall_is_a_different_number():
    # top-3: category 0 -> 1 of 2 images, category 1 -> 2 of 2, category 2 -> 1 of 1 (3 absent)
    assert m.per_class_topk_recall(SCORES, LABELS, 3) == {0: 0.5, 1: 1.0, 2: 1.0}
    assert m.macro_topk_recall(SCORES, LABELS, 3) == pytest.approx(2.5 / 3)
    assert m.macro_topk_recall(SCORES, LABELS, 3) != m.topk_accuracy(SCORES, LABELS, 3)


def test_iterations_to_accuracy_and_shared_target():
    it = [0, 100, 200, 300]
    fast, slow = [0.1, 0.6, 0.7, 0.72], [0.1, 0.3, 0.5, 0.65]
    target = m.shared_target([fast, slow], fraction=0.9)
    assert target == pytest.approx(0.9 * 0.65)
    assert m.iterations_to_accuracy(it, fast, target) == 100
    assert m.iterations_to_accuracy(it, slow, target) == 300
    assert m.iterations_to_accuracy(it, slow, 0.9) is None
    assert m.iterations_to_accuracy(it, [0.2, 0.5, 0.5, 0.5], 0.5) == 100  # reaching counts (≥)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="N × C"):
        m.topk_accuracy(SCORES[:, 0], LABELS, 1)
    with pytest.raises(ValueError, match="below C = 4"):
        m.topk_accuracy(SCORES, [0, 1, 2, 3, 4], 1)
