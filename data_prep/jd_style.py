"""JD AI Fashion Challenge style recognition (13 styles, multi-label) → LMDBs per split.

    python -m data_prep.jd_style --root JD --out lmdb/jd --fold 0 [--folds FILE] [--resize 256]

Reads ``train.txt`` rows ``image_id,url,s1,...,s13`` (s ∈ {0, 1}, the styles in the order of the paper's
Table I) and a k-fold file of rows ``fold,filename`` (a ``fold,filename`` header is allowed).  Images
are ``<image_id>.jpg`` (or .jpeg/.png) under the root, ``images/`` or ``train/``.  With a fold file,
split ``train`` = the other folds and ``val`` = fold --fold; without one, every image goes to ``train``.
Rows of ``test.txt`` with 13 labels become split ``test``.  images_lmdb label = 0; companion
styles_lmdb (K = 13, 1 / 0).
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .common import BadRows, Record, base_parser, common_meta, find_file, finish, open_text, run_main, write_split

STYLES = ["Sports", "Casual", "Office lady", "Japanese", "Korean", "Western", "British", "Girl",
          "Lady", "Minimalist", "Natural", "Punk", "Ethnic"]


def conditional_probability(labels):
    """P(A|B) = N(A ∩ B) / N(B) over multi-hot style rows (paper 003, eq. 1), as a matrix whose entry
    [a, b] is P(style a | style b); NaN in column b when style b never occurs."""
    lab = np.asarray(labels, np.float64)
    both = lab.T @ lab
    nb = lab.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(nb[None, :] > 0, both / nb[None, :], np.nan)


def _image(root, image_id, filename=None):
    names = [filename] if filename else []
    names += [f"{image_id}{e}" for e in (".jpg", ".jpeg", ".png")]
    for sub in ("", "images", "train", "test", "img"):
        for n in names:
            p = os.path.join(root, sub, n)
            if os.path.isfile(p):
                return p, os.path.join(sub, n) if sub else n
    return os.path.join(root, names[0]), names[0]


def read_rows(path, bad, need_labels=True):
    out = []
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            f_ = [x.strip() for x in line.rstrip("\r\n").split(",")]
            if lineno == 1 and f_[0].lower() in ("image_id", "id", "image"):
                continue
            if len(f_) != 2 + len(STYLES):
                if need_labels:
                    bad(path, lineno, f"expected image_id, url and {len(STYLES)} labels ({2 + len(STYLES)} "
                                      f"columns), got {len(f_)}", "wrong column count")
                continue
            try:
                lab = np.array([int(x) for x in f_[2:]], np.float32)
            except ValueError:
                bad(path, lineno, "style labels must be 0 or 1", "bad value")
                continue
            if not np.isin(lab, (0, 1)).all():
                bad(path, lineno, "style labels must be 0 or 1", "unknown label")
                continue
            out.append((lineno, f_[0], lab))
    return out


def read_folds(path, bad):
    folds = {}
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            f_ = [x.strip() for x in line.split(",")]
            if len(f_) != 2:
                bad(path, lineno, f"expected 'fold,filename', got {line.strip()!r}", "wrong column count")
                continue
            try:
                k = int(f_[0])
            except ValueError:
                if lineno == 1:
                    continue  # header
                bad(path, lineno, f"fold {f_[0]!r} is not an integer", "bad value")
                continue
            stem = os.path.splitext(os.path.basename(f_[1]))[0]
            folds[stem] = (k, f_[1])
    return folds


def convert(args):
    bad = BadRows(args.on_bad_row)
    root = args.root
    p_train = find_file(root, ["train.txt"], what="train.txt")
    p_folds = args.folds or find_file(root, ["folds.csv", "kfold.csv", "folds.txt", "train_folds.csv"], False)
    rows = read_rows(p_train, bad)
    folds = read_folds(p_folds, bad) if p_folds else None
    splits = {}
    for lineno, image_id, lab in rows:
        fn = None
        split = "train"
        if folds is not None:
            if image_id not in folds:
                bad(p_train, lineno, f"image {image_id} is in no fold of {p_folds}", "unassigned")
                continue
            k, fn = folds[image_id]
            split = "val" if k == args.fold else "train"
        path, rel = _image(root, image_id, fn)
        splits.setdefault(split, []).append(Record(rel, path, 0, {"styles": lab}, None, None, p_train, lineno))
    p_test = find_file(root, ["test.txt"], False)
    if p_test:
        for lineno, image_id, lab in read_rows(p_test, bad, need_labels=False):
            path, rel = _image(root, image_id)
            splits.setdefault("test", []).append(Record(rel, path, 0, {"styles": lab}, None, None, p_test, lineno))
    meta = common_meta(args, "JD AI Fashion Challenge style recognition")
    meta["label"] = {"name": "none", "note": "the Datum label is 0; styles are in styles_lmdb"}
    meta["fold"] = args.fold if folds is not None else None
    meta["folds"] = sorted({k for k, _ in folds.values()}) if folds else None
    companions = {"styles": {"K": len(STYLES), "names": STYLES, "encoding": {"positive": 1, "negative": 0}}}
    for split, recs in sorted(splits.items()):
        write_split(args.out, split, recs, companions, meta, args, bad)
    finish(bad)


def main(argv=None):
    ap = base_parser("python -m data_prep.jd_style", __doc__.splitlines()[0])
    ap.add_argument("--fold", type=int, default=0, help="the validation fold (the others are train)")
    ap.add_argument("--folds", default="", help="k-fold file (default: folds.csv / kfold.csv in the root)")
    return run_main(convert, argv, ap)


if __name__ == "__main__":
    sys.exit(main())
