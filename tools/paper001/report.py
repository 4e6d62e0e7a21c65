"""Paper 001's tables, figures and claims from the measured results.json (tools/repro/report.py).

Everything shown as ours is read from ``<run>/results.json`` (computed from its predictions.npz);
the paper's numbers (tools/paper001/paper.py) are labelled as the paper's.  Besides ``<table>.md``:
``fig8_inshop.png``/``.csv``, ``fig9_c2s.png``/``.csv``, ``fig10_landmarks.png``/``.csv``.
"""
from __future__ import annotations

import os

import numpy as np

from . import baselines, config, paper
from .metrics import ATTR_TYPES, COLLAPSE_THRESHOLD
from ..repro.plots import curves
from ..repro.report import Claim, Table, cell, markdown, mean_curve, number, write_csv

TITLE = "Liu et al., DeepFashion (CVPR 2016): FashionNet"
PAPER_SOURCE = ("Liu et al., DeepFashion (Category & Attribute, In-shop, Consumer-to-shop benchmarks), FashionNet "
                "on VGG-16; rows WTBI, DARN, +Joints, +Poselets are the paper's only.")
REFERENCE_ROWS = {"frequency prior": "same scores for every image: training-set frequencies",
                  "perfect ranking": "an oracle ranking each image's positive attributes first"}
LANDMARK_NAMES = ["L collar", "R collar", "L sleeve", "R sleeve", "L waistline", "R waistline", "L hem", "R hem"]
TABLE2_COLUMNS = ["category_top3", "category_top5"] + [f"{t}_top{k}" for t in ATTR_TYPES for k in (3, 5)] + \
                 ["all_top3", "all_top5"]


def table2_path(column):
    """The results.json path of a Table 2 column ("category_top3", "texture_top5", "all_top3", ...)."""
    if column.startswith("category_"):
        return f"metrics.category.{column.split('_')[1]}"
    return f"metrics.attributes.{column}"


def collapsed(runs, variant):
    """True when any seed's run of a variant collapsed (outputs nearly independent of the input)."""
    return any(r["metrics"]["collapse"]["collapsed"] for r in runs.results(variant))


def invalid_run(runs, variant):
    return "collapsed in training" if variant in runs and collapsed(runs, variant) else None


def _pct(v):
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{100 * v:.2f}"


def table2(exp, runs):
    """Measured variants, then the image-free reference rows, then the paper's rows."""
    refs = baselines.load_or_compute(exp)
    rows = []
    for v in config.VARIANTS:
        if v not in runs:
            rows.append([config.VARIANT_TITLES[v], "not run"] + ["—"] * len(TABLE2_COLUMNS))
            continue
        info = runs.results(v)[0]["info"]
        title = config.VARIANT_TITLES[v] + f" [{info['attributes_trained']}/{info['attributes_total']} attrs]"
        if collapsed(runs, v):
            title += " **COLLAPSED**"
        rows.append([title, "measured"] + [cell(runs.values(v, table2_path(c), 100.0)) for c in TABLE2_COLUMNS])
    for name, what in REFERENCE_ROWS.items():
        if refs and name in refs:
            rows.append([f"reference: {name} ({what})", "computed from the labels, no image"]
                        + [_pct(refs[name].get(c)) for c in TABLE2_COLUMNS])
    for name, row in paper.TABLE2.items():
        tag = "paper" + (" (not reproduced)" if name in paper.NOT_REPRODUCED else "")
        rows.append([name, tag] + [number(row[c]) if row[c] is not None else "n/a" for c in TABLE2_COLUMNS])
    lines = markdown(["method", "source"] + [c.replace("_top", " top-") for c in TABLE2_COLUMNS], rows)
    lines += ["", "Category top-k accuracy and attribute top-k recall (%). Per-type columns rank the attributes of "
              "that type only; 'all' ranks every attribute. Attributes a variant was not trained on score −inf."]
    if refs:
        lines += ["", f"Reference rows look at no image. Top-k recall counts at most k hits per image; our test images "
                  f"have {refs['positives_per_test_image']:.1f} positive attributes each on average (DeepFashion about "
                  "3), so 'perfect ranking' is the highest attribute recall any model can reach here, and our "
                  "attribute columns compare with the paper's only relative to it. A variant at or below "
                  "'frequency prior' has learned nothing image-specific for that column."]
    flagged = [v for v in config.VARIANTS if v in runs and collapsed(runs, v)]
    if flagged:
        lines += ["", "**COLLAPSED**: the variant's category scores barely depend on the input image (between-image "
                  f"/ between-class spread < {COLLAPSE_THRESHOLD}; " +
                  ", ".join(f"{v}: {runs.mean(v, 'metrics.collapse.input_dependence'):.3f}, "
                            f"{runs.results(v)[0]['metrics']['collapse']['distinct_top1']} distinct top-1 classes"
                            for v in flagged) +
                  ") — a failed training run, whose numbers say nothing about the architecture."]
    return lines


def _retrieval(exp, runs, key, title, fname, paper_top20):
    rows, series = [], {}
    for v in config.VARIANTS:
        c = mean_curve(runs, v, f"metrics.{key}.topk")
        if c is None:
            note = next((r["metrics"][key].get("note") for r in runs.results(v)), None)
            rows.append([config.VARIANT_TITLES[v], "not available: " + note if note else "not run"] + ["—"] * 5)
            continue
        series[v] = c
        rows.append([config.VARIANT_TITLES[v], "measured"] +
                    [cell(runs.values(v, f"metrics.{key}.topk.{k - 1}"), digits=3) for k in (1, 5, 10, 20, 50)])
    for name, t20 in paper_top20.items():
        tag = "paper" + (" (not reproduced)" if name in paper.NOT_REPRODUCED else "")
        rows.append([name, tag, "n/a", "n/a", "n/a", f"{t20:.3f}", "n/a"])
    lines = markdown(["method", "source", "top-1", "top-5", "top-10", "top-20", "top-50"], rows)
    lines += ["", f"Top-k retrieval accuracy: the share of queries with a gallery image of the same item among the k "
              f"nearest; top-20 tabled beside the paper's, the curve k = 1…50 in `{fname}.png` / `.csv`."]
    if series:
        n = max(len(c) for c in series.values())
        write_csv(os.path.join(exp.out_dir, f"{fname}.csv"), ("k", list(range(1, n + 1))),
                  {v: list(c) for v, c in series.items()})
        curves(os.path.join(exp.out_dir, f"{fname}.png"), f"{title} (measured, {exp.scale}, {exp.data_tag})", "k",
               "top-k retrieval accuracy", {config.VARIANT_TITLES[v]: (np.arange(1, len(c) + 1), c)
                                            for v, c in series.items()},
               marks={f"paper {k} top-20": (20, t) for k, t in paper_top20.items()})
    return lines


def fig10(exp, runs):
    rs = [r for r in runs.results("fn") if r["metrics"].get("landmarks")]
    if not rs:
        return ["not run"]
    th = rs[0]["metrics"]["landmarks"]["thresholds"]
    rates = np.array([r["metrics"]["landmarks"]["rates"] for r in rs], dtype=float)  # seeds × landmarks × d
    rows = []
    for lm, name in enumerate(LANDMARK_NAMES):
        at = lambda t: cell(list(100 * rates[:, lm, th.index(t)])) if t in th else "n/a"  # noqa: E731
        rows.append([name, rs[0]["metrics"]["landmarks"]["visible_counts"][lm], at(0.05), at(0.1), at(0.2)])
    mean = rates.mean(axis=0)
    lines = markdown(["landmark", "visible GT", "rate @ 0.05", "rate @ 0.10", "rate @ 0.20"], rows)
    lines += ["", f"FashionNet on the C&A test images. Paper: at normalised distance {paper.FIG10_CLAIM[0]} every "
              f"landmark is detected above {100 * paper.FIG10_CLAIM[1]:.0f} %. Measured visibility accuracy: "
              f"{cell(runs.values('fn', 'metrics.landmarks.visibility_accuracy', 100.0))} %."]
    write_csv(os.path.join(exp.out_dir, "fig10_landmarks.csv"), ("distance", th),
              {n: list(mean[lm]) for lm, n in enumerate(LANDMARK_NAMES)})
    curves(os.path.join(exp.out_dir, "fig10_landmarks.png"),
           f"Landmark detection (measured, {exp.scale}, {exp.data_tag})", "normalised distance", "detection rate",
           {n: (th, mean[lm]) for lm, n in enumerate(LANDMARK_NAMES) if not np.all(np.isnan(mean[lm]))})
    return lines


def header_lines(exp, runs):
    r0 = runs.first()
    return [f"- Schedule: iterations per stage {exp.cfg['iters']}, rounds of step1→step2: {exp.cfg['rounds']}; "
            f"C&A test images: {r0['metrics']['n_test_images']}; attributes: {r0['info']['attributes_total']}."]


def claim_notes(exp, runs):
    out = []
    prior = (baselines.load_or_compute(exp) or {}).get("frequency prior")
    if prior:
        for col, what in (("category_top3", "category top-3"), ("all_top3", "attribute top-3 recall")):
            above = [v for v in config.VARIANTS if v in runs and not collapsed(runs, v)
                     and runs.mean(v, table2_path(col)) > prior[col]]
            out.append(f"- above the image-free frequency prior ({_pct(prior[col])}) on {what}: "
                       + (", ".join(above) if above else "**no variant**"))
    aucs = [(v, runs.mean(v, "metrics.attributes.mean_auc")) for v in config.VARIANTS if v in runs]
    aucs = [(v, x) for v, x in aucs if x is not None]
    if aucs:
        out.append("- attribute scores carry image evidence (mean over trained attributes of the ROC AUC of ranking "
                   "the test images by the attribute's score; 0.5 = none, not in the paper): "
                   + ", ".join(f"{v} {x:.3f}" for v, x in aucs))
    r0 = runs.first()
    out.append(f"- test items: {r0['metrics']['n_test_images']} C&A test images, "
               f"{r0['metrics']['inshop'].get('n_query', '?')} in-shop queries; seeds: {len(exp.seeds)}.")
    return out


TABLES = {
    "table2": Table("Table 2 — category top-k accuracy and attribute top-k recall (%)", config.VARIANTS, table2),
    "fig8": Table("Fig. 8 — in-shop top-k retrieval accuracy", config.VARIANTS,
                  lambda exp, runs: _retrieval(exp, runs, "inshop", "Fig. 8 in-shop retrieval", "fig8_inshop",
                                               paper.INSHOP_TOP20)),
    "fig9": Table("Fig. 9 — consumer-to-shop top-k retrieval accuracy", config.VARIANTS,
                  lambda exp, runs: _retrieval(exp, runs, "c2s", "Fig. 9 consumer-to-shop retrieval", "fig9_c2s",
                                               paper.C2S_TOP20)),
    "fig10": Table("Fig. 10 — landmark detection rate vs normalised distance", ["fn"], fig10),
}

_SAME = "FashionNet > global branch only on the same schedule"
_CAT3, _ATT3, _INS20 = "metrics.category.top3", "metrics.attributes.all_top3", "metrics.inshop.topk.19"
CLAIMS = [
    Claim(f"landmarks help ({_SAME}, category top-3)", "fn", "global_2step", "category_top3", _CAT3),
    Claim(f"landmarks help ({_SAME}, attribute top-3 recall)", "fn", "global_2step", "attributes_all_top3", _ATT3),
    Claim(f"landmarks help ({_SAME}, in-shop top-20)", "fn", "global_2step", "inshop_top20", _INS20),
    Claim("FashionNet > global branch trained category-heavy throughout (category top-3)", "fn", "global",
          "category_top3", _CAT3),
    Claim("more attributes help (all > 50 %, category top-3)", "fn", "fn_a50", "category_top3", _CAT3),
    Claim("more attributes help (50 % > 10 %, category top-3)", "fn_a50", "fn_a10", "category_top3", _CAT3),
    Claim("more attributes help (all > 10 %, category top-3)", "fn", "fn_a10", "category_top3", _CAT3),
    Claim("more attributes help (all > 10 %, in-shop top-20)", "fn", "fn_a10", "inshop_top20", _INS20),
    Claim("better landmarks help (ground truth > estimated, category top-3)", "fn_gtlm", "fn", "category_top3", _CAT3),
]
