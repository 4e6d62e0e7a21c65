"""The reproduction framework's own pieces (tools/repro): statistics, cells, the command's flags, and
training stages through ``fashioncaffe train --snapshot_prefix`` with resuming."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from tools.repro import cli, layout, training
from tools.repro.registry import Paper
from tools.repro.report import cell, lookup
from tools.repro.stats import paired_bootstrap, verdict

from test_solvers_helpers import make_case


def test_paired_bootstrap_separates_a_real_gap_from_noise():
    rng = np.random.default_rng(0)
    a = (rng.random(2000) < 0.6).astype(int)
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)
    b = a.copy()
    b[np.flatnonzero(a)[:200]] = 0                          # b misses 200 of a's hits: 10 points lower
    d, lo, hi = paired_bootstrap(a, b)
    assert d == pytest.approx(0.1) and 0 < lo < d < hi and verdict(lo, hi) == "held"
    noisy = (rng.random(2000) < 0.6).astype(int)             # an unrelated run at the same level
    d, lo, hi = paired_bootstrap(a, noisy)
    assert lo < 0 < hi and verdict(lo, hi).startswith("not established")
    assert verdict(*paired_bootstrap(b, a)[1:]).startswith("did NOT hold")
    # ratio of sums (attribute recall): per-image hits over per-image positives
    hits_a, hits_b, pos = np.array([2, 1, 1, 0]), np.array([1, 1, 0, 0]), np.array([2, 2, 1, 1])
    assert paired_bootstrap(hits_a, hits_b, pos, pos)[0] == pytest.approx(4 / 6 - 2 / 6)


def test_cells_are_mean_and_sample_std_over_seeds():
    assert cell([51.0]) == "51.00"
    assert cell([50.0, 52.0, 54.0]) == "52.00 ± 2.00"
    assert cell([50.0, None]) == "n/a" and cell([]) == "n/a" and cell([float("nan")]) == "n/a"
    assert cell([0.5], digits=3, bold=True) == "**0.500**"
    r = {"metrics": {"inshop": {"topk": [0.1, 0.2]}, "map": {"Length of Sleeve": 0.5}}}
    assert lookup(r, "metrics.inshop.topk.1") == 0.2 and lookup(r, "metrics.inshop.topk.5") is None
    assert lookup(r, ("metrics", "map", "Length of Sleeve")) == 0.5 and lookup(r, "metrics.nope.x") is None


def test_flags_and_defaults():
    assert layout.parse_seeds("1 2,3") == [1, 2, 3] and layout.parse_names("a, b c") == ["a", "b", "c"]
    p000 = Paper("000")
    assert cli.default_variants(p000, "tiny", ["table4"]) == ["coat_pantsuit_multilabel", "coat_pantsuit_multitask",
                                                              "coat_pantsuit_multiweight"]
    assert cli.default_variants(p000, "ci", ["table2"]) == ["all_multilabel", "all_multiweight"]
    exp = layout.Experiment("001", "small", data="/data/DeepFashion/", seeds="1 2")
    assert exp.seeds == [1, 2] and exp.data_tag == "real-deepfashion" and not exp.synthetic
    assert exp.run_dir("fn", 2) == "runs/paper001/real-deepfashion-small/fn/seed2"
    assert exp.data_dir == "runs/paper001/data/real-deepfashion-small"
    with pytest.raises(SystemExit, match="unknown variant"):
        layout.Experiment("001", "tiny", variants="fn,nope")
    with pytest.raises(SystemExit, match="not registered"):
        Paper("999")


def test_gpu_flag_uses_the_engine_parser():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present; the CPU-only refusal cannot be shown")
    with pytest.raises(SystemExit, match="no CUDA device is visible"):
        cli._gpus("0")
    assert cli._gpus("") == []


def _fake_experiment(tmp_path, stages, force=False):
    netgen = SimpleNamespace(run_plan=lambda exp, variant, seed: training.RunPlan(files={}, stages=stages))
    return SimpleNamespace(paper=SimpleNamespace(name="paperX", number="X", netgen=netgen), force=force,
                           run_dir=lambda v, s: str(tmp_path / "run"), weights="", gpus=[], scale="ci",
                           data_tag="synthetic", device="cpu")


def test_stages_train_with_the_run_prefix_carry_weights_and_resume(tmp_path):
    solver = make_case(tmp_path / "case", 'base_lr: 0.1 lr_policy: "fixed" max_iter: 4 snapshot: 2 display: 1\n'
                                          f'snapshot_prefix: "{tmp_path}/elsewhere/x"\n')
    stages = [training.Stage("a", solver, 4), training.Stage("b", solver, 4)]
    exp = _fake_experiment(tmp_path, stages)
    run = tmp_path / "run"
    rec = training.train_run(exp, "v", 1)
    assert [s["name"] for s in rec["stages"]] == ["a", "b"]
    assert rec["stages"][1]["initial_weights"] == str(run / "a_iter_4.caffemodel")
    assert (run / "b_iter_4.caffemodel").is_file() and (run / "a.log").is_file()
    assert not (tmp_path / "elsewhere").exists()  # --snapshot_prefix overrides the solver file's prefix
    assert "Iteration 4" in (run / "b.log").read_text()
    assert json.loads((run / "training.json").read_text()) == rec

    # finished stages are not repeated; a stage that stopped after a snapshot resumes from it
    os.remove(run / "b_iter_4.caffemodel")
    os.remove(run / "b_iter_4.solverstate")
    again = training.train_run(exp, "v", 1)
    assert again["stages"][0] == rec["stages"][0]
    assert again["stages"][1]["resumed_from"] == str(run / "b_iter_2.solverstate")
    assert (run / "b_iter_4.caffemodel").is_file()
    assert "Resuming from" in (run / "b.log").read_text() and "Iteration 4" in (run / "b.log").read_text()


def test_failed_stage_says_where_the_log_is(tmp_path):
    solver = make_case(tmp_path / "case", 'base_lr: 0.1 lr_policy: "fixed" max_iter: 2\n', nan_at=0)
    exp = _fake_experiment(tmp_path, [training.Stage("a", solver, 2)])
    with pytest.raises(SystemExit, match=r"training failed .*a\.log"):
        training.train_run(exp, "v", 1)


def test_evaluation_rescores_saved_predictions_without_predicting_again(tmp_path):
    from tools.repro import evaluation, results

    calls = []

    def predict(exp, run):
        calls.append(run.variant)
        return {"t": {"ids": np.array(["a", "b"]), "labels": np.array([0, 1]),
                      "scores": np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)}}, {"n": 2}

    metric = {"fn": lambda tasks: {"top1": float((tasks["t"]["scores"].argmax(1) == tasks["t"]["labels"]).mean())}}
    paper = SimpleNamespace(number="X", name="paperX", evaluate=SimpleNamespace(predict=predict),
                            metrics=SimpleNamespace(score=lambda tasks: metric["fn"](tasks)))
    run = tmp_path / "run"
    run.mkdir()
    (run / "a_iter_1.caffemodel").write_bytes(b"")
    results.write_json(str(run / "training.json"), {"stages": [{"name": "a", "iterations": 1, "seconds": 1.0,
                                                               "cpu_seconds": 1.0,
                                                               "weights": str(run / "a_iter_1.caffemodel")}]})
    exp = SimpleNamespace(paper=paper, config=SimpleNamespace(VARIANT_TITLES={}), run_dir=lambda v, s: str(run),
                          force=False, scale="ci", data_tag="synthetic", synthetic=True, device="cpu", cfg={},
                          source=lambda: "synthetic wardrobe")
    first = evaluation.evaluate_run(exp, "v", 1)
    assert first["metrics"] == {"top1": 1.0} and first["info"] == {"n": 2} and calls == ["v"]
    metric["fn"] = lambda tasks: {"top1": 1.0, "n": len(tasks["t"]["ids"])}  # a metric added later
    again = evaluation.evaluate_run(exp, "v", 1)
    assert again["metrics"] == {"top1": 1.0, "n": 2} and calls == ["v"]   # re-scored, not predicted
    exp.force = True
    evaluation.evaluate_run(exp, "v", 1)
    assert calls == ["v", "v"]


def test_generated_scales_outside_the_repository_refer_to_their_own_copies():
    from tools.repro import nets

    files = {"solvers/p/small/s.prototxt": 'net: "prototxt/p/small/n.prototxt"\nsnapshot_prefix: "runs/x"\n',
             "prototxt/p/small/n.prototxt": 'name: "n"\n'}
    out = nets.relocated(files, "runs/p/nets/small")
    assert set(out) == {"runs/p/nets/small/" + k for k in files}
    assert out["runs/p/nets/small/solvers/p/small/s.prototxt"] == \
        'net: "runs/p/nets/small/prototxt/p/small/n.prototxt"\nsnapshot_prefix: "runs/x"\n'
    assert nets.relocated(files, ".") == files
