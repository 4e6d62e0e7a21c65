"""Paper 000 data adapter (e-Clothing-style folder -> data_prep.eclothing -> nets' layout) and the
whole pipeline on a real-data folder (the synthetic wardrobe's run is in tests/test_papers.py)."""
import json
import os

import numpy as np
import pytest

from tools.paper000 import data as pdata

CAT = {"Color": ["red", "blue", "green"], "Gender": ["womens", "mens"], "Coat": ["tee", "coat"],
       "Pantsuit": ["jeans", "shorts"], "Feather": ["fringe"]}


def make_folder(root, n=48, seed=0):
    import cv2

    rng = np.random.RandomState(seed)
    os.makedirs(os.path.join(root, "images"))
    with open(os.path.join(root, "keyword_groups.txt"), "w") as f:
        for g, kws in CAT.items():
            for k in kws:
                f.write(f"{k}\t{g}\n")
    rows, parts = [], []
    for i in range(n):
        name = f"images/{i:04d}.png"
        c = rng.randint(3)
        img = np.full((128, 128, 3), 255, np.uint8)
        img[32:96, 32:96] = [(0, 0, 255), (255, 0, 0), (0, 255, 0)][c]
        cv2.imwrite(os.path.join(root, name), img)
        kws = [CAT["Color"][c]]
        if rng.rand() < 0.7:
            kws.append(CAT["Gender"][rng.randint(2)])
        if rng.rand() < 0.5:
            kws.append(CAT["Coat"][rng.randint(2)])
        elif rng.rand() < 0.8:
            kws.append(CAT["Pantsuit"][rng.randint(2)])
        if rng.rand() < 0.2:
            kws.append("fringe")
        rows.append(f"{name}\t{';'.join(kws)}")
        parts.append(f"{name}\t{'test' if i % 4 == 0 else 'train'}")
    open(os.path.join(root, "labels.txt"), "w").write("\n".join(rows) + "\n")
    open(os.path.join(root, "partition.txt"), "w").write("\n".join(parts) + "\n")


def test_ratio_rows_keeps_all_a_and_a_tenth_of_b():
    rows = [(f"a{i}", ["tee"], "train") for i in range(50)] + \
           [(f"b{i}", ["jeans"], "train") for i in range(30)] + \
           [(f"ab{i}", ["coat", "shorts", "red"], "train") for i in range(10)]
    out = pdata.ratio_rows(rows, CAT, "Coat", "Pantsuit", ratio=10, seed=0)
    a = [r for r in out if set(r[1]) & set(CAT["Coat"])]
    b = [r for r in out if set(r[1]) & set(CAT["Pantsuit"])]
    assert len(a) == 60 and len(b) == 6
    assert all(k in CAT["Coat"] + CAT["Pantsuit"] for r in out for k in r[1])  # other groups dropped


def test_check_encoding_rejects_partial_missing():
    y = np.array([[1, 0, -1, -1], [0, -1, 1, 0]], np.float32)
    with pytest.raises(SystemExit):
        pdata.check_encoding(y, [2, 2], "x")
    pdata.check_encoding(np.array([[1, 0, -1, -1]], np.float32), [2, 2], "x")


def test_real_data_folder_end_to_end(tmp_path, monkeypatch):
    """``python -m tools.paper000 all --scale ci --data <folder>`` on an e-Clothing-style folder with its
    own catalogue: lists -> converter -> nets generated for its 5 groups -> training -> predictions ->
    results -> Table II labelled as real data, the paper's column beside ours."""
    from tools.repro import cli
    from tools.repro.layout import Experiment
    from tools.repro.results import load_results

    ecl = tmp_path / "ecl"
    make_folder(str(ecl))
    monkeypatch.chdir(tmp_path)
    variants = "all_multilabel,all_multiweight"  # (multitask = multiweight's net with gamma 1)
    assert cli.main("000", ["all", "--scale", "ci", "--data", str(ecl), "--variants", variants, "--tables", "table2",
                            "--workers", "1"]) == 0
    exp = Experiment("000", "ci", data=str(ecl), variants=variants)
    assert exp.data_tag == "real-ecl"
    stats = pdata.load_stats(pdata.dataset_dir(exp, "all"))
    assert stats["groups"] == list(CAT) and stats["group_sizes"] == [3, 2, 2, 2, 1]
    assert stats["counts"][0] == stats["n_train"] == 36 and stats["proportions"][0] == 1.0
    assert not os.path.exists(pdata.dataset_dir(exp, "coat_pantsuit"))  # only what the variants need
    ml = load_results(os.path.join(exp.run_dir("all_multilabel", 1), "results.json"))
    mw = load_results(os.path.join(exp.run_dir("all_multiweight", 1), "results.json"))
    assert ml["synthetic"] is False and ml["data"] == "real-ecl" and ml["data_source"] == str(ecl)
    np.testing.assert_allclose(mw["info"]["gamma"], np.array(stats["counts"]) / max(stats["counts"]))
    assert set(ml["metrics"]["map_fc7"]) == set(CAT) and ml["metrics"]["n_eval"]["Color"] == 12
    for v in ml["metrics"]["map_fc7"].values():
        assert v is None or 0.0 <= v <= 1.0
    text = open(os.path.join(exp.out_dir, "table2.md")).read()
    assert "real data from" in text and "SYNTHETIC" not in text
    assert "| Color | 1.0000 | 1.0000 | 12 | 35.24 |" in text  # the paper's column beside ours
    assert f"{100 * ml['metrics']['map_fc7']['Color']:.2f}" in text
