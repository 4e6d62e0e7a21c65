"""DeepFashion *Category and Attribute Prediction* → LMDBs per split (train / val / test).

    python -m data_prep.deepfashion_category --root DeepFashion/Category --out lmdb/df_cat \
        [--resize 256] [--encoded] [--bbox-crop] [--on-bad-row skip|fail]

Reads the published files as they are (``Anno/`` or the root; ``Eval/list_eval_partition.txt``):
list_category_cloth.txt, list_category_img.txt, list_attr_cloth.txt, list_attr_img.txt,
list_bbox.txt, list_landmarks.txt.  Per split writes images_lmdb (label = category − 1, 0-based),
attributes_lmdb (K = #attributes; 1 positive, 0 negative, −1 unknown), landmarks_lmdb (K = 24:
visibility of the 8 unified slots, then x0 y0 … x7 y7 in stored-image pixels) and meta.json.
"""
from __future__ import annotations

import sys

import numpy as np

from .common import (LANDMARK_LAYOUT, LANDMARK_SLOTS, VIS_ABSENT, BadRows, Record, base_parser, common_meta,
                     find_file, finish, read_df_list, resolve_image, run_main, write_split)

ANNO = ("Anno/", "Anno_coarse/", "")
ATTR_TYPES = {1: "texture", 2: "fabric", 3: "shape", 4: "part", 5: "style"}
CLOTHES_TYPES = {1: "upper", 2: "lower", 3: "full"}


def _f(root, name, required=True):
    return find_file(root, [a + name for a in ANNO] + [f"Eval/{name}"], required, name)


def parse_landmarks(path, bad):
    """{image: (clothes_type, (24,) vector)} from a DeepFashion landmarks list (variation_type aware)."""
    header, rows = read_df_list(path, bad, min_cols=2)
    has_var = "variation_type" in header
    first = 3 if has_var else 2
    out = {}
    for lineno, f in rows:
        try:
            ctype = int(f[1])
            vals = [int(float(v)) for v in f[first:]]
        except ValueError:
            bad(path, lineno, "non-numeric landmark values", "bad value")
            continue
        if ctype not in LANDMARK_LAYOUT:
            bad(path, lineno, f"unknown clothes_type {ctype} (expected 1, 2 or 3)", "unknown label")
            continue
        slots = LANDMARK_LAYOUT[ctype]
        if len(vals) % 3 or len(vals) // 3 < len(slots):
            bad(path, lineno, f"clothes_type {ctype} needs {len(slots)} (visibility, x, y) triples, got "
                              f"{len(vals)} values", "wrong column count")
            continue
        vec = np.zeros(24, np.float32)
        vec[:8] = VIS_ABSENT
        for j, s in enumerate(slots):
            v, x, y = vals[3 * j:3 * j + 3]
            if v not in (0, 1, 2):
                bad(path, lineno, f"landmark visibility {v} is not 0, 1 or 2", "bad value")
                break
            vec[s], vec[8 + 2 * s], vec[9 + 2 * s] = v, x, y
        else:
            out[f[0]] = (ctype, vec)
    return out


def parse_bboxes(path, bad, first=1):
    header, rows = read_df_list(path, bad, min_cols=first + 4)
    out = {}
    for lineno, f in rows:
        try:
            out[f[0]] = tuple(int(float(v)) for v in f[-4:])
        except ValueError:
            bad(path, lineno, "non-numeric bounding box", "bad value")
    return out


def convert(args):
    bad = BadRows(args.on_bad_row)
    root = args.root
    p_cloth, p_cimg = _f(root, "list_category_cloth.txt"), _f(root, "list_category_img.txt")
    p_acloth, p_aimg = _f(root, "list_attr_cloth.txt", False), _f(root, "list_attr_img.txt", False)
    p_bbox, p_lm = _f(root, "list_bbox.txt", False), _f(root, "list_landmarks.txt", False)
    p_part = find_file(root, ["Eval/list_eval_partition.txt", "list_eval_partition.txt",
                              "Anno/list_eval_partition.txt"], what="list_eval_partition.txt")

    _, crows = read_df_list(p_cloth, bad, tail_name=True)
    cats, cat_types = [], []
    for lineno, (name, t) in crows:
        cats.append(name)
        cat_types.append(int(t) if t.isdigit() else 0)
    attrs, attr_types = [], []
    if p_acloth:
        _, arows = read_df_list(p_acloth, bad, tail_name=True)
        for lineno, (name, t) in arows:
            attrs.append(name)
            attr_types.append(int(t) if t.isdigit() else 0)
    A = len(attrs)

    labels = {}
    _, rows = read_df_list(p_cimg, bad, ncols=2)
    for lineno, (img, lab) in rows:
        try:
            lab = int(lab)
        except ValueError:
            bad(p_cimg, lineno, f"category label {lab!r} is not an integer", "bad value")
            continue
        if not 1 <= lab <= len(cats):
            bad(p_cimg, lineno, f"unknown category label {lab} (the labels are 1..{len(cats)})", "unknown label")
            continue
        labels[img] = (lab - 1, lineno)
    attr_vec = {}
    if p_aimg:
        _, rows = read_df_list(p_aimg, bad, ncols=A + 1)
        remap = {1: 1.0, -1: 0.0, 0: -1.0}
        for lineno, f in rows:
            try:
                v = np.array([remap[int(x)] for x in f[1:]], np.float32)
            except (KeyError, ValueError):
                bad(p_aimg, lineno, "attribute values must be 1, -1 or 0", "bad value")
                continue
            attr_vec[f[0]] = v
    boxes = parse_bboxes(p_bbox, bad) if p_bbox else {}
    lms = parse_landmarks(p_lm, bad) if p_lm else {}
    _, prow = read_df_list(p_part, bad, ncols=2)
    splits: dict[str, list] = {}
    for lineno, (img, status) in prow:
        if img not in labels:
            bad(p_part, lineno, f"{img} has no category label in {p_cimg}", "unknown image")
            continue
        if args.bbox_crop and img not in boxes:
            bad(p_part, lineno, f"{img} has no bounding box in {p_bbox}", "missing bbox")
            continue
        lab, lab_line = labels[img]
        targets = {}
        if A:
            targets["attributes"] = attr_vec.get(img, np.full(A, -1.0, np.float32))
        lm = lms.get(img, (0, np.concatenate([np.full(8, VIS_ABSENT, np.float32), np.zeros(16, np.float32)])))[1]
        splits.setdefault(status, []).append(
            Record(img, resolve_image(root, img), lab, targets, boxes.get(img), lm, p_cimg, lab_line))
    if args.splits:
        splits = {k: v for k, v in splits.items() if k in args.splits.split(",")}
    meta = common_meta(args, "DeepFashion Category and Attribute Prediction")
    meta["label"] = {"name": "category", "base": 0, "names": cats,
                     "clothes_type": [CLOTHES_TYPES.get(t, "?") for t in cat_types]}
    companions = {}
    if A:
        companions["attributes"] = {"K": A, "names": attrs,
                                    "types": [ATTR_TYPES.get(t, "?") for t in attr_types],
                                    "encoding": {"positive": 1, "negative": 0, "unknown": -1}}
    if p_lm:
        companions["landmarks"] = {"K": 24, "slots": LANDMARK_SLOTS,
                                   "layout": "[v0..v7, x0, y0, ..., x7, y7] in stored-image pixels",
                                   "visibility": {"visible": 0, "occluded": 1, "truncated": 2,
                                                  "absent for this clothes type": VIS_ABSENT}}
    for split, recs in sorted(splits.items()):
        write_split(args.out, split, recs, companions, meta, args, bad)
    finish(bad)


def main(argv=None):
    ap = base_parser("python -m data_prep.deepfashion_category", __doc__.splitlines()[0])
    ap.add_argument("--bbox-crop", action="store_true", help="crop each image to its list_bbox.txt box")
    ap.add_argument("--splits", default="", help="comma-separated subset of splits to write")
    return run_main(convert, argv, ap)


if __name__ == "__main__":
    sys.exit(main())
