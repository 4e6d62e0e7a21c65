"""Paper 004's report: Fig. 6a / 6b (top-k retrieval accuracy, k = 1 … 50), Table 2 (top-20 per
manipulated attribute) for the five methods beside the paper's numbers, the later-work protocol
(top-30 accuracy and NDCG@30) as a separately labelled table, and the paper's claims.

Every number is read from results.json, i.e. :func:`tools.paper004.metrics.score` of the run's
predictions.npz; the paper's numbers come from :mod:`tools.paper004.paper`.
"""
from __future__ import annotations

import os

from ..repro.plots import curves
from ..repro.report import Claim, Table, cell, markdown, mean_curve, number, write_csv
from . import config, paper

TITLE = ("Ak et al., Efficient multi-attribute similarity learning towards attribute-based fashion search "
         "(WACV 2018): fashion search by image and by attribute manipulation")
PAPER_SOURCE = ("Ak et al., Shopping100k subset (19,000 gallery / 2,000 queries), AlexNet conv1-conv5; Fig. 6 "
                "values are the top-20 numbers stated in Section 7's text, Table 2 as printed.")
ORDER = ["classic", "wo_parts_ranking", "wo_parts", "amnet", "proposed"]
KS = [1, 5, 10, 20, 30, 50]


def _title(v):
    return config.VARIANT_TITLES[v]


def _paper(value, approximate=False):
    if value is None:
        return "—"
    return ("≈" if approximate else "") + number(value, 3)


def _curve_figure(exp, runs, protocol, name, title, paper_marks):
    """The mean top-k curve of every variant that ran, as a PNG and a CSV in ``exp.out_dir``."""
    ks = list(range(1, 51))
    series, columns = {}, {}
    for v in ORDER:
        c = mean_curve(runs, v, f"metrics.{protocol}.topk") if v in runs else None
        if c is not None and all(x is not None for x in c):
            series[_title(v)] = (ks[:len(c)], list(c))
            columns[_title(v)] = list(c)
    marks = {f"paper top-20, {_title(v)}": (20, x) for v, x in paper_marks.items() if x is not None}
    png = os.path.join(exp.out_dir, f"{name}.png")
    csv = os.path.join(exp.out_dir, f"{name}.csv")
    curves(png, title, "k", "top-k retrieval accuracy", series, marks=marks)
    write_csv(csv, ("k", ks), columns)
    return png, csv


def _topk_rows(runs, protocol, paper_top20, approximate=()):
    rows = []
    for v in ORDER:
        ours = [cell(runs.values(v, f"metrics.{protocol}.topk.{k - 1}"), digits=3) if v in runs else "not run"
                for k in KS]
        rows.append([_title(v), _paper(paper_top20.get(v), v in approximate)] + ours)
    return rows


def fig6(exp, runs):
    os.makedirs(exp.out_dir, exist_ok=True)
    a = _curve_figure(exp, runs, "direct", "fig6a", "Fig. 6a: direct retrieval (search by query)", paper.FIG6A_TOP20)
    b = _curve_figure(exp, runs, "manip1", "fig6b", "Fig. 6b: retrieval after one manipulation", paper.FIG6B_TOP20)
    c = _curve_figure(exp, runs, "manip2", "fig6b_two", "Retrieval after two manipulations", {})
    cols = ["method", "paper top-20"] + [f"ours top-{k}" for k in KS]
    lines = ["**Fig. 6a — direct retrieval** (top-k accuracy; a hit = a gallery image with every special attribute "
             "equal to the query's; queries with all special labels valid):", ""]
    lines += markdown(cols, _topk_rows(runs, "direct", paper.FIG6A_TOP20))
    lines += ["", "**Fig. 6b — after one random manipulation** (a random special attribute set to a random other "
              "value; tasks whose target the gallery holds):", ""]
    lines += markdown(cols, _topk_rows(runs, "manip1", paper.FIG6B_TOP20, paper.FIG6B_APPROXIMATE))
    lines += ["", "**After two random manipulations** (the paper's \"one or two\"; no separate paper numbers):", ""]
    lines += markdown(cols, _topk_rows(runs, "manip2", {}))
    lines += ["", "Floor and ceiling per protocol (from the labels alone, equal for every method): expected top-20 of "
              "a random ranking / share of tasks with any match in the gallery:"]
    first = runs.first()["metrics"]
    for p in ("direct", "manip1", "manip2"):
        r = first.get(p, {})
        lines.append(f"- {p}: random top-20 {number(r.get('random_top20'), 3)}, ceiling {number(r.get('ceiling'), 3)}, "
                     f"{r.get('tasks')} tasks (seed {runs.first()['seed']})")
    lines += ["", f"Plots: `{os.path.basename(a[0])}`, `{os.path.basename(b[0])}`, `{os.path.basename(c[0])}` "
              f"(curves: `{os.path.basename(a[1])}`, `{os.path.basename(b[1])}`, `{os.path.basename(c[1])}`); "
              "`≈`: derived from the paper's \"around 7.5%\"."]
    return lines


def table2(exp, runs):
    cols = ["attribute"] + [f"{_title(v)} {w}" for v in ORDER for w in ("paper", "ours")] + ["tasks"]
    rows = []
    for attr in paper.TABLE2_ATTRIBUTES:
        row = [paper.TABLE2_TITLES[attr]]
        for v in ORDER:
            row += [number(paper.TABLE2[attr][v]),
                    cell(runs.values(v, f"metrics.table2_{attr}.top20"), digits=2) if v in runs else "not run"]
        row.append(str(runs.first()["metrics"].get(f"table2_{attr}", {}).get("tasks", "n/a")))
        rows.append(row)
    return ["Top-20 retrieval accuracy after manipulating one given attribute of every valid query (to a random "
            "other value whose target the gallery holds); `tasks`: their number (first seed).", ""] + \
        markdown(cols, rows)


def later(exp, runs):
    cols = ["method", "top-30 accuracy", "NDCG@30", "top-20 accuracy", "tasks"]
    rows = []
    for v in ORDER:
        if v not in runs:
            rows.append([_title(v), "not run", "not run", "not run", "—"])
            continue
        rows.append([_title(v), cell(runs.values(v, "metrics.enumerated.top30"), 3),
                     cell(runs.values(v, "metrics.enumerated.ndcg30"), 3),
                     cell(runs.values(v, "metrics.enumerated.top20"), 3),
                     str(runs.results(v)[0]["metrics"]["enumerated"]["tasks"])])
    return ["**Not the paper's protocol**: the one later work on Shopping100k uses (every valid query × special "
            "attribute × other value whose target the gallery holds; NDCG@30 with graded relevance = share of "
            "special attributes equal to the target).  Their exact query lists are not public and the paper "
            "reports no such numbers, so there is no paper column.", ""] + markdown(cols, rows)


TABLES = {
    "fig6": Table("Fig. 6 -- top-k retrieval accuracy: (a) direct, (b) after manipulation", ORDER, fig6),
    "table2": Table("Table 2 -- top-20 retrieval accuracy per manipulated attribute", ORDER, table2),
    "later": Table("Later-work protocol -- top-30 accuracy and NDCG@30 (not the paper's)", ORDER, later),
}

CLAIMS = [
    Claim("Parts help: Proposed > w/o Parts (top-20 after one manipulation, Fig. 6b)", "proposed", "wo_parts",
          "manip1.top20", "metrics.manip1.top20"),
    Claim("Ranking helps: w/o Parts > w/o Parts & Ranking (top-20 after one manipulation)", "wo_parts",
          "wo_parts_ranking", "manip1.top20", "metrics.manip1.top20"),
    Claim("Ours beats AMNet: Proposed > AMNet (top-20 after one manipulation)", "proposed", "amnet",
          "manip1.top20", "metrics.manip1.top20"),
    Claim("Proposed is best in direct retrieval: Proposed > w/o Parts (top-20, Fig. 6a)", "proposed", "wo_parts",
          "direct.top20", "metrics.direct.top20"),
]


def header_lines(exp, runs):
    info = runs.first().get("info", {})
    tasks = info.get("tasks", {})
    lines = [f"- Special attributes ({info.get('special_set', 'paper')}): {', '.join(info.get('special', []))}; "
             f"{info.get('queries')} query images ({info.get('valid_queries')} with every special label valid), "
             f"gallery {info.get('gallery')} images; tasks per protocol (seed {runs.first()['seed']}): "
             + ", ".join(f"{k} {n}" for k, n in tasks.items()) + "."]
    chosen = []
    for v in ORDER:
        for r in runs.results(v):
            it = (r.get("info") or {}).get("selected_iteration")
            if it is not None:
                chosen.append(f"{_title(v)} seed {r['seed']}: {it}")
    if chosen:
        lines.append(f"- Model selection (tools/paper004/selection.py): of the last stage's snapshots every "
                     f"1/{config.SELECT_CANDIDATES} of it, the one with the best validation top-20 (validation "
                     "images searched among themselves after one random manipulation) is scored on the test "
                     "split, once; selected iteration: " + "; ".join(chosen) + ".")
    iou = (info.get("part_extraction_vs_truth") or {}).get("parts") or {}
    shown = {k: r["mean_iou"] for k, r in iou.items() if r.get("mean_iou") is not None}
    if shown:
        lines.append("- Part extraction vs the wardrobe's true part boxes (mean IoU, the data's images): "
                     + ", ".join(f"{k} {float(x):.2f}" for k, x in shown.items()) + ".")
    return lines


def claim_notes(exp, runs):
    return ["", "Claims are tested on the single-manipulation protocol (Fig. 6b's) and direct retrieval; per-task "
            "outcomes (hit within the top 20) are paired by task id (query | manipulation), seeds pooled."]
