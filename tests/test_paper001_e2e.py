"""Paper 001 end to end at scale ``ci`` (what ``make paper001 SCALE=ci`` runs), in a temporary folder:
tiny wardrobe → DeepFashion converters → FashionNet adapter → two-step training + In-shop fine-tuning
of FashionNet and the global-branch-only variant → evaluation (category top-k, attribute recall,
in-shop and consumer-to-shop retrieval, landmark detection rate) → report, Table 2, plots.

The steps run with the temporary folder as the working directory, so every relative path of the
pipeline (runs/paper001/...) lands there and nothing is written into the repository's runs/.
About 1-2 minutes on 2 CPU cores."""
import json
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.paper001 import config  # noqa: E402

NUM = re.compile(r"^\d+(\.\d+)?$")


def _snapshot(path):
    """(relative path, mtime) of everything under path (empty where it does not exist)."""
    out = set()
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            out.add((os.path.relpath(p, path), os.stat(p).st_mtime_ns))
    return out


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
        return f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 2000


def test_ci_scale_config():
    ci, tiny = config.SCALES["ci"], config.SCALES["tiny"]
    assert config.data_root("synthetic", "ci") == config.data_root("synthetic", "tiny")  # data shared
    assert ci["size"] == tiny["size"] and ci["conv"] == tiny["conv"] and ci["batch"] == tiny["batch"]
    assert all(ci["iters"][k] < tiny["iters"][k] for k in tiny["iters"])
    assert {"fn", "global"} <= set(config.scale_variants("ci"))
    assert config.scale_variants("tiny") == config.VARIANTS
    assert "ci" not in config.COMMITTED_SCALES


def test_end_to_end_ci(tmp_path, monkeypatch):
    from tools.paper001 import data, evaluate, report, train

    repo_runs = os.path.join(ROOT, config.RUNS_ROOT)
    before = _snapshot(repo_runs)
    monkeypatch.chdir(tmp_path)

    assert data.main(["--scale", "ci", "--workers", "2"]) == 0
    assert train.main(["--scale", "ci"]) == 0
    assert evaluate.main(["--scale", "ci"]) == 0
    seed = config.SCALES["ci"]["seeds"][0]
    fn_results = tmp_path / config.run_root("synthetic", "ci", seed) / "fn" / "results.json"
    full = json.loads(fn_results.read_text())
    # re-scoring only the C&A part keeps the retrieval results and recomputes the same C&A numbers
    assert evaluate.main(["--scale", "ci", "--variants", "fn", "--parts", "cat"]) == 0
    cat_only = json.loads(fn_results.read_text())
    assert cat_only == full
    assert 0.0 <= full["attributes"]["mean_auc"] <= 1.0
    assert report.main(["--scale", "ci", "--what", "all"]) == 0

    assert _snapshot(repo_runs) == before, "the pipeline wrote into the repository's runs/"
    assert not os.path.exists(os.path.join(ROOT, "prototxt", "paper001", "ci"))

    run = tmp_path / config.run_root("synthetic", "ci", seed)
    # nets generated into the run folders; the two-step schedule + fine-tuning for FashionNet
    for v, stages in (("fn", ["step1_r1", "step2_r1", "ft_r1"]), ("global", ["step2_r1", "ft_r1"])):
        assert (run / v / f"{v}_deploy.prototxt").exists()
        models = json.loads((run / v / "models.json").read_text())
        assert list(models["train_seconds"]) == stages
        for m in models["models"].values():
            assert (tmp_path / m).exists()
        res = json.loads((run / v / "results.json").read_text())
        assert res["scale"] == "ci" and res["seed"] == seed and res["synthetic"] is True
        assert 0.0 <= res["category"]["top3"] <= res["category"]["top5"] <= 1.0
        assert 0.0 <= res["attributes"]["all_top3"] <= 1.0
        topk = res["inshop"]["topk"]
        assert len(topk) == 50 and all(a <= b + 1e-9 for a, b in zip(topk, topk[1:])) and topk[-1] > 0
        assert res["c2s"]["topk"] and len(res["c2s"]["topk"]) == 50
    lm = json.loads((run / "fn" / "results.json").read_text())["landmarks"]
    assert len(lm["rates"]) == config.N_LANDMARKS and sum(lm["visible_counts"]) > 0
    assert "landmarks" not in json.loads((run / "global" / "results.json").read_text())

    out = tmp_path / config.RUNS_ROOT / "synthetic-ci"
    rep = (out / "report.md").read_text()
    t2 = (out / "table2.md").read_text()
    for text in (rep, t2):  # labelled: synthetic data, scale, seed, smoke test
        assert "scale `ci`" in text and "SYNTHETIC" in text and f"seeds: {seed}" in text
        assert "smoke test" in text
    for title in (config.VARIANT_TITLES["fn"], config.VARIANT_TITLES["global"]):
        (row,) = [r for r in _rows(t2, title) if r[1] == "measured"]
        cells = row[2:]
        nums = [float(c) for c in cells if NUM.match(c)]
        assert len(nums) >= len(cells) // 2, row  # measured numbers, not n/a everywhere
        assert all(0.0 <= x <= 100.0 for x in nums)
        assert NUM.match(cells[0]) and NUM.match(cells[-2])  # category top-3, all top-3
    # Fig. 8 / 9 tables in the report: top-1 ... top-50 measured for both variants
    for title in (config.VARIANT_TITLES["fn"], config.VARIANT_TITLES["global"]):
        measured = [r for r in _rows(rep, title) if r[1] == "measured"]
        assert len(measured) == 3  # Table 2, Fig. 8, Fig. 9
        for r in measured[1:]:
            assert all(NUM.match(c) for c in r[2:]), r
    # reference rows computed from the converted test labels: a perfect ranking beats the prior
    prior = [r for r in _rows(t2, "reference: frequency prior")][0]
    best = [r for r in _rows(t2, "reference: perfect ranking")][0]
    assert float(best[-2]) >= float(prior[-2]) and float(best[2]) == 100.0  # all top-3; category top-3
    assert "above the image-free frequency prior" in rep and "attribute scores carry image evidence" in rep
    fig10 = _rows(rep, "L ") + _rows(rep, "R ")
    assert len(fig10) == 8 and any(NUM.match(c) for r in fig10 for c in r[2:])
    assert "## Claims" in rep and "landmarks help" in rep
    for name in ("fig8_inshop", "fig9_c2s", "fig10_landmarks"):
        assert _is_png(out / f"{name}.png"), name
        assert len((out / f"{name}.csv").read_text().splitlines()) > 5
