"""Markdown tables (the paper's layout, the paper's column beside ours) and the Fig. 2 plot.

Every "ours" number is read from the runs' result.json files (measured); the paper's numbers come
from :mod:`tools.paper000.paper` and are labelled "paper".  mAP values are in %.  With several
seeds a cell is "mean ± std" (sample std over seeds); a group without a value in some seed (fewer
than 2 evaluated test images) is "n/a" and left out of the means.
"""
from __future__ import annotations

import datetime

import numpy as np

from . import config, paper

TITLES = {
    "table2": "Table II -- mAP@50 (%) per attribute group: multi-label vs multi-task vs multi-weight CNNs",
    "table3": "Table III -- mAP@50 (%) with weight adaptation: eq. 11 smoothing (\"1/3 ratio\", c = 3)",
    "table4": "Table IV -- mAP@50 (%) for Coat vs Pantsuit at a 10:1 ratio",
    "table5": "Table V -- mAP@50 (%) for Length of Sleeve vs Sleeve at a 10:1 ratio",
}


def _per_seed(results, variant, rep):
    """{group: [value per seed]} (None where undefined)."""
    out = {}
    for res in results.get(variant, []):
        for g, v in res[rep].items():
            out.setdefault(g, []).append(None if v is None else 100.0 * v)
    return out


def _cell(vals, bold=False):
    if not vals or any(v is None for v in vals):
        return "n/a"
    m = float(np.mean(vals))
    s = f"{m:.2f}" + (f" ± {np.std(vals, ddof=1):.2f}" if len(vals) > 1 else "")
    return f"**{s}**" if bold else s


def _mean_over_groups(per_seed, groups):
    """Per seed: mean over the groups that have a value in every seed; and those groups."""
    ok = [g for g in groups if g in per_seed and per_seed[g] and all(v is not None for v in per_seed[g])]
    if not ok:
        return [], ok
    n = len(per_seed[ok[0]])
    return [float(np.mean([per_seed[g][i] for g in ok])) for i in range(n)], ok


def _fmt(x, nd=2):
    return "—" if x is None else f"{x:.{nd}f}"


def header(results, table, scale, data, seeds, rep):
    cfg = config.SCALES[scale]
    any_res = next(r for rs in results.values() for r in rs)
    src = "synthetic wardrobe (data_prep.wardrobe, e-Clothing-style keyword lists)" if data in ("", "synthetic") \
        else f"real data from {data}"
    iters = ", ".join(f"{config.VARIANT_TITLES[v]} {rs[0]['iters']}" for v, rs in results.items())
    def _t(rs):
        wall = f"{np.mean([r['seconds_train'] for r in rs]):.0f}s wall"
        cpu = [r.get("cpu_seconds_train") for r in rs]
        return wall + (f" / {np.mean(cpu):.0f}s CPU" if all(c is not None for c in cpu) else "")

    secs = ", ".join(f"{config.VARIANT_TITLES[v]} {_t(rs)}" for v, rs in results.items())
    dev = any_res.get("device", "cpu")
    lines = [
        f"# Paper 000, {TITLES[table]}",
        "",
        f"- **Ours, measured** on {src}; scale **{scale}**; net **{cfg['arch']}**; "
        f"iterations {iters} (batch {cfg['batch']}); seeds {', '.join(map(str, seeds))}"
        + (" (mean ± std over seeds)" if len(seeds) > 1 else "") + f"; device {dev}.",
        f"- Evaluated set: the test split ({any_res['n_test']} images); per group the images annotated in that "
        f"group are both queries and candidates (query excluded); relevance = at least one shared label of the "
        f"group; R = {any_res['R']}; representation searched: **{rep}**"
        + (" (fc7 after ReLU)" if rep == "fc7" else " (the group's sigmoid outputs)")
        + f"; distance {any_res['distance']}.",
        f"- Training time per run (mean): {secs}.",
        "- **Paper** columns: Li et al., e-Clothing1.4M (1.07M training images), AlexNet, @i20 / @i45 read as "
        "20k / 45k iterations of batch 256; transcribed from the paper, not measured here.",
        f"- Generated {datetime.datetime.now().isoformat(timespec='seconds')} by `python -m tools.paper000.run {table}`.",
        "",
    ]
    return lines


def _prop(results, group):
    r0 = next(r for rs in results.values() for r in rs)
    if group in r0["groups"]:
        return r0["proportions"][r0["groups"].index(group)]
    return None


def table(name, results, scale, data, seeds, rep="fc7", chance=None):
    lines = header(results, name, scale, data, seeds, rep)
    r0 = next(r for rs in results.values() for r in rs)
    groups = list(r0["groups"])
    if name in ("table2", "table4", "table5"):
        variants = ["multilabel", "multitask", "multiweight"]
        ref = {"table2": paper.TABLE2, "table4": paper.TABLE4, "table5": paper.TABLE5}[name]
        per = {v: _per_seed(results, v, rep) for v in variants}
        labels = {"multilabel": "Multi-label", "multitask": "Multi-task", "multiweight": "Multi-weight"}
        if name == "table2":
            labels = {"multilabel": "Multi-label@i20", "multitask": "Multi-task@i45",
                      "multiweight": "Multi-weight@i45"}
        cols = ["Category", "Proportion (paper)", "Proportion (ours, train)", "n test (ours)"]
        for v in variants:
            cols += [f"{labels[v]} paper", f"{labels[v]} ours"]
        if chance is not None:
            cols.append("chance (ours)")
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for g in groups:
            pp = ref.get(g)
            means = {v: (np.mean(per[v][g]) if per[v].get(g) and None not in per[v][g] else None) for v in variants}
            best = max((m for m in means.values() if m is not None), default=None)
            row = [g, _fmt(pp[0], 4) if pp else "—", _fmt(_prop(results, g), 4), str(r0["n_eval"].get(g, 0))]
            for i, v in enumerate(variants):
                row += [_fmt(pp[1 + i]) if pp else "—",
                        _cell(per[v].get(g), bold=best is not None and means[v] == best)]
            if chance is not None:
                row.append("n/a" if chance.get(g) is None else f"{100 * chance[g]:.2f}")
            lines.append("| " + " | ".join(row) + " |")
        mrow = ["**Mean**", "", "", ""]
        notes = []
        for i, v in enumerate(variants):
            if name == "table2":
                pm = paper.TABLE2_MEANS[i]
            else:
                pm = float(np.mean([ref[g][1 + i] for g in ref]))
            ms, ok = _mean_over_groups(per[v], groups)
            mrow += [f"{pm:.2f}", _cell(ms) + (f" ({len(ok)} groups)" if len(ok) != len(groups) else "")]
        if chance is not None:
            ok = [g for g in groups if chance.get(g) is not None]
            mrow.append(f"{100 * np.mean([chance[g] for g in ok]):.2f}" if ok else "n/a")
        lines.append("| " + " | ".join(mrow) + " |")
        lines += [""] + notes
        if chance is not None:
            lines.append("chance (ours): mAP@50 of random 64-d Gaussian features on the same test images -- the "
                         "level reached from the label frequencies alone.")
        if name == "table2":
            lines.append("The paper's means are the values stated in its Sec. IV-D. Bold: the best of our three "
                         "nets in the row. n/a: fewer than 2 annotated test images in the group.")
        else:
            lines.append("Bold: the best of our three nets in the row. The paper's mean is over the two groups.")
    elif name == "table3":
        per = {v: _per_seed(results, v, rep) for v in ["multilabel", "multitask", "multiweight", "ratio13"]}
        # "current best": per group and seed, the best of our multi-label / multi-task / multi-weight
        best = {}
        for g in groups:
            vals = [per[v].get(g) for v in ("multilabel", "multitask", "multiweight")]
            if all(x and None not in x for x in vals):
                best[g] = [max(t) for t in zip(*vals)]
            else:
                best[g] = [None]
        gam = next((r["gamma"] for r in results.get("ratio13", []) if r.get("gamma")), None)
        gmw = next((r["gamma"] for r in results.get("multiweight", []) if r.get("gamma")), None)
        cols = ["Category", "Proportion (paper)", "Proportion (ours, train)", "γ 1/3 ratio (ours)",
                "Current best paper", "Current best ours", "Multi-weight@i45 paper", "Multi-weight ours",
                "1/3Ratio@i45 paper", "1/3Ratio ours"]
        lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for gi, g in enumerate(groups):
            pp = paper.TABLE3.get(g)
            p2 = paper.TABLE2.get(g)
            row = [g, _fmt(p2[0], 4) if p2 else "—", _fmt(_prop(results, g), 4),
                   _fmt(gam[gi], 4) if gam else "—",
                   _fmt(pp[0]) if pp else "—", _cell(best[g]),
                   _fmt(pp[1]) if pp else "—", _cell(per["multiweight"].get(g)),
                   _fmt(pp[2]) if pp else "—", _cell(per["ratio13"].get(g))]
            lines.append("| " + " | ".join(row) + " |")
        mrow = ["**Mean**", "", "", ""]
        for i, series in enumerate([best, per["multiweight"], per["ratio13"]]):
            pm = float(np.mean([paper.TABLE3[g][i] for g in paper.TABLE3]))
            ms, ok = _mean_over_groups(series, groups)
            mrow += [f"{pm:.2f}", _cell(ms) + (f" ({len(ok)} groups)" if len(ok) != len(groups) else "")]
        lines.append("| " + " | ".join(mrow) + " |")
        lines += ["", "Current best = per group, the best of the multi-label, multi-task and multi-weight nets "
                  "(ours: of our three runs, per seed). The paper's means are computed here from its Table III. "
                  + (f"Multi-weight γ (ours) = the train proportions; eq. 11 floor r_avg/3 = "
                     f"{np.mean(gmw) / 3:.4f}." if gmw else "")]
    return "\n".join(lines) + "\n"


def fig2(results, path, scale, data, seeds, rep="fc7"):
    """Fig. 2: mAP@50 of the 24 groups for the four methods; top panel the paper's, bottom ours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = ["multilabel", "multitask", "multiweight", "ratio13"]
    r0 = next(r for rs in results.values() for r in rs)
    groups = list(r0["groups"])
    x = np.arange(len(groups))
    w = 0.2
    fig, axes = plt.subplots(2, 1, figsize=(16, 8), sharex=True)
    paper_vals = {
        "multilabel": [paper.TABLE2.get(g, (None,) * 4)[1] for g in groups],
        "multitask": [paper.TABLE2.get(g, (None,) * 4)[2] for g in groups],
        "multiweight": [paper.TABLE2.get(g, (None,) * 4)[3] for g in groups],
        "ratio13": [paper.TABLE3.get(g, (None,) * 3)[2] for g in groups],
    }
    for i, v in enumerate(variants):
        pv = [np.nan if a is None else a for a in paper_vals[v]]
        axes[0].bar(x + (i - 1.5) * w, pv, w, label=config.VARIANT_TITLES[v])
        per = _per_seed(results, v, rep)
        mv = [np.mean(per[g]) if per.get(g) and None not in per[g] else np.nan for g in groups]
        sd = [np.std(per[g], ddof=1) if per.get(g) and None not in per[g] and len(per[g]) > 1 else 0
              for g in groups]
        axes[1].bar(x + (i - 1.5) * w, mv, w, yerr=sd if len(seeds) > 1 else None, label=config.VARIANT_TITLES[v])
    axes[0].set_title("Paper (Li et al., e-Clothing1.4M; Tables II and III) -- transcribed, not measured")
    src = "synthetic wardrobe" if data in ("", "synthetic") else data
    axes[1].set_title(f"Ours, measured: {src}, scale {scale} ({config.SCALES[scale]['arch']}), "
                      f"seeds {', '.join(map(str, seeds))}, representation {rep}")
    for ax in axes:
        ax.set_ylabel("mAP@50 (%)")
        ax.set_ylim(0, 100)
        ax.legend(ncol=4, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(groups, rotation=60, ha="right", fontsize=8)
    fig.suptitle("Paper 000, Fig. 2 -- mAP@50 of every attribute group for the four methods")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
