"""Synthetic wardrobe: determinism, file formats, label statistics, landmarks, learnability."""
import hashlib
import os

import numpy as np
import pytest

from data_prep.wardrobe import generate
from data_prep.wardrobe.catalog import GROUPS, STYLES
from data_prep.wardrobe.plan import SIZES

# A reduced "tiny" for the default suite (same code path, fewer items) keeps it fast.
SMALL_ITEMS = 90


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    old = SIZES["tiny"]["items"]
    SIZES["tiny"]["items"] = SMALL_ITEMS
    try:
        out = tmp_path_factory.mktemp("wardrobe")
        res = generate(str(out / "a"), size="tiny", seed=3, workers=1, progress=False)
    finally:
        SIZES["tiny"]["items"] = old
    return res


def _digest(root):
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            h.update(os.path.relpath(p, root).encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def _df(path):
    with open(path) as f:
        lines = f.read().splitlines()
    return int(lines[0]), lines[1].split(), [line.split() for line in lines[2:]]


def _generate_mini(out, workers=1):
    """The ``mini`` fixture's wardrobe (seed 3, SMALL_ITEMS items) generated again into ``out``."""
    old = SIZES["tiny"]["items"]
    SIZES["tiny"]["items"] = SMALL_ITEMS
    try:
        return generate(str(out), size="tiny", seed=3, workers=workers, progress=False)
    finally:
        SIZES["tiny"]["items"] = old


def test_deterministic_across_workers(mini, tmp_path):
    res = _generate_mini(tmp_path / "b", workers=2)
    assert _digest(mini["root"]) == _digest(res["root"])


def test_seed_changes_output(mini, tmp_path):
    old = SIZES["tiny"]["items"]
    SIZES["tiny"]["items"] = 20
    try:
        a = generate(str(tmp_path / "s0"), size="tiny", seed=0, workers=1, progress=False)
        b = generate(str(tmp_path / "s1"), size="tiny", seed=1, workers=1, progress=False)
    finally:
        SIZES["tiny"]["items"] = old
    assert _digest(a["root"]) != _digest(b["root"])


def test_deepfashion_category_files(mini):
    d = mini["deepfashion_category"]
    n_cat, hdr, cats = _df(f"{d}/Anno/list_category_cloth.txt")
    assert hdr == ["category_name", "category_type"] and n_cat == len(cats)
    assert 20 <= n_cat <= 50 and {int(r[1]) for r in cats} == {1, 2, 3}
    n_att, hdr, attrs = _df(f"{d}/Anno/list_attr_cloth.txt")
    assert hdr == ["attribute_name", "attribute_type"] and n_att == len(attrs)
    assert {int(r[-1]) for r in attrs} == {1, 2, 3, 4, 5}
    n, hdr, rows = _df(f"{d}/Anno/list_category_img.txt")
    assert n == len(rows) > 0 and hdr == ["image_name", "category_label"]
    assert all(1 <= int(r[1]) <= n_cat for r in rows)
    images = [r[0] for r in rows]
    assert all(os.path.isfile(os.path.join(d, p)) for p in images)
    n2, _, arows = _df(f"{d}/Anno/list_attr_img.txt")
    assert n2 == n and all(len(r) == 1 + n_att for r in arows)
    assert {v for r in arows for v in r[1:]} <= {"1", "-1", "0"}
    n3, hdr, brows = _df(f"{d}/Anno/list_bbox.txt")
    assert n3 == n and hdr == ["image_name", "x_1", "y_1", "x_2", "y_2"]
    assert all(len(r) == 5 and int(r[1]) <= int(r[3]) and int(r[2]) <= int(r[4]) for r in brows)
    n4, hdr, lrows = _df(f"{d}/Anno/list_landmarks.txt")
    assert n4 == n and hdr[:2] == ["image_name", "clothes_type"] and len(hdr) == 2 + 24
    for r in lrows:
        assert len(r) == 2 + 3 * {1: 6, 2: 4, 3: 8}[int(r[1])]
    n5, hdr, prow = _df(f"{d}/Eval/list_eval_partition.txt")
    assert n5 == n and {r[1] for r in prow} == {"train", "val", "test"}
    assert [r[0] for r in prow] == images
    n6, _, hrows = _df(f"{d}/Anno/list_category_hierarchy.txt")
    assert n6 == n_cat and len({r[3] for r in hrows}) == 5 and len({r[5] for r in hrows}) == 10


def test_landmarks_inside_when_visible(mini):
    d = mini["deepfashion_category"]
    import cv2
    _, _, rows = _df(f"{d}/Anno/list_landmarks.txt")
    vis = {0: 0, 1: 0, 2: 0}
    for r in rows:
        h, w = cv2.imread(os.path.join(d, r[0])).shape[:2]
        trip = np.array(r[2:], int).reshape(-1, 3)
        for v, x, y in trip:
            vis[int(v)] += 1
            if v in (0, 1):
                assert 0 <= x < w and 0 <= y < h
    assert vis[0] > vis[1] > 0 and vis[2] > 0  # occluded and truncated both occur


def test_inshop_and_c2s(mini):
    d = mini["deepfashion_inshop"]
    n, hdr, rows = _df(f"{d}/Eval/list_eval_partition.txt")
    assert hdr == ["image_name", "item_id", "evaluation_status"] and n == len(rows)
    assert {r[2] for r in rows} == {"train", "query", "gallery"}
    q = {r[1] for r in rows if r[2] == "query"}
    g = {r[1] for r in rows if r[2] == "gallery"}
    assert q <= g  # every query item has a gallery image
    n2, hdr, b = _df(f"{d}/Anno/list_bbox_inshop.txt")
    assert n2 == n and len(hdr) == 7 and all(len(r) == 7 for r in b)
    n3, hdr, lm = _df(f"{d}/Anno/list_landmarks_inshop.txt")
    assert n3 == n and hdr[2] == "variation_type"
    d = mini["deepfashion_c2s"]
    n, hdr, rows = _df(f"{d}/Eval/list_eval_partition.txt")
    assert len(hdr) == 4 and n == len(rows) and all(len(r) == 4 for r in rows)
    for r in rows[:50]:
        assert "consumer" in r[0] and "shop" in r[1] and r[2] in r[0] and r[2] in r[1]
        assert os.path.isfile(os.path.join(d, r[0])) and os.path.isfile(os.path.join(d, r[1]))
    n2, _, b = _df(f"{d}/Anno/list_bbox_consumer2shop.txt")
    assert {r[2] for r in b} == {"1", "2"}


def _jd_rows(path):
    with open(path) as f:
        rows = [line.strip().split(",") for line in f]
    assert all(len(r) == 2 + 13 for r in rows)
    return rows, np.array([[int(v) for v in r[2:]] for r in rows])


def test_jd_styles(mini):
    d = mini["jd"]
    rows, lab = _jd_rows(f"{d}/train.txt")
    test_rows, test_lab = _jd_rows(f"{d}/test.txt")
    assert len(test_rows) > 0 and not {r[0] for r in rows} & {r[0] for r in test_rows}
    both = np.concatenate([lab, test_lab])
    assert set(np.unique(both)) <= {0, 1}
    assert (both.sum(1) >= 1).all() and (both.sum(1) <= 5).all()
    assert (both[:, 3:7].sum(1) <= 1).all()  # Japanese/Korean/Western/British never together
    ol, lady = STYLES.index("Office lady"), STYLES.index("Lady")
    assert lab[lab[:, ol] == 1, lady].mean() > 0.95
    assert os.path.isfile(os.path.join(d, rows[0][1][len("file:"):]))
    with open(f"{d}/folds.txt") as f:
        folds = [line.strip().split(",") for line in f]
    assert len(folds) == len(rows) and {int(x[0]) for x in folds} == set(range(5))
    fold = np.array([int(x[0]) for x in folds])
    import json
    with open(os.path.join(mini["root"], "_truth", "items.jsonl")) as f:
        items = np.array([json.loads(line)["jd_styles"] for line in f])
    for k in range(13):  # stratified: a style of >= 2 items has positives in training and validation
        if items[:, k].sum() >= 2:
            assert lab[fold == 0, k].sum() >= 1 and lab[fold != 0, k].sum() >= 1, STYLES[k]


def test_jd_styles_follow_the_paper_statistics():
    """The JD draw, calibrated on the plan (no rendering), hits paper 003's imbalance and co-occurrence."""
    from data_prep.jd_style import conditional_probability
    from data_prep.wardrobe.plan import make_items
    from data_prep.wardrobe.styles import JD_TARGET, sample_jd_styles

    items = make_items(np.random.default_rng(11), 4000)
    rng = np.random.default_rng(5)
    lab = np.stack([sample_jd_styles(rng, x["attrs"]) for x in items])
    freq = lab.mean(0)
    for k, s in enumerate(STYLES):
        assert abs(freq[k] - JD_TARGET[s]) <= 0.2 * JD_TARGET[s] + 0.005, (s, freq[k])
    frequent = [STYLES.index(s) for s in ("Office lady", "Korean", "Western", "Lady")]
    assert freq[frequent].min() > np.delete(freq, frequent).max()  # the paper's classes 3, 5, 6, 9
    c = conditional_probability(lab)
    assert c[STYLES.index("Lady"), STYLES.index("Office lady")] > 0.97
    assert c[STYLES.index("Casual"), STYLES.index("Sports")] > 0.85
    assert c[STYLES.index("Korean"), STYLES.index("Japanese")] == 0
    assert (lab.sum(1) >= 1).all() and (lab.sum(1) <= 5).all()


def test_jd_draw_leaves_other_datasets_unchanged(mini, tmp_path, monkeypatch):
    """The JD labels have their own RNG stream: recalibrating them changes JD/ only, never the files
    papers 000 / 001 / 004 read."""
    from data_prep.wardrobe import styles

    monkeypatch.setattr(styles, "JD_OFFSET", {k: v + 1.0 for k, v in styles.JD_OFFSET.items()})
    res = _generate_mini(tmp_path / "c")
    for d in ("DeepFashion", "eClothing", "Shopping100k"):
        assert _digest(os.path.join(mini["root"], d)) == _digest(os.path.join(res["root"], d)), d
    assert _digest(mini["jd"]) != _digest(res["jd"])


def test_shopping_csv(mini):
    import csv
    with open(os.path.join(mini["shopping100k"], "labels.csv")) as f:
        rows = list(csv.reader(f))
    hdr = rows[0]
    assert hdr[0] == "image" and len(hdr) == 14 and all(len(r) == 14 for r in rows)
    assert any(v == "" for r in rows[1:] for v in r[1:])  # missing labels exist


def test_eclothing_proportions_heavy_tailed():
    # label statistics only (no rendering): the plan + label modules on a bigger item set
    from data_prep.wardrobe import labels as L
    from data_prep.wardrobe.plan import make_items, make_shots
    rng = np.random.default_rng(0)
    items = make_items(rng, 3000)
    shots = [s for s in make_shots(rng, items, 64) if s["kind"] == "shop"]
    truth = [L.eclothing_truth(items[s["item"]], items[s["item"]]["companion"] if s["comp"]
                               else None) for s in shots]
    obs, _ = L.eclothing_labels(rng, truth, 0.1, 0.05)
    cnt = np.array([sum(g in o for o in obs) for g, _ in GROUPS], float)
    prop = cnt / cnt.max()
    paper = np.array([p for _, p in GROUPS])
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = np.corrcoef(rank(prop), rank(paper))[0, 1]
    assert rho > 0.95, (rho, prop)
    assert prop[0] == 1.0 and prop[:4].min() > 0.6
    assert prop[-3:].max() < 0.012 and prop[-7:-3].max() < 0.1
    assert np.abs(prop - paper)[:16].max() < 0.12


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2])
def test_wrong_label_rate(rate):
    from data_prep.wardrobe import labels as L
    from data_prep.wardrobe.plan import make_items, make_shots
    rng = np.random.default_rng(1)
    items = make_items(rng, 800)
    shots = [s for s in make_shots(rng, items, 64) if s["kind"] == "shop"]
    truth = [L.eclothing_truth(items[s["item"]], None) for s in shots]
    obs, _ = L.eclothing_labels(rng, truth, 0.1, rate)
    tot = wrong = 0
    for o, t in zip(obs, truth):
        for g, kw in o.items():
            tot += 1
            wrong += t.get(g) != kw
    assert abs(wrong / tot - rate) < 0.01 + rate * 0.15


def test_written_wrong_label_rate(mini):
    def read(p):
        out = {}
        with open(p) as f:
            for line in f:
                path, kws = line.rstrip("\n").split("\t")
                out[path] = set(k for k in kws.split(";") if k)
        return out
    obs = read(os.path.join(mini["eclothing"], "labels.txt"))
    tru = read(os.path.join(mini["root"], "_truth", "eclothing_truth.txt"))
    tot = sum(len(v) for v in obs.values())
    wrong = sum(len(v - tru[k]) for k, v in obs.items())
    assert 0.0 < wrong / tot < 0.12


def test_readme_and_sheet(mini):
    with open(mini["readme"]) as f:
        txt = f.read()
    assert "SYNTHETIC" in txt and "seed: `3`" in txt and "size: `tiny`" in txt
    assert os.path.getsize(mini["contact_sheet"]) > 10000


def test_learnability_fast(mini):
    from data_prep.wardrobe.learnability import run
    res = run(mini["root"], verbose=False)
    assert res["clothes type"]["accuracy"] > res["clothes type"]["chance"] + 0.15
    assert res["colour"]["accuracy"] > res["colour"]["chance"] + 0.25


@pytest.mark.slow
def test_tiny_full_pipeline(tmp_path):
    from data_prep.wardrobe.learnability import run
    from data_prep.wardrobe.stats import main as stats_main
    res = generate(str(tmp_path / "t"), size="tiny", seed=0, progress=False)
    assert res["counts"]["unique images"] < 5000
    assert stats_main([res["root"]]) == 0
    r = run(res["root"], verbose=False)
    assert r["clothes type"]["accuracy"] > r["clothes type"]["chance"] + 0.25
    assert r["colour"]["accuracy"] > r["colour"]["chance"] + 0.4
    assert r["sleeve length"]["accuracy"] > r["sleeve length"]["chance"] + 0.1


def test_ensure_reuses_a_complete_wardrobe_and_refuses_another(mini, monkeypatch):
    """The papers' pipelines share one wardrobe per size and seed: ``ensure`` leaves a complete one
    alone (nothing regenerated), and names the folder when it holds another seed or size."""
    import importlib

    from data_prep.wardrobe import default_dir, ensure

    gen_module = importlib.import_module("data_prep.wardrobe.generate")

    monkeypatch.setattr(gen_module, "generate", lambda *a, **k: pytest.fail("regenerated a complete wardrobe"))
    assert ensure(mini["root"], "tiny", seed=3) == mini["root"]
    with pytest.raises(SystemExit, match=r"README.md: this folder holds a wardrobe of another size or seed"):
        ensure(mini["root"], "tiny", seed=0)
    with pytest.raises(SystemExit, match="wanted size 'small'"):
        ensure(mini["root"], "small", seed=3)
    assert default_dir("small") == "runs/wardrobe/small" and default_dir("tiny", 2) == "runs/wardrobe/tiny-seed2"


# ------------------------------------------------------------------------------------------------
# the Shopping100k product catalogue (paper 004)
def test_shopping_subset_size_lines_and_part_truth(mini):
    import csv

    from data_prep.wardrobe.shopping import IMAGES_PER_ITEM, PARTS

    with open(os.path.join(mini["shopping100k"], "labels.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == round(SMALL_ITEMS * IMAGES_PER_ITEM) == mini["counts"]["Shopping100k"]
    assert all(os.path.isfile(os.path.join(mini["shopping100k"], r["image"])) for r in rows)
    assert {r["sport"] for r in rows} >= {"none"}          # "no sport" is a value, not a missing label
    # product lines: products that share all special attributes, and products of one line that differ
    special = ["color", "pattern", "collar", "fastening", "sleeve_length"]
    keys = [tuple(r[a] for a in special) for r in rows if all(r[a] for a in special)]
    assert len(set(keys)) < len(keys)
    prods = [__import__("json").loads(x) for x in open(os.path.join(mini["root"], "_truth", "shopping_products.jsonl"))]
    lines = {}
    for p in prods:
        if p["line"] >= 0:
            lines.setdefault(p["line"], []).append(p["attrs"])
    assert any(len({(a["color"], a["pattern"]) for a in v}) > 1 for v in lines.values())
    # true part boxes: lower-body garments none, sleeveless no sleeves, boxes inside the image
    with open(os.path.join(mini["root"], "_truth", "shopping_parts.csv")) as f:
        truth = list(csv.DictReader(f))
    assert [t["image"] for t in truth] == [r["image"] for r in rows]
    S = 128
    by_type = {1: 0, 2: 0, 3: 0}
    for t in truth:
        ct = int(t["clothes_type"])
        by_type[ct] += 1
        present = [p for p in PARTS if t[f"{p}_x1"]]
        if ct == 2:
            assert present == []
            continue
        assert {"torso", "collar", "fastening", "chest"} <= set(present)
        assert (("left_sleeve" in present) == bool(int(t["sleeves"])) == ("right_sleeve" in present))
        for p in present:
            x1, y1, x2, y2 = (float(t[f"{p}_{k}"]) for k in ("x1", "y1", "x2", "y2"))
            assert -1 <= x1 < x2 <= S and -1 <= y1 < y2 <= S, (t["image"], p)
        if "left_sleeve" in present:  # image left first
            assert float(t["left_sleeve_x1"]) < float(t["right_sleeve_x1"])
    assert min(by_type.values()) > 0


def test_shopping_stream_leaves_the_plan_rng_where_it_was():
    """The Shopping100k labels moved to their own RNG stream; the plan RNG must still make exactly the
    draws the old label code made (everything drawn after them -- the In-shop split -- depends on it)."""
    from data_prep.wardrobe import labels as L
    from data_prep.wardrobe.catalog import CAT_NAMES, KEYWORDS
    from data_prep.wardrobe.plan import make_items
    from data_prep.wardrobe.shopping import repeat_legacy_draws

    items = make_items(np.random.default_rng(5), 60)
    old_vals = dict(L.SHOP_VALUES, category=[c.lower() for c in CAT_NAMES], color=list(KEYWORDS["Color"]),
                    sport=["running", "yoga", "football"])
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    for x in items:  # the label code as it was: no sport was an empty cell
        t = L.shopping_truth(x)
        t["sport"] = "" if t["sport"] == "none" else t["sport"]
        L.noisy_shopping(a, t, old_vals, 0.1, 0.05)
    repeat_legacy_draws(b, items, 0.1, 0.05)
    assert a.bit_generator.state == b.bit_generator.state


def test_painting_a_washed_garment_leaves_the_memoised_texture_alone():
    """A shot must not depend on which shots its worker rendered before (worker-count independence)."""
    from data_prep.wardrobe.plan import make_items
    from data_prep.wardrobe.render import paint_garment, texture_for
    from data_prep.wardrobe.templates import garment_geometry

    items = [x["attrs"] for x in make_items(np.random.default_rng(0), 400)]
    washed = [it for it in items if it["craft"] == "washed" and it["type"] == 2]
    assert washed, "no washed lower-body item among 400: the test needs one"
    it, R, seed = washed[0], 128, 12345
    before = texture_for(it, R, seed).copy()
    for leg in (1.0, 9.0):           # two poses: the patches land in different places
        canvas = np.zeros((R, R, 3), np.uint8)
        paint_garment(canvas, it, garment_geometry(it, dict(arm=10.0, leg=leg, sx=1.0)), R, seed,
                      np.random.default_rng(1), "front")
        assert canvas.any()
        np.testing.assert_array_equal(texture_for(it, R, seed), before)
