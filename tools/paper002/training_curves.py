"""Paper 002's training curves, learned σ's and the convergence claim, from the runs' saved
``validation`` tasks (Caffe's test phase over the whole validation split, logged by the solver).

* :func:`plot_curves` -- validation top-3 and training loss against iterations, mean over seeds;
* :func:`plot_sigmas` -- σ_t = exp(s_t / 2) of the +MTL runs (σ₁ weighs L_L, σ₂ weighs L_G), mean over seeds;
* :func:`convergence` -- "MTL reduces convergence time": per seed the first validation iteration
  at which HMCN-F and HMCN-F+MTL reach one shared target (``metrics.shared_target``: 95 % of the
  lowest best validation top-3 among the compared runs), their paired difference and a bootstrap
  over the seeds.
"""
from __future__ import annotations

import os

import numpy as np

from . import config, metrics
from ..repro.plots import curves
from ..repro.stats import paired_bootstrap, verdict

#: (plain, +MTL) pairs of the convergence claim
MTL_PAIRS = [("hmcn5", "hmcn5_mtl"), ("hmcn10", "hmcn10_mtl"), ("hmcn5_d0", "hmcn5_mtl_d0"),
             ("hmcn10_d0", "hmcn10_mtl_d0")]


def _validation(runs, variant):
    """{seed: validation task} of a variant's runs."""
    return {seed: t["validation"] for seed, t in runs.predictions(variant).items() if "validation" in t}


def _mean_series(vals, column=None, field="scores"):
    its = [np.asarray(v["labels"]) for v in vals.values()]
    n = min(len(i) for i in its)
    ys = [np.asarray(v[field], np.float64)[:n] if column is None else np.asarray(v[field], np.float64)[:n, column]
          for v in vals.values()]
    return its[0][:n], np.nanmean(ys, axis=0)


def plot_curves(exp, runs):
    """validation_top3.png and train_loss.png in exp.out_dir; their file names."""
    written = []
    for field, col, name, ylabel, ylim in (("scores", 1, "validation_top3.png", "validation top-3 accuracy", (0, 1)),
                                           ("train_loss", None, "train_loss.png", "training loss (smoothed)", None)):
        series = {}
        for v in config.VARIANTS:
            vals = _validation(runs, v)
            if vals:
                series[config.VARIANT_TITLES[v]] = _mean_series(vals, col, field)
        if series:
            curves(os.path.join(exp.out_dir, name), f"paper 002, scale {exp.scale}: {ylabel} (mean over seeds)",
                   "iteration", ylabel, series, ylim=ylim)
            written.append(name)
    return written


def plot_sigmas(exp, runs):
    """sigmas.png: σ₁ (local loss) and σ₂ (global loss) of every +MTL variant over training, mean
    of σ over the seeds."""
    series = {}
    for v in [v for v in config.VARIANTS if "_mtl" in v]:
        vals = {s: t for s, t in _validation(runs, v).items() if np.isfinite(np.asarray(t["log_var"])).any()}
        if vals:
            its = [np.asarray(t["labels"]) for t in vals.values()]
            n = min(len(i) for i in its)
            sig = np.nanmean([np.exp(np.asarray(t["log_var"], np.float64)[:n] / 2) for t in vals.values()], axis=0)
            for j, who in enumerate(("σ₁ (L_L)", "σ₂ (L_G)")):
                series[f"{config.VARIANT_TITLES[v]} {who}"] = (its[0][:n], sig[:, j])
    if not series:
        return []
    curves(os.path.join(exp.out_dir, "sigmas.png"), f"paper 002, scale {exp.scale}: learned σ = exp(s/2) of the "
           "uncertainty weighting (mean over seeds)", "iteration", "σ", series, ylim=None)
    return ["sigmas.png"]


def sigma_summary(runs):
    """{variant: (σ₁, σ₂) at the start and at the end, mean over seeds}."""
    out = {}
    for v in [v for v in config.VARIANTS if "_mtl" in v]:
        vals = [np.asarray(t["log_var"], np.float64) for t in _validation(runs, v).values()]
        vals = [lv[np.isfinite(lv).all(1)] for lv in vals]
        vals = [lv for lv in vals if len(lv)]
        if vals:
            out[v] = (np.exp(np.mean([lv[0] for lv in vals], 0) / 2), np.exp(np.mean([lv[-1] for lv in vals], 0) / 2))
    return out


def convergence(runs, plain, mtl):
    """None, or {"target", "seeds", "plain", "mtl" (iterations per seed; None = never), "boot"}."""
    a, b = _validation(runs, plain), _validation(runs, mtl)
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    target = metrics.shared_target([a[s]["scores"][:, 1] for s in seeds] + [b[s]["scores"][:, 1] for s in seeds])
    it = lambda v: metrics.iterations_to_accuracy(v["labels"], v["scores"][:, 1], target)  # noqa: E731
    ia, ib = [it(a[s]) for s in seeds], [it(b[s]) for s in seeds]
    boot = None
    if len(seeds) > 1 and None not in ia and None not in ib:
        boot = paired_bootstrap(ia, ib)  # plain − MTL: > 0 when MTL gets there sooner
    return {"target": target, "seeds": seeds, "plain": ia, "mtl": ib, "boot": boot}


def convergence_lines(runs):
    out = ["### MTL reduces convergence time (iterations to a fixed validation top-3)", "",
           "Per pair, one target for both variants (95 % of the lowest best validation top-3 among their runs); "
           "iterations are the first validation point at or above it (validation every "
           "`test_interval` iterations). Verdict from a paired bootstrap over the **seeds** (few seeds: weak).", ""]
    for plain, mtl in MTL_PAIRS:
        c = convergence(runs, plain, mtl)
        if c is None:
            continue
        never = lambda xs: ", ".join("never" if x is None else str(x) for x in xs)  # noqa: E731
        line = (f"- {config.VARIANT_TITLES[mtl]} vs {config.VARIANT_TITLES[plain]} (target {100 * c['target']:.1f} %, "
                f"seeds {', '.join(map(str, c['seeds']))}): iterations without MTL {never(c['plain'])}; with MTL "
                f"{never(c['mtl'])}")
        if c["boot"] is not None:
            d, lo, hi = c["boot"]  # plain − MTL: iterations MTL saves
            line += (f"; MTL reaches it {d:+.0f} iterations sooner on average (negative: later; 95 % interval "
                     f"[{lo:+.0f}, {hi:+.0f}]): "
                     f"**{verdict(lo, hi)}**")
        else:
            line += "; no verdict (one seed, or a run never reached the target)"
        out.append(line)
    return out + [""]
