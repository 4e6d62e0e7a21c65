"""e-Clothing1.4M-style keyword lists → LMDBs per split (paper 000's 24 attribute groups).

    python -m data_prep.eclothing --root ECL --out lmdb/ecl [--list FILE] [--catalog FILE] [--resize 256]

List file (default ``<root>/labels.txt``): one image per line,
``<image path>\\t<keyword>;<keyword>;...[\\t<split>]`` (tab-separated; keywords may contain spaces and are
separated by ``;``).  The split (train / val / test) is the list's third column; else the image's row
of a partition file (``--partition`` or ``<root>/partition.txt``: ``<image path>\\t<split>``; an image
the partition file lacks is a bad row); else it is assigned by --val-fraction / --test-fraction.
Catalogue (``--catalog`` or the first of ``<root>/catalog.json``, ``catalog.txt``,
``keyword_catalog.json``, ``keyword_groups.txt``): JSON ``{group: [keyword, ...]}`` in group order, or
text lines ``<group>\\t<keyword>`` (``catalog.txt``) or ``<keyword>\\t<group>`` (``keyword_groups.txt``,
as the synthetic wardrobe writes it; groups in order of first appearance); ``--catalog-format``
overrides the column order guessed from the file name.  A keyword missing from the catalogue is a bad row.
images_lmdb label = 0; companions keywords_lmdb (K = #keywords: 1 present, 0 absent, −1 for every
keyword of a group the image has no keyword in = missing) and groups_lmdb (K = #groups: index of the
image's keyword within the group, −1 missing; the first one if several).
"""
from __future__ import annotations

import os
import sys

import numpy as np

from fashioncaffe.errors import fail

from .common import BadRows, Record, base_parser, common_meta, find_file, finish, open_text, read_json, \
    resolve_image, run_main, split_of, write_split


CATALOG_NAMES = ["catalog.json", "catalog.txt", "keyword_catalog.json", "keyword_groups.txt"]


def catalog_format(path, fmt="auto"):
    """'json', 'group-keyword' or 'keyword-group' for the catalogue file ``path``."""
    if fmt != "auto":
        return fmt
    if path.endswith(".json"):
        return "json"
    base = os.path.basename(path).lower()
    return "keyword-group" if base.startswith(("keyword_group", "keyword-group", "keywords_group")) else \
        "group-keyword"


def read_catalog(path, fmt="auto"):
    """{group: [keyword, ...]} in catalogue order (see the module docstring for the formats)."""
    fmt = catalog_format(path, fmt)
    if fmt == "json":
        cat = read_json(path)
        return {g: list(v) for g, v in cat.items()}
    want = "<keyword>\\t<group>" if fmt == "keyword-group" else "<group>\\t<keyword>"
    cat = {}
    for lineno, line, parts in _tab_rows(path):
        if len(parts) != 2:
            raise fail(f"{path}:{lineno}: expected '{want}', got {line.strip()!r}.")
        g, kw = (parts[1], parts[0]) if fmt == "keyword-group" else (parts[0], parts[1])
        cat.setdefault(g.strip(), []).append(kw.strip())
    return cat


def _tab_rows(path):
    """(line number, line, tab-separated fields) of a text file's rows, blank and ``#`` lines skipped."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip() and not line.startswith("#"):
                yield lineno, line, line.rstrip("\r\n").split("\t")


def read_partition(path, bad):
    """{image path: split} from ``<image path>\\t<split>`` lines (a later row overrides an earlier one)."""
    part = {}
    for lineno, _, parts in _tab_rows(path):
        if len(parts) != 2:
            bad(path, lineno, f"expected '<image>\\t<split>', got {len(parts)} column(s)", "wrong column count")
            continue
        part[parts[0].strip()] = parts[1].strip()
    return part


def convert(args):
    bad = BadRows(args.on_bad_row)
    root = args.root
    p_list = args.list or find_file(root, ["labels.txt", "list.txt", "keywords.txt"], what="keyword list")
    p_cat = args.catalog or find_file(root, CATALOG_NAMES, what="keyword catalogue")
    cat = read_catalog(p_cat, args.catalog_format)
    p_part = args.partition or find_file(root, ["partition.txt"], False)
    partition = read_partition(p_part, bad) if p_part else None
    groups = list(cat)
    kw_pos, kw_group, names = {}, {}, []
    for gi, g in enumerate(groups):
        for ki, kw in enumerate(cat[g]):
            if kw in kw_pos:
                raise fail(f"{p_cat}: keyword {kw!r} appears in two groups ({groups[kw_group[kw][0]]} and {g}).")
            kw_pos[kw] = len(names)
            kw_group[kw] = (gi, ki)
            names.append(kw)
    g_members = [[kw_pos[k] for k in cat[g]] for g in groups]
    splits = {}
    with open_text(p_list) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) not in (2, 3):
                bad(p_list, lineno, f"expected '<image>\\t<keywords>[\\t<split>]', got {len(parts)} column(s)",
                    "wrong column count")
                continue
            img = parts[0].strip()
            kws = [k.strip() for k in parts[1].split(";") if k.strip()]
            unknown = [k for k in kws if k not in kw_pos]
            if unknown:
                bad(p_list, lineno, f"unknown keyword(s) {', '.join(map(repr, unknown))} (not in {p_cat})",
                    "unknown label")
                continue
            vec = np.zeros(len(names), np.float32)
            gvec = np.full(len(groups), -1.0, np.float32)
            for k in kws:
                vec[kw_pos[k]] = 1
                gi, ki = kw_group[k]
                if gvec[gi] < 0:
                    gvec[gi] = ki
            for gi, mem in enumerate(g_members):
                if gvec[gi] < 0:
                    vec[mem] = -1
            if len(parts) == 3:
                split = parts[2].strip()
            elif partition is not None:
                if img not in partition:
                    bad(p_list, lineno, f"{img} has no row in {p_part}", "unassigned")
                    continue
                split = partition[img]
            else:
                split = split_of(img, args.val_fraction, args.test_fraction, args.seed)
            if split not in ("train", "val", "test"):
                bad(p_list, lineno, f"unknown split {split!r}", "unknown label")
                continue
            splits.setdefault(split, []).append(Record(img, resolve_image(root, img, ("", "images", "img")), 0,
                                                       {"keywords": vec, "groups": gvec}, None, None, p_list,
                                                       lineno))
    meta = common_meta(args, "e-Clothing1.4M-style keyword list")
    meta["label"] = {"name": "none", "note": "the Datum label is 0; keywords are in the companions"}
    meta["groups"] = groups
    meta["catalog"] = cat
    meta["catalog_file"] = os.path.abspath(p_cat)
    meta["split_source"] = "list column 3 where given, else " + (
        os.path.abspath(p_part) if p_part else f"hash (val {args.val_fraction}, test {args.test_fraction}, "
                                                f"seed {args.seed})")
    companions = {
        "keywords": {"K": len(names), "names": names, "group_of": [groups[kw_group[k][0]] for k in names],
                     "encoding": {"present": 1, "absent": 0, "group missing": -1}},
        "groups": {"K": len(groups), "names": groups, "encoding": "keyword index within the group, -1 missing"},
    }
    for split, recs in sorted(splits.items()):
        write_split(args.out, split, recs, companions, meta, args, bad)
    finish(bad)


def main(argv=None):
    ap = base_parser("python -m data_prep.eclothing", __doc__.splitlines()[0])
    ap.add_argument("--list", default="")
    ap.add_argument("--catalog", default="", help="keyword catalogue (default: " + ", ".join(CATALOG_NAMES) +
                    " in the root)")
    ap.add_argument("--catalog-format", default="auto", choices=["auto", "json", "group-keyword", "keyword-group"],
                    help="column order of a text catalogue (auto: keyword-group for keyword_groups*.txt, "
                         "else group-keyword)")
    ap.add_argument("--partition", default="", help="'<image>\\t<split>' file for rows without a split column "
                                                     "(default: <root>/partition.txt when present)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--test-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    return run_main(convert, argv, ap)


if __name__ == "__main__":
    sys.exit(main())
