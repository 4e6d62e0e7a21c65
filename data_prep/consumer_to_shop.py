"""DeepFashion *Consumer-to-shop Clothes Retrieval* → LMDBs per split.

    python -m data_prep.consumer_to_shop --root DeepFashion/C2S --out lmdb/c2s [--resize 256] [--encoded]

Reads Eval/list_eval_partition.txt rows (consumer image, shop image, item_id, status) and, with
--bbox-crop, list_bbox_consumer2shop.txt (image clothes_type source_type x1 y1 x2 y2).  For each status
S (train / val / test) writes ``S_consumer`` (the queries: every consumer image once) and ``S_shop``
(the gallery: every shop image of the split once); label = item index (0-based over all items, sorted
by id), companion item_lmdb (K = 1).  ``pairs.txt`` in each S_consumer folder lists
``consumer_key shop_key`` per partition row, for pair/triplet training.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .common import BadRows, Record, base_parser, common_meta, find_file, finish, read_df_list, resolve_image, \
    run_main, write_split
from .deepfashion_category import parse_bboxes


def convert(args):
    bad = BadRows(args.on_bad_row)
    root = args.root
    p_part = find_file(root, ["Eval/list_eval_partition.txt", "list_eval_partition.txt",
                              "Anno/list_eval_partition.txt"], what="list_eval_partition.txt")
    p_bbox = find_file(root, ["Anno/list_bbox_consumer2shop.txt", "list_bbox_consumer2shop.txt"], False)
    _, rows = read_df_list(p_part, bad, ncols=4)
    boxes = parse_bboxes(p_bbox, bad) if p_bbox else {}
    items = sorted({f[2] for _, f in rows})
    item_idx = {it: i for i, it in enumerate(items)}
    groups: dict[str, dict] = {}
    pairs: dict[str, list] = {}
    for lineno, (cons, shop, item, status) in rows:
        if status not in ("train", "val", "test"):
            bad(p_part, lineno, f"unknown evaluation status {status!r} (train, val or test)", "unknown label")
            continue
        idx = item_idx[item]
        for side, img in (("consumer", cons), ("shop", shop)):
            g = groups.setdefault(f"{status}_{side}", {})
            if img not in g:
                g[img] = Record(img, resolve_image(root, img), idx, {"item": np.array([idx], np.float32)},
                                boxes.get(img), None, p_part, lineno)
        pairs.setdefault(status, []).append((cons, shop))
    meta = common_meta(args, "DeepFashion Consumer-to-shop Clothes Retrieval")
    meta["label"] = {"name": "item", "base": 0, "names": items}
    companions = {"item": {"K": 1, "names": ["item index"], "encoding": "0-based index into label.names"}}
    keys = {}
    for split, g in sorted(groups.items()):
        keys[split] = write_split(args.out, split, list(g.values()), companions, meta, args, bad)
    for status, plist in pairs.items():
        kc, ks = keys.get(f"{status}_consumer", {}), keys.get(f"{status}_shop", {})
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
