"""The Shopping100k-style subset as a product catalogue (paper 004): product lines sold in variants.

Paper 004 searches for a product whose special attributes all equal a (manipulated) target, so the
subset must hold products that share attribute combinations and products that differ from one
another in one attribute -- as a shop's catalogue does: a design is sold in several colours, with
or without a collar, short- or long-sleeved.  The wardrobe's own items give one flat shot each (as
before); this module adds **product lines** drawn from a separate RNG stream
(``default_rng([seed, STREAM])``), so nothing the other datasets hold changes:

* a line = one design (``attributes.sample_item`` of a category drawn with the catalogue's
  category weights) and the variant axes it is sold in: each axis of ``VARIANT_AXES`` varies with
  its probability, its options being the design's own value and the values of up to three fresh
  designs of the same category (so every variant is valid for the category);
* a line has 1 + Geometric products (mean ``MEAN_LINE``); each product picks one option per varying
  axis, the design's own value most often (weights 1, 1/2, 1/3, ...), has its own render seed and
  its own unlabelled details (``PRODUCT_DETAILS``: the pattern's second colour always, thickness /
  lining / waist finish now and then), so products of a line are alike but not identical pictures;
* labels come from ``labels.shopping_truth`` with the wardrobe's missing / wrong-label noise.

The subset holds ``round(items · IMAGES_PER_ITEM)`` images (the paper's 101,021 at full size).
Besides the dataset files it writes, as synthetic ground truth, ``_truth/shopping_parts.csv`` (the
true part boxes of every image, for measuring paper 004's part extraction) and
``_truth/shopping_products.jsonl`` (line and drawn attributes of every image).
"""
import json
import os

import numpy as np

from . import labels as L
from .attributes import sample_item
from .catalog import CAT_NAMES, CATEGORIES, COLOR_NAMES, KEYWORDS, SHOP_COLUMNS, SHOP_GENERAL
from .plan import split_items
from .writers import write_lines

STREAM = 4004
# images per wardrobe item: the paper's 101,021 images at full size (21,500 items), ~2.1k at tiny
IMAGES_PER_ITEM = 101021 / 21500
PARTS = ["torso", "left_sleeve", "right_sleeve", "collar", "fastening", "chest"]
MEAN_LINE = 4.0
# axis -> (probability that a line is sold in variants of it, slots a variant takes from a fresh design,
#          garment types the axis exists on)
VARIANT_AXES = {
    "color": (0.7, ("color", "color2"), (1, 2, 3)),
    "pattern": (0.2, ("pattern", "craft"), (1, 2, 3)),
    "sleeve_length": (0.2, ("sleeve_len", "sleeve_shape"), (1, 3)),
    "collar": (0.15, ("collar", "neckline"), (1, 3)),
    "fastening": (0.15, ("fastening",), (1, 2, 3)),
    "pocket": (0.1, ("pocket",), (1, 2, 3)),
    "fit": (0.1, ("fit",), (1, 2, 3)),
    "length": (0.1, ("upper_len", "trouser_len", "skirt_len"), (1, 2, 3)),
}


# slots a product takes from a fresh design of its category (no Shopping100k label depends on them)
PRODUCT_DETAILS = (("color2",), ("thickness", "dense"), ("waist",))
DETAIL_P = (1.0, 0.3, 0.3)


def _line_axes(rng, design):
    """{axis: [option slot dicts]} of the axes a line varies on (>= 2 distinct options each)."""
    out = {}
    for axis, (p, slots, types) in VARIANT_AXES.items():
        if design["type"] not in types or rng.random() >= p:
            continue
        opts = [{s: design[s] for s in slots}]
        for _ in range(int(rng.integers(1, 4))):
            fresh = sample_item(rng, design["category"])
            cand = {s: fresh[s] for s in slots}
            if all(cand[slots[0]] != o[slots[0]] for o in opts):
                opts.append(cand)
        if len(opts) > 1:
            out[axis] = opts
    return out


def make_products(seed, n, first_id=0):
    """``n`` products in lines: dicts with id, line, attrs (as ``sample_item``) and render seed."""
    rng = np.random.default_rng([int(seed), STREAM])
    w = np.array([c[2] for c in CATEGORIES])
    products = []
    line = 0
    while len(products) < n:
        cat = CAT_NAMES[int(rng.choice(len(CAT_NAMES), p=w / w.sum()))]
        design = sample_item(rng, cat)
        axes = _line_axes(rng, design)
        k = min(int(rng.geometric(1.0 / MEAN_LINE)), n - len(products))
        for _ in range(k):
            attrs = dict(design)
            for opts in axes.values():
                pw = 1.0 / np.arange(1, len(opts) + 1)
                attrs.update(opts[int(rng.choice(len(opts), p=pw / pw.sum()))])
            fresh = sample_item(rng, cat)
            for slots, p in zip(PRODUCT_DETAILS, DETAIL_P):
                if rng.random() < p:
                    attrs.update({s: fresh[s] for s in slots})
            if attrs["color2"] == attrs["color"]:
                others = [c for c in COLOR_NAMES if c != attrs["color"]]
                attrs["color2"] = others[int(rng.integers(len(others)))]
            products.append(dict(id=first_id + len(products), line=line, attrs=attrs,
                                 seed=int(rng.integers(2**31))))
        line += 1
    return products, rng


def product_shot(product, index, image_size):
    """The render spec of a product's flat, frontal, clean-background photograph."""
    return dict(index=index, item=product["attrs"], kind="shopping", pose_type=6, pose_amt=0, zoom=0.85,
                rot=0.0, jitter=0.0, occlude=False, comp=False, tucked=False, variation_type=1,
                quality=95, seed=product["seed"], size=image_size, companion=None,
                item_seed=product["seed"], comp_seed=0)


def label_values():
    """{group: [values]} of the Shopping100k-style CSV (attribute_groups.csv)."""
    return dict(L.SHOP_VALUES, category=[c.lower() for c in CAT_NAMES], color=list(KEYWORDS["Color"]))


def repeat_legacy_draws(rng, item_list, missing_rate, wrong_rate):
    """Repeat (and discard) the plan-RNG draws the Shopping100k labels took before the subset had its
    own stream, so that everything the plan draws after them (the In-shop query / gallery split) is
    unchanged: the same truths (no sport was "") and the same value lists."""
    vals = label_values()
    vals["sport"] = [v for v in vals["sport"] if v != "none"]
    for x in item_list:
        t = L.shopping_truth(x)
        if t["sport"] == "none":
            t["sport"] = ""
        L.noisy_shopping(rng, t, vals, missing_rate, wrong_rate)


def plan_subset(seed, own_rows, missing_rate, wrong_rate, first_index, image_size):
    """The whole subset: the wardrobe items' own flat shots (``own_rows``: [(name, item, split)])
    followed by product lines.  Returns (rows, product render specs); a row is a dict with name,
    attrs, split, labels, line (−1 for the items' own shots)."""
    n_items = len(own_rows)
    total = int(round(n_items * IMAGES_PER_ITEM))
    products, rng = make_products(seed, max(0, total - n_items), first_id=n_items)
    split = split_items(rng, len(products), [80, 20], ["train", "test"])
    vals = label_values()
    rows = [dict(name=name, attrs=item["attrs"], split=sp, line=-1) for name, item, sp in own_rows]
    specs = []
    for j, p in enumerate(products):
        rows.append(dict(name=f"images/{n_items + j + 1:06d}.jpg", attrs=p["attrs"], split=str(split[j]),
                         line=p["line"]))
        specs.append(product_shot(p, first_index + j, image_size))
    for r in rows:
        r["labels"] = L.noisy_shopping(rng, L.shopping_truth({"attrs": r["attrs"]}), vals, missing_rate,
                                       wrong_rate)
    return rows, specs


def write_subset(out, rows, parts):
    """Shopping100k/ (labels.csv, partition.csv, attribute_groups.csv) and the synthetic truth files;
    ``parts``: {name: {part: [x1, y1, x2, y2]}} in image pixels."""
    d = os.path.join(out, "Shopping100k")
    write_lines(f"{d}/labels.csv", ["image," + ",".join(SHOP_COLUMNS)] +
                [r["name"] + "," + ",".join(r["labels"][c] for c in SHOP_COLUMNS) for r in rows])
    write_lines(f"{d}/partition.csv", ["image,split"] + [f"{r['name']},{r['split']}" for r in rows])
    vals = label_values()
    write_lines(f"{d}/attribute_groups.csv", ["group,kind,values"] +
                [f"{c},{'general' if c in SHOP_GENERAL else 'special'},{'|'.join(vals[c])}"
                 for c in SHOP_COLUMNS])
    t = os.path.join(out, "_truth")
    head = ["image", "clothes_type", "sleeves"] + [f"{p}_{k}" for p in PARTS for k in ("x1", "y1", "x2", "y2")]
    lines = [",".join(head)]
    for r in rows:
        b = parts[r["name"]]
        cells = [r["name"], str(r["attrs"]["type"]), str(int("left_sleeve" in b))]
        for p in PARTS:
            cells += [f"{v:g}" for v in b[p]] if p in b else ["", "", "", ""]
        lines.append(",".join(cells))
    write_lines(f"{t}/shopping_parts.csv", lines)
    with open(f"{t}/shopping_products.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({"image": r["name"], "line": r["line"], "attrs": r["attrs"]}, sort_keys=True) + "\n")
