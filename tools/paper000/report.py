"""Paper 000's tables (the paper's layout, the paper's column beside ours), Fig. 2 and claims.

Every "ours" number is read from the runs' results.json (computed from their predictions.npz); the
paper's numbers come from :mod:`tools.paper000.paper` and are labelled "paper".  mAP values are in %.
Each table is given twice: searching fc7 (the paper's "learned representation", our main reading)
and searching the group's own sigmoid outputs.  A group without a value in some seed (fewer than 2
annotated test images) is "n/a" and left out of the means.
"""
from __future__ import annotations

import os

import numpy as np

from . import config, metrics, paper
from ..repro.plots import grouped_bars
from ..repro.report import Claim, Table, cell, markdown, number
from ..repro.stats import usable

TITLE = "Li et al., Improving Deep CNNs for Real-world Clothing Image: multi-label vs multi-task vs multi-weight"
PAPER_SOURCE = ("Li et al., e-Clothing1.4M (1.07M training images), AlexNet, @i20 / @i45 read as 20k / 45k "
                "iterations of batch 256.")
REP_NOTE = {"fc7": "fc7 after ReLU", "output": "the group's sigmoid outputs"}
TABLE_METHODS = ["multilabel", "multitask", "multiweight"]


def _variants(dataset, methods):
    return [config.variant_name(dataset, m) for m in methods]


def _per_group(runs, variant, rep, groups):
    """{group: [mAP % per seed]} (None where undefined)."""
    return {g: runs.values(variant, ("metrics", f"map_{rep}", g), scale=100.0) for g in groups}


def _mean_over_groups(per_seed, groups):
    """Per seed: the mean over the groups that have a value in every seed; and those groups."""
    ok = [g for g in groups if usable(per_seed.get(g))]
    if not ok:
        return [], ok
    n = len(per_seed[ok[0]])
    return [float(np.mean([per_seed[g][i] for g in ok])) for i in range(n)], ok


def _mean_cell(per_seed, groups):
    ms, ok = _mean_over_groups(per_seed, groups)
    return cell(ms) + (f" ({len(ok)} groups)" if len(ok) != len(groups) else "")


def _reference(runs, variants):
    """A measured run of these variants (its info: groups, proportions, sizes), or None."""
    rs = [r for v in variants for r in runs.results(v)]
    return rs[0] if rs else None


def _section(rep, cols, rows):
    return [f"### Representation searched: **{rep}** ({REP_NOTE[rep]})", ""] + markdown(cols, rows) + [""]


def _chance(runs, variants):
    """mAP@50 per group of random 64-d Gaussian features on the same test images (labels from the
    saved predictions): the level a representation knowing nothing of the images reaches."""
    for v in variants:
        for tasks in runs.predictions(v).values():
            a = tasks["attributes"]
            f = np.random.RandomState(0).randn(len(a["labels"]), 64)
            return metrics.map_per_group(lambda gi: f, a["labels"], [int(m) for m in a["group_sizes"]],
                                         [str(g) for g in a["group_names"]])
    return None


def _not_run(variants, runs):
    missing = [config.VARIANT_TITLES[v] for v in variants if v not in runs]
    return [f"Not run at this scale / selection: {', '.join(missing)} (columns `n/a`)."] if missing else []


def _table_2_4_5(name, dataset, ref, exp, runs):
    variants = _variants(dataset, TABLE_METHODS)
    r0 = _reference(runs, variants)
    if r0 is None:
        return ["not run"]
    groups, props = r0["info"]["groups"], r0["info"]["proportions"]
    chance = _chance(runs, variants)
    labels = {"multilabel": "Multi-label", "multitask": "Multi-task", "multiweight": "Multi-weight"}
    if name == "table2":
        labels = {"multilabel": "Multi-label@i20", "multitask": "Multi-task@i45", "multiweight": "Multi-weight@i45"}
    out = []
    for rep in metrics.REPRESENTATIONS:
        per = {m: _per_group(runs, config.variant_name(dataset, m), rep, groups) for m in TABLE_METHODS}
        cols = ["Category", "Proportion (paper)", "Proportion (ours, train)", "n test (ours)"]
        for m in TABLE_METHODS:
            cols += [f"{labels[m]} paper", f"{labels[m]} ours"]
        cols.append("chance (ours)")
        rows = []
        for gi, g in enumerate(groups):
            pp = ref.get(g)
            means = {m: np.mean(per[m][g]) if usable(per[m][g]) else None for m in TABLE_METHODS}
            best = max((x for x in means.values() if x is not None), default=None)
            row = [g, number(pp[0], 4) if pp else "—", number(props[gi], 4), str(r0["metrics"]["n_eval"].get(g, 0))]
            for i, m in enumerate(TABLE_METHODS):
                row += [number(pp[1 + i]) if pp else "—", cell(per[m][g], bold=best is not None and means[m] == best)]
            row.append("n/a" if not chance or chance.get(g) is None else f"{100 * chance[g]:.2f}")
            rows.append(row)
        mrow = ["**Mean**", "", "", ""]
        for i, m in enumerate(TABLE_METHODS):
            pm = paper.TABLE2_MEANS[i] if name == "table2" else float(np.mean([ref[g][1 + i] for g in ref]))
            mrow += [f"{pm:.2f}", _mean_cell(per[m], groups)]
        ok = [g for g in groups if chance and chance.get(g) is not None]
        mrow.append(f"{100 * np.mean([chance[g] for g in ok]):.2f}" if ok else "n/a")
        out += _section(rep, cols, rows + [mrow])
    out.append("chance (ours): mAP@50 of random 64-d Gaussian features on the same test images -- the level "
               "reached from the label frequencies alone.")
    if name == "table2":
        out.append("The paper's means are the values stated in its Sec. IV-D. Bold: the best of our three nets in "
                   "the row. n/a: fewer than 2 annotated test images in the group.")
    else:
        out.append("Bold: the best of our three nets in the row. The paper's mean is over the two groups.")
    return out + _not_run(variants, runs)


def table3(exp, runs):
    variants = _variants("all", config.METHODS)
    if _reference(runs, variants) is None:
        return ["not run"]
    info = _reference(runs, variants)["info"]
    groups, props = info["groups"], info["proportions"]
    gam = next((r["info"]["gamma"] for r in runs.results("all_ratio13") if r["info"].get("gamma")), None)
    gmw = next((r["info"]["gamma"] for r in runs.results("all_multiweight") if r["info"].get("gamma")), None)
    out = []
    for rep in metrics.REPRESENTATIONS:
        per = {m: _per_group(runs, config.variant_name("all", m), rep, groups) for m in config.METHODS}
        # "current best": per group and seed, the best of our multi-label / multi-task / multi-weight
        best = {}
        for g in groups:
            vals = [per[m][g] for m in TABLE_METHODS]
            best[g] = [max(t) for t in zip(*vals)] if all(usable(x) for x in vals) else [None]
        cols = ["Category", "Proportion (paper)", "Proportion (ours, train)", "γ 1/3 ratio (ours)",
                "Current best paper", "Current best ours", "Multi-weight@i45 paper", "Multi-weight ours",
                "1/3Ratio@i45 paper", "1/3Ratio ours"]
        rows = []
        for gi, g in enumerate(groups):
            pp, p2 = paper.TABLE3.get(g), paper.TABLE2.get(g)
            rows.append([g, number(p2[0], 4) if p2 else "—", number(props[gi], 4), number(gam[gi], 4) if gam else "—",
                         number(pp[0]) if pp else "—", cell(best[g]), number(pp[1]) if pp else "—",
                         cell(per["multiweight"][g]), number(pp[2]) if pp else "—", cell(per["ratio13"][g])])
        mrow = ["**Mean**", "", "", ""]
        for i, series in enumerate([best, per["multiweight"], per["ratio13"]]):
            pm = float(np.mean([paper.TABLE3[g][i] for g in paper.TABLE3]))
            mrow += [f"{pm:.2f}", _mean_cell(series, groups)]
        out += _section(rep, cols, rows + [mrow])
    out.append("Current best = per group, the best of the multi-label, multi-task and multi-weight nets (ours: of "
               "our three runs, per seed). The paper's means are computed here from its Table III. "
               + (f"Multi-weight γ (ours) = the train proportions; eq. 11 floor r_avg/3 = {np.mean(gmw) / 3:.4f}."
                  if gmw else ""))
    return out + _not_run(variants, runs)


def fig2(exp, runs):
    """Fig. 2: mAP@50 of the 24 groups for the four methods; top panel the paper's, below ours."""
    variants = _variants("all", config.METHODS)
    if _reference(runs, variants) is None:
        return ["not run"]
    groups = _reference(runs, variants)["info"]["groups"]
    paper_vals = {"multilabel": [paper.TABLE2.get(g, (None,) * 4)[1] for g in groups],
                  "multitask": [paper.TABLE2.get(g, (None,) * 4)[2] for g in groups],
                  "multiweight": [paper.TABLE2.get(g, (None,) * 4)[3] for g in groups],
                  "ratio13": [paper.TABLE3.get(g, (None,) * 3)[2] for g in groups]}
    panels = [("Paper (Li et al., e-Clothing1.4M; Tables II and III) -- transcribed, not measured",
               {config.METHOD_TITLES[m]: (paper_vals[m], None) for m in config.METHODS})]
    lines = []
    for rep in metrics.REPRESENTATIONS:
        series = {}
        for m in config.METHODS:
            per = _per_group(runs, config.variant_name("all", m), rep, groups)
            mv = [np.mean(per[g]) if usable(per[g]) else np.nan for g in groups]
            sd = [np.std(per[g], ddof=1) if usable(per[g]) and len(per[g]) > 1 else 0 for g in groups]
            series[config.METHOD_TITLES[m]] = (mv, sd if len(exp.seeds) > 1 else None)
        src = "synthetic wardrobe" if exp.synthetic else exp.data
        title = (f"Ours, measured: {src}, scale {exp.scale} ({exp.cfg['arch']}), seeds "
                 f"{', '.join(map(str, exp.seeds))}, representation {rep}")
        path = os.path.join(exp.out_dir, f"fig2_{rep}.png")
        grouped_bars(path, "Paper 000, Fig. 2 -- mAP@50 of every attribute group for the four methods", groups,
                     panels + [(title, series)], "mAP@50 (%)")
        lines.append(f"- representation {rep}: `{path}`")
    return ["Bar charts of every group's mAP@50 (%), the paper's panel above ours:", ""] + lines + _not_run(variants,
                                                                                                         runs)


def header_lines(exp, runs):
    r0 = runs.first()
    info = r0["info"]
    return [f"- Evaluated set: the test split ({info['n_test']} images); per group the images annotated in that group "
            f"are both queries and candidates (query excluded); relevance = at least one shared label of the group; "
            f"R = {info['R']}; distance {info['distance']}; batch {info['batch']}."]


TABLES = {
    "table2": Table("Table II -- mAP@50 (%) per attribute group: multi-label vs multi-task vs multi-weight CNNs",
                    _variants("all", TABLE_METHODS),
                    lambda exp, runs: _table_2_4_5("table2", "all", paper.TABLE2, exp, runs)),
    "table3": Table("Table III -- mAP@50 (%) with weight adaptation: eq. 11 smoothing (\"1/3 ratio\", c = 3)",
                    _variants("all", config.METHODS), table3),
    "table4": Table("Table IV -- mAP@50 (%) for Coat vs Pantsuit at a 10:1 ratio",
                    _variants("coat_pantsuit", TABLE_METHODS),
                    lambda exp, runs: _table_2_4_5("table4", "coat_pantsuit", paper.TABLE4, exp, runs)),
    "table5": Table("Table V -- mAP@50 (%) for Length of Sleeve vs Sleeve at a 10:1 ratio",
                    _variants("lengthofsleeve_sleeve", TABLE_METHODS),
                    lambda exp, runs: _table_2_4_5("table5", "lengthofsleeve_sleeve", paper.TABLE5, exp, runs)),
    "fig2": Table("Fig. 2 -- mAP@50 of every attribute group for the four methods", _variants("all", config.METHODS),
                  fig2),
}

CLAIMS = [
    Claim("multi-task beats multi-label (Table II, mean mAP@50 over the groups, fc7)", "all_multitask",
          "all_multilabel", "ap_fc7", "metrics.mean_map_fc7"),
    Claim("multi-weight beats multi-task (Table II, mean mAP@50 over the groups, fc7)", "all_multiweight",
          "all_multitask", "ap_fc7", "metrics.mean_map_fc7"),
    Claim("multi-weight beats multi-label (Table II, mean mAP@50 over the groups, fc7)", "all_multiweight",
          "all_multilabel", "ap_fc7", "metrics.mean_map_fc7"),
    Claim("the 1/3 ratio beats multi-weight (Table III, mean mAP@50 over the groups, fc7)", "all_ratio13",
          "all_multiweight", "ap_fc7", "metrics.mean_map_fc7"),
    Claim("multi-weight beats multi-label on the smaller group at 10:1 (Table IV, Pantsuit, fc7)",
          "coat_pantsuit_multiweight", "coat_pantsuit_multilabel", "ap_fc7@Pantsuit", "metrics.map_fc7.Pantsuit"),
    Claim("multi-weight beats multi-label on the smaller group at 10:1 (Table V, Sleeve, fc7)",
          "lengthofsleeve_sleeve_multiweight", "lengthofsleeve_sleeve_multilabel", "ap_fc7@Sleeve",
          "metrics.map_fc7.Sleeve"),
]
