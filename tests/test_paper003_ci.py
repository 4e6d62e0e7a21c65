"""Paper 003 at scale ``ci`` (the shared run of tests/test_papers.py): Table II / IV cells recomputed
from the saved predictions with code of this file (not the paper's metrics), the fusion and the
relationship tasks checked against their definitions, and the driver's plan (stage order, the
1 <- 2 / 4 <- 8 initialisation, --weights) and the paired bootstrap on hand-made cases."""
import json
import os

import numpy as np
import pytest

from tools.paper003 import config, metrics, netgen, paper
from tools.repro.layout import Experiment
from tools.repro.results import load_predictions


def _cells(md_text, first_cell):
    for ln in md_text.splitlines():
        if ln.startswith("|"):
            cells = [c.strip() for c in ln.strip().strip("|").split("|")]
            if cells[0] == first_cell:
                return cells
    raise AssertionError(f"no row {first_cell!r}")


def _mean_f2_by_hand(pred, labels):
    """Eq. 3 per style from precision and recall, 0 where a style has positives but no true positive,
    skipped where a style has neither positives nor predictions; then the mean over styles."""
    out = []
    for k in range(labels.shape[1]):
        p, y = pred[:, k], labels[:, k] > 0.5
        tp = int((p & y).sum())
        if not y.any() and not p.any():
            continue
        if tp == 0:
            out.append(0.0)
            continue
        precision, recall = tp / p.sum(), tp / y.sum()
        out.append(5 * precision * recall / (4 * precision + recall))
    return float(np.mean(out))


def test_ci_scale_config():
    ci, tiny = config.SCALES["ci"], config.SCALES["tiny"]
    assert Experiment("003", "ci").data_dir == Experiment("003", "tiny").data_dir
    assert ci["crop"] == tiny["crop"] and ci["net_variant"] == tiny["net_variant"]
    assert all(ci["iters"][k] < tiny["iters"][k] for k in tiny["iters"])
    assert config.SCALES["full"]["protocol"] == "per_style" and tiny["protocol"] == "shared"


def test_table4_cells_recomputed_from_predictions(paper_ci):
    folder = paper_ci("003")
    exp = Experiment("003", "ci")
    p = load_predictions(str(folder / exp.run_dir("cost", 1) / "predictions.npz"))
    text = (folder / exp.out_dir / "table4.md").read_text()
    for row, task in (("+cost-sensitive", "fusion"), ("+style relationship", "final")):
        t = p[task]
        assert t["scores"].shape == t["labels"].shape == (len(t["ids"]), 13) and t["thresholds"].shape == (13,)
        pred = t["scores"] >= t["thresholds"][None, :]
        assert _cells(text, row)[2] == f"{_mean_f2_by_hand(pred, t['labels']):.2f}", row
    # the fusion is the mean of the three backbones' probabilities
    fused = np.mean([p[bb]["scores"] for bb in config.BACKBONES], axis=0)
    np.testing.assert_allclose(p["fusion"]["scores"], fused, rtol=0, atol=1e-12)
    # the rule task: between one and five styles per image, decided from the same scores and thresholds
    rule = metrics.task_decisions(p["final_rule"])
    assert rule.sum(1).min() >= 1 and rule.sum(1).max() <= 5
    np.testing.assert_array_equal(p["final_rule"]["scores"], p["final"]["scores"])


def test_table2_cell_recomputed_from_predictions(paper_ci):
    folder = paper_ci("003")
    exp = Experiment("003", "ci")
    p = load_predictions(str(folder / exp.run_dir("augment", 1) / "predictions.npz"))
    t = p["densenet121"]
    pred = t["scores"] >= t["thresholds"][None, :]
    text = (folder / exp.out_dir / "table2.md").read_text()
    cells = _cells(text, "**mean**")
    assert cells[4] == f"**{_mean_f2_by_hand(pred, t['labels']):.2f}**"
    y = t["labels"][:, 2] > 0.5
    tp, fp, fn = (pred[:, 2] & y).sum(), (pred[:, 2] & ~y).sum(), (~pred[:, 2] & y).sum()
    assert _cells(text, "3 Office lady")[4] == f"{5 * tp / (5 * tp + 4 * fn + fp):.2f}"
    # thresholds were searched on the validation split saved beside
    v = p["val_densenet121"]
    np.testing.assert_array_equal(v["thresholds"], t["thresholds"])
    assert not set(v["ids"]) & set(t["ids"])


def _plan(tmp_path, monkeypatch, scale, variant, weights=""):
    os.makedirs(tmp_path, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    exp = Experiment("003", scale, weights=weights)
    os.makedirs(exp.data_dir)
    with open(os.path.join(exp.data_dir, "stats.json"), "w") as f:
        json.dump({"jd": {"train": 80, "val": 20, "test": 20}, "attr": {"train": 50, "val": 10}}, f)
    return netgen.run_plan(exp, variant, 1), exp


def test_full_plan_trains_per_style_with_the_papers_initialisation(tmp_path, monkeypatch):
    plan, exp = _plan(tmp_path, monkeypatch, "full", "cost")
    rd = exp.run_dir("cost", 1)
    for bb in config.BACKBONES:
        names = [s.name for s in plan.stages if s.name.startswith(bb + "_")]
        assert names[0] == f"{bb}_pretrain" and len(names) == 14
        by = {s.name: s for s in plan.stages}
        assert names.index(f"{bb}_style2") < names.index(f"{bb}_style1")
        assert names.index(f"{bb}_style8") < names.index(f"{bb}_style4")
        it = config.SCALES["full"]["iters"]["style"]
        assert by[f"{bb}_style1"].weights == f"{rd}/{bb}_style2_iter_{it}.caffemodel"
        assert by[f"{bb}_style4"].weights == f"{rd}/{bb}_style8_iter_{it}.caffemodel"
        pre = config.SCALES["full"]["iters"]["pretrain"]
        assert by[f"{bb}_style3"].weights == f"{rd}/{bb}_pretrain_iter_{pre}.caffemodel"
        tv = plan.files[f"{rd}/{bb}_style7_train_val.prototxt"]
        assert '\\"pos_weight\\": 1.5' in tv and '\\"style\\": 7' in tv and '\\"ratio\\": 3' in tv
        assert '\\"pos_weight\\": 1.0' in plan.files[f"{rd}/{bb}_style3_train_val.prototxt"]


def test_plan_without_transfer_starts_from_weights_or_fillers(tmp_path, monkeypatch):
    plan, _ = _plan(tmp_path, monkeypatch, "tiny", "none")
    assert [s.name for s in plan.stages] == [f"{bb}_styles" for bb in config.BACKBONES]
    assert all(s.weights is None for s in plan.stages)
    tv = next(t for p, t in plan.files.items() if p.endswith("densenet121_styles_train_val.prototxt"))
    assert '\\"erase\\": null' in tv and '\\"rotate\\": 0' in tv
    plan, _ = _plan(tmp_path / "w", monkeypatch, "tiny", "transfer", weights="imagenet.caffemodel")
    pre = [s for s in plan.stages if s.name.endswith("_pretrain")]
    assert len(pre) == 3 and all(s.weights == "imagenet.caffemodel" for s in pre)


def _task(scores, labels):
    thr, _ = metrics.search_thresholds(scores, labels)
    return {"ids": np.arange(len(labels)).astype(str), "labels": labels, "scores": scores, "thresholds": thr,
            "one_to_five": np.array([0])}


def test_paired_bootstrap_of_mean_f2():
    rng = np.random.default_rng(0)
    y = (rng.random((300, 13)) < 0.3).astype(np.int64)
    noise = rng.random((300, 13))
    good, bad = _task(0.7 * y + 0.3 * noise, y), _task(noise, y)
    d, lo, hi = metrics.bootstrap_mean_f2_difference([good], [bad], resamples=300)
    assert d > 0 and 0 < lo <= d <= hi
    d, lo, hi = metrics.bootstrap_mean_f2_difference([good], [good], resamples=50)
    assert d == lo == hi == 0
    other = dict(bad, ids=np.arange(1, 301).astype(str))
    with pytest.raises(ValueError):
        metrics.bootstrap_mean_f2_difference([good], [other])


def test_score_matches_eq3_and_keeps_json_numbers():
    rng = np.random.default_rng(1)
    y = (rng.random((50, 13)) < 0.3).astype(np.int64)
    y[:, 0] = 0                                   # a style without positives
    t = _task(rng.random((50, 13)), y)
    t["thresholds"][0] = 2.0                      # ... and without predictions: no F2
    s = metrics.score({"fusion": t, "val_fusion": t})
    assert s["fusion"]["f2"][paper.STYLES[0]] is None and s["fusion"]["styles_averaged"] == 12
    pred = t["scores"] >= t["thresholds"][None, :]
    assert s["fusion"]["mean_f2"] == pytest.approx(_mean_f2_by_hand(pred, y))
    assert json.loads(json.dumps(s)) == s and s["val"]["fusion"] == s["fusion"]


def test_auc_and_all_positive_reference():
    y = np.array([[1], [0], [1], [0]])
    assert metrics.auc(np.array([0.9, 0.1, 0.8, 0.2]), y) == 1.0
    assert metrics.auc(np.array([0.5, 0.5, 0.5, 0.5]), y) == 0.5
    assert np.isnan(metrics.auc(np.array([0.1, 0.2]), np.array([1, 1])))
    p = 0.5
    assert metrics.all_positive_f2(y) == pytest.approx(5 * p / (4 * p + 1))
    assert metrics.all_positive_f2(np.array([[1, 0], [0, 0]])) == pytest.approx((5 * p / (4 * p + 1) + 0) / 2)
