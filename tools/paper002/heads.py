"""Training and scoring paper 002's heads on stored features (the nets of netgen.py).

    curve, model = train(solver_path, deploy_param, val_arrays, eval_every=50)
    scores = score(deploy_param, model, feats)                 # N × C (P_final, or the softmax)

``train`` runs the solver in steps of ``eval_every`` iterations and scores the whole validation
split after each step with the deploy net (every image exactly once, unlike Caffe's test phase,
which wraps around when the split is not a multiple of its batch), recording per step the
iteration, the paper's top-1/3/5 accuracy, the macro top-3 recall, the training loss and, for
"+MTL" nets, the learned log-variances s = log σ² -- the curves behind the convergence claim and
the σ plot.  The final caffemodel is the solver's snapshot at ``max_iter``.
"""
from __future__ import annotations

import os

import numpy as np

from . import metrics

SCORE_BLOBS = ("prob_final", "prob")  # HMCN-F / flat deploy outputs ranked for the categories


def _score_blob(net):
    for b in SCORE_BLOBS:
        if b in net.blobs:
            return b
    raise ValueError(f"the deploy net has none of the score blobs {SCORE_BLOBS} (outputs: {net.outputs})")


def score_net(net, feats, batch=256):
    """Scores (N × C) of an engine Net built from a heads deploy NetParameter (Input ``feat``)."""
    feats = np.asarray(feats, dtype=np.float32)
    blob = _score_blob(net)
    out = []
    for start in range(0, feats.shape[0], batch):
        chunk = feats[start:start + batch]
        net.blobs["feat"].reshape(*chunk.shape)
        net.reshape()
        net.blobs["feat"].data[...] = chunk
        out.append(np.array(net.forward()[blob], dtype=np.float32))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def score(deploy_param, weights, feats, batch=256):
    """Scores of the features through a heads deploy net with trained weights."""
    import fashioncaffe as caffe

    return score_net(caffe.Net(deploy_param, caffe.TEST, weights=weights), feats, batch)


def evaluate(scores, labels, ks=(1, 3, 5)):
    """{"top{k}": the paper's accuracy, "macro_recall_top{k}": the other metric} for each k ≤ C."""
    out = {}
    for k in ks:
        if k <= scores.shape[1]:
            out[f"top{k}"] = metrics.topk_accuracy(scores, labels, k)
            out[f"macro_recall_top{k}"] = metrics.macro_topk_recall(scores, labels, k)
    return out


def train(solver_path, deploy_param, val_arrays, eval_every=50, log_var_layer="mtl_loss"):
    """Run a heads solver to its max_iter, scoring the validation features every ``eval_every``
    iterations (and at 0); returns (curve: list of dicts, final caffemodel path)."""
    import fashioncaffe as caffe

    solver = caffe.get_solver(solver_path)
    deploy = caffe.Net(deploy_param, caffe.TEST)
    max_iter = int(solver.param.max_iter)
    feats, labels = val_arrays["feat"], np.asarray(val_arrays["label"]).astype(np.int64)
    curve = []

    def record(loss):
        for name, blobs in deploy.params.items():
            for i, b in enumerate(blobs):
                b.data[...] = solver.net.params[name][i].data
        row = dict(iteration=int(solver.iter), train_loss=loss, **evaluate(score_net(deploy, feats), labels))
        if log_var_layer in solver.net.params:
            s = np.array(solver.net.params[log_var_layer][0].data, dtype=np.float64).reshape(-1)
            row["log_var"] = [float(v) for v in s]
        curve.append(row)

    record(None)
    while solver.iter < max_iter:
        solver.step(min(eval_every, max_iter - solver.iter))
        record(net_loss(solver.net))
    model = f"{solver.param.snapshot_prefix}_iter_{solver.iter}.caffemodel"
    if not os.path.exists(model):
        solver.snapshot()
    return curve, model


def net_loss(net):
    """Σ loss_weight · top over the net's loss tops, from its last forward pass."""
    return float(sum(w * float(np.asarray(net.blobs[name].data).sum())
                     for name, w in net.blob_loss_weights.items() if w))
