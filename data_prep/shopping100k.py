"""Shopping100k-style attribute CSV → LMDBs per split (paper 004's general and special attributes).

    python -m data_prep.shopping100k --root SHOP --out lmdb/shop [--csv FILE] [--vocab FILE] [--resize 256]

The CSV (default ``<root>/shopping100k.csv`` or ``<root>/attributes.csv``) has a header
``image,<group 1>,<group 2>,...[,split]``; ``image`` is a path relative to the root (or ``images/``),
each group cell holds one value name or is empty (missing), ``split`` (optional) is
train / val / test / query / gallery.  Without a split column the split is the image's row of a
partition CSV (``--partition`` or ``<root>/partition.csv``: header ``image,split``; an image it lacks
is a bad row), else assigned deterministically (--val-fraction, --test-fraction).  Value
vocabularies come from ``--vocab`` (JSON ``{group: [values...]}``, or a CSV ``group,kind,values``
with ``|``-separated values as the wardrobe's ``attribute_groups.csv``), else from
``<root>/attribute_groups.csv`` when present (a value outside the vocabulary is a bad row), else
are collected from the CSV (sorted).
images_lmdb label = 0; companion attributes_lmdb (K = #groups, value index within its group, −1
missing) and onehot_lmdb (K = Σ group sizes; 1 / 0, all −1 in a missing group).
"""
from __future__ import annotations

import csv
import os
import sys

import numpy as np

from .common import BadRows, Record, base_parser, common_meta, find_file, finish, open_text, read_json, \
    resolve_image, run_main, split_of, write_split


def read_vocab(path):
    """({group: [values]}, {group: kind} or None) from a JSON vocabulary or a ``group,kind,values`` CSV."""
    from fashioncaffe.errors import fail

    if path.endswith(".json"):
        return read_json(path), None
    with open_text(path, newline="") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    if not rows or [c.strip().lower() for c in rows[0][:1]] != ["group"] or "values" not in \
            [c.strip().lower() for c in rows[0]]:
        raise fail(f"{path}:1: expected a header 'group,kind,values' (or a JSON vocabulary).")
    head = [c.strip().lower() for c in rows[0]]
    gi, vi = head.index("group"), head.index("values")
    ki = head.index("kind") if "kind" in head else None
    vocab, kinds = {}, {}
    for lineno, r in enumerate(rows[1:], 2):
        if len(r) != len(head):
            raise fail(f"{path}:{lineno}: expected {len(head)} columns, got {len(r)}.")
        g = r[gi].strip()
        vocab[g] = [v.strip() for v in r[vi].split("|") if v.strip()]
        if ki is not None:
            kinds[g] = r[ki].strip()
    return vocab, (kinds or None)


def read_partition(path, bad):
    """{image: split} from an ``image,split`` CSV (header optional)."""
    part = {}
    with open_text(path, newline="") as f:
        for lineno, r in enumerate(csv.reader(f), 1):
            if not any(c.strip() for c in r):
                continue
            if len(r) != 2:
                bad(path, lineno, f"expected 'image,split', got {len(r)} column(s)", "wrong column count")
                continue
            if lineno == 1 and r[1].strip().lower() == "split":
                continue
            part[r[0].strip()] = r[1].strip()
    return part


def convert(args):
    bad = BadRows(args.on_bad_row)
    root = args.root
    p_csv = args.csv or find_file(root, ["shopping100k.csv", "attributes.csv", "labels.csv"], what="attribute CSV")
    with open_text(p_csv, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        from fashioncaffe.errors import fail

        raise fail(f"{p_csv}: the CSV is empty.")
    header = [h.strip() for h in rows[0]]
    if not header or header[0].lower() not in ("image", "image_path", "path", "filename"):
        from fashioncaffe.errors import fail

        raise fail(f"{p_csv}:1: the header must start with 'image' (got {header[:1]}).")
    has_split = header[-1].lower() == "split"
    groups = header[1:-1] if has_split else header[1:]
    body = []
    for lineno, r in enumerate(rows[1:], 2):
        if not any(c.strip() for c in r):
            continue
        if len(r) != len(header):
            bad(p_csv, lineno, f"expected {len(header)} columns, got {len(r)}", "wrong column count")
            continue
        body.append((lineno, [c.strip() for c in r]))
    p_vocab = args.vocab or find_file(root, ["attribute_groups.csv"], False)
    kinds = None
    if p_vocab:
        vocab, kinds = read_vocab(p_vocab)
        missing = [g for g in groups if g not in vocab]
        if missing:
            from fashioncaffe.errors import fail

            raise fail(f"{p_vocab}: no values for group(s) {', '.join(missing)}.")
    else:
        vocab = {g: sorted({r[1 + j] for _, r in body if r[1 + j]}) for j, g in enumerate(groups)}
    index = {g: {v: i for i, v in enumerate(vocab[g])} for g in groups}
    sizes = [len(vocab[g]) for g in groups]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    p_part = None if has_split else (args.partition or find_file(root, ["partition.csv"], False))
    partition = read_partition(p_part, bad) if p_part else None
    splits = {}
    for lineno, r in body:
        vec = np.full(len(groups), -1.0, np.float32)
        onehot = np.zeros(sum(sizes), np.float32)
        ok = True
        for j, g in enumerate(groups):
            v = r[1 + j]
            if not v:
                onehot[starts[j]:starts[j] + sizes[j]] = -1
                continue
            if v not in index[g]:
                bad(p_csv, lineno, f"unknown value {v!r} for group {g!r}", "unknown label")
                ok = False
                break
            vec[j] = index[g][v]
            onehot[starts[j] + index[g][v]] = 1
        if not ok:
            continue
        if has_split:
            split = r[-1]
        elif partition is not None:
            if r[0] not in partition:
                bad(p_csv, lineno, f"{r[0]} has no row in {p_part}", "unassigned")
                continue
            split = partition[r[0]]
        else:
            split = split_of(r[0], args.val_fraction, args.test_fraction, args.seed)
        if split not in ("train", "val", "test", "query", "gallery"):
            bad(p_csv, lineno, f"unknown split {split!r}", "unknown label")
            continue
        splits.setdefault(split, []).append(Record(r[0], resolve_image(root, r[0], ("", "images", "img")), 0,
                                                   {"attributes": vec, "onehot": onehot}, None, None, p_csv, lineno))
    meta = common_meta(args, "Shopping100k-style attribute CSV")
    meta["label"] = {"name": "none", "note": "the Datum label is 0; attributes are in the companions"}
    meta["groups"] = groups
    meta["values"] = {g: vocab[g] for g in groups}
    if kinds:
        meta["kinds"] = {g: kinds.get(g) for g in groups}
    meta["vocab_source"] = os.path.abspath(p_vocab) if p_vocab else "values seen in the CSV (sorted)"
    meta["split_source"] = "CSV split column" if has_split else (
        os.path.abspath(p_part) if p_part else f"hash (val {args.val_fraction}, test {args.test_fraction}, "
                                                f"seed {args.seed})")
    companions = {
        "attributes": {"K": len(groups), "names": groups, "encoding": "value index within the group, -1 missing"},
        "onehot": {"K": int(sum(sizes)), "names": [f"{g}={v}" for g in groups for v in vocab[g]],
                   "group_slices": {g: [int(starts[j]), int(starts[j] + sizes[j])] for j, g in enumerate(groups)},
                   "encoding": {"positive": 1, "negative": 0, "missing group": -1}},
    }
    for split, recs in sorted(splits.items()):
        write_split(args.out, split, recs, companions, meta, args, bad)
    finish(bad)


def main(argv=None):
    ap = base_parser("python -m data_prep.shopping100k", __doc__.splitlines()[0])
    ap.add_argument("--csv", default="")
    ap.add_argument("--vocab", default="", help="value vocabulary: JSON {group: [values]} or a group,kind,values "
                                                 "CSV (default: <root>/attribute_groups.csv when present)")
    ap.add_argument("--partition", default="", help="image,split CSV used when the CSV has no split column "
                                                     "(default: <root>/partition.csv when present)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--test-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    return run_main(convert, argv, ap)


if __name__ == "__main__":
    sys.exit(main())
