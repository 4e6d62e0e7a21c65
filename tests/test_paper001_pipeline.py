"""Paper 001 pipeline pieces: the generated train nets, deploy nets run, ONNX export of FashionNet
(landmark pooling included) matches the engine, the metrics follow the paper's definitions, the
report's claims and flags come from the runs' predictions, and the data adapter's target encoding /
PK ordering."""
import os
import sys

import numpy as np
import pytest

import fashioncaffe as caffe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.paper001 import config, metrics, netgen  # noqa: E402
from tools.paper001.data import pk_order, targets_vector, weights_for  # noqa: E402
from repro_testing import scores_with_hits, write_run  # noqa: E402


def test_train_nets_output_only_losses():
    """Every top a train net leaves unconsumed is printed by the solver at each display (Caffe's "Train
    net output" lines): only the losses and the triplet accuracy may be left, never per-sample blobs
    (the ground-truth visibility gate once printed 256 lines per display)."""
    from fashioncaffe.prototxt import parse_net_text

    for rel, text in {**netgen.generate("tiny"), **netgen.generate("full")}.items():
        if "_train_" not in rel:
            continue
        net = parse_net_text(text, rel)
        consumed = {b for layer in net.layer for b in layer.bottom}
        outputs = {t for layer in net.layer for t in layer.top} - consumed
        assert all(t.startswith("loss_") or t == "triplet_accuracy" for t in outputs), (rel, sorted(outputs))


def _deploy(tmp_path, variant, batch=2):
    cfg = config.SCALES["tiny"]
    p = tmp_path / f"{variant}.prototxt"
    p.write_text(str(netgen.deploy_net(cfg, variant, 12, "t", batch=batch)))
    np.random.seed(0)
    return caffe.Net(str(p), caffe.TEST)


def _feed(net, rng, gt=False):
    s = config.SCALES["tiny"]["size"]
    x = rng.randn(2, 3, s, s).astype(np.float32)
    net.blobs["data"].data[...] = x
    feeds = {"data": x}
    if gt:
        feeds["lm_gt"] = rng.uniform(0, 1, (2, 16)).astype(np.float32)
        feeds["vis_gt"] = (rng.rand(2, 8) > 0.3).astype(np.float32)
        net.blobs["lm_gt"].data[...] = feeds["lm_gt"]
        net.blobs["vis_gt"].data[...] = feeds["vis_gt"]
    return feeds


@pytest.mark.parametrize("variant", ["global", "fn", "fn_gtlm"])
def test_deploy_nets_forward(tmp_path, variant):
    net = _deploy(tmp_path, variant)
    _feed(net, np.random.RandomState(0), gt=variant == "fn_gtlm")
    net.forward()
    assert net.blobs["fc8_category"].data.shape == (2, 50)
    assert net.blobs["fc8_attributes"].data.shape == (2, 12)
    assert net.blobs["fc7_fusion"].data.shape == (2, config.SCALES["tiny"]["fc"])
    if variant != "global":
        assert net.blobs["pool5_local"].data.shape == (2, 8 * config.SCALES["tiny"]["conv"][3], 1, 1)
        assert net.blobs["vis_prob"].data.shape == (2, 2, 8)


@pytest.mark.parametrize("variant", ["fn", "fn_gtlm"])
def test_onnx_export_matches_engine(tmp_path, variant):
    import onnxruntime as ort
    from fashioncaffe.onnx import export_net
    import layers.tensor_impl.landmark_pooling_onnx  # noqa: F401  (registers the converter)

    net = _deploy(tmp_path, variant)
    rng = np.random.RandomState(1)
    # landmarks spread over the map, some visible, some not: make the pose head's outputs vary
    net.params["fc8_landmarks"][0].data[...] = rng.randn(*net.params["fc8_landmarks"][0].data.shape) * 0.01
    net.params["fc8_visibility"][0].data[...] = rng.randn(*net.params["fc8_visibility"][0].data.shape) * 0.5
    feeds = _feed(net, rng, gt=variant == "fn_gtlm")
    outs = ["fc8_category", "fc8_attributes", "fc7_fusion"]
    net.forward()
    want = {b: net.blobs[b].data.copy() for b in outs + ["pool5_local"]}
    path = tmp_path / f"{variant}.onnx"
    export_net(net, str(path), extra_outputs=["fc7_fusion", "pool5_local"])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    got = dict(zip(names, sess.run(None, feeds)))
    assert np.abs(want["pool5_local"]).sum() > 0
    for b in outs + ["pool5_local"]:
        key = b if b in got else next(n for n in names if n.startswith(b))
        np.testing.assert_allclose(got[key], want[b], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
def test_topk_accuracy_caffe_rule():
    s = np.array([[0.1, 0.5, 0.5, 0.2], [0.9, 0.05, 0.03, 0.02]])
    assert metrics.topk_accuracy(s, [1, 0], 1) == 0.5       # tie with class 2 counts against
    assert metrics.topk_accuracy(s, [1, 0], 2) == 1.0
    assert metrics.topk_accuracy(s, [3, 1], 2) == 0.5


def test_attribute_recall_and_types():
    s = np.array([[5, 4, 3, 2, 1.0], [1, 2, 3, 4, 5.0]])
    t = np.array([[1, 0, 0, 1, -1], [1, 1, 0, 0, 1]])
    # top-2: image 0 -> {0, 1}: 1 hit of 2; image 1 -> {4, 3}: 1 hit of 3
    assert metrics.attribute_recall(s, t, 2) == pytest.approx(2 / 5)
    assert metrics.attribute_recall(s, t, 1, columns=[0, 1]) == pytest.approx(2 / 3)
    s2 = s.copy()
    s2[:, 0] = -np.inf                                       # an untrained attribute is never a hit
    assert metrics.attribute_recall(s2, t, 5) == pytest.approx(3 / 5)


def test_retrieval_topk_is_share_of_queries_with_a_hit():
    g = np.eye(4)
    gi = [0, 1, 2, 3]
    q = np.array([[1, 0.1, 0, 0], [0.9, 1.0, 0, 0], [0, 0, 0, 1.0]])
    qi = [0, 0, 2]
    acc = metrics.retrieval_topk(q, qi, g, gi, kmax=4)
    assert acc == [1 / 3, 2 / 3, 2 / 3, 1.0]


def test_first_hit_ranks_give_the_topk_curve():
    g = np.eye(4)
    q = np.array([[1, 0.1, 0, 0], [0.9, 1.0, 0, 0], [0, 0, 0, 1.0]])
    ranked = metrics.retrieval_ranked(q, g, kmax=3)
    first = metrics.first_hit(ranked, [0, 0, 2], [0, 1, 2, 3])
    # query 1's item-0 image ranks second; query 2's item-2 image ranks last (4th), beyond kmax = 3
    assert first.tolist() == [0, 1, -1] and ranked.shape == (3, 3)
    assert metrics.topk_from_first_hit(first, 3) == [1 / 3, 2 / 3, 2 / 3]


def _tasks(hits, first_hits=None, scores=None, labels=None, n_attr=9):
    """Paper-001 predictions with the given category top-3 hits (or scores) and in-shop first hits."""
    if scores is None:
        scores, labels = scores_with_hits(hits)
    n = len(labels)
    rng = np.random.default_rng(5)
    ids = np.array([f"img{i:05d}" for i in range(n)])
    attrs = (rng.random((n, n_attr)) < 0.3).astype(np.float32)
    tasks = {"category": {"ids": ids, "labels": labels, "scores": scores},
             "attributes": {"ids": ids, "labels": attrs, "scores": rng.random((n, n_attr)).astype(np.float32),
                            "types": np.array([metrics.ATTR_TYPES[j % 5] for j in range(n_attr)])}}
    if first_hits is not None:
        gallery = 60
        ranked = []
        for i, fh in enumerate(first_hits):
            item = i % gallery
            others = [j for j in range(gallery) if j != item][:50]
            ranked.append(others if fh < 0 else others[:fh] + [item] + others[fh:49])
        tasks["inshop"] = {"ids": np.array([f"q{i}" for i in range(len(first_hits))]),
                           "labels": np.arange(len(first_hits)) % gallery, "ranked": np.array(ranked),
                           "gallery_ids": np.array([f"g{j}" for j in range(gallery)]),
                           "gallery_labels": np.arange(gallery)}
    return tasks


def _experiment(tmp_path, monkeypatch):
    from tools.repro.layout import Experiment

    monkeypatch.chdir(tmp_path)
    return Experiment("001", "tiny")


def test_claims_verdicts_come_from_the_paired_outcomes(tmp_path, monkeypatch):
    from tools.repro.report import Runs, claims_section

    rng = np.random.default_rng(1)
    base = rng.random(3000) < 0.5
    better = base.copy()
    better[np.flatnonzero(~base)[:300]] = True               # +10 points on the same images
    exp = _experiment(tmp_path, monkeypatch)
    write_run(exp, "fn", 1, _tasks(better, [0] * 40))
    write_run(exp, "global_2step", 1, _tasks(base, [0] * 40))
    write_run(exp, "fn_a10", 1, _tasks(~better, [0] * 40))
    text = "\n".join(claims_section(exp, Runs(exp)))
    assert "landmarks help (FashionNet > global branch only on the same schedule, category top-3): **held**" in text
    assert "on the same schedule, in-shop top-20): **not established (within noise)**" in text
    assert "(all > 10 %, category top-3): **held**" in text
    assert "(ground truth > estimated, category top-3): not measured" in text
    write_run(exp, "fn_a10", 1, _tasks(better, [0] * 40))
    write_run(exp, "fn", 1, _tasks(base, [0] * 40))
    assert "(all > 10 %, category top-3): **did NOT hold (significantly lower)**" in \
        "\n".join(claims_section(exp, Runs(exp)))


def test_detection_rates():
    gt = np.zeros((2, 16))
    pred = gt.copy()
    pred[0, 0] = 0.05
    pred[1, 0] = 0.2
    vis = np.zeros((2, 8))
    vis[:, 0] = 1
    rates, counts = metrics.detection_rates(pred, gt, vis, [0.0, 0.1, 0.3])
    assert rates[0] == [0.0, 0.5, 1.0] and counts[0] == 2 and np.isnan(rates[1][0])


def test_targets_vector_and_weights():
    lm = np.zeros(24, np.float32)
    lm[:8] = [0, 1, 2, 3, 0, 0, 0, 0]
    lm[8:] = np.arange(16) * 4
    v = targets_vector(lm, 64, np.array([1, 0, -1], np.float32), 7)
    assert v.size == 48 + 3 + 1 and v[-1] == 7
    np.testing.assert_allclose(v[0:4], [0, 4 / 64, 0, 0])          # landmark 1 occluded -> 0
    np.testing.assert_array_equal(v[16:20], [1, 1, 0, 0])
    np.testing.assert_array_equal(v[32:40], [0, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(v[40:48], [1, 0, 0, 0, 1, 1, 1, 1])
    wp, wn = weights_for(np.array([10, 90, 0]), np.array([90, 10, 5]), [0, 2])
    assert wp[0] == pytest.approx(5.0) and wn[0] == pytest.approx(100 / 180)
    assert wp[1] == 0 and wn[1] == 0 and wp[2] == 0


def test_pk_order_batches_hold_pairs():
    rng = np.random.RandomState(0)
    recs = [dict(item=i) for i in rng.randint(0, 30, size=200)]
    order = pk_order(recs, 16, 4, 0)
    assert sorted(order) == list(range(200))
    items = np.array([recs[i]["item"] for i in order])
    paired = 0
    for s in range(0, 192, 16):
        b = items[s:s + 16]
        paired += sum((b == x).sum() >= 2 for x in b)
    assert paired / 192 > 0.8


def test_collapsed_variants_are_flagged_and_give_no_verdict(tmp_path, monkeypatch):
    """A run whose scores no longer depend on the image (the bias alone: the class prior) is flagged
    in Table 2, and a claim resting on it reads "no evidence" instead of a verdict."""
    from tools.paper001 import report
    from tools.repro.report import Runs, claims_section

    rng = np.random.default_rng(2)
    prior = rng.normal(size=50)
    dead = (prior + 1e-4 * rng.normal(size=(400, 50))).astype(np.float32)  # input-independent up to noise
    alive = (prior + rng.normal(size=(400, 50))).astype(np.float32)
    assert metrics.input_dependence(dead) < metrics.COLLAPSE_THRESHOLD < 0.5 < metrics.input_dependence(alive)
    labels = alive.argmax(1)
    exp = _experiment(tmp_path, monkeypatch)
    info = {"attributes_trained": 9, "attributes_total": 9}
    write_run(exp, "fn", 1, _tasks(None, scores=alive, labels=labels), info)
    write_run(exp, "fn_a10", 1, _tasks(None, scores=dead, labels=labels), info)
    runs = Runs(exp)
    claims = "\n".join(claims_section(exp, runs))
    assert "(all > 10 %, category top-3): **no evidence (fn_a10 collapsed in training)**" in claims
    table = "\n".join(report.table2(exp, runs))
    assert "[9/9 attrs] **COLLAPSED**" in table and "fn_a10: 0.000, 1 distinct top-1 classes" in table
    assert table.count("**COLLAPSED**") == 2                 # the fn_a10 row and the explanation


def test_reference_rows_prior_and_ceiling(tmp_path, monkeypatch):
    """Hand-counted: the frequency prior ranks the same attributes / categories first for every image;
    perfect ranking tops out at k hits per image, below 100 % when images have more than k positives."""
    from tools.paper001 import baselines, report

    labels = np.array([0, 1, 1, 3])
    attrs = np.array([[1, 1, 1, 1, 0, -1],     # 4 positives: at most 3 of them in a top-3
                      [1, 0, 0, 0, 0, 0],
                      [0, 0, 0, 0, 1, 1],
                      [0, 1, 0, 0, 0, 0]], np.float32)
    types = ["texture", "texture", "texture", "shape", "shape", "shape"]
    rows = baselines.compute(labels, attrs, train_category_counts=[1, 9, 5, 0], train_attribute_positives=[9, 8, 7, 1, 2, 3],
                             attribute_types=types)
    prior, best = rows["frequency prior"], rows["perfect ranking"]
    assert prior["category_top3"] == 0.75                      # classes 1, 2, 0: misses the class-3 image
    assert prior["category_top5"] == 1.0
    # prior top-3 = attributes 0, 1, 2: hits 3 + 1 + 0 + 1 of 4 + 1 + 2 + 1 positives
    assert prior["all_top3"] == pytest.approx(5 / 8)
    assert best["all_top3"] == pytest.approx(7 / 8)            # image 0 loses its 4th positive
    # shape columns 3, 4, 5: prior ranks 5, 4, 3 -> all 3 shape positives (img0:3, img2:4, 5) in its top-3
    assert prior["shape_top3"] == 1.0 and best["shape_top3"] == 1.0
    from tools.repro.report import Runs
    from tools.repro.results import write_json

    exp = _experiment(tmp_path, monkeypatch)
    write_json(os.path.join(exp.out_dir, "baselines.json"), dict(rows, positives_per_test_image=2.0))
    table = "\n".join(report.table2(exp, Runs(exp)))
    assert "| reference: perfect ranking" in table and "2.0 positive attributes each" in table


def test_attribute_auc_ranks_images_within_an_attribute():
    t = np.array([[1, 0], [0, 1], [1, -1], [0, 0]])
    perfect = np.array([[5.0, 0], [1, 3], [4, 9], [2, 1]])     # attribute 0: positives 5, 4 > negatives 1, 2
    assert metrics.attribute_auc(perfect[:, :1], t[:, :1]) == 1.0
    # attribute 1: positive 3 vs negatives 0, 1 -> 1.0; the ignored label (-1, score 9) does not count
    assert metrics.attribute_auc(perfect, t) == 1.0
    flat = np.zeros((4, 2))                                    # ties count half
    assert metrics.attribute_auc(flat, t) == 0.5
    untrained = np.full((4, 2), -np.inf)
    assert np.isnan(metrics.attribute_auc(untrained, t))
