"""Paper 001 at scale ``ci`` (the shared run of tests/test_papers.py): what is particular to FashionNet's
pipeline, and Table 2 / Fig. 8 cells recomputed from the saved predictions without the paper's code.

The run: tiny wardrobe → DeepFashion converters → FashionNet adapter → two-step training + In-shop
fine-tuning of FashionNet and the global-branch-only variant → predictions (category, attributes,
landmarks, in-shop and consumer-to-shop rankings) → results → report, Table 2, plots."""
import json
import re

import numpy as np

from tools.paper001 import config
from tools.repro.layout import Experiment
from tools.repro.results import load_predictions

NUM = re.compile(r"^\d+(\.\d+)?$")


def _rows(text, first_cell):
    """Cells of the markdown table rows whose first cell starts with first_cell."""
    out = []
    for ln in text.splitlines():
        if ln.startswith("|"):
            cells = [c.strip() for c in ln.strip().strip("|").split("|")]
            if cells[0].startswith(first_cell):
                out.append(cells)
    return out


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


def test_ci_scale_config():
    ci, tiny = config.SCALES["ci"], config.SCALES["tiny"]
    assert Experiment("001", "ci").data_dir == Experiment("001", "tiny").data_dir  # data shared
    assert ci["size"] == tiny["size"] and ci["conv"] == tiny["conv"] and ci["batch"] == tiny["batch"]
    assert all(ci["iters"][k] < tiny["iters"][k] for k in tiny["iters"])
    assert set(ci["variants"]) == {"fn", "global"} and "variants" not in tiny


def test_ci_runs_follow_the_two_step_schedule(paper_ci):
    folder = paper_ci("001")
    exp = Experiment("001", "ci")
    for v, stages in (("fn", ["step1_r1", "step2_r1", "ft_r1"]), ("global", ["step2_r1", "ft_r1"])):
        rd = folder / exp.run_dir(v, 1)
        assert (rd / f"{v}_deploy.prototxt").exists()
        training = json.loads((rd / "training.json").read_text())
        assert [s["name"] for s in training["stages"]] == stages
        for prev, s in zip(training["stages"], training["stages"][1:]):
            assert s["initial_weights"] == prev["weights"]  # weights carried over between stages
        res = json.loads((rd / "results.json").read_text())["metrics"]
        assert 0.0 <= res["category"]["top3"] <= res["category"]["top5"] <= 1.0
        assert 0.0 <= res["attributes"]["all_top3"] <= 1.0 and 0.0 <= res["attributes"]["mean_auc"] <= 1.0
        topk = res["inshop"]["topk"]
        assert len(topk) == 50 and all(a <= b + 1e-9 for a, b in zip(topk, topk[1:])) and topk[-1] > 0
        assert res["c2s"]["topk"] and len(res["c2s"]["topk"]) == 50
        assert ("landmarks" in res) == (v == "fn")
    lm = json.loads((folder / exp.run_dir("fn", 1) / "results.json").read_text())["metrics"]["landmarks"]
    assert len(lm["rates"]) == config.N_LANDMARKS and sum(lm["visible_counts"]) > 0


def test_ci_report_tables_and_plots(paper_ci):
    out = paper_ci("001") / Experiment("001", "ci").out_dir
    rep, t2 = (out / "report.md").read_text(), (out / "table2.md").read_text()
    for title in (config.VARIANT_TITLES["fn"], config.VARIANT_TITLES["global"]):
        (row,) = [r for r in _rows(t2, title) if r[1] == "measured"]
        cells = row[2:]
        nums = [float(c) for c in cells if NUM.match(c)]
        assert len(nums) >= len(cells) // 2, row  # measured numbers, not n/a everywhere
        assert all(0.0 <= x <= 100.0 for x in nums)
        assert NUM.match(cells[0]) and NUM.match(cells[-2])  # category top-3, all top-3
        measured = [r for r in _rows(rep, title) if r[1] == "measured"]
        assert len(measured) == 3  # Table 2, Fig. 8, Fig. 9
        for r in measured[1:]:
            assert all(NUM.match(c) for c in r[2:]), r
    prior = _rows(t2, "reference: frequency prior")[0]
    best = _rows(t2, "reference: perfect ranking")[0]
    assert float(best[-2]) >= float(prior[-2]) and float(best[2]) == 100.0  # all top-3; category top-3
    assert "above the image-free frequency prior" in rep and "attribute scores carry image evidence" in rep
    fig10 = _rows(rep, "L ") + _rows(rep, "R ")
    assert len(fig10) == 8 and any(NUM.match(c) for r in fig10 for c in r[2:])
    assert "landmarks help" in rep
    for name in ("fig8_inshop", "fig9_c2s", "fig10_landmarks"):
        assert _is_png(out / f"{name}.png"), name
        assert len((out / f"{name}.csv").read_text().splitlines()) > 5


def test_table_cells_recomputed_from_predictions(paper_ci):
    """FashionNet's category top-3 (Table 2) and in-shop top-20 (Fig. 8) from predictions.npz alone:
    Caffe's accuracy rule (hit when fewer than 3 other classes score >= the true one) and the first
    same-item gallery image among the 20 ranked."""
    folder = paper_ci("001")
    exp = Experiment("001", "ci")
    p = load_predictions(str(folder / exp.run_dir("fn", 1) / "predictions.npz"))
    scores, labels = p["category"]["scores"], p["category"]["labels"]
    hits = [sum(scores[i, c] >= scores[i, labels[i]] for c in range(scores.shape[1]) if c != labels[i]) < 3
            for i in range(len(labels))]
    top3 = 100.0 * np.mean(hits)
    t = p["inshop"]
    top20 = np.mean([t["labels"][q] in t["gallery_labels"][t["ranked"][q, :20]] for q in range(len(t["ids"]))])
    text = (folder / exp.out_dir / "report.md").read_text()
    t2 = [r for r in _rows(text, config.VARIANT_TITLES["fn"]) if r[1] == "measured"]
    assert t2[0][2] == f"{top3:.2f}"  # Table 2, category top-3
    assert t2[1][5] == f"{top20:.3f}"  # Fig. 8, top-20
