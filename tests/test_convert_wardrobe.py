"""Every data_prep converter run directly on a freshly generated tiny synthetic wardrobe.

The wardrobe (data_prep/wardrobe) writes the real datasets' file formats; each converter must read
its dataset folder as is (no adapter, no --synthetic flag), convert every row (the wardrobe has no
bad rows), and mark the output synthetic from the marker at the wardrobe root.
"""
import csv
import json
import os

import numpy as np
import pytest

from fashioncaffe.formats.lmdb_datum import DatumReader, datum_to_array


def _df_rows(path):
    """Rows (split on whitespace) of a DeepFashion list: count line, header, rows."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    return [ln.split() for ln in lines[2:] if ln.strip()]


def _tab_rows(path):
    with open(path, encoding="utf-8") as f:
        return [ln.rstrip("\n").split("\t") for ln in f if ln.strip()]


def _count(values):
    out = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


@pytest.fixture(scope="module")
def wardrobe(tmp_path_factory):
    from data_prep.wardrobe import generate

    root = tmp_path_factory.mktemp("wardrobe_conv") / "w"
    generate(str(root), size="tiny", seed=0, progress=False)
    return root


@pytest.fixture(scope="module")
def converted(wardrobe, tmp_path_factory):
    """{name: out dir} after running each converter on its wardrobe folder."""
    from data_prep import consumer_to_shop, deepfashion_category, deepfashion_inshop, eclothing, jd_style, shopping100k

    out = tmp_path_factory.mktemp("wardrobe_lmdb")
    runs = {
        "category": (deepfashion_category, "DeepFashion/Category_and_Attribute"),
        "inshop": (deepfashion_inshop, "DeepFashion/In-shop"),
        "consumer2shop": (consumer_to_shop, "DeepFashion/Consumer-to-shop"),
        "jd": (jd_style, "JD"),
        "shopping100k": (shopping100k, "Shopping100k"),
        "eclothing": (eclothing, "eClothing"),
    }
    res = {}
    for name, (mod, folder) in runs.items():
        rc = mod.main(["--root", str(wardrobe / folder), "--out", str(out / name), "--no-progress",
                       "--on-bad-row", "fail"])
        assert rc == 0, f"{name} failed on the wardrobe"
        res[name] = out / name
    return res


def _metas(out):
    return {d: json.loads((out / d / "meta.json").read_text()) for d in sorted(os.listdir(out))
            if (out / d / "meta.json").is_file()}


def _check_common(out, expect_counts, companions):
    metas = _metas(out)
    assert {s: m["count"] for s, m in metas.items()} == expect_counts
    for split, m in metas.items():
        assert m["synthetic"] is True and m["synthetic_marker"].endswith("README.md")
        assert m["bad_rows"]["count"] == 0
        assert sorted(m["companions"]) == sorted(companions)
        keys = DatumReader(out / split / "images_lmdb").keys
        assert len(keys) == m["count"]
        for c in companions:
            assert DatumReader(out / split / f"{c}_lmdb").keys == keys, (split, c)
    return metas


def test_category(wardrobe, converted):
    d = wardrobe / "DeepFashion/Category_and_Attribute"
    part = _df_rows(d / "Eval/list_eval_partition.txt")
    metas = _check_common(converted["category"], _count(r[1] for r in part), ["attributes", "landmarks"])
    n_attr = len(_df_rows(d / "Anno/list_attr_cloth.txt"))
    assert metas["train"]["companions"]["attributes"]["K"] == n_attr
    labels = {r[0]: int(r[1]) - 1 for r in _df_rows(d / "Anno/list_category_img.txt")}
    r = DatumReader(converted["category"] / "train/images_lmdb")
    for i in range(0, len(r), 97):
        assert r.datum(i).label == labels[r.keys[i].decode().split("_", 1)[1]]


def test_inshop(wardrobe, converted):
    d = wardrobe / "DeepFashion/In-shop"
    part = _df_rows(d / "Eval/list_eval_partition.txt")
    metas = _check_common(converted["inshop"], _count(r[2] for r in part), ["item", "attributes", "landmarks"])
    with open(d / "Anno/list_attr_cloth.txt", encoding="utf-8") as f:
        names = [ln.rstrip().rsplit(None, 1)[0].strip() for ln in f.read().splitlines()[2:] if ln.strip()]
    att = metas["train"]["companions"]["attributes"]
    assert att["names"] == names and att["K"] == len(names) and len(att["types"]) == len(names)


def test_consumer_to_shop(wardrobe, converted):
    d = wardrobe / "DeepFashion/Consumer-to-shop"
    part = _df_rows(d / "Eval/list_eval_partition.txt")
    expect = {}
    for side, col in (("consumer", 0), ("shop", 1)):
        for status in {r[3] for r in part}:
            expect[f"{status}_{side}"] = len({r[col] for r in part if r[3] == status})
    metas = _check_common(converted["consumer2shop"], expect, ["item", "landmarks"])
    assert metas["train_consumer"]["companions"]["landmarks"]["K"] == 24
    # landmarks come from list_landmarks_consumer2shop.txt (not all absent)
    lm_rows = {r[0]: r for r in _df_rows(d / "Anno/list_landmarks_consumer2shop.txt")}
    r = DatumReader(converted["consumer2shop"] / "train_consumer/landmarks_lmdb")
    for i in range(0, len(r), 37):
        name = r.keys[i].decode().split("_", 1)[1]
        vec = datum_to_array(r.datum(i)).ravel()
        ctype = int(lm_rows[name][1])
        n_present = {1: 6, 2: 4, 3: 8}[ctype]
        assert int((vec[:8] != 3).sum()) == n_present
    pairs = (converted["consumer2shop"] / "train_consumer/pairs.txt").read_text().splitlines()
    assert len(pairs) == sum(1 for r in part if r[3] == "train")


def test_jd(wardrobe, converted):
    d = wardrobe / "JD"
    n = len(_tab_rows(d / "train.txt"))
    folds = [ln.split(",")[0] for ln in (d / "folds.txt").read_text().splitlines() if ln.strip()]
    n_val = folds.count("0")
    n_test = len(_tab_rows(d / "test.txt"))
    assert n_test > 0
    _check_common(converted["jd"], {"train": n - n_val, "val": n_val, "test": n_test}, ["styles"])


def test_shopping100k(wardrobe, converted):
    d = wardrobe / "Shopping100k"
    with open(d / "partition.csv", encoding="utf-8", newline="") as f:
        part = list(csv.reader(f))[1:]
    metas = _check_common(converted["shopping100k"], _count(r[1] for r in part), ["attributes", "onehot"])
    with open(d / "attribute_groups.csv", encoding="utf-8", newline="") as f:
        groups = {r[0]: r[2].split("|") for r in list(csv.reader(f))[1:]}
    m = metas["train"]
    assert m["values"] == {g: groups[g] for g in m["groups"]}
    assert m["split_source"].endswith("partition.csv")


def test_eclothing(wardrobe, converted):
    d = wardrobe / "eClothing"
    part = dict((r[0], r[1]) for r in _tab_rows(d / "partition.txt"))
    rows = _tab_rows(d / "labels.txt")
    metas = _check_common(converted["eclothing"], _count(part[r[0]] for r in rows), ["keywords", "groups"])
    cat = {}
    for kw, g in _tab_rows(d / "keyword_groups.txt"):
        cat.setdefault(g, []).append(kw)
    m = metas["train"]
    assert m["catalog"] == cat and m["groups"] == list(cat)
    assert m["split_source"].endswith("partition.txt")
    # the keywords companion matches labels.txt row by row
    names = m["companions"]["keywords"]["names"]
    listed = {r[0]: {k for k in (r[1] if len(r) > 1 else "").split(";") if k} for r in rows}
    r = DatumReader(converted["eclothing"] / "train/keywords_lmdb")
    for i in range(0, len(r), 53):
        vec = datum_to_array(r.datum(i)).ravel()
        kws = listed[r.keys[i].decode().split("_", 1)[1]]
        assert {names[j] for j in np.flatnonzero(vec == 1)} == kws
