"""The data_prep converters on small fixtures written in the published datasets' formats."""
import json
import os

import cv2
import numpy as np
import pytest

from fashioncaffe.formats.lmdb_datum import DatumReader, datum_to_array


def img(path, h=40, w=30, seed=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def df_list(path, header, rows, count=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"{len(rows) if count is None else count}\n{header}\n")
        for r in rows:
            f.write(r + "\n")


def floats(db):
    r = DatumReader(db)
    return [datum_to_array(r.datum(i)).ravel() for i in range(len(r))], r


@pytest.fixture
def df_category(tmp_path):
    root = tmp_path / "cat"
    names = [f"img/Sheer_Blouse/img_{i:08d}.jpg" for i in range(1, 6)]
    for i, n in enumerate(names[:4]):  # the last image is missing on disk
        img(root / n, seed=i)
    df_list(root / "Anno/list_category_cloth.txt", "category_name  category_type",
            ["Anorak                       1", "Cutoffs                      2", "Dress                        3"])
    df_list(root / "Anno/list_category_img.txt", "image_name  category_label",
            [f"{names[0]}    1", f"{names[1]}    3", f"{names[2]}    2", f"{names[3]}    1", f"{names[4]}    2",
             "img/x/img_9.jpg    7"])  # unknown label 7
    df_list(root / "Anno/list_attr_cloth.txt", "attribute_name  attribute_type",
            ["a-line                       3", "floral print                 1"])
    df_list(root / "Anno/list_attr_img.txt", "image_name  attribute_labels",
            [f"{names[0]}  1 -1", f"{names[1]}  -1  0", f"{names[2]}  1  1", f"{names[3]}  1", f"{names[4]} -1 -1"])
    df_list(root / "Anno/list_bbox.txt", "image_name  x_1  y_1  x_2  y_2",
            [f"{n}  5 10 25 30" for n in names])
    df_list(root / "Anno/list_landmarks.txt",
            "image_name  clothes_type  variation_type  landmark_visibility_1  landmark_location_x_1  "
            "landmark_location_y_1",
            [f"{names[0]}  1  2  0 10 20  1 15 20  0 6 25  0 24 25  2 8 29  0 20 29",
             f"{names[1]}  3  1 " + "  ".join(f"0 {5 + k} {12 + k}" for k in range(8)),
             f"{names[2]}  2  1  0 10 12  0 20 12  1 9 28  0 21 28",
             f"{names[3]}  1  1  0 10 20"])  # too few triples for an upper garment
    df_list(root / "Eval/list_eval_partition.txt", "image_name  evaluation_status",
            [f"{names[0]}  train", f"{names[1]}  train", f"{names[2]}  val", f"{names[3]}  train",
             f"{names[4]}  test"])
    return root, names


def test_deepfashion_category(tmp_path, df_category, capsys):
    from data_prep import deepfashion_category as m

    root, names = df_category
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--resize", "20", "--bbox-crop", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "list_category_img.txt:8" in err and "unknown category label 7" in err
    assert "list_attr_img.txt:6" in err  # wrong column count, with file and line
    assert "list_landmarks.txt:6" in err
    meta = json.loads((out / "train/meta.json").read_text())
    assert meta["label"]["names"] == ["Anorak", "Cutoffs", "Dress"]
    assert meta["companions"]["attributes"]["names"] == ["a-line", "floral print"]
    assert meta["companions"]["attributes"]["types"] == ["shape", "texture"]
    assert meta["count"] == 3 and meta["bad_rows"]["count"] >= 4
    r = DatumReader(out / "train/images_lmdb")
    assert [k.decode() for k in r.keys] == [f"{i:08d}_{n}" for i, n in enumerate([names[0], names[1], names[3]])]
    assert [r.datum(i).label for i in range(3)] == [0, 2, 0]
    assert (r.datum(0).height, r.datum(0).width) == (20, 20)
    attrs, ra = floats(out / "train/attributes_lmdb")
    assert ra.keys == r.keys
    np.testing.assert_array_equal(attrs[0], [1, 0])
    np.testing.assert_array_equal(attrs[1], [0, -1])
    np.testing.assert_array_equal(attrs[2], [-1, -1])  # its attribute row was bad: unknown
    lms, _ = floats(out / "train/landmarks_lmdb")
    # upper garment: slots 0-3 and 6-7; bbox (5,10)-(25,30) resized 20x20 → scale 1
    np.testing.assert_array_equal(lms[0][:8], [0, 1, 0, 0, 3, 3, 2, 0])
    np.testing.assert_allclose(lms[0][8:10], [10 - 5, 20 - 10])
    np.testing.assert_allclose(lms[0][8 + 12:8 + 14], [8 - 5, 29 - 10])  # left hem → slot 6
    assert (out / "train/mean.binaryproto").exists()
    # test split: its only image is missing on disk → reported, then no images → an error for that split
    assert not (out / "test/meta.json").exists() or json.loads((out / "test/meta.json").read_text())["count"] == 0


def test_bad_row_fail(tmp_path, df_category):
    from data_prep import deepfashion_category as m

    root, _ = df_category
    rc = m.main(["--root", str(root), "--out", str(tmp_path / "o"), "--on-bad-row", "fail", "--no-progress"])
    assert rc == 2


def test_inshop(tmp_path):
    from data_prep import deepfashion_inshop as m

    root = tmp_path / "inshop"
    rows = []
    for i in range(6):
        n = f"img/WOMEN/Dresses/id_0000000{i // 2}/0{i}_1_front.jpg"
        img(root / n, seed=i)
        rows.append(f"{n}  id_0000000{i // 2}  {['train', 'query', 'gallery'][i % 3]}")
    rows.append("img/bad.jpg  id_00000009  train")
    df_list(root / "Eval/list_eval_partition.txt", "image_name item_id evaluation_status", rows)
    (root / "Anno").mkdir()
    (root / "Anno/list_item_inshop.txt").write_text("3\nid_00000000\nid_00000001\nid_00000002\n")
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    for split in ("train", "query", "gallery"):
        meta = json.loads((out / split / "meta.json").read_text())
        assert meta["count"] == 2
    r = DatumReader(out / "query/images_lmdb")
    items, _ = floats(out / "query/item_lmdb")
    assert [r.datum(i).label for i in range(2)] == [0, 2] and [float(v[0]) for v in items] == [0, 2]


def test_consumer_to_shop(tmp_path):
    from data_prep import consumer_to_shop as m

    root = tmp_path / "c2s"
    rows = []
    for i in range(4):
        c, s = f"img/CLOTHING/T_Shirt/id_0000000{i}/comsumer_01.jpg", f"img/CLOTHING/T_Shirt/id_0000000{i}/shop_01.jpg"
        img(root / c, seed=i)
        img(root / s, seed=10 + i)
        rows.append(f"{c}  {s}  id_0000000{i}  {'train' if i < 3 else 'test'}")
    rows.append(f"{c}  {s}  id_00000003")  # wrong column count
    df_list(root / "Eval/list_eval_partition.txt",
            "image_pair_name_1  image_pair_name_2  item_id  evaluation_status", rows)
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "train_consumer/meta.json").read_text())["count"] == 3
    assert json.loads((out / "test_shop/meta.json").read_text())["count"] == 1
    pairs = (out / "train_consumer/pairs.txt").read_text().split("\n")
    assert pairs[0].startswith("00000000_img/CLOTHING/T_Shirt/id_00000000/comsumer_01.jpg 00000000_")
    assert json.loads((out / "train_consumer/meta.json").read_text())["bad_rows"]["count"] == 1


def test_jd_style(tmp_path):
    from data_prep import jd_style as m

    root = tmp_path / "jd"
    lines = []
    for i in range(5):
        img(root / "images" / f"{1000 + i}.jpg", seed=i)
        lab = [int(j == i) for j in range(13)]
        lines.append(f"{1000 + i},http://x/{1000 + i}.jpg," + ",".join(map(str, lab)))
    lines.append("2000,http://x,1,0")  # wrong column count
    lines.append("2001,http://x," + ",".join(["2"] * 13))  # unknown label value
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    (root / "folds.csv").write_text("fold,filename\n" + "\n".join(f"{i % 2},{1000 + i}.jpg" for i in range(5)) + "\n")
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--fold", "1", "--no-progress"]) == 0
    assert json.loads((out / "val/meta.json").read_text())["count"] == 2
    tr = json.loads((out / "train/meta.json").read_text())
    assert tr["count"] == 3 and tr["bad_rows"]["count"] == 2
    styles, r = floats(out / "val/styles_lmdb")
    assert r.keys[0].decode() == "00000000_images/1001.jpg"
    assert styles[0][1] == 1 and styles[0].sum() == 1


def test_shopping100k(tmp_path):
    from data_prep import shopping100k as m

    root = tmp_path / "shop"
    for i in range(4):
        img(root / "images" / f"{i}.jpg", seed=i)
    (root / "shopping100k.csv").write_text(
        "image,category,color,split\n"
        "0.jpg,dress,red,train\n1.jpg,tee,,train\n2.jpg,dress,blue,query\n3.jpg,tee,red\n4.jpg,dress,red,train\n")
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "train/meta.json").read_text())
    assert meta["values"] == {"category": ["dress", "tee"], "color": ["blue", "red"]}
    assert meta["count"] == 2 and meta["bad_rows"]["count"] == 2  # 3.jpg: columns; 4.jpg: missing image
    attrs, _ = floats(out / "train/attributes_lmdb")
    np.testing.assert_array_equal(attrs[0], [0, 1])
    np.testing.assert_array_equal(attrs[1], [1, -1])
    oh, _ = floats(out / "train/onehot_lmdb")
    np.testing.assert_array_equal(oh[1], [0, 1, -1, -1])
    (root / "vocab.json").write_text(json.dumps({"category": ["dress"], "color": ["red", "blue"]}))
    assert m.main(["--root", str(root), "--out", str(tmp_path / "o2"), "--vocab", str(root / "vocab.json"),
                   "--on-bad-row", "fail", "--no-progress"]) == 2  # 'tee' unknown → fatal


def test_eclothing(tmp_path):
    from data_prep import eclothing as m

    root = tmp_path / "ecl"
    for i in range(3):
        img(root / "images" / f"{i}.jpg", seed=i)
    (root / "catalog.json").write_text(json.dumps({"Color": ["black", "red"], "Length of Sleeve": ["short sleeve",
                                                                                                    "long sleeve"]}))
    (root / "labels.txt").write_text("images/0.jpg\tred;long sleeve\ttrain\nimages/1.jpg\tblack\ttrain\n"
                                     "images/2.jpg\tpurple\ttrain\nimages/2.jpg\n")
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "train/meta.json").read_text())
    assert meta["count"] == 2 and meta["bad_rows"]["count"] == 2
    kw, _ = floats(out / "train/keywords_lmdb")
    np.testing.assert_array_equal(kw[0], [0, 1, 0, 1])
    np.testing.assert_array_equal(kw[1], [1, 0, -1, -1])
    g, _ = floats(out / "train/groups_lmdb")
    np.testing.assert_array_equal(g[1], [0, -1])


def test_eclothing_keyword_groups_and_partition(tmp_path):
    """The wardrobe's layout: keyword_groups.txt (keyword<TAB>group) and a separate partition.txt."""
    from data_prep import eclothing as m

    root = tmp_path / "ecl"
    for i in range(4):
        img(root / "images" / f"{i}.jpg", seed=i)
    (root / "keyword_groups.txt").write_text("black\tColor\nred\tColor\nshort sleeve\tLength of Sleeve\n"
                                             "long sleeve\tLength of Sleeve\n")
    (root / "labels.txt").write_text("images/0.jpg\tred;long sleeve\nimages/1.jpg\tblack\nimages/2.jpg\t\n"
                                     "images/3.jpg\tred\n")
    (root / "partition.txt").write_text("images/0.jpg\ttrain\nimages/1.jpg\ttest\nimages/2.jpg\ttrain\n")
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "train/meta.json").read_text())
    assert meta["catalog"] == {"Color": ["black", "red"], "Length of Sleeve": ["short sleeve", "long sleeve"]}
    assert meta["count"] == 2 and json.loads((out / "test/meta.json").read_text())["count"] == 1
    assert meta["bad_rows"]["by_reason"] == {"unassigned": 1}  # images/3.jpg has no partition row
    kw, _ = floats(out / "train/keywords_lmdb")
    np.testing.assert_array_equal(kw[0], [0, 1, 0, 1])
    np.testing.assert_array_equal(kw[1], [-1, -1, -1, -1])  # empty keyword list: every group missing
    # the list's split column wins over partition.txt; an explicit --catalog-format reads catalog.txt-style
    (root / "cat.txt").write_text("Color\tblack\nColor\tred\n")
    (root / "l2.txt").write_text("images/1.jpg\tblack\ttrain\n")
    out2 = tmp_path / "out2"
    assert m.main(["--root", str(root), "--out", str(out2), "--list", str(root / "l2.txt"), "--catalog",
                   str(root / "cat.txt"), "--no-progress"]) == 0
    assert json.loads((out2 / "train/meta.json").read_text())["groups"] == ["Color"]
    (root / "kg.txt").write_text("black\tColor\n")
    assert m.read_catalog(str(root / "kg.txt"), "keyword-group") == {"Color": ["black"]}


def test_synthetic_marker_in_parents(tmp_path):
    from data_prep.common import is_synthetic, synthetic_marker

    w = tmp_path / "w"
    (w / "DeepFashion/In-shop").mkdir(parents=True)
    (w / "JD").mkdir()
    assert not is_synthetic(w / "DeepFashion/In-shop")
    (w / "README.md").write_text("# Synthetic wardrobe (SYNTHETIC DATA - procedurally drawn)\n")
    assert synthetic_marker(w / "DeepFashion/In-shop") == str(w / "README.md")
    assert is_synthetic(w / "JD") and is_synthetic(w)
    (w / "DeepFashion/In-shop/deeper").mkdir()
    assert not is_synthetic(w / "DeepFashion/In-shop/deeper")  # 3 levels up: not looked at
    real = tmp_path / "real"
    real.mkdir()
    (real / "README.md").write_text("# DeepFashion\nNot synthetic data.\n")
    assert not is_synthetic(real)
    (real / "SYNTHETIC").write_text("")
    assert is_synthetic(real)


def test_consumer_to_shop_landmarks(tmp_path):
    from data_prep import consumer_to_shop as m

    root = tmp_path / "c2s"
    c, s = "img/TOPS/Tee/id_00000001/consumer_01.jpg", "img/TOPS/Tee/id_00000001/shop_01.jpg"
    img(root / c, seed=1)
    img(root / s, seed=2)
    df_list(root / "Eval/list_eval_partition.txt", "image_pair_name_1  image_pair_name_2  item_id  evaluation_status",
            [f"{c}  {s}  id_00000001  train"])
    df_list(root / "Anno/list_landmarks_consumer2shop.txt",
            "image_name  clothes_type  variation_type  landmark_visibility_1  landmark_location_x_1  "
            "landmark_location_y_1", [f"{c}  2  1  0 010 012  0 020 012  1 009 028  2 000 000"])
    (root / "Anno/list_item_consumer2shop.txt").write_text("1\nid_00000001\n")
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "train_consumer/meta.json").read_text())
    assert meta["companions"]["landmarks"]["K"] == 24 and meta["bad_rows"]["count"] == 0
    lm, _ = floats(out / "train_consumer/landmarks_lmdb")
    np.testing.assert_array_equal(lm[0][:8], [3, 3, 3, 3, 0, 0, 1, 2])  # lower body: slots 4-7
    np.testing.assert_allclose(lm[0][8 + 8:8 + 10], [10, 12])
    lm, _ = floats(out / "train_shop/landmarks_lmdb")
    np.testing.assert_array_equal(lm[0][:8], [3] * 8)  # no landmark row: every slot absent


def test_inshop_attribute_names(tmp_path):
    from data_prep import deepfashion_inshop as m

    root = tmp_path / "inshop"
    n = "img/MEN/Tees/id_00000001/01_1_front.jpg"
    img(root / n)
    df_list(root / "Eval/list_eval_partition.txt", "image_name item_id evaluation_status", [f"{n}  id_00000001  train"])
    df_list(root / "Anno/list_attr_items.txt", "item_id  attribute_labels", ["id_00000001  1 -1  0"])
    df_list(root / "Anno/list_attr_cloth.txt", "attribute_name  attribute_type",
            ["floral print      1", "a-line            3", "long sleeve       4"])
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    att = json.loads((out / "train/meta.json").read_text())["companions"]["attributes"]
    assert att["names"] == ["floral print", "a-line", "long sleeve"]
    assert att["types"] == ["texture", "shape", "part"]
    # the published In-shop file has names only (one per row, header 'attribute_name')
    df_list(root / "Anno/list_attr_cloth.txt", "attribute_name", ["floral print", "a-line", "long sleeve"])
    assert m.main(["--root", str(root), "--out", str(tmp_path / "o2"), "--no-progress"]) == 0
    att = json.loads((tmp_path / "o2/train/meta.json").read_text())["companions"]["attributes"]
    assert att["names"] == ["floral print", "a-line", "long sleeve"] and "types" not in att
    # a name count that disagrees with the values is reported, and the names are left out
    df_list(root / "Anno/list_attr_cloth.txt", "attribute_name", ["floral print"])
    assert m.main(["--root", str(root), "--out", str(tmp_path / "o3"), "--no-progress"]) == 0
    meta = json.loads((tmp_path / "o3/train/meta.json").read_text())
    assert "names" not in meta["companions"]["attributes"] and meta["bad_rows"]["by_reason"] == {"count mismatch": 1}


def test_shopping100k_partition_and_groups(tmp_path):
    from data_prep import shopping100k as m

    root = tmp_path / "shop"
    for i in range(3):
        img(root / "images" / f"{i}.jpg", seed=i)
    (root / "labels.csv").write_text("image,category,color\nimages/0.jpg,tee,red\nimages/1.jpg,dress,\n"
                                     "images/2.jpg,tee,blue\n")
    (root / "partition.csv").write_text("image,split\nimages/0.jpg,train\nimages/1.jpg,test\n")
    (root / "attribute_groups.csv").write_text("group,kind,values\ncategory,general,tee|dress\n"
                                               "color,special,red|blue|green\n")
    out = tmp_path / "out"
    assert m.main(["--root", str(root), "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "train/meta.json").read_text())
    assert meta["values"] == {"category": ["tee", "dress"], "color": ["red", "blue", "green"]}
    assert meta["kinds"] == {"category": "general", "color": "special"}
    assert meta["count"] == 1 and meta["bad_rows"]["by_reason"] == {"unassigned": 1}
    assert json.loads((out / "test/meta.json").read_text())["count"] == 1
    oh, _ = floats(out / "test/onehot_lmdb")
    np.testing.assert_array_equal(oh[0], [0, 1, -1, -1, -1])
