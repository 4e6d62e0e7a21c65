"""The search app's test model: a small Shopping100k-style folder rendered by the wardrobe's product
catalogue, prepared and trained by paper 004's own entry points at scale ``ci`` (tiny's nets, a
handful of iterations: the app's plumbing is under test, not the net's accuracy), exported to ONNX and
evaluated -- built once per test session (tests/conftest.py's ``search_app_model``)."""
from __future__ import annotations

import os
import sys

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SPLIT_CYCLE = ["train", "train", "train", "train", "gallery", "gallery", "gallery", "query"]


def write_shop(root, n=128, size=96, seed=5):
    """A Shopping100k-style folder of ``n`` catalogue shots with an explicit train / gallery / query
    partition (the wardrobe's labels and value lists; marked synthetic)."""
    from data_prep.wardrobe import labels as L
    from data_prep.wardrobe.catalog import SHOP_COLUMNS, SHOP_GENERAL
    from data_prep.wardrobe.render import render_shot
    from data_prep.wardrobe.shopping import label_values, make_products, product_shot

    os.makedirs(os.path.join(root, "images"), exist_ok=True)
    prods, _ = make_products(seed, n)
    names = [f"images/{j:06d}.jpg" for j in range(len(prods))]
    truth = [L.shopping_truth({"attrs": p["attrs"]}) for p in prods]
    rows, part = [], []
    for name, p, t, split in zip(names, prods, truth, _cover_training_values(names, truth)):
        cv2.imwrite(os.path.join(root, name), render_shot(product_shot(p, names.index(name), size))[0])
        rows.append(name + "," + ",".join(t[c] for c in SHOP_COLUMNS))
        part.append(f"{name},{split}")
    with open(os.path.join(root, "labels.csv"), "w") as f:
        f.write("image," + ",".join(SHOP_COLUMNS) + "\n" + "\n".join(rows) + "\n")
    with open(os.path.join(root, "partition.csv"), "w") as f:
        f.write("image,split\n" + "\n".join(part) + "\n")
    vals = label_values()
    with open(os.path.join(root, "attribute_groups.csv"), "w") as f:
        f.write("group,kind,values\n" + "".join(
            f"{c},{'general' if c in SHOP_GENERAL else 'special'},{'|'.join(vals[c])}\n" for c in SHOP_COLUMNS))
    with open(os.path.join(os.path.dirname(os.path.normpath(root)), "SYNTHETIC"), "w") as f:
        f.write("test data\n")
    return root


def _cover_training_values(names, truth):
    """SPLIT_CYCLE's partition, with images moved to train until every special-attribute value shown
    anywhere is shown by a training image that paper 004's split rule keeps in train (its manipulation
    needs that value's prototype)."""
    from tools.paper004 import config
    from tools.paper004.data import assign_splits

    split = [SPLIT_CYCLE[j % len(SPLIT_CYCLE)] for j in range(len(names))]
    stays_train = assign_splits(names, {n: "train" for n in names})
    seen = {(a, t[a]) for t, s, n in zip(truth, split, names) if s == "train" and stays_train[n] == "train"
            for a in config.SPECIAL if t[a]}
    for j, (n, t) in enumerate(zip(names, truth)):
        new = {(a, t[a]) for a in config.SPECIAL if t[a]} - seen
        if new and split[j] != "train" and stays_train[n] == "train":
            split[j] = "train"
            seen |= new
    return split


def build_test_model(workdir):
    """The app's DemoModel for tests (scale ci), under ``workdir``."""
    from tools.search_app.model import ensure_model

    shop = write_shop(os.path.join(workdir, "shop", "Shopping100k"))
    return ensure_model(shop, "ci", seed=1, variant="proposed", root=workdir, log=lambda m: None)
