"""Paper 003's data preparation: JD styles through data_prep.jd_style (train = folds ≠ 0, val = fold 0,
test = test.txt), the 20 most balanced DeepFashion attributes as a pre-training companion LMDB
(data_prep.common.write_companion), channel means."""
import json
import os

import numpy as np
import pytest

from data_prep.common import read_companion
from data_prep.wardrobe import generate
from data_prep.wardrobe.plan import SIZES
from tools.paper003 import data


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("p003prep")
    old = SIZES["tiny"]["items"]
    SIZES["tiny"]["items"] = 90
    try:
        w = generate(str(root / "w"), size="tiny", seed=2, workers=1, progress=False)
    finally:
        SIZES["tiny"]["items"] = old
    jd = data.convert_jd(w["jd"], str(root / "jd"), 32, workers=1)
    cat = data.convert_attributes(w["deepfashion_category"], str(root / "cat"), 32, workers=1)
    return dict(w=w, jd=jd, cat=cat)


def _rows(path):
    return [ln.strip().split(",") for ln in open(path) if ln.strip()]


def test_jd_splits_are_the_folds_and_the_test_file(prepared):
    jd_dir = prepared["w"]["jd"]
    folds = [int(r[0]) for r in _rows(os.path.join(jd_dir, "folds.txt"))]
    counts = {s: json.load(open(os.path.join(prepared["jd"], s, "meta.json")))["count"] for s in ("train", "val", "test")}
    assert counts["val"] == folds.count(0) and counts["train"] == len(folds) - folds.count(0)
    assert counts["test"] == len(_rows(os.path.join(jd_dir, "test.txt")))
    assert 0.15 < counts["val"] / (counts["train"] + counts["val"]) < 0.25    # the paper's 80 / 20
    keys, lab = data.style_labels(os.path.join(prepared["jd"], "train"))
    assert lab.shape == (counts["train"], 13) and set(np.unique(lab)) <= {0, 1}
    assert (lab.sum(1) >= 1).all()
    mean = data.channel_mean(os.path.join(prepared["jd"], "train"))
    assert len(mean) == 3 and all(0 < m < 255 for m in mean)


def test_balanced_attribute_selection_by_hand():
    rows = np.array([[1, 1, 0, -1],
                     [0, 1, 0, -1],
                     [1, 0, 0, 1],
                     [0, 1, 0, 0]])
    # balance: a0 2/4, a1 1/4, a2 0 (never positive), a3 1/2 over 2 known (tie with a0: fewer known)
    balance, known = data.attribute_balance(rows)
    np.testing.assert_allclose(balance, [0.5, 0.25, 0.0, 0.5])
    assert data.select_balanced_attributes(rows, 3) == [0, 3, 1]
    with pytest.raises(ValueError, match="only 3 attributes"):
        data.select_balanced_attributes(rows, 4)


def test_pretrain_companion_in_every_split(prepared):
    out = data.write_pretrain_labels(prepared["cat"], k=20)
    assert out["splits"] == ["test", "train", "val"] and len(out["indices"]) == 20
    train = os.path.join(prepared["cat"], "train")
    _, full = read_companion(train, "attributes")
    bal, _ = data.attribute_balance(full)
    assert np.isclose(bal[out["indices"]], out["balance"], atol=1e-4).all()
    assert bal[out["indices"]].min() >= np.sort(bal)[-20]              # nothing more balanced was left out
    for split in out["splits"]:
        d = os.path.join(prepared["cat"], split)
        keys, sub = read_companion(d, data.PRETRAIN_NAME)
        fkeys, rows = read_companion(d, "attributes")
        assert keys == fkeys and np.array_equal(sub, rows[:, out["indices"]])
        meta = json.load(open(os.path.join(d, "meta.json")))["companions"][data.PRETRAIN_NAME]
        assert meta["K"] == 20 and meta["names"] == out["names"] and meta["lmdb"] == "attr20_lmdb"
