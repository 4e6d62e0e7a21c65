"""DeepFashion *In-shop Clothes Retrieval* → LMDBs per split (train / query / gallery).

    python -m data_prep.deepfashion_inshop --root DeepFashion/InShop --out lmdb/inshop [--resize 256] \
        [--encoded] [--bbox-crop]

Reads list_eval_partition.txt (image, item_id, status), list_item_inshop.txt (item order),
and when present list_bbox_inshop.txt (image clothes_type pose_type x1 y1 x2 y2),
list_landmarks_inshop.txt, list_attr_items.txt (item_id + attribute values) and list_attr_cloth.txt
(attribute names, with or without an attribute_type column).  images_lmdb label = item index (0-based,
in list_item_inshop order); companions item_lmdb (K = 1, the same index), landmarks_lmdb (K = 24) and
attributes_lmdb (per item; 1 / 0 / −1 unknown; names and types in meta.json when list_attr_cloth.txt
has one row per attribute).
"""
from __future__ import annotations

import sys

import numpy as np

from .common import (LANDMARK_SLOTS, VIS_ABSENT, BadRows, Record, base_parser, common_meta, find_file, finish,
                     open_text, read_df_list, resolve_image, run_main, write_split)
from .deepfashion_category import parse_bboxes, parse_landmarks

ANNO = ("Anno/", "Eval/", "")


def _f(root, name, required=True):
    return find_file(root, [a + name for a in ANNO], required, name)


def read_items(path):
    """list_item_inshop.txt: a count line then one item id per line (a header line is tolerated)."""
    with open_text(path) as f:
        lines = [ln.split() for ln in f.read().splitlines()[1:] if ln.strip()]
    return [ln[0] for ln in lines if ln and ln[0].startswith("id_")]


def read_attr_names(path, bad):
    """(names, types) of list_attr_cloth.txt: ``name  type`` rows when the header has an
    ``attribute_type`` column (names contain single spaces), else one name per row; types are None
    without a type column."""
    from .deepfashion_category import ATTR_TYPES

    header, rows = read_df_list(path, bad, min_cols=1)
    if "attribute_type" in header:
        _, rows = read_df_list(path, BadRows("skip", log=lambda m: None), tail_name=True)
        names, types = [], []
        for lineno, (name, t) in rows:
            names.append(name)
            types.append(ATTR_TYPES.get(int(t), "?") if t.isdigit() else "?")
        return names, types
    with open_text(path) as f:
        lines = f.read().splitlines()[2:]
    return [ln.strip() for ln in lines if ln.strip()], None


def convert(args):
    bad = BadRows(args.on_bad_row)
    root = args.root
    p_part = _f(root, "list_eval_partition.txt")
    p_items = _f(root, "list_item_inshop.txt", False)
    p_bbox = _f(root, "list_bbox_inshop.txt", False)
    p_lm = _f(root, "list_landmarks_inshop.txt", False)
    p_attr = _f(root, "list_attr_items.txt", False)
    p_acloth = _f(root, "list_attr_cloth.txt", False)
    _, prow = read_df_list(p_part, bad, ncols=3)
    items = read_items(p_items) if p_items else sorted({f[1] for _, f in prow})
    item_idx = {it: i for i, it in enumerate(items)}
    boxes = parse_bboxes(p_bbox, bad) if p_bbox else {}
    lms = parse_landmarks(p_lm, bad) if p_lm else {}
    attr = {}
    A = 0
    if p_attr:
        _, arows = read_df_list(p_attr, bad, min_cols=2)
        remap = {1: 1.0, -1: 0.0, 0: -1.0}
        lines_of = {}
        for lineno, f in arows:
            try:
                attr[f[0]] = np.array([remap[int(x)] for x in f[1:]], np.float32)
                lines_of[f[0]] = lineno
            except (KeyError, ValueError):
                bad(p_attr, lineno, "attribute values must be 1, -1 or 0", "bad value")
        lengths = [len(v) for v in attr.values()]
        A = max(set(lengths), key=lengths.count) if lengths else 0  # the usual row length
        for it in [it for it, v in attr.items() if len(v) != A]:
            bad(p_attr, lines_of[it], f"expected {A} attribute values, got {len(attr.pop(it))}", "wrong column count")
    attr_names, attr_types = None, None
    if A and p_acloth:
        attr_names, attr_types = read_attr_names(p_acloth, bad)
        if len(attr_names) != A:
            bad(p_acloth, 0, f"{len(attr_names)} attribute names for {A} attribute values per item in {p_attr}; "
                             f"names not recorded", "count mismatch")
            attr_names, attr_types = None, None
    splits = {}
    empty_lm = np.concatenate([np.full(8, VIS_ABSENT, np.float32), np.zeros(16, np.float32)])
    for lineno, (img, item, status) in prow:
        if item not in item_idx:
            bad(p_part, lineno, f"unknown item_id {item} (not in {p_items})", "unknown label")
            continue
        if status not in ("train", "query", "gallery"):
            bad(p_part, lineno, f"unknown evaluation status {status!r} (train, query or gallery)", "unknown label")
            continue
        if args.bbox_crop and img not in boxes:
            bad(p_part, lineno, f"{img} has no bounding box", "missing bbox")
            continue
        idx = item_idx[item]
        targets = {"item": np.array([idx], np.float32)}
        if A:
            targets["attributes"] = attr.get(item, np.full(A, -1.0, np.float32))
        splits.setdefault(status, []).append(Record(img, resolve_image(root, img), idx, targets, boxes.get(img),
                                                    lms.get(img, (0, empty_lm))[1], p_part, lineno))
    meta = common_meta(args, "DeepFashion In-shop Clothes Retrieval")
    meta["label"] = {"name": "item", "base": 0, "names": items}
    companions = {"item": {"K": 1, "names": ["item index"], "encoding": "0-based index into label.names"}}
    if A:
        companions["attributes"] = {"K": A, "encoding": {"positive": 1, "negative": 0, "unknown": -1},
                                    "per": "item"}
        if attr_names:
            companions["attributes"]["names"] = attr_names
            if attr_types:
                companions["attributes"]["types"] = attr_types
    if p_lm:
        companions["landmarks"] = {"K": 24, "slots": LANDMARK_SLOTS,
                                   "layout": "[v0..v7, x0, y0, ..., x7, y7] in stored-image pixels",
                                   "visibility": {"visible": 0, "occluded": 1, "truncated": 2,
                                                  "absent for this clothes type": VIS_ABSENT}}
    for split, recs in sorted(splits.items()):
        write_split(args.out, split, recs, companions, meta, args, bad)
    finish(bad)


def main(argv=None):
    ap = base_parser("python -m data_prep.deepfashion_inshop", __doc__.splitlines()[0])
    ap.add_argument("--bbox-crop", action="store_true")
    return run_main(convert, argv, ap)


if __name__ == "__main__":
    sys.exit(main())
