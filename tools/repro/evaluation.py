"""Evaluating a run: the paper's predictions saved first, its metrics computed from them alone.

``evaluate_run(exp, variant, seed)``:

1. ``evaluate.predict(exp, run) -> (tasks, info)`` -- the paper runs its trained nets over the test
   data once (the expensive part) and returns the raw outputs as predictions.npz tasks (schema in
   :mod:`tools.repro.results`) and an ``info`` dict (sizes, names: whatever the report needs).
   Written to ``<run>/predictions.npz``; an existing one newer than the run's trained weights is
   reused (``--force`` predicts again), so changing a metric only re-scores.
2. ``metrics.score(tasks) -> dict`` -- every metric of results.json, computed from the predictions
   alone: whatever a table shows can be recomputed from the files.
3. ``<run>/results.json`` (schema :data:`tools.repro.results.SCHEMA`), written atomically.

The paper's ``predict`` receives a :class:`Run` (variant, seed, folder, training record) and uses the
helpers in :mod:`tools.repro.forward` to run its nets.
"""
from __future__ import annotations

import glob
import json
import os
import re
import time

from . import results as R
from .training import load_training, weights_of


class Run:
    """A trained run handed to a paper's ``evaluate.predict``."""

    def __init__(self, exp, variant, seed):
        self.exp = exp
        self.variant = variant
        self.seed = int(seed)
        self.dir = exp.run_dir(variant, seed)
        self.training = load_training(self.dir)

    def weights(self, stage_name: str) -> str:
        """The final weights of one of the run's training stages."""
        return weights_of(self.training, stage_name)

    @property
    def final_weights(self) -> str:
        return self.training["stages"][-1]["weights"]

    def snapshots(self, stage_name: str) -> dict:
        """{iteration: caffemodel} of every snapshot a training stage left (model-selection candidates)."""
        out = {}
        for p in glob.glob(glob.escape(self.path(stage_name)) + "_iter_*.caffemodel"):
            m = re.search(r"_iter_(\d+)\.caffemodel$", p)
            if m:
                out[int(m.group(1))] = p
        return out

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)


def _fresh(path, inputs):
    """``path`` exists and is newer than every existing file of ``inputs``."""
    return os.path.isfile(path) and all(os.path.getmtime(path) >= os.path.getmtime(p) for p in inputs
                                        if os.path.isfile(p))


def evaluate_run(exp, variant, seed) -> dict:
    """Predict (or reuse the predictions), score, write results.json; returns the record."""
    run = Run(exp, variant, seed)
    pred_path, res_path = run.path(R.PREDICTIONS), run.path(R.RESULTS)
    info_path = run.path("predictions_info.json")
    label = f"[{exp.paper.name}] {variant} seed {seed}"
    t0 = time.time()
    trained = [s["weights"] for s in run.training["stages"]]
    if not exp.force and _fresh(pred_path, trained) and os.path.isfile(info_path):
        print(f"{label}: re-scoring the saved {pred_path}", flush=True)
        tasks = R.load_predictions(pred_path)
        with open(info_path) as f:
            saved = json.load(f)
        info, predict_seconds = saved["info"], saved["seconds"]
    else:
        print(f"{label}: predicting on the test data", flush=True)
        tasks, info = exp.paper.evaluate.predict(exp, run)
        R.save_predictions(pred_path, tasks)
        predict_seconds = round(time.time() - t0, 2)
        R.write_json(info_path, {"info": info, "seconds": predict_seconds})
    metrics = exp.paper.metrics.score(tasks)
    res = R.make_results(exp, variant, seed, run.training, metrics, info, predict_seconds)
    R.write_json(res_path, res)
    return res
