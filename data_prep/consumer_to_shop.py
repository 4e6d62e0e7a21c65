"""DeepFashion *Consumer-to-shop Clothes Retrieval* → LMDBs per split.

    python -m data_prep.consumer_to_shop --root DeepFashion/C2S --out lmdb/c2s [--resize 256] [--encoded]

Reads Eval/list_eval_partition.txt rows (consumer image, shop image, item_id, status) and, when
present, Anno/list_item_consumer2shop.txt (item order), list_bbox_consumer2shop.txt (image clothes_type
source_type x1 y1 x2 y2; used with --bbox-crop) and list_landmarks_consumer2shop.txt (image clothes_type
variation_type + (visibility, x, y) triples, as In-shop's).  For each status S (train / val / test)
writes ``S_consumer`` (the queries: every consumer image once) and ``S_shop`` (the gallery: every shop
image of the split once); label = item index (0-based, in list_item_consumer2shop order, else sorted
by id), companions item_lmdb (K = 1) and, with a landmark file, landmarks_lmdb (K = 24: visibility of
the 8 unified slots, then x0 y0 … x7 y7 in stored-image pixels; an image without a landmark row has
every slot absent).  ``pairs.txt`` in each S_consumer folder lists ``consumer_key shop_key`` per
partition row, for pair/triplet training.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .common import (LANDMARK_SLOTS, VIS_ABSENT, BadRows, Record, base_parser, common_meta, find_file, finish,
                     read_df_list, resolve_image, run_main, write_split)
from .deepfashion_category import parse_bboxes, parse_landmarks
from .deepfashion_inshop import read_items


def convert(args):
    bad = BadRows(args.on_bad_row)
    root = args.root
    p_part = find_file(root, ["Eval/list_eval_partition.txt", "list_eval_partition.txt",
                              "Anno/list_eval_partition.txt"], what="list_eval_partition.txt")
    p_bbox = find_file(root, ["Anno/list_bbox_consumer2shop.txt", "list_bbox_consumer2shop.txt"], False)
    p_lm = find_file(root, ["Anno/list_landmarks_consumer2shop.txt", "list_landmarks_consumer2shop.txt"], False)
    p_items = find_file(root, ["Anno/list_item_consumer2shop.txt", "list_item_consumer2shop.txt"], False)
    _, rows = read_df_list(p_part, bad, ncols=4)
    boxes = parse_bboxes(p_bbox, bad) if p_bbox else {}
    lms = parse_landmarks(p_lm, bad) if p_lm else {}
    empty_lm = np.concatenate([np.full(8, VIS_ABSENT, np.float32), np.zeros(16, np.float32)])
    items = read_items(p_items) if p_items else []
    if not items:
        items = sorted({f[2] for _, f in rows})
    item_idx = {it: i for i, it in enumerate(items)}
    groups: dict[str, dict] = {}
    pairs: dict[str, list] = {}
    for lineno, (cons, shop, item, status) in rows:
        if status not in ("train", "val", "test"):
            bad(p_part, lineno, f"unknown evaluation status {status!r} (train, val or test)", "unknown label")
            continue
        if item not in item_idx:
            bad(p_part, lineno, f"unknown item_id {item} (not in {p_items})", "unknown label")
            continue
        if args.bbox_crop and (cons not in boxes or shop not in boxes):
            bad(p_part, lineno, f"{cons if cons not in boxes else shop} has no bounding box", "missing bbox")
            continue
        idx = item_idx[item]
        for side, img in (("consumer", cons), ("shop", shop)):
            g = groups.setdefault(f"{status}_{side}", {})
            if img not in g:
                g[img] = Record(img, resolve_image(root, img), idx, {"item": np.array([idx], np.float32)},
                                boxes.get(img), lms.get(img, (0, empty_lm))[1], p_part, lineno)
        pairs.setdefault(status, []).append((cons, shop))
    meta = common_meta(args, "DeepFashion Consumer-to-shop Clothes Retrieval")
    meta["label"] = {"name": "item", "base": 0, "names": items}
    companions = {"item": {"K": 1, "names": ["item index"], "encoding": "0-based index into label.names"}}
    if p_lm:
        companions["landmarks"] = {"K": 24, "slots": LANDMARK_SLOTS,
                                   "layout": "[v0..v7, x0, y0, ..., x7, y7] in stored-image pixels",
                                   "visibility": {"visible": 0, "occluded": 1, "truncated": 2,
                                                  "absent for this clothes type": VIS_ABSENT}}
    keys = {}
    for split, g in sorted(groups.items()):
        keys[split] = write_split(args.out, split, list(g.values()), companions, meta, args, bad)
    for status, plist in pairs.items():
        kc, ks = keys.get(f"{status}_consumer", {}), keys.get(f"{status}_shop", {})
        if not kc:   # no consumer image of this split was written, so neither is its folder
            continue
        with open(os.path.join(args.out, f"{status}_consumer", "pairs.txt"), "w", encoding="utf-8") as f:
            for c, s_ in plist:
                if c in kc and s_ in ks:
                    f.write(f"{kc[c]} {ks[s_]}\n")
    finish(bad)


def main(argv=None):
    ap = base_parser("python -m data_prep.consumer_to_shop", __doc__.splitlines()[0])
    ap.add_argument("--bbox-crop", action="store_true")
    return run_main(convert, argv, ap)


if __name__ == "__main__":
    sys.exit(main())
