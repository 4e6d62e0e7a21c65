"""Data side of the paper-004 reproduction: a Shopping100k-style CSV → the converter → the LMDBs the
nets read, with the part boxes stored beside the images.

    python -m tools.paper004.data --data synthetic|<Shopping100k-style root> --scale tiny [--seed 0]

1. Source: ``synthetic`` is the wardrobe of the scale (``runs/wardrobe/<scale>``, shared with the
   other papers; generated when missing) -- its ``Shopping100k/`` folder; a real root holds the CSV
   the converter reads (``data_prep/shopping100k.py``).
2. Splits (``p004/partition.csv``): the source's train / test partition when it has one (the
   wardrobe's, 80 / 20), else a seeded 80 / 20 of the images (the paper: "we use 80 % of the dataset
   to train"); ``VAL_FRACTION`` of the training images are held out as ``val`` (model selection);
   the test images are split into ``query`` (2 / 21) and ``gallery`` (19 / 21), the paper's 2,000 /
   19,000.  All seeded.
3. The converter writes encoded images resized to S × S with the ``attributes`` companion (one value
   index per group, −1 missing) into ``conv/<split>/``.
4. This adapter writes ``p004/<split>/``: ``images_lmdb`` and ``attributes_lmdb`` (training split
   re-keyed ``%08d_<image>`` in a seeded shuffled order -- Caffe's Data layer reads in key order) and
   ``parts_lmdb``: float_data Datums with the same keys, ``[case, gate × 6, (x1, y1, x2, y2) × 6]``
   (tools/paper004/parts.py: the part boxes extracted from the stored image, normalised to [0, 1];
   the "Extract Parts?" case from the category -- lower body -- and the extraction).  Plus
   ``p004/mean.binaryproto`` (the training mean) and ``p004/stats.json`` (groups, values, special /
   general attributes, counts, case counts, part-extraction IoU on synthetic data).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np

from . import config, parts


def _run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def source_root(data, scale, seed=0, workers=None, root="."):
    """The Shopping100k-style folder of a data source (generating the synthetic wardrobe if needed)."""
    if data in ("", "synthetic"):
        from data_prep import wardrobe

        w = wardrobe.ensure(os.path.join(root, wardrobe.default_dir(config.data_scale(scale), seed)),
                            config.data_scale(scale), seed, workers=workers)
        if not os.path.isfile(os.path.join(w, "_truth", "shopping_parts.csv")):
            raise SystemExit(f"{w}: this wardrobe predates paper 004's Shopping100k product catalogue (no "
                             "_truth/shopping_parts.csv); remove the folder and run again to regenerate it.")
        return os.path.join(w, "Shopping100k")
    if not os.path.isdir(data):
        raise SystemExit(f"--data {data}: not a folder (expected 'synthetic' or a Shopping100k-style root)")
    return data


def _uniform(tag, seed):
    """A seeded uniform number in [0, 1) from a string (stable across runs and machines)."""
    h = hashlib.sha1(f"p004:{seed}:{tag}".encode()).digest()
    return int.from_bytes(h[:8], "little") / 2.0 ** 64


def assign_splits(images, source_split, seed=0):
    """{image: train | val | query | gallery}: the source's train / test (or a seeded 80 / 20), then
    VAL_FRACTION of train → val and QUERY_FRACTION of test → query (seeded, per image)."""
    out = {}
    for img in images:
        s = source_split.get(img)
        if s is None:
            s = "train" if _uniform("split:" + img, seed) < 0.8 else "test"
        if s in ("val", "query", "gallery"):
            out[img] = s
        elif s == "train":
            out[img] = "val" if _uniform("val:" + img, seed) < config.VAL_FRACTION else "train"
        else:
            out[img] = "query" if _uniform("query:" + img, seed) < config.QUERY_FRACTION else "gallery"
    return out


def _read_csv_images(root):
    from data_prep.common import find_file

    p = find_file(root, ["shopping100k.csv", "attributes.csv", "labels.csv"], what="attribute CSV")
    with open(p, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return p, [r[0].strip() for r in rows[1:] if r and r[0].strip()]


def _read_partition(root):
    p = os.path.join(root, "partition.csv")
    if not os.path.isfile(p):
        return {}
    with open(p, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.reader(f) if len(r) == 2]
    return {r[0].strip(): r[1].strip() for r in rows if r[1].strip().lower() != "split"}


def convert(src, droot, cfg, seed=0, workers=None):
    """Partition + converter run into ``<droot>/conv`` (skipped when done)."""
    conv = os.path.join(droot, "conv")
    if os.path.exists(os.path.join(conv, ".done")):
        return conv
    csv_path, images = _read_csv_images(src)
    splits = assign_splits(images, _read_partition(src), seed)
    os.makedirs(droot, exist_ok=True)
    part = os.path.join(droot, "partition.csv")
    with open(part, "w", encoding="utf-8", newline="") as f:
        f.write("image,split\n" + "".join(f"{k},{v}\n" for k, v in splits.items()))
    cmd = [sys.executable, "-m", "data_prep.shopping100k", "--root", src, "--out", conv, "--csv", csv_path,
           "--partition", part, "--resize", str(cfg["size"]), "--encoded", "--overwrite", "--no-progress"]
    if workers:
        cmd += ["--workers", str(workers)]
    _run(cmd)
    open(os.path.join(conv, ".done"), "w").close()
    return conv


def _extract_row(args):
    value, lower = args
    from fashioncaffe.formats.lmdb_datum import datum_to_array, parse_datum

    img = datum_to_array(parse_datum(value), color=True, hwc=True)
    ex = parts.extract_parts(img)
    h, w = img.shape[:2]
    return parts.part_vector(parts.case_of(ex, lower), ex.boxes, w, h), ex.sleeves


def adapt_split(src, dst, order, lower_of, workers=None, progress=True):
    """Re-key a converter split in ``order`` and write its parts LMDB; returns (names, case counts)."""
    import multiprocessing as mp

    from tqdm import tqdm

    from fashioncaffe.formats.lmdb_datum import DatumReader, DatumWriter, float_datum, make_key

    ri = DatumReader(os.path.join(src, "images_lmdb"))
    ra = DatumReader(os.path.join(src, "attributes_lmdb"))
    keys = ri.keys
    names = [k.decode("utf-8").split("_", 1)[1] for k in keys]
    order = list(range(len(keys))) if order is None else list(order)
    os.makedirs(dst, exist_ok=True)
    wi = DatumWriter(os.path.join(dst, "images_lmdb"), overwrite=True)
    wa = DatumWriter(os.path.join(dst, "attributes_lmdb"), overwrite=True)
    wp = DatumWriter(os.path.join(dst, "parts_lmdb"), overwrite=True)
    jobs = [(ri.get_bytes(keys[i]), lower_of(np.asarray(ra.get(keys[i]).float_data))) for i in order]
    pool = mp.get_context("fork").Pool(workers) if workers and workers > 1 else None
    rows = pool.imap(_extract_row, jobs, chunksize=16) if pool else map(_extract_row, jobs)
    cases = np.zeros(3, int)
    try:
        for n, (i, (vec, _)) in enumerate(tqdm(zip(order, rows), total=len(order), desc=os.path.basename(dst),
                                               unit="img", disable=None if progress else True)):
            key = make_key(n, names[i])
            wi.put(key, ri.get_bytes(keys[i]))
            wa.put(key, ra.get_bytes(keys[i]))
            wp.put(key, float_datum(vec))
            cases[int(vec[0])] += 1
    finally:
        if pool:
            pool.close()
            pool.join()
        for w in (wi, wa, wp):
            w.close()
    return [names[i] for i in order], cases


def lower_body_test(meta):
    """fn(attribute row) -> True for a lower-body garment, from the category group (missing: False)."""
    groups = meta["groups"]
    if "category" not in groups:
        return lambda row: False
    j = groups.index("category")
    lower = {k for k, v in enumerate(meta["values"]["category"]) if v.lower() in config.LOWER_BODY}
    return lambda row: int(row[j]) in lower


def prepare(data="synthetic", scale="tiny", seed=0, special="paper", workers=None, root=".", progress=True):
    """Everything of steps 1-4 (skipped when ``p004/.done`` exists); returns the data root.

    The framework calls it as ``prepare(exp)`` (an Experiment: its data source, scale and workers into
    ``exp.data_dir``; ``--force`` adapts again); tools and the web app as ``prepare(data, scale, ...)``."""
    if hasattr(data, "data_dir"):
        exp = data
        done = os.path.join(exp.data_dir, "p004", ".done")
        if exp.force and os.path.exists(done):
            os.remove(done)
        droot = prepare(exp.data, exp.scale, workers=exp.workers)
        if os.path.normpath(droot) != os.path.normpath(exp.data_dir):
            raise SystemExit(f"paper 004 data went to {droot}, the framework expects {exp.data_dir}")
        return droot
    cfg = config.SCALES[scale]
    droot = os.path.join(root, config.data_root(data, scale))
    p = os.path.join(droot, "p004")
    if os.path.exists(os.path.join(p, ".done")):
        return droot
    src = source_root(data, scale, seed, workers, root)
    conv = convert(src, droot, cfg, seed, workers)
    meta = json.load(open(os.path.join(conv, "train", "meta.json"), encoding="utf-8"))
    lower = lower_body_test(meta)
    os.makedirs(p, exist_ok=True)
    counts, case_counts = {}, {}
    for split in ("train", "val", "query", "gallery"):
        s_dir = os.path.join(conv, split)
        if not os.path.isdir(s_dir):
            raise SystemExit(f"{s_dir}: the converter wrote no '{split}' split (too few images?)")
        n = json.load(open(os.path.join(s_dir, "meta.json")))["count"]
        order = np.random.RandomState(seed + 4).permutation(n) if split == "train" else None
        names, cases = adapt_split(s_dir, os.path.join(p, split), order, lower, workers, progress)
        counts[split] = len(names)
        case_counts[split] = {parts.CASES[k]: int(v) for k, v in enumerate(cases)}
    shutil.copyfile(os.path.join(conv, "train", "mean.binaryproto"), os.path.join(p, "mean.binaryproto"))
    spec_names = config.special_set(special)
    stats = dict(groups=meta["groups"], values=meta["values"], kinds=meta.get("kinds"),
                 special_set=special, special=[g for g in meta["groups"] if g in spec_names],
                 general=[g for g in meta["groups"] if g not in spec_names],
                 sizes={g: len(meta["values"][g]) for g in meta["groups"]}, counts=counts,
                 extract_parts_cases=case_counts, size=cfg["size"], seed=seed, source=os.path.abspath(src),
                 synthetic=bool(meta.get("synthetic", data in ("", "synthetic"))),
                 parts=list(parts.PARTS), part_row=parts.ROW_SIZE)
    if data in ("", "synthetic"):
        iou = parts.measure(os.path.dirname(src), progress=progress)
        stats["part_extraction_vs_truth"] = {k: v for k, v in iou.items() if k != "per_image"}
    with open(os.path.join(p, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    open(os.path.join(p, ".done"), "w").close()
    print(f"wrote {p}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return droot


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--scale", default="tiny", choices=list(config.SCALES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--special", default="paper", choices=list(config.SPECIAL_SETS))
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args(argv)
    prepare(a.data, a.scale, a.seed, a.special, a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
