"""Paper 002's Table 1, curves and claims from the measured results.json (tools/repro/report.py).

Everything shown as ours is read from ``<run>/results.json`` (computed from its predictions.npz);
the paper's numbers (tools/paper002/paper.py) are labelled as the paper's.  Besides ``<table>.md``:
``validation_top3.png``, ``train_loss.png`` and ``sigmas.png`` (training_curves.py).
"""
from __future__ import annotations

from . import config, fashionnet, paper, training_curves
from ..repro.report import Claim, Table, cell, markdown, number

TITLE = "Cho et al., HMCN-F with uncertainty weighting (ICCVW 2019): hierarchical category classification"
PAPER_SOURCE = ("Cho et al., Table 1: DeepFashion C&A test split, frozen ImageNet EfficientNet-b5 + HMCN-F heads "
                "over 5 / 10 parent classes; rows DARN, Lu et al., Corbiere et al., FashionNet, Wang et al., "
                "Li et al. are other papers' numbers as the paper quotes them.")
COLUMNS = ["method", "FLD", "paper top-3", "paper top-5", "ours top-3", "ours top-5", "ours top-1",
           "ours parent top-1", "ours macro recall@3 (NOT the paper's metric)", "selected iteration"]


def _ours(runs, v):
    if v not in runs:
        return ["not run"] + ["—"] * 5
    m = lambda path: cell(runs.values(v, path, 100.0))  # noqa: E731
    parent = m("metrics.parent.top1") if config.head_spec(v)[1] else "—"
    sel = cell(runs.values(v, "info.selected_iteration"), digits=0)
    return [m("metrics.category.top3"), m("metrics.category.top5"), m("metrics.category.top1"), parent,
            m("metrics.category.macro_recall_top3"), sel]


def _paper(name):
    top3, top5, fld = paper.TABLE1[name]
    return ["yes" if fld else "no", number(top3), number(top5)]


def _fashionnet_row(exp, runs):
    first = next((v for v in config.VARIANTS if v in runs), None)
    if first is None:
        return ["FashionNet (paper 001's run)"] + _paper("FashionNet") + ["not run"] + ["—"] * 5, None
    tasks = next(iter(runs.predictions(first).values()))["category"]
    found, reason = fashionnet.lookup(exp, list(tasks["ids"]), tasks["labels"])
    if found is None:
        return (["FashionNet (paper 001)"] + _paper("FashionNet") + ["absent"] + ["—"] * 5,
                f"FashionNet row absent: {reason}.")
    pct = lambda xs: [100 * x for x in xs]  # noqa: E731
    return (["FashionNet (paper 001's run, same test split)"] + _paper("FashionNet") +
            [cell(pct(found["top3"])), cell(pct(found["top5"])), "—", "—", "—", "—"],
            f"FashionNet row: paper 001's `fn` runs ({', '.join(found['seeds'])}) in {found['source']} "
            f"({found['arch']}; trained end to end on the images, no frozen encoder), re-scored on our test images.")


def table1(exp, runs):
    rows = [[f"{name} (not reproduced)"] + _paper(name) + ["—"] * 6 for name in paper.NOT_REPRODUCED[:3]]
    first = next(v for v in config.VARIANTS if v in runs)
    prior = lambda k: cell(runs.values(first, f"metrics.prior.top{k}", 100.0))  # noqa: E731
    rows.append(["Frequency prior: the training split's 3 / 5 most frequent categories for every image (ours)",
                 "no", "—", "—", prior(3), prior(5), prior(1), "—", cell(runs.values(first, "metrics.prior.macro_recall_top3",
                                                                                  100.0)), "—"])
    rows.append([config.VARIANT_TITLES["flat"], "no", "—", "—"] + _ours(runs, "flat"))
    for v in config.PAPER_VARIANTS[1:]:
        rows.append([config.VARIANT_TITLES[v]] + _paper(paper.PAPER_ROW[v]) + _ours(runs, v))
    fn_row, fn_note = _fashionnet_row(exp, runs)
    rows.append(fn_row)
    rows += [[f"{name} (not reproduced)"] + _paper(name) + ["—"] * 6 for name in paper.NOT_REPRODUCED[3:]]
    rows += [[config.VARIANT_TITLES[v], "no", "—", "—"] + _ours(runs, v) for v in config.OUR_VARIANTS if v in runs]
    r0 = runs.first()["info"]
    lines = markdown(COLUMNS, rows) + [
        "",
        f"Top-k accuracy per test image over the {r0['n_categories']} categories ({r0['n_test']} test images), "
        "the paper's metric; P_final = 0.7 P_L + 0.3 P_G for HMCN-F, the softmax for the flat rows. "
        "\"parent top-1\": P_L^1 over the variant's parent classes. \"macro recall@3\" averages top-3 recall over "
        "the categories present (rare ones weigh as much as frequent ones): a different metric, shown only beside "
        "the paper's. \"selected iteration\": the snapshot with the best validation top-3 (model selection on the "
        "validation split; the test split is scored once per run). Rows marked (ours) are not in the paper.",
    ]
    if fn_note:
        lines += ["", fn_note]
    return lines


def curves_table(exp, runs):
    files = training_curves.plot_curves(exp, runs) + training_curves.plot_sigmas(exp, runs)
    lines = [f"Plots: {', '.join(f'`{f}`' for f in files) or 'none (no validation curves)'} in `{exp.out_dir}`.", ""]
    sig = training_curves.sigma_summary(runs)
    if sig:
        rows = [[config.VARIANT_TITLES[v], f"{a[0]:.3f} / {a[1]:.3f}", f"{b[0]:.3f} / {b[1]:.3f}"]
                for v, (a, b) in sig.items()]
        lines += ["Learned uncertainty weights σ = exp(s/2) (σ₁ weighs the local losses L_L, σ₂ the global L_G; "
                  "mean over seeds):", ""] + markdown(["run", "σ₁ / σ₂ at iteration 0", "σ₁ / σ₂ at the end"], rows)
        lines += ["", "A σ below 1 up-weights its loss (1/σ² > 1); each s settles where e^{−s}·L_t = 1/2, i.e. "
                  "σ² = 2 L_t, so the larger loss (L_L sums two levels) gets the larger σ, and the total goes "
                  "negative only once a task loss is below 1/(2e) ≈ 0.18. Adam moves s by at most about "
                  "lr · lr_mult per iteration: a σ still rising when the learning rate steps down is limited by "
                  "the schedule, not at its equilibrium."]
    return lines + [""] + training_curves.convergence_lines(runs)


TABLES = {
    "table1": Table("Table 1 -- category top-3 / top-5 accuracy (%)", variants=list(config.VARIANTS), build=table1),
    "curves": Table("Training curves, learned σ's and convergence", variants=list(config.VARIANTS[1:5]) +
                    list(config.VARIANTS[6:]), build=curves_table),
}


def _claims(suffix, note):
    t = lambda v: config.VARIANT_TITLES[v + suffix]  # noqa: E731
    flat = "flat" + suffix
    out = []
    for k in (5, 10):
        out.append(Claim(f"The hierarchy helps{note}: {t(f'hmcn{k}')} beats the flat softmax (top-3)",
                         f"hmcn{k}{suffix}", flat, "top3", "metrics.category.top3"))
    for k in (5, 10):
        out.append(Claim(f"MTL helps{note}: {t(f'hmcn{k}_mtl')} beats {t(f'hmcn{k}')} (top-3)",
                         f"hmcn{k}_mtl{suffix}", f"hmcn{k}{suffix}", "top3", "metrics.category.top3"))
    for m in ("", "_mtl"):
        out.append(Claim(f"10 parents beat 5{note}: {t(f'hmcn10{m}')} beats {t(f'hmcn5{m}')} (top-3)",
                         f"hmcn10{m}{suffix}", f"hmcn5{m}{suffix}", "top3", "metrics.category.top3"))
    return out


CLAIMS = _claims("", "") + _claims("_d0", " (ours, dropout 0)") + [
    Claim("Across dropout settings (ours): HMCN-F(10)+MTL without dropout beats the flat softmax with the paper's "
          "dropout 0.7 (top-3)", "hmcn10_mtl_d0", "flat", "top3", "metrics.category.top3")]


def header_lines(exp, runs):
    info = runs.first()["info"]
    return [f"- Encoder, frozen: {info['encoder_arch']}, **{info['encoder']}** -- not ImageNet unless --weights says "
            "so; the heads train on its stored features.",
            f"- Hierarchy: {info['hierarchy_source']}; {info['n_categories']} categories; scores N × "
            f"{info['n_categories']}.",
            f"- Heads: {exp.cfg['head_iters']} Adam iterations per run, validation every {exp.cfg['test_interval']}, "
            f"snapshot (model-selection candidate) every {exp.cfg['select_every']}; log-variance lr_mult "
            f"{exp.cfg['mtl_lr_mult']}."]


def claim_notes(exp, runs):
    return ["", "The convergence claim (MTL reduces the iterations to a fixed validation accuracy) is decided "
            "per seed in the curves section above."]
