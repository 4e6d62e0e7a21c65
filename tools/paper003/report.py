"""Paper 003's tables, figures and claims from the measured results.json (tools/repro/report.py).

Ours are test-split F2 (eq. 3, per style then the mean over styles) with every threshold searched on
the validation split; the paper's are validation F2 with the thresholds searched on that same split.
The ``val`` cells show ours the paper's way (optimistic).  Besides ``<table>.md``: ``table2_f2.png``,
``fig1_styles.png`` (+ ``.csv``), ``fig2_conditional.png`` (+ ``.csv``).
"""
from __future__ import annotations

import os

import numpy as np

from . import config, paper
from .metrics import bootstrap_mean_f2_difference
from ..repro.plots import grouped_bars
from ..repro.report import Claim, Table, cell, markdown, number, write_csv

TITLE = "Liu et al., Extreme-WJLD (JD AI Fashion Challenge): style recognition, F2"
PAPER_SOURCE = ("Liu, Wang, Du, Luo & Cheng, JD AI Fashion Challenge (54,908 images, 13 styles), ResNet-50 / "
                "DenseNet-121 / Inception-v4, per-style nets; F2 on their validation split (Tables II-IV).")
BACKBONE_ROWS = {"resnet50": "ResNet-50", "densenet121": "DenseNet-121", "inception_v4": "Inception-v4",
                 "fusion": "Model Fusion"}
TABLE4_ROWS = [("none", "none", "fusion"), ("+augmentation", "augment", "fusion"),
               ("+transfer", "transfer", "fusion"), ("+cost-sensitive", "cost", "fusion"),
               ("+style relationship", "cost", "final"), ("+1-to-5 styles rule", "cost", "final_rule")]


def _f2(runs, v, task, style=None, val=False):
    base = ("metrics", "val", task) if val else ("metrics", task)
    return runs.values(v, base + (("f2", style) if style else ("mean_f2",)))


def _title(runs, v, task):
    if task in BACKBONE_ROWS and task != "fusion" and v in runs:
        return runs.results(v)[0]["info"]["backbones"].get(task, BACKBONE_ROWS[task])
    return BACKBONE_ROWS.get(task, task)


def header_lines(exp, runs):
    r0 = runs.first()
    info = r0["info"] if r0 else {}
    lines = [f"- Protocol: {config.PROTOCOL_TITLES[exp.cfg['protocol']]}; backbones "
             f"{', '.join(netname for netname in (info.get('backbones') or {}).values())}."]
    if info:
        lines.append(f"- Evaluated on the `{info['evaluated_on']}` split ({info['n_test']} images); thresholds, fusion "
                     f"and the style-relationship β searched on validation ({info['n_val']} images); "
                     f"training split {info['n_train']} images.")
    return lines


def table2(exp, runs):
    v = "augment"
    if v not in runs:
        return ["not run (variant `augment`)"]
    tasks = list(exp.cfg["backbones"]) + ["fusion"]
    cols = ["style"]
    for t in tasks:
        cols += [f"{BACKBONE_ROWS[t]} paper", f"{_title(runs, v, t)} ours"]
    rows = []
    for i, s in enumerate(paper.STYLES):
        row = [f"{i + 1} {s}"]
        for t in tasks:
            row += [number(paper.TABLE2[BACKBONE_ROWS[t]][i]), cell(_f2(runs, v, t, s))]
        rows.append(row)
    row = ["**mean**"]
    for t in tasks:
        row += [number(paper.TABLE2[BACKBONE_ROWS[t]][13]), cell(_f2(runs, v, t), bold=True)]
    rows.append(row)
    row = ["mean, val (tuned on val, as the paper)"]
    for t in tasks:
        row += ["", cell(_f2(runs, v, t, val=True))]
    rows.append(row)
    row = ["mean ROC AUC (test)"]
    for t in tasks:
        row += ["", cell(runs.values(v, ("metrics", t, "mean_auc")))]
    rows.append(row)
    rows.append(["reference: every image positive (test)"] + ["", cell(runs.values(v, ("metrics", "fusion",
                                                                                        "all_positive_f2")))] * len(tasks))
    panels = [("paper (validation)", {BACKBONE_ROWS[t]: (paper.TABLE2[BACKBONE_ROWS[t]][:13], None) for t in tasks}),
              ("ours (test, thresholds from validation)",
               {_title(runs, v, t): ([_mean(_f2(runs, v, t, s)) for s in paper.STYLES], None) for t in tasks})]
    grouped_bars(os.path.join(exp.out_dir, "table2_f2.png"), "Table II: F2 per style", list(paper.STYLES), panels,
                 "F2", ylim=(0, 1))
    return markdown(cols, rows) + ["", "Plot: `table2_f2.png`."]


def _mean(values):
    vals = [x for x in values if x is not None]
    return float(np.mean(vals)) if vals and len(vals) == len(values) else None


def table3(exp, runs):
    cols = ["style", "Model Fusion paper", "Model Fusion ours", "+Transfer Learning paper", "+Transfer Learning ours"]
    rows = []
    for i, s in enumerate(paper.STYLES):
        rows.append([f"{i + 1} {s}", number(paper.TABLE3["Model Fusion"][i]), cell(_f2(runs, "augment", "fusion", s)),
                     number(paper.TABLE3["Transfer Learning"][i]), cell(_f2(runs, "transfer", "fusion", s))])
    rows.append(["**mean**", number(paper.TABLE3["Model Fusion"][13]), cell(_f2(runs, "augment", "fusion"), bold=True),
                 number(paper.TABLE3["Transfer Learning"][13]), cell(_f2(runs, "transfer", "fusion"), bold=True)])
    return markdown(cols, rows)


def _paired(runs, a, ta, b, tb):
    if a not in runs or b not in runs:
        return "—"
    pa, pb = runs.predictions(a), runs.predictions(b)
    seeds = sorted(set(pa) & set(pb))
    if not seeds:
        return "—"
    d, lo, hi = bootstrap_mean_f2_difference([pa[s][ta] for s in seeds], [pb[s][tb] for s in seeds])
    return f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def table4(exp, runs):
    cols = ["step", "paper (val)", "ours mean F2 (test)", "ours (val, tuned on val)", "ours mean AUC (test)",
            "Δ vs previous step, 95 % paired bootstrap"]
    rows, prev = [], None
    for title, v, task in TABLE4_ROWS:
        delta = _paired(runs, v, task, *prev) if prev else ""
        rows.append([title, number(paper.TABLE4.get(title)), cell(_f2(runs, v, task)), cell(_f2(runs, v, task, val=True)),
                     cell(runs.values(v, ("metrics", task, "mean_auc"))), delta])
        prev = (v, task)
    ref = next((v for _, v, _ in TABLE4_ROWS if v in runs), None)
    if ref:
        rows.append(["reference: every image positive", "", cell(runs.values(ref, ("metrics", "fusion", "all_positive_f2"))),
                     "", "", ""])
    notes = ["", "Each row adds its step to the one above (the fusion of the backbones; the last row is the "
             "`cost` run's fusion after eqs. 1-2; the 1-to-5 rule of Sec. II-F is not a row of the paper's Table IV). The interval is a paired bootstrap over test "
             "images (2,000 resamples, seeds pooled) of the mean F2 difference to the row above."]
    if "cost" in runs:
        rel = runs.results("cost")[0]["info"]["relationship"]
        notes.append(f"Style relationship (seed {runs.results('cost')[0]['seed']}): validation mean F2 "
                     f"{rel['val_f2_without']:.3f} → {rel['val_f2_with']:.3f}; β = "
                     f"{', '.join(f'{b:g}' for b in rel['beta'])} (α = 1).")
    return markdown(cols, rows) + notes


def _any_info(runs):
    r = runs.first()
    return r["info"] if r else None


def fig1(exp, runs):
    info = _any_info(runs)
    if info is None:
        return ["no run"]
    share = np.asarray(info["train_share"]) * 100
    path = os.path.join(exp.out_dir, "fig1_styles.png")
    grouped_bars(path, f"Fig. 1: share of training images per style (ours, {info['n_train']} images)",
                 list(paper.STYLES), [("ours", {"training split": (list(share), None)})], "% of images",
                 ylim=(0, 100))
    write_csv(path[:-4] + ".csv", ("style", list(paper.STYLES)), {"share_percent": list(share)})
    rows = [[f"{i + 1} {s}", f"{share[i]:.2f}"] for i, s in enumerate(paper.STYLES)]
    return markdown(["style", "ours: % of training images"], rows) + [
        "", f"Paper: Fig. 1 is a bar chart of its 54,908 images; the text gives Sports = 104 images "
        f"({100 * paper.SPORTS_SHARE:.2f} %) and styles 3, 5, 6, 9 as the frequent ones. Plot: `fig1_styles.png`."]


def fig2(exp, runs):
    info = _any_info(runs)
    if info is None:
        return ["no run"]
    cond = np.asarray(info["conditional"])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 7))
    im = ax.imshow(cond, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(13))
    ax.set_yticks(range(13))
    ax.set_xticklabels(paper.STYLES, rotation=60, ha="right", fontsize=8)
    ax.set_yticklabels(paper.STYLES, fontsize=8)
    ax.set_xlabel("B (given)")
    ax.set_ylabel("A")
    for a in range(13):
        for b in range(13):
            ax.text(b, a, f"{cond[a, b]:.2f}", ha="center", va="center", fontsize=6, color="w" if cond[a, b] < 0.5 else "k")
    fig.colorbar(im)
    ax.set_title("Fig. 2: P(A|B) on our training split (eq. 1)")
    fig.tight_layout()
    path = os.path.join(exp.out_dir, "fig2_conditional.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    write_csv(path[:-4] + ".csv", ("A", list(paper.STYLES)), {b: list(cond[:, j]) for j, b in enumerate(paper.STYLES)})
    idx = {s: i for i, s in enumerate(paper.STYLES)}
    rows = [[f"P({a} \\| {b})", number(p), number(cond[idx[a], idx[b]])] for (a, b), p in paper.CONDITIONAL.items()]
    rows.append(["P(Korean \\| Japanese)", "0 (never together)", number(cond[idx["Korean"], idx["Japanese"]])])
    return markdown(["conditional probability", "paper", "ours"], rows) + ["", "Heat map: `fig2_conditional.png`."]


TABLES = {
    "table2": Table("Table II -- F2 per style: ResNet-50, DenseNet-121, Inception-v4, fusion", ["augment"], table2),
    "table3": Table("Table III -- fusion without / with transfer learning (F2)", ["augment", "transfer"], table3),
    "table4": Table("Table IV -- ablation chain, mean F2", list(config.VARIANTS), table4),
    "fig1": Table("Fig. 1 -- style distribution", ["augment"], fig1),
    "fig2": Table("Fig. 2 -- conditional probability P(A|B)", ["augment"], fig2),
}
CLAIMS = [Claim("augmentation improves F2 (micro)", "augment", "none", "fusion", "metrics.fusion.f2_micro"),
          Claim("transfer learning improves F2 (micro)", "transfer", "augment", "fusion", "metrics.fusion.f2_micro"),
          Claim("cost-sensitive loss improves F2 (micro)", "cost", "transfer", "fusion", "metrics.fusion.f2_micro")]
