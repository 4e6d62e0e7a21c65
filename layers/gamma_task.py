"""Gamma-task weighting: the multi-task objective J = Σ_t γ_t J_t (paper 000, eq. 3), as a pycaffe
Python layer.

Forward / backward::

    top      = Σ_t γ_t · Σ(bottom_t)        (each bottom is normally a scalar task loss J_t)
    ∂J/∂J_t  = γ_t · top_diff

so the gradient reaching task t's layers is scaled by γ_t (eq. 4) and the shared layers receive
Σ_t γ_t ∂J_t (eq. 5).

Bottoms:  T ≥ 1 task losses J_1 … J_T (scalars; a bottom with several elements is summed)
Tops:     0  the weighted loss J (a scalar)

The task losses' own layers should have ``loss_weight: 0`` (the default for Python layers) and this
layer ``loss_weight: 1``, so every task loss enters the objective once, through γ.

γ comes from ``param_str`` (a JSON object; Python-literal dicts also accepted):

    {"gamma": [γ_1 … γ_T]}                       explicit weights (wins over everything else)
    {"mode": "uniform"}                           γ_t = 1                              (multi-task CNN)
    {"mode": "proportion", "counts": [n_1 … n_T]} γ_t = r_t = n_t / max_s n_s          (multi-weight CNN)
    {"mode": "smoothed",   "counts": [...], "c": 3.0}
        eq. 11: γ_t = r_t if r_t ≥ r_avg / c, else r_avg / c, with r_avg = mean_t r_t ("1/3 ratio")

Instead of ``counts`` a statistics file may be named: ``"stats_file": "label_stats.json"`` holding
``{"groups": [names], "counts": [n_t]}`` (written by ``tools.paper000.data``); ``"groups": [names]``
in param_str then picks and orders the file's counts by name (default: the file's order).  n_t is
the number of training images on which task t is annotated (the paper's group "proportion").
Relative paths are relative to the working directory, as Caffe's are.

After setup the layer's ``gamma`` attribute holds the weights (numpy, length T).

This file imports only numpy, the standard library and ``caffe``, so BVLC Caffe runs it unchanged.
"""
import json

import numpy as np

import caffe

from .param_str import parse_param_str

MODES = ("uniform", "proportion", "smoothed")



def proportions(counts):
    """r_t = n_t / max_s n_s (Table II's "Proportion", the largest group = 1)."""
    n = np.asarray(counts, dtype=np.float64)
    if n.size == 0 or n.max() <= 0:
        raise ValueError("group counts must contain a positive value, got %r" % list(counts))
    return n / n.max()


def smoothed(ratios, c=3.0):
    """Eq. 11: ratios below r_avg / c are raised to r_avg / c; the others are kept."""
    r = np.asarray(ratios, dtype=np.float64)
    floor = r.mean() / float(c)
    return np.where(r >= floor, r, floor)


def gamma_from_counts(counts, mode, c=3.0):
    if mode == "uniform":
        return np.ones(len(counts))
    if mode == "proportion":
        return proportions(counts)
    if mode == "smoothed":
        return smoothed(proportions(counts), c)
    raise ValueError("mode must be one of %s, got %r" % (", ".join(MODES), mode))


def _counts_from_file(path, names):
    with open(path) as f:
        stats = json.load(f)
    groups, counts = list(stats["groups"]), list(stats["counts"])
    if not names:
        return counts
    missing = [g for g in names if g not in groups]
    if missing:
        raise ValueError("stats_file %s has no group(s) %s" % (path, ", ".join(missing)))
    return [counts[groups.index(g)] for g in names]


class GammaTaskWeighting(caffe.Layer):
    """J = Σ_t γ_t J_t over the bottoms (see the module docstring)."""

    tensor_path = "layers.tensor_impl.gamma_task:forward"

    def setup(self, bottom, top):
        if len(bottom) < 1 or len(top) != 1:
            raise Exception("GammaTaskWeighting takes T >= 1 bottoms and 1 top, got %d and %d"
                            % (len(bottom), len(top)))
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"gamma", "mode", "counts", "stats_file", "groups", "c"}
        if unknown:
            raise ValueError("unknown param_str keys: %s" % ", ".join(sorted(unknown)))
        t = len(bottom)
        if p.get("gamma") is not None:
            gamma = np.asarray(p["gamma"], dtype=np.float64).reshape(-1)
            if gamma.size == 1:
                gamma = np.full(t, float(gamma[0]))
            self.mode = "explicit"
        else:
            self.mode = str(p.get("mode", "uniform")).lower()
            if self.mode not in MODES:
                raise ValueError("mode must be one of %s, got %r" % (", ".join(MODES), self.mode))
            if self.mode == "uniform":
                gamma = np.ones(t)
            else:
                if p.get("counts") is not None:
                    counts = p["counts"]
                elif p.get("stats_file"):
                    counts = _counts_from_file(p["stats_file"], p.get("groups"))
                else:
                    raise ValueError("mode %r needs 'counts' or 'stats_file' in param_str" % self.mode)
                gamma = gamma_from_counts(counts, self.mode, float(p.get("c", 3.0)))
        if gamma.size != t:
            raise ValueError("%d gamma values for %d task-loss bottoms" % (gamma.size, t))
        self.gamma = gamma

    def reshape(self, bottom, top):
        top[0].reshape()

    # bottom, top and propagate_down are BVLC's C++ vectors: indexed, never iterated
    def forward(self, bottom, top):
        total = 0.0
        for t in range(len(bottom)):
            total += self.gamma[t] * float(np.asarray(bottom[t].data, dtype=np.float64).sum())
        top[0].data[...] = total

    def backward(self, top, propagate_down, bottom):
        d = float(np.asarray(top[0].diff).reshape(-1)[0])
        for t in range(len(bottom)):
            if propagate_down[t]:
                bottom[t].diff[...] = self.gamma[t] * d
