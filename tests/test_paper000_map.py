"""Paper 000's mAP@R (eq. 10): exact k-NN in chunks against a brute-force reference."""
import numpy as np
import pytest

from tools.paper000.metrics import average_precision, brute_force_map, knn, map_at_r, map_per_group


def test_average_precision_hand_example():
    # relevant at ranks 1, 3: p(1) = 1, p(3) = 2/3, M = 2 -> (1 + 2/3) / 2
    ap = average_precision([[1, 0, 1, 0]])
    assert ap[0] == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([[0, 0, 0]])[0] == 0.0          # M = 0 -> AP 0
    assert average_precision([[0, 0, 1]])[0] == pytest.approx(1 / 3)  # divided by M (retrieved relevant)


def test_tiny_example_by_hand():
    # 1-D features; group with 2 labels; image 3 not annotated (excluded everywhere)
    f = np.array([[0.0], [1.0], [10.0], [0.5], [11.0]])
    y = np.array([[1, 0], [1, 0], [0, 1], [-1, -1], [0, 1]])
    # evaluated: 0, 1, 2, 4 (indices 0..3 after selection: 0, 1, 10, 11); R = 2
    # q=0: nn 1 (rel), 10 (not) -> AP = 1;  q=1: nn 0 (rel), 10 -> 1;  q=10: 11 (rel), 1 -> 1;  q=11: same -> 1
    assert map_at_r(f, y, r=2) == pytest.approx(1.0)
    # R = 3: q=0: 1 (rel), 10, 11 -> 1 ; all queries rank their partner first -> 1
    assert map_at_r(f, y, r=3) == pytest.approx(1.0)
    # swap a label so one query ranks a relevant item second
    y2 = y.copy()
    y2[1] = [0, 1]
    # q=0: nn 1 (not), 10 (not) -> AP 0 ; q=1 (label b): 0 (not), 10 (rel) -> 1/2
    # q=10: 11 (rel), 1 (rel) -> 1 ; q=11: 10 (rel), 1 (rel) -> 1
    assert map_at_r(f, y2, r=2) == pytest.approx((0 + 0.5 + 1 + 1) / 4)


@pytest.mark.parametrize("n,d,m,r", [(60, 5, 3, 10), (120, 8, 4, 50), (30, 3, 2, 50)])
def test_matches_brute_force(n, d, m, r):
    rng = np.random.RandomState(n)
    f = rng.randn(n, d)
    y = (rng.rand(n, m) < 0.3).astype(np.float32)
    y[rng.rand(n) < 0.2] = -1  # missing group on some images
    assert map_at_r(f, y, r=r, exact=True) == pytest.approx(brute_force_map(f, y, r=r), abs=1e-12)
    assert map_at_r(f, y, r=r) == pytest.approx(brute_force_map(f, y, r=r), abs=1e-6)


def test_ties_break_by_index_and_chunking_does_not_matter():
    rng = np.random.RandomState(0)
    f = rng.randint(0, 3, size=(80, 2)).astype(np.float64)  # many exact ties
    y = (rng.rand(80, 3) < 0.4).astype(np.float32)
    ref = brute_force_map(f, y, r=10)
    for chunk in (7, 32, 4096):
        assert map_at_r(f, y, r=10, chunk=chunk, exact=True) == pytest.approx(ref, abs=1e-12)
    nn = knn(f, 10, chunk=5, exact=True)
    for q in range(80):
        d = ((f - f[q]) ** 2).sum(1)
        order = sorted((c for c in range(80) if c != q), key=lambda c: (d[c], c))[:10]
        assert list(nn[q]) == order


def test_self_is_excluded_and_small_sets():
    f = np.zeros((3, 4))
    nn = knn(f, 50)
    assert nn.shape == (3, 2) and all(q not in nn[q] for q in range(3))
    y = np.array([[1.0], [-1.0], [-1.0]])
    assert map_at_r(f, y) is None  # fewer than 2 evaluated images


def test_per_group_and_cosine():
    rng = np.random.RandomState(3)
    f = rng.randn(40, 6)
    y = np.concatenate([(rng.rand(40, 3) < 0.5), (rng.rand(40, 2) < 0.5)], 1).astype(np.float32)
    res = map_per_group(lambda gi: f, y, [3, 2], ["a", "b"], r=5)
    assert set(res) == {"a", "b"}
    assert res["a"] == pytest.approx(brute_force_map(f, y[:, :3], r=5), abs=1e-6)
    # cosine distance = euclidean distance on L2-normalised features
    fn = f / np.linalg.norm(f, axis=1, keepdims=True)
    assert map_at_r(f, y[:, :3], r=5, distance="cosine") == pytest.approx(brute_force_map(fn, y[:, :3], r=5), abs=1e-6)


def test_first_queries_only_equal_the_full_search():
    rng = np.random.default_rng(3)
    f = rng.integers(0, 4, size=(60, 3)).astype(np.float32)   # many ties
    full = knn(f, 7, chunk=16)
    part = knn(f, 7, chunk=16, n_queries=21)
    assert part.shape == (21, 7)
    np.testing.assert_array_equal(part, full[:21])
