"""Paper 004's search API and metrics, against hand-computed cases: eq. 4 / eq. 6 distances (faiss =
exact numpy), prototypes, relevance weights (eq. 5), classic's targets, per-session state, top-k
accuracy, the manipulation protocols and NDCG."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.paper004 import metrics  # noqa: E402
from tools.paper004.features import Extracted  # noqa: E402
from tools.paper004.search import (ClassicTargets, FashionSearch, GalleryIndex, Prototypes, l2n,  # noqa: E402
                                   relevance_weights)


def rand_sigs(rng, n, dims=(4, 3)):
    return {"color": rng.randn(n, dims[0]).astype(np.float32), "general": rng.randn(n, dims[1]).astype(np.float32)}


@pytest.mark.parametrize("distance", ["squared", "euclidean"])
def test_gallery_distance_is_the_weighted_sum_over_normalised_signatures(distance):
    rng = np.random.RandomState(0)
    g, q = rand_sigs(rng, 30), rand_sigs(rng, 4)
    idx = GalleryIndex(g, [f"g{i}" for i in range(30)], distance=distance)
    w = np.array([[2.0, 0.5]] * 2 + [[1.0, 1.0]] * 2, np.float32)
    want = np.zeros((4, 30))
    for v, wv in zip(["color", "general"], w.T):
        d = ((l2n(q[v])[:, None] - l2n(g[v])[None]) ** 2).sum(-1)
        want += wv[:, None] * (np.sqrt(d) if distance == "euclidean" else d)
    np.testing.assert_allclose(idx.distances(q, w), want, rtol=1e-4, atol=1e-5)
    ranked, dist = idx.search(q, k=30, weights=w)
    np.testing.assert_array_equal(ranked, np.argsort(want, axis=1, kind="stable"))
    np.testing.assert_allclose(dist, np.sort(want, axis=1), rtol=1e-4, atol=1e-4)


def test_prototypes_and_manipulation():
    f = np.array([[1, 0], [3, 0], [0, 1], [0, 5], [1, 1]], np.float32)
    labels = {"color": np.array([0, 0, 1, 1, -1])}
    p = Prototypes.fit({"color": f}, labels, {"color": 3})
    np.testing.assert_allclose(p.table["color"][0], [1, 0])        # mean of the normalised rows
    np.testing.assert_allclose(p.table["color"][1], [0, 1])
    assert p.has("color", 1) and not p.has("color", 2)           # no image shows value 2
    q = {"color": np.array([[5, 5], [1, 0]], np.float32), "general": np.ones((2, 3), np.float32)}
    out = p.apply(q, [{"color": 1}, {}])
    np.testing.assert_allclose(out["color"], [[0, 1], [1, 0]])
    np.testing.assert_allclose(out["general"], l2n(np.ones((2, 3))))
    with pytest.raises(ValueError, match="no prototype"):
        p.apply(q, [{"color": 2}, {}])


def test_relevance_weights_favour_the_signature_the_picks_share():
    picked = {"color": np.array([[1, 0], [1, 0], [1, 0.1]], np.float32),   # the picks agree on colour
              "general": np.array([[1, 0], [0, 1], [-1, 0]], np.float32)}  # ... and not on the rest
    w = relevance_weights(picked)
    d_c = (l2n(picked["color"])[:, None] - l2n(picked["color"])[None]) ** 2
    d_g = (l2n(picked["general"])[:, None] - l2n(picked["general"])[None]) ** 2
    raw = np.array([1 / np.triu(d_c.sum(-1), 1).sum(), 1 / np.triu(d_g.sum(-1), 1).sum()])
    np.testing.assert_allclose(w, raw * 2 / raw.sum(), rtol=1e-4)
    assert w[0] > 10 * w[1] and w.mean() == pytest.approx(1.0)
    with pytest.raises(ValueError):
        relevance_weights({"color": picked["color"][:1]})


def test_classic_targets_average_the_best_agreeing_training_images():
    feats = np.array([[1, 0], [0, 1], [1, 1], [5, 0]], np.float32)
    labels = np.array([[0, 1], [0, 2], [1, 1], [0, 1]])
    rep = ClassicTargets(feats, labels).represent([[0, 1], [1, 2]])
    np.testing.assert_allclose(rep[0], [1, 0], atol=1e-6)              # rows 0 and 3 agree on both
    # target (1, 2): rows 1 (attr 1) and 2 (attr 0) agree on one attribute each -> their mean
    np.testing.assert_allclose(rep[1], l2n(l2n(feats[1]) + l2n(feats[2])), atol=1e-6)


class FakeSource:
    """Signatures read off the image: pixel [0, 0] = colour value, [0, 1] = general bucket."""

    def __init__(self):
        self.calls = 0

    def extract(self, images, manipulation=None):
        self.calls += 1
        imgs = list(images)
        col = np.array([img[0, 0, 0] for img in imgs])
        gen = np.array([img[0, 1, 0] for img in imgs])
        sig_c = np.eye(3, dtype=np.float32)[col] + 0.01
        sig_g = np.eye(2, dtype=np.float32)[gen] + 0.01
        pc = np.eye(3, dtype=np.float32)[col] * 0.8 + 0.2 / 3
        return Extracted({"color": sig_c, "general": sig_g}, {"color": pc, "category": np.eye(2)[gen]})


def image(c, g):
    img = np.zeros((4, 4, 3), np.uint8)
    img[0, 0] = c
    img[0, 1] = g
    return img


def test_search_session_manipulation_feedback_and_state_per_session():
    gallery = [image(c, g) for c in range(3) for g in range(2)]     # ids "c<c>g<g>"
    ids = [f"c{c}g{g}" for c in range(3) for g in range(2)]
    train = gallery * 2
    values = {"color": ["red", "blue", "black"], "category": ["tee", "skirt"]}
    fs = FashionSearch.build(FakeSource(), gallery, ids, train, {"color": np.array([0, 0, 1, 1, 2, 2] * 2)},
                             values, ["color"], "proposed")
    a, b = fs.session(image(0, 1)), fs.session(image(2, 0))
    assert a.attributes()["color"][0] == "red" and a.attributes()["category"] == ("skirt", 1.0)
    assert a.search(k=1)[0].id == "c0g1"
    assert a.manipulate({"color": "black"}) == {"color": "black"}
    top = a.search(k=2)
    assert top[0].id == "c2g1" and top[0].rank == 1 and top[1].distance >= top[0].distance
    assert b.search(k=1)[0].id == "c2g0"                           # b is untouched by a's manipulation
    assert a.manipulate({"color": "red"}) == {}                      # back to the predicted value
    with pytest.raises(ValueError, match="not a special"):
        a.manipulate({"category": "tee"})
    with pytest.raises(ValueError, match="not a value"):
        a.manipulate({"color": "mauve"})
    # feedback: picks sharing the colour (blue) but not the category -> colour weighs more
    w = a.feedback(["c1g0", "c1g1"])
    assert w["color"] > w["general"]
    assert a.weights is not None and b.weights is None
    # one pick replaces the query
    a.feedback(["c2g0"])
    assert a.search(k=1)[0].id == "c2g0" and a.attributes()["color"][0] == "black"
    with pytest.raises(ValueError, match="unknown ids"):
        a.feedback(["nope"])


# ---------------------------------------------------------------------------------------------
GAL = np.array([[0, 1, 2], [0, 1, 1], [1, 1, 2], [0, -1, 2], [2, 0, 0]])
QRY = np.array([[0, 1, 2], [1, 1, 1], [0, -1, 2], [2, 0, 1]])


def test_hits_first_hit_and_topk_by_hand():
    ranked = np.array([[1, 3, 0, 2], [0, 1, 2, 4], [4, 3, 2, 1]])
    targets = np.array([[0, 1, 2], [1, 1, 2], [2, 0, 0]])
    h = metrics.hits(ranked, GAL, targets)
    # gallery 3 has a missing label: never a match even where the target's other values agree
    assert h.tolist() == [[False, False, True, False], [False, False, True, False], [True, False, False, False]]
    first = metrics.first_hit(h)
    assert first.tolist() == [2, 2, 0]
    assert metrics.topk_accuracy(first, kmax=4) == [1 / 3, 1 / 3, 1.0, 1.0]
    assert metrics.first_hit(np.zeros((1, 3), bool)).tolist() == [-1]


def test_protocols_by_hand():
    d = metrics.direct_tasks(QRY)
    assert [t.query for t in d] == [0, 1, 3]                        # query 2 has a missing label
    sizes = [3, 2, 3]
    tasks = metrics.manipulation_tasks(QRY, sizes, GAL, np.random.default_rng(0), n_changes=1)
    for t in tasks:
        assert len(t.changes) == 1 and t.query in (0, 1, 3)
        (a, v), = t.changes.items()
        assert v != QRY[t.query, a] and metrics.match_matrix(t.target[None], GAL).any()
    two = metrics.manipulation_tasks(QRY, sizes, GAL, np.random.default_rng(1), n_changes=2)
    assert all(len(t.changes) == 2 for t in two)
    # enumerated: query 0 (0,1,2) -> (1,1,2) [gallery 2], (0,1,1) [gallery 1]; query 1 (1,1,1) -> (0,1,1),
    # (1,1,2); query 3 (2,0,1) -> (2,0,0) [gallery 4]
    en = metrics.enumerated_tasks(QRY, sizes, GAL)
    assert sorted((t.query, tuple(int(x) for x in t.target)) for t in en) == [
        (0, (0, 1, 1)), (0, (1, 1, 2)), (1, (0, 1, 1)), (1, (1, 1, 2)), (3, (2, 0, 0))]
    assert sorted(metrics.per_attribute(en, ["a", "b", "c"])) == ["a", "b", "c"]
    pa = metrics.per_attribute(en, ["a", "b", "c"])
    assert len(pa["a"]) == 2 and len(pa["b"]) == 0 and len(pa["c"]) == 3


def test_ndcg_by_hand():
    target = np.array([[0, 1, 2]])
    # relevance over the gallery: [1, 2/3, 2/3, 2/3, 0]; ranking the worst first
    ranked = np.array([[4, 3, 0]])
    disc = 1 / np.log2(np.arange(2, 5))
    g = lambda r: 2.0 ** r - 1  # noqa: E731
    dcg = g(0) * disc[0] + g(2 / 3) * disc[1] + g(1) * disc[2]
    idcg = g(1) * disc[0] + g(2 / 3) * disc[1] + g(2 / 3) * disc[2]
    assert metrics.ndcg_at_k(ranked, GAL, target, k=3)[0] == pytest.approx(dcg / idcg)
    assert metrics.ndcg_at_k(np.array([[0, 1, 2]]), GAL, target, k=3)[0] == pytest.approx(1.0)
