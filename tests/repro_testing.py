"""Helpers for tests of the reproduction framework: runs written the way tools/repro writes them."""
import os

import numpy as np

from tools.repro import results


def write_run(exp, variant, seed, tasks, info=None):
    """A run's predictions.npz and results.json (metrics = the paper's ``score`` of ``tasks``), as the
    evaluate step writes them, without training."""
    rd = exp.run_dir(variant, seed)
    os.makedirs(rd, exist_ok=True)
    results.save_predictions(os.path.join(rd, results.PREDICTIONS), tasks)
    training = {"stages": [{"name": "train", "iterations": 1, "seconds": 1.0, "cpu_seconds": 1.0,
                            "weights": os.path.join(rd, "train_iter_1.caffemodel")}]}
    res = results.make_results(exp, variant, seed, training, exp.paper.metrics.score(tasks), info or {}, 0.0)
    results.write_json(os.path.join(rd, results.RESULTS), res)
    return res


def scores_with_hits(hits, classes=50, k=3, seed=0):
    """(scores, labels) whose Caffe top-k hit per row is ``hits`` (the true class first, or last)."""
    rng = np.random.default_rng(seed)
    hits = np.asarray(hits, bool)
    labels = rng.integers(0, classes, len(hits))
    scores = rng.random((len(hits), classes)).astype(np.float32)
    rows = np.arange(len(hits))
    scores[rows, labels] = np.where(hits, 2.0, -1.0)
    return scores, labels
