"""Paper 004's data adapter (tools/paper004/data.py): the split rule, the lower-body test, and a run on a
small Shopping100k-style folder -- converter, shuffled training order, parts LMDB with the images' keys."""
import json
import os
import sys

import cv2
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.paper004 import config, data, parts  # noqa: E402


def test_split_rule_is_seeded_and_keeps_given_splits():
    imgs = [f"images/{i:05d}.jpg" for i in range(4000)]
    src = {im: ("train" if i % 5 else "test") for i, im in enumerate(imgs)}
    src[imgs[0]] = "query"
    a = data.assign_splits(imgs, src, seed=0)
    assert a == data.assign_splits(imgs, src, seed=0) and a != data.assign_splits(imgs, src, seed=1)
    assert a[imgs[0]] == "query"
    n = {s: sum(v == s for v in a.values()) for s in ("train", "val", "query", "gallery")}
    assert abs(n["val"] / (n["train"] + n["val"]) - config.VAL_FRACTION) < 0.02
    assert abs(n["query"] / (n["query"] + n["gallery"]) - config.QUERY_FRACTION) < 0.03
    assert all(a[im] in ("train", "val") for im in imgs if src[im] == "train")
    # no source partition: a seeded 80 / 20 by image
    b = data.assign_splits(imgs, {}, seed=0)
    assert 0.77 < sum(v in ("train", "val") for v in b.values()) / len(b) < 0.83


def test_lower_body_test_reads_the_category_group():
    meta = {"groups": ["gender", "category"], "values": {"category": ["Tee", "Jeans", "skirt"]}}
    low = data.lower_body_test(meta)
    assert [low([0, 0]), low([0, 1]), low([1, 2]), low([0, -1])] == [False, True, True, False]
    assert data.lower_body_test({"groups": ["color"], "values": {}})([3]) is False


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A 72-image Shopping100k-style folder rendered by the wardrobe (flat shots) with an explicit partition."""
    from data_prep.wardrobe.render import render_shot
    from data_prep.wardrobe.shopping import label_values, make_products, product_shot
    from data_prep.wardrobe import labels as L
    from data_prep.wardrobe.catalog import SHOP_COLUMNS, SHOP_GENERAL

    root = tmp_path_factory.mktemp("shop") / "Shopping100k"
    (root / "images").mkdir(parents=True)
    prods, _ = make_products(3, 72)
    rows, part = [], []
    for j, p in enumerate(prods):
        img = render_shot(product_shot(p, j, 96))[0]
        name = f"images/{j:06d}.jpg"
        cv2.imwrite(str(root / name), img)
        t = L.shopping_truth({"attrs": p["attrs"]})
        rows.append(name + "," + ",".join(t[c] for c in SHOP_COLUMNS))
        part.append(f"{name},{['train', 'train', 'train', 'gallery', 'gallery', 'query'][j % 6]}")
    (root / "labels.csv").write_text("image," + ",".join(SHOP_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    (root / "partition.csv").write_text("image,split\n" + "\n".join(part) + "\n")
    vals = label_values()
    (root / "attribute_groups.csv").write_text("group,kind,values\n" + "".join(
        f"{c},{'general' if c in SHOP_GENERAL else 'special'},{'|'.join(vals[c])}\n" for c in SHOP_COLUMNS))
    (root.parent / "SYNTHETIC").write_text("test data\n")
    return root, prods


def test_prepare_writes_aligned_lmdbs_with_parts(shop, tmp_path, capsys):
    from fashioncaffe.formats.lmdb_datum import DatumReader, datum_to_array

    root, prods = shop
    droot = data.prepare(str(root), "tiny", seed=0, root=str(tmp_path), progress=True)
    # progress bars on a terminal only: a log file (here the captured stderr) gets no carriage returns
    assert "\r" not in capsys.readouterr().err
    p = os.path.join(droot, "p004")
    stats = json.load(open(os.path.join(p, "stats.json")))
    assert stats["special"] == config.SPECIAL and stats["part_row"] == parts.ROW_SIZE
    assert sum(stats["counts"].values()) == 72 and stats["counts"]["query"] == 12
    assert os.path.isfile(os.path.join(p, "mean.binaryproto"))
    train_names = []
    for split in ("train", "val", "query", "gallery"):
        keys = [DatumReader(os.path.join(p, split, f"{k}_lmdb")).keys for k in ("images", "attributes", "parts")]
        assert keys[0] == keys[1] == keys[2] and len(keys[0]) == stats["counts"][split]
        if split == "train":
            train_names = [k.decode().split("_", 1)[1] for k in keys[0]]
    assert train_names != sorted(train_names)                      # shuffled: Caffe reads keys in order
    cat = stats["groups"].index("category")
    lower_ids = {i for i, v in enumerate(stats["values"]["category"]) if v in config.LOWER_BODY}
    r_img = DatumReader(os.path.join(p, "query", "images_lmdb"))
    r_att = DatumReader(os.path.join(p, "query", "attributes_lmdb"))
    r_par = DatumReader(os.path.join(p, "query", "parts_lmdb"))
    for k in r_img.keys:
        img = datum_to_array(r_img.get(k), color=True, hwc=True)
        assert img.shape == (127, 127, 3)
        row = np.asarray(r_par.get(k).float_data)
        attrs = np.asarray(r_att.get(k).float_data)
        ex = parts.extract_parts(img)
        want = parts.part_vector(parts.case_of(ex, int(attrs[cat]) in lower_ids), ex.boxes, 127, 127)
        np.testing.assert_allclose(row, want, rtol=1e-6)
    # a second call finds the finished data and does nothing
    assert data.prepare(str(root), "tiny", seed=0, root=str(tmp_path), progress=False) == droot
