"""Model selection of a paper-004 run on the validation split; the test split is scored once, with the
snapshot chosen here.

Candidates: the snapshots of the run's last stage, every 1/``config.SELECT_CANDIDATES`` of it
(``config.select_interval``; the final weights are the last candidate).  Score: top-20 accuracy of
random single-attribute manipulations of the validation images (Fig. 6b's protocol, the paper's main
claim), the validation images serving as both queries and gallery -- a query never matches itself,
since its manipulated attribute differs from the target; the prototypes come from the first
``config.SELECT_TRAIN_SAMPLE`` training images (a seeded shuffle, so a random sample).  The same tasks
(the run's seed) score every candidate; a tie goes to the later snapshot.

    weights, info = select_weights(exp, run, spec)
"""
from __future__ import annotations

import numpy as np

from . import config, metrics


def candidates(run) -> dict:
    """{iteration: caffemodel} of the run's last stage's snapshots (the final weights always)."""
    last = run.training["stages"][-1]
    return {**run.snapshots(last["name"]), int(last["iterations"]): last["weights"]}


def validation_score(exp, run, spec, weights) -> tuple[float | None, int]:
    """(top-20 accuracy, number of tasks) of ``weights`` on the validation protocol above."""
    from .evaluate import Evaluator

    ev = Evaluator(exp.data_dir, exp.scale, run.training["info"]["deploy"], weights, run.variant, spec,
                   queries="val", gallery="val", train_limit=config.SELECT_TRAIN_SAMPLE)
    sizes = [spec.sizes[v] for v in spec.special]
    rng = np.random.default_rng(run.seed)
    tasks = metrics.manipulation_tasks(ev.q_special, sizes, ev.g_special, rng, 1,
                                       repeats=exp.cfg.get("manip_repeats", 1))
    if not tasks:
        return None, 0
    ranked = ev.rank(tasks)
    first = metrics.first_hits({"labels": metrics.targets_of(tasks, len(sizes)), "ranked": ranked,
                                "gallery_labels": ev.g_special})
    return float(metrics.topk_accuracy(first)[19]), len(tasks)


def select_weights(exp, run, spec, log=print) -> tuple[str, dict]:
    """(the chosen caffemodel, {"selected_iteration", "validation_top20": {iteration: score}, ...})."""
    found = candidates(run)
    scores, n_tasks = {}, 0
    for it, path in sorted(found.items()):
        scores[it], n_tasks = validation_score(exp, run, spec, path)
        log(f"[{exp.paper.name}] {run.variant} seed {run.seed}: validation top-20 at iteration {it}: "
            f"{'n/a' if scores[it] is None else f'{scores[it]:.4f}'}")
    scored = {it: s for it, s in scores.items() if s is not None}
    best = max(scored, key=lambda it: (scored[it], it)) if scored else max(found)
    return found[best], {"selected_iteration": best, "selected_weights": found[best],
                         "validation_top20": {str(k): v for k, v in scores.items()}, "validation_tasks": n_tasks,
                         "selection": "val→val single manipulations, top-20"}
