"""Tables and plots of the paper-001 reproduction from the measured ``results.json`` files.

    python -m tools.paper001.report --scale tiny [--data synthetic] --what table2|fig8|fig9|fig10|all

Everything printed as ours is read from ``runs/paper001/<data>-<scale>/seed<S>/<variant>/results.json``
(nothing hard-coded); the paper's numbers (tools/paper001/paper.py) are labelled as the paper's.
Outputs go to ``runs/paper001/<data>-<scale>/`` (``table2.md``, ``fig8_inshop.png``/``.csv``,
``fig9_c2s.png``/``.csv``, ``fig10_landmarks.png``/``.csv``, ``report.md``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from . import baselines, config, paper
from .metrics import ATTR_TYPES, COLLAPSE_THRESHOLD

REFERENCE_ROWS = {"frequency prior": "same scores for every image: training-set frequencies",
                  "perfect ranking": "an oracle ranking each image's positive attributes first"}
LANDMARK_NAMES = ["L collar", "R collar", "L sleeve", "R sleeve", "L waistline", "R waistline", "L hem", "R hem"]


def load(data, scale, root="."):
    out = {}
    for seed in config.SCALES[scale]["seeds"]:
        for v in config.VARIANTS:
            p = os.path.join(root, config.run_root(data, scale, seed), v, "results.json")
            if os.path.exists(p):
                out.setdefault(v, []).append(json.load(open(p)))
    return out


def _mean(rs, fn):
    vals = [fn(r) for r in rs]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else None


def _f(v, pct=True):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    return f"{100 * v:.2f}" if pct else f"{v:.3f}"


def header(data, scale, res):
    cfg = config.SCALES[scale]
    any_r = next(iter(res.values()))[0] if res else {}
    synth = any_r.get("synthetic", data in ("", "synthetic"))
    return [f"# Paper 001 (DeepFashion / FashionNet) — measured at scale `{scale}`",
            "",
            f"- data: {config.data_tag(data)} ({'SYNTHETIC wardrobe, not DeepFashion' if synth else 'real data'}); "
            f"seeds: {', '.join(str(s) for s in cfg['seeds'])}",
            f"- network: {cfg['arch']} — narrower than the paper's VGG-16 unless scale is full",
            f"- iterations per stage: {cfg['iters']}, rounds of step1→step2: {cfg['rounds']}",
            f"- C&A test images: {any_r.get('n_test_images', '?')}; "
            f"attributes: {any_r.get('attributes_total', '?')}"] + \
        ([f"- **smoke test**: scale `{scale}` runs a handful of iterations to exercise the pipeline end to end; "
          "its numbers mean nothing"] if cfg.get("smoke") else []) + [""]


def table2_cell(r, column):
    """A results.json's value for a Table 2 column ("category_top3", "texture_top5", "all_top3", ...)."""
    if column.startswith("category_"):
        return r["category"][column.split("_")[1]]
    return r["attributes"][column]


def table2(data, scale, res, refs=None):
    """Table 2 rows of the measured variants, then ``refs`` (baselines.load_or_compute), then the paper's."""
    cols = ["category_top3", "category_top5"] + [f"{t}_top{k}" for t in ATTR_TYPES for k in (3, 5)] + \
           ["all_top3", "all_top5"]

    lines = ["## Table 2 — category top-k accuracy and attribute top-k recall (%)", "",
             "| method | source | " + " | ".join(c.replace("_top", " top-") for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for v in config.VARIANTS:
        if v in res:
            rs = res[v]
            title = config.VARIANT_TITLES[v] + f" [{rs[0]['attributes_trained']}/{rs[0]['attributes_total']} attrs]"
            if collapsed(rs):
                title += " **COLLAPSED**"
            lines.append(f"| {title} | measured | " + " | ".join(_f(_mean(rs, lambda r: table2_cell(r, c)))
                                                               for c in cols) + " |")
        else:
            lines.append(f"| {config.VARIANT_TITLES[v]} | not run | " + " | ".join("—" for _ in cols) + " |")
    for name, what in REFERENCE_ROWS.items():
        if refs and name in refs:
            lines.append(f"| reference: {name} ({what}) | computed from the labels, no image | "
                         + " | ".join(_f(refs[name].get(c)) for c in cols) + " |")
    for name, row in paper.TABLE2.items():
        tag = "paper" + (" (not reproduced)" if name in paper.NOT_REPRODUCED else "")
        lines.append(f"| {name} | {tag} | " + " | ".join("n/a" if row[c] is None else f"{row[c]:.2f}" for c in cols)
                     + " |")
    lines += ["", "Per-type columns rank the attributes of that type only; 'all' ranks every attribute. "
              "Attributes a variant was not trained on score −inf."]
    if refs:
        lines += ["", f"Reference rows look at no image. Top-k recall counts at most k hits per image; our test images "
                  f"have {refs['positives_per_test_image']:.1f} positive attributes each on average (DeepFashion about "
                  "3), so 'perfect ranking' is the highest attribute recall any model can reach here, and our "
                  "attribute columns compare with the paper's only relative to it. A variant at or below "
                  "'frequency prior' has learned nothing image-specific for that column."]
    flagged = [v for v in config.VARIANTS if v in res and collapsed(res[v])]
    if flagged:
        lines += ["", "**COLLAPSED**: the variant's category scores barely depend on the input image (between-image "
                  f"/ between-class spread < {COLLAPSE_THRESHOLD}; " +
                  ", ".join(f"{v}: {_mean(res[v], lambda r: r['collapse']['input_dependence']):.3f}, "
                            f"{res[v][0]['collapse']['distinct_top1']} distinct top-1 classes" for v in flagged) +
                  ") — a failed training run, whose numbers say nothing about the architecture."]
    lines.append("")
    return lines


def _curve(res, v, key):
    rs = [r for r in res.get(v, []) if r.get(key) and r[key].get("topk")]
    if not rs:
        return None
    n = min(len(r[key]["topk"]) for r in rs)
    return np.mean([r[key]["topk"][:n] for r in rs], axis=0)


def retrieval(data, scale, res, key, title, fname, paper_top20, outdir):
    lines = [f"## {title} — top-k retrieval accuracy (top-20 tabled; curve k = 1…50 in {fname}.png/.csv)", "",
             "| method | source | top-1 | top-5 | top-10 | top-20 | top-50 |", "|---|---|---|---|---|---|---|"]
    curves = {}
    for v in config.VARIANTS:
        c = _curve(res, v, key)
        if c is None:
            note = next((r[key].get("note") for r in res.get(v, []) if r.get(key)), None)
            lines.append(f"| {config.VARIANT_TITLES[v]} | {'not available: ' + note if note else 'not run'} "
                         "| — | — | — | — | — |")
            continue
        curves[v] = c
        cells = [_f(c[k - 1], pct=False) if k <= len(c) else "n/a" for k in (1, 5, 10, 20, 50)]
        lines.append(f"| {config.VARIANT_TITLES[v]} | measured | " + " | ".join(cells) + " |")
    for name, t20 in paper_top20.items():
        tag = "paper" + (" (not reproduced)" if name in paper.NOT_REPRODUCED else "")
        lines.append(f"| {name} | {tag} | n/a | n/a | n/a | {t20:.3f} | n/a |")
    lines.append("")
    if curves:
        with open(os.path.join(outdir, f"{fname}.csv"), "w") as f:
            f.write("k," + ",".join(curves) + "\n")
            n = max(len(c) for c in curves.values())
            for k in range(n):
                f.write(f"{k + 1}," + ",".join(f"{c[k]:.4f}" if k < len(c) else "" for c in curves.values()) + "\n")
        _plot(os.path.join(outdir, f"{fname}.png"), title + f" (measured, {scale}, {config.data_tag(data)})",
              "k", "top-k retrieval accuracy",
              {config.VARIANT_TITLES[v]: (np.arange(1, len(c) + 1), c) for v, c in curves.items()},
              marks={f"paper {k} top-20": (20, t) for k, t in paper_top20.items()})
    return lines


def fig10(data, scale, res, outdir):
    rs = [r for r in res.get("fn", []) if r.get("landmarks")]
    lines = ["## Fig. 10 — landmark detection rate vs normalised distance (FashionNet, C&A test)", ""]
    if not rs:
        return lines + ["not run", ""]
    th = rs[0]["landmarks"]["thresholds"]
    rates = np.array([r["landmarks"]["rates"] for r in rs], dtype=float).mean(axis=0)
    lines += ["| landmark | visible GT | rate @ 0.05 | rate @ 0.10 | rate @ 0.20 |", "|---|---|---|---|---|"]
    for l, name in enumerate(LANDMARK_NAMES):
        cnt = rs[0]["landmarks"]["visible_counts"][l]
        cell = lambda t: _f(rates[l][th.index(t)]) if t in th else "n/a"  # noqa: E731
        lines.append(f"| {name} | {cnt} | {cell(0.05)} | {cell(0.1)} | {cell(0.2)} |")
    lines += ["", f"Paper: at normalised distance {paper.FIG10_CLAIM[0]} every landmark is detected above "
              f"{100 * paper.FIG10_CLAIM[1]:.0f} %. Measured visibility accuracy: "
              f"{_f(_mean(rs, lambda r: r['landmarks']['visibility_accuracy']))} %.", ""]
    with open(os.path.join(outdir, "fig10_landmarks.csv"), "w") as f:
        f.write("distance," + ",".join(LANDMARK_NAMES) + "\n")
        for i, t in enumerate(th):
            f.write(f"{t}," + ",".join("" if np.isnan(rates[l][i]) else f"{rates[l][i]:.4f}" for l in range(8)) + "\n")
    _plot(os.path.join(outdir, "fig10_landmarks.png"), f"Landmark detection (measured, {scale}, {config.data_tag(data)})",
          "normalised distance", "detection rate",
          {n: (th, rates[l]) for l, n in enumerate(LANDMARK_NAMES) if not np.all(np.isnan(rates[l]))})
    return lines


def _plot(path, title, xl, yl, series, marks=None):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # the CSV beside it carries the same numbers
        return
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name)
    for (name, (x, y)), m in zip((marks or {}).items(), "*^vsD"):
        ax.plot([x], [y], "k" + m, label=name)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def collapsed(rs):
    """True when any seed's run of a variant collapsed (outputs nearly independent of the input)."""
    return any((r.get("collapse") or {}).get("collapsed") for r in rs)


def _per_item(res, v, key):
    """{seed: (numerator, denominator or None)} of a variant's per-test-item outcomes for a claim key."""
    out = {}
    for r in res.get(v, []):
        items = r.get("per_item") or {}
        if key == "inshop_top20" and "inshop_first_hit" in items:
            fh = np.asarray(items["inshop_first_hit"])
            out[r["seed"]] = ((fh >= 0) & (fh < 20), None)
        elif key == "attributes_all_top3" and "attributes_all_top3_hits" in items:
            out[r["seed"]] = (items["attributes_all_top3_hits"], items["attributes_all_top3_positives"])
        elif key in items:
            out[r["seed"]] = (items[key], None)
    return out


def compare(res, a, b, key, fn):
    """(a's value, b's value, (difference, low, high) of the paired bootstrap or None)."""
    from .metrics import paired_bootstrap

    x = _mean(res[a], fn) if a in res else None
    y = _mean(res[b], fn) if b in res else None
    pa, pb = _per_item(res, a, key), _per_item(res, b, key)
    seeds = sorted(set(pa) & set(pb))
    if x is None or y is None or not seeds:
        return x, y, None
    cat = lambda d, i: np.concatenate([np.asarray(d[s][i], np.float64) for s in seeds])  # noqa: E731
    den_a = cat(pa, 1) if pa[seeds[0]][1] is not None else None
    den_b = cat(pb, 1) if pb[seeds[0]][1] is not None else None
    if len(cat(pa, 0)) != len(cat(pb, 0)):
        return x, y, None
    return x, y, paired_bootstrap(cat(pa, 0), cat(pb, 0), den_a, den_b)


def claims(res, refs=None):
    """Plain statements of which of the paper's claims held on our data, tested for noise: a claim
    "held" when the 95 % interval of the paired bootstrap over the test items (the same images /
    queries for both variants) lies above zero, "did NOT hold" when it lies below, and is "not
    established" when it straddles zero."""
    out = ["## Claims", "",
           "Each verdict compares two variants on the same test items: the difference of the measured numbers "
           "and its 95 % interval from 2,000 paired bootstrap resamples of the test images / queries. "
           "Held = interval above 0; did NOT hold = below 0; not established = the interval contains 0.", ""]

    def line(a, b, what, key, fn):
        x, y, boot = compare(res, a, b, key, fn)
        if x is None or y is None:
            return f"- {what}: not measured"
        if boot is None:
            verdict = ("higher" if x > y else "not higher") + " (no per-item outcomes: not tested for noise)"
            return f"- {what}: {verdict} ({_f(x)} vs {_f(y)})"
        d, lo, hi = boot
        failed = [v for v in (a, b) if collapsed(res[v])]
        if failed:
            verdict = f"no evidence ({' and '.join(failed)} collapsed in training)"
        else:
            verdict = "held" if lo > 0 else "did NOT hold (significantly lower)" if hi < 0 else \
                "not established (within noise)"
        return (f"- {what}: **{verdict}** — {_f(x)} vs {_f(y)}, difference {100 * d:+.2f} points, "
                f"95 % interval [{100 * lo:+.2f}, {100 * hi:+.2f}]")

    cat3 = lambda r: r["category"]["top3"]  # noqa: E731
    att3 = lambda r: r["attributes"]["all_top3"]  # noqa: E731
    ins20 = lambda r: r["inshop"]["topk"][19] if len(r["inshop"]["topk"]) >= 20 else None  # noqa: E731
    c, a, i = "category_top3", "attributes_all_top3", "inshop_top20"
    same = "FashionNet > global branch only on the same schedule"
    out.append(line("fn", "global_2step", f"landmarks help ({same}, category top-3)", c, cat3))
    out.append(line("fn", "global_2step", f"landmarks help ({same}, attribute top-3 recall)", a, att3))
    out.append(line("fn", "global_2step", f"landmarks help ({same}, in-shop top-20)", i, ins20))
    out.append(line("fn", "global", "FashionNet > global branch trained category-heavy throughout (category top-3)",
                    c, cat3))
    out.append(line("fn", "fn_a50", "more attributes help (all > 50 %, category top-3)", c, cat3))
    out.append(line("fn_a50", "fn_a10", "more attributes help (50 % > 10 %, category top-3)", c, cat3))
    out.append(line("fn", "fn_a10", "more attributes help (all > 10 %, category top-3)", c, cat3))
    out.append(line("fn", "fn_a10", "more attributes help (all > 10 %, in-shop top-20)", i, ins20))
    out.append(line("fn_gtlm", "fn", "better landmarks help (ground truth > estimated, category top-3)", c, cat3))
    prior = (refs or {}).get("frequency prior")
    if prior:
        for col, what in (("category_top3", "category top-3"), ("all_top3", "attribute top-3 recall")):
            above = [v for v in config.VARIANTS if v in res and not collapsed(res[v])
                     and _mean(res[v], lambda r: table2_cell(r, col)) > prior[col]]
            out.append(f"- above the image-free frequency prior ({_f(prior[col])}) on {what}: "
                       + (", ".join(above) if above else "**no variant**"))
    aucs = [(v, _mean(res[v], lambda r: r["attributes"].get("mean_auc"))) for v in config.VARIANTS if v in res]
    aucs = [(v, x) for v, x in aucs if x is not None and not np.isnan(x)]
    if aucs:
        out.append("- attribute scores carry image evidence (mean over trained attributes of the ROC AUC of ranking "
                   "the test images by the attribute's score; 0.5 = none, not in the paper): "
                   + ", ".join(f"{v} {x:.3f}" for v, x in aucs))
    any_r = next(iter(res.values()))[0]
    out.append(f"- test items: {any_r.get('n_test_images', '?')} C&A test images, "
               f"{(any_r.get('inshop') or {}).get('n_query', '?')} in-shop queries; "
               f"seeds: {len(next(iter(res.values())))}.")
    out.append("")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="tiny", choices=list(config.SCALES))
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--what", default="all", choices=["table2", "fig8", "fig9", "fig10", "all"])
    a = ap.parse_args(argv)
    res = load(a.data, a.scale)
    if not res:
        print("no results.json found; run `make paper001` first", file=sys.stderr)
        return 1
    outdir = os.path.join(config.RUNS_ROOT, f"{config.data_tag(a.data)}-{a.scale}")
    os.makedirs(outdir, exist_ok=True)
    lines = header(a.data, a.scale, res)
    refs = baselines.load_or_compute(a.data, a.scale, outdir) if a.what in ("table2", "all") else None
    if a.what in ("table2", "all"):
        t2 = table2(a.data, a.scale, res, refs)
        lines += t2
        if a.what == "all":  # table2.md beside report.md (as `--what table2` writes it)
            with open(os.path.join(outdir, "table2.md"), "w") as f:
                f.write("\n".join(header(a.data, a.scale, res) + t2) + "\n")
    if a.what in ("fig8", "all"):
        lines += retrieval(a.data, a.scale, res, "inshop", "Fig. 8 in-shop retrieval", "fig8_inshop",
                           paper.INSHOP_TOP20, outdir)
    if a.what in ("fig9", "all"):
        lines += retrieval(a.data, a.scale, res, "c2s", "Fig. 9 consumer-to-shop retrieval", "fig9_c2s",
                           paper.C2S_TOP20, outdir)
    if a.what in ("fig10", "all"):
        lines += fig10(a.data, a.scale, res, outdir)
    if a.what == "all":
        cl = claims(res, refs)
        if config.SCALES[a.scale].get("smoke"):
            cl[2:2] = [f"Scale `{a.scale}` is a smoke test: the verdicts below are no evidence either way.", ""]
        lines += cl
    text = "\n".join(lines)
    name = "report.md" if a.what == "all" else f"{a.what}.md"
    with open(os.path.join(outdir, name), "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"(written to {outdir}/{name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
