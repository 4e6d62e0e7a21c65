"""Data side of the paper-000 reproduction: an adapter around ``data_prep.eclothing``.

``python -m tools.paper000 data`` (:func:`prepare`) runs, per dataset the variants need:

    write_lists(ECL, LISTS)                                        the converter's inputs
    python -m data_prep.eclothing --root ECL --list LISTS/<dataset>/labels.txt \\
                                  --catalog LISTS/<dataset>/catalog.json --out CONV/<dataset> --resize N
    finalize(CONV/<dataset>, DDIR)                                 the nets' layout + stats.json

``ECL`` is the wardrobe's ``eClothing/`` folder (``--data synthetic``) or the given folder.
Step 1 (``write_lists``) reads an e-Clothing-style folder as the synthetic wardrobe writes it (and as a
real e-Clothing export would be laid out):

    labels.txt          <image>\\t<keyword>;<keyword>;...[\\t<split>]
    partition.txt       <image>\\t<split>            (optional; else the split column, else 73/27 by hash)
    keyword_groups.txt  <keyword>\\t<group>          (or catalog.json {group: [keywords]} /
                                                     catalog.txt <group>\\t<keyword>)
    ratio_coat_pantsuit.txt, ratio_sleevelength_sleeve.txt
                        Tables IV/V's 10:1 subsets in labels.txt's format (optional: built here
                        from labels.txt when absent: every image labelled in group A, and
                        |A| / 10 of the images labelled in group B, per split)

and writes, per dataset (``all``, ``coat_pantsuit``, ``lengthofsleeve_sleeve``), the converter's
inputs: ``catalog.json`` (the dataset's groups only, catalogue order) and ``labels.txt`` with the
split as third column, the training rows shuffled (seeded; Caffe's Data layer reads in key order, so
the order written is the training order, as ``convert_imageset --shuffle``).

Why an adapter: ``data_prep.eclothing`` reads its catalogue as ``<group>\\t<keyword>`` and the split
from the list's third column, while the wardrobe writes ``<keyword>\\t<group>`` and a separate
partition.txt; and the 10:1 subsets need a catalogue restricted to two groups.

Step 3 (``finalize``) makes the layout the generated prototxts read (``DDIR`` =
``runs/paper000/data/<data>-<scale>/p000[_<dataset>]``, :func:`dataset_dir`):

    {train,test}_images_lmdb  -> the converter's <split>/images_lmdb           (symlinks)
    {train,test}_labels_lmdb  -> the converter's <split>/keywords_lmdb         (symlinks)
    mean.binaryproto          -> the converter's train/mean.binaryproto
    stats.json                groups, labels per group, label names, per-group counts of annotated
                              training images (the gamma-task layer's "proportion" input), test counts

Label encoding (the converter's ``keywords`` companion, which is exactly what the nets need): K
labels, group by group in catalogue order; 1 = keyword given, 0 = not given, −1 for every label
of a group the image has no keyword in (missing; ignored by the loss).  ``finalize`` checks it.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys

import numpy as np

from . import config
from ..repro.layout import python_env

RATIO_FILES = {"coat_pantsuit": "ratio_coat_pantsuit.txt", "lengthofsleeve_sleeve": "ratio_sleevelength_sleeve.txt"}


# ----------------------------------------------------------------------------------------------
# step 1: lists
def _tab_pairs(path):
    """(first, second) column of every non-empty, non-comment line of a two-column TSV."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                a, b = line.rstrip("\r\n").split("\t")
                yield a.strip(), b.strip()


def read_catalogue(ecl):
    """{group: [keywords]} in catalogue order, from keyword_groups.txt / catalog.json / catalog.txt."""
    cat = {}
    p = os.path.join(ecl, "keyword_groups.txt")
    if os.path.isfile(p):
        for kw, g in _tab_pairs(p):
            cat.setdefault(g, []).append(kw)
        return cat
    p = os.path.join(ecl, "catalog.json")
    if os.path.isfile(p):
        with open(p, encoding="utf-8") as f:
            return {g: list(v) for g, v in json.load(f).items()}
    p = os.path.join(ecl, "catalog.txt")
    if os.path.isfile(p):
        for g, kw in _tab_pairs(p):
            cat.setdefault(g, []).append(kw)
        return cat
    raise SystemExit(f"{ecl}: no keyword catalogue (keyword_groups.txt, catalog.json or catalog.txt)")


def _hash_split(name, test_fraction=0.27):
    h = int(hashlib.md5(name.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def read_rows(path, partition):
    """[(image, [keywords], split)] of a labels.txt-style file."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            img = parts[0].strip()
            kws = [k.strip() for k in (parts[1] if len(parts) > 1 else "").split(";") if k.strip()]
            split = parts[2].strip() if len(parts) > 2 else partition.get(img) or _hash_split(img)
            rows.append((img, kws, split))
    return rows


def ratio_rows(rows, cat, group_a, group_b, ratio=10.0, seed=0):
    """Every image labelled in group_a (its group_a keywords), and |A| / ratio images labelled in
    group_b (their group_b keywords), per split; other groups dropped."""
    ka, kb = set(cat[group_a]), set(cat[group_b])
    rng = random.Random(seed)
    out = {}
    for split in sorted({r[2] for r in rows}):
        part = [r for r in rows if r[2] == split]
        a = [i for i, r in enumerate(part) if ka & set(r[1])]
        b = [i for i, r in enumerate(part) if kb & set(r[1])]
        nb = min(len(b), max(1, int(len(a) // ratio))) if b else 0
        b = set(rng.sample(b, nb))
        a = set(a)
        for i, r in enumerate(part):
            kws = [k for k in r[1] if k in ka] if i in a else []
            if i in b:
                kws += [k for k in r[1] if k in kb]
            if kws:
                out.setdefault(split, []).append((r[0], kws, split))
    return [r for s in sorted(out) for r in out[s]]


def write_lists(ecl, out, seed=0):
    cat = read_catalogue(ecl)
    partition = {}
    p = os.path.join(ecl, "partition.txt")
    if os.path.isfile(p):
        with open(p, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    img, split = line.rstrip("\r\n").split("\t")[:2]
                    partition[img.strip()] = split.strip()
    rows = read_rows(os.path.join(ecl, "labels.txt"), partition)
    written = {}
    for dataset, spec in config.DATASETS.items():
        groups = spec["groups"] or list(cat)
        missing = [g for g in groups if g not in cat]
        if missing:
            print(f"note: {ecl} has no group(s) {', '.join(missing)}; dataset '{dataset}' skipped", file=sys.stderr)
            continue
        sub = {g: cat[g] for g in groups}
        if spec["groups"]:
            rf = os.path.join(ecl, RATIO_FILES[dataset])
            if os.path.isfile(rf):
                drows = read_rows(rf, partition)
            else:
                drows = ratio_rows(rows, cat, groups[0], groups[1], spec["ratio"], seed)
        else:
            drows = rows
        train = [r for r in drows if r[2] == "train"]
        rest = [r for r in drows if r[2] != "train"]
        random.Random(seed).shuffle(train)
        d = os.path.join(out, dataset)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "catalog.json"), "w", encoding="utf-8") as f:
            json.dump(sub, f, indent=1, ensure_ascii=False)
        with open(os.path.join(d, "labels.txt"), "w", encoding="utf-8") as f:
            for img, kws, split in train + rest:
                f.write(f"{img}\t{';'.join(kws)}\t{split}\n")
        written[dataset] = len(drows)
    return written


# ----------------------------------------------------------------------------------------------
# step 3: finalize
def read_labels(lmdb_path):
    """(keys, N × K float32 array) of a float_data label LMDB, in key order."""
    from fashioncaffe.formats.lmdb_datum import DatumReader

    r = DatumReader(lmdb_path)
    keys, rows = [], []
    for k, d in r:
        keys.append(k)
        rows.append(np.asarray(d.float_data, dtype=np.float32))
    r.close()
    return keys, np.stack(rows)


def group_slices(sizes):
    out, a = [], 0
    for m in sizes:
        out.append(slice(a, a + m))
        a += m
    return out


def check_encoding(y, sizes, where):
    for gi, sl in enumerate(group_slices(sizes)):
        block = y[:, sl]
        missing = (block == -1).all(1)
        partial = (block == -1).any(1) & ~missing
        if partial.any():
            raise SystemExit(f"{where}: group {gi} is partly -1 on {int(partial.sum())} image(s); "
                             "expected -1 for all of a missing group's labels")
        ok = np.isin(block[~missing], (0.0, 1.0)).all()
        if not ok:
            raise SystemExit(f"{where}: labels other than 0/1 in annotated group {gi}")


def _link(src, dst):
    if os.path.islink(dst) or os.path.exists(dst):
        if os.path.islink(dst):
            os.remove(dst)
        else:
            raise SystemExit(f"{dst} exists and is not a symlink; remove it first")
    os.symlink(os.path.relpath(src, os.path.dirname(os.path.abspath(dst))), dst)


def finalize(conv, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(conv, "train", "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    comp = meta["companions"]["keywords"]
    groups = list(meta["groups"])
    sizes = [len(meta["catalog"][g]) for g in groups]
    if sum(sizes) != comp["K"]:
        raise SystemExit(f"{conv}: catalogue sizes {sum(sizes)} != K {comp['K']}")
    stats = {"groups": groups, "group_sizes": sizes, "label_names": comp["names"],
             "encoding": "per group multi-hot (1 given, 0 not given), -1 on every label of a missing group"}
    for split in ("train", "test"):
        d = os.path.join(conv, split)
        if not os.path.isdir(d):
            raise SystemExit(f"{conv}: no '{split}' split")
        _link(os.path.join(d, "images_lmdb"), os.path.join(out, f"{split}_images_lmdb"))
        _link(os.path.join(d, "keywords_lmdb"), os.path.join(out, f"{split}_labels_lmdb"))
        keys, y = read_labels(os.path.join(d, "keywords_lmdb"))
        check_encoding(y, sizes, os.path.join(d, "keywords_lmdb"))
        annotated = [int((y[:, sl] != -1).all(1).sum()) for sl in group_slices(sizes)]
        if split == "train":
            stats["counts"] = annotated
            n_max = max(annotated) or 1
            stats["proportions"] = [round(c / n_max, 6) for c in annotated]
            stats["n_train"] = len(keys)
        else:
            stats["test_counts"] = annotated
            stats["n_test"] = len(keys)
    mean = os.path.join(conv, "train", "mean.binaryproto")
    if not os.path.isfile(mean):
        raise SystemExit(f"{mean} missing: run the converter with --resize so that it writes the mean")
    _link(mean, os.path.join(out, "mean.binaryproto"))
    stats["source"] = {"converter_output": os.path.abspath(conv), "synthetic": meta.get("synthetic"),
                       "resize": meta.get("images", {}).get("resize")}
    with open(os.path.join(out, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=1, ensure_ascii=False)
    return stats


def load_stats(ddir):
    with open(os.path.join(ddir, "stats.json"), encoding="utf-8") as f:
        return json.load(f)


# ----------------------------------------------------------------------------------------------
def dataset_dir(exp, dataset):
    """The nets' data folder of a dataset ("all", "coat_pantsuit", ...) in the experiment's data."""
    return f"{exp.data_dir}/p000" + ("" if dataset == "all" else f"_{dataset}")


def prepare(exp):
    """Lists -> data_prep.eclothing LMDBs -> the nets' layout, for the datasets of the experiment's
    variants that are not done yet (all of them again with ``--force``)."""
    ecl = os.path.join(exp.wardrobe(), "eClothing") if exp.synthetic else exp.data
    datasets = [d for d in config.DATASETS if any(config.split_variant(v)[0] == d for v in exp.variants)]
    todo = [d for d in datasets
            if exp.force or not os.path.isfile(os.path.join(dataset_dir(exp, d), "stats.json"))]
    if not todo:
        return
    lists = os.path.join(exp.data_dir, "lists")
    write_lists(ecl, lists)
    for dataset in todo:
        lst = os.path.join(lists, dataset)
        if not os.path.isfile(os.path.join(lst, "labels.txt")):
            print(f"[paper000] dataset {dataset}: not available in {ecl}; skipped", flush=True)
            continue
        conv = os.path.join(exp.data_dir, "conv", dataset)
        print(f"[paper000] converting {dataset} with data_prep.eclothing -> {conv}", flush=True)
        cmd = [sys.executable, "-m", "data_prep.eclothing", "--root", ecl, "--list", os.path.join(lst, "labels.txt"),
               "--catalog", os.path.join(lst, "catalog.json"), "--out", conv, "--resize", str(exp.cfg["resize"]),
               "--overwrite", "--no-progress"]
        if exp.workers:
            cmd += ["--workers", str(exp.workers)]
        subprocess.run(cmd, check=True, env=python_env())
        ddir = dataset_dir(exp, dataset)
        s = finalize(conv, ddir)
        print(f"[paper000] {ddir}: {s['n_train']} train / {s['n_test']} test images, {len(s['groups'])} groups",
              flush=True)
