"""Data side of the paper-001 reproduction: dataset → converters → the LMDBs FashionNet's nets read.

    python -m tools.paper001 data --data synthetic|<DeepFashion root> --scale tiny      (:func:`prepare`)

1. ``DATA=synthetic``: the synthetic wardrobe of the scale (``runs/wardrobe/<scale>``, shared with
   ``make wardrobe`` and paper 000; generated when missing) has DeepFashion's three benchmarks in their
   published formats; ``DATA=<path>``: a folder holding
   ``Category_and_Attribute/`` (or ``Category and Attribute Prediction Benchmark/``), ``In-shop/`` and
   ``Consumer-to-shop/`` as published.
2. The converters (``data_prep.deepfashion_category`` / ``deepfashion_inshop`` / ``consumer_to_shop``)
   write encoded image LMDBs resized to S × S + companion LMDBs (``conv/``).
3. This adapter writes what the generated prototxts read (``p001/``):

   ``cat_train/`` and ``inshop_train/``: ``images_lmdb`` (the converter's Datums, re-keyed
   ``%08d_<name>`` in training order) + ``targets_lmdb`` (float_data, same keys, K = 48 + A + 1)::

       [0:16)   x0, y0, …, x7, y7 normalised to [0, 1] of the S × S image, 0 where not visible
       [16:32)  the mask of the landmark L2 loss per coordinate: 1 visible, 0 otherwise
       [32:40)  visibility class per landmark: 0 visible, 1 invisible (occluded, truncated or absent)
       [40:48)  visibility gate: 1 visible, 0 invisible (the ground-truth input of landmark pooling)
       [48:48+A) attributes in C&A's order: 1 / 0 / −1 unknown (In-shop attributes mapped by name)
       [48+A]   item index (In-shop), −1 for C&A (no item ids in that benchmark)

   Training order: C&A train shuffled (seeded); In-shop train in **PK batches** — P items × K images
   per batch of P·K, items drawn in a seeded random order — so that the in-batch triplet sampler
   finds positives (Caffe's Data layer reads keys in order; the order written is the order trained).
   ``mean.binaryproto`` (the C&A training mean, used by every net and by evaluation) and
   ``stats.json`` (attribute names / types, positive / negative counts, per-variant attribute subsets
   and the weighted-cross-entropy weights files ``attr_weights_<variant>.json``).

w_pos / w_neg (eq. 1, "determined by the ratio of positives and negatives in the training set"):
w⁺_k = (P_k + N_k) / (2 P_k), w⁻_k = (P_k + N_k) / (2 N_k) (each class weighted to half the total),
clipped to [0, 10]; attributes outside a variant's subset get w⁺ = w⁻ = 0 (no training signal).
The subsets of the 10 % / 50 % variants are the most frequent attributes of the training set.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np

from . import config
from ..repro.layout import python_env

T_XY, T_MASK, T_VIS, T_GATE, T_ATTR = 0, 16, 32, 40, 48


def _run(cmd):
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=python_env())


def find_benchmarks(root):
    cands = {"cat": ["DeepFashion/Category_and_Attribute", "Category_and_Attribute",
                     "Category and Attribute Prediction Benchmark"],
             "inshop": ["DeepFashion/In-shop", "In-shop", "In-shop Clothes Retrieval Benchmark"],
             "c2s": ["DeepFashion/Consumer-to-shop", "Consumer-to-shop", "Consumer-to-shop Clothes Retrieval Benchmark"]}
    out = {}
    for k, names in cands.items():
        for n in names:
            if os.path.isdir(os.path.join(root, n)):
                out[k] = os.path.join(root, n)
                break
        else:
            raise SystemExit(f"{root}: no {k} benchmark folder (looked for {', '.join(names)})")
    return out


def convert(exp, droot):
    bm = find_benchmarks(exp.wardrobe() if exp.synthetic else exp.data)
    mods = {"cat": "data_prep.deepfashion_category", "inshop": "data_prep.deepfashion_inshop",
            "c2s": "data_prep.consumer_to_shop"}
    for k, mod in mods.items():
        out = os.path.join(droot, "conv", k)
        if os.path.exists(os.path.join(out, ".done")) and not exp.force:
            continue
        cmd = [sys.executable, "-m", mod, "--root", bm[k], "--out", out, "--resize", str(exp.cfg["size"]),
               "--encoded", "--overwrite", "--no-progress"]
        if exp.synthetic:
            cmd.append("--synthetic")
        if exp.workers:
            cmd += ["--workers", str(exp.workers)]
        _run(cmd)
        open(os.path.join(out, ".done"), "w").close()
    return bm


def _attr_names(path):
    """Names from a DeepFashion list_attr_cloth.txt (name = everything before the last column)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[2:]
    return [ln.rstrip().rsplit(None, 1)[0].strip() for ln in lines if ln.strip()]


def targets_vector(lm24, size, attrs, item):
    v = np.zeros(T_ATTR + len(attrs) + 1, np.float32)
    vis = lm24[:8]
    visible = vis == 0
    xy = np.asarray(lm24[8:], np.float32).reshape(8, 2) / float(size)
    xy[~visible] = 0
    v[T_XY:T_MASK] = xy.reshape(-1)
    v[T_MASK:T_VIS] = np.repeat(visible.astype(np.float32), 2)
    v[T_VIS:T_GATE] = (~visible).astype(np.float32)
    v[T_GATE:T_ATTR] = visible.astype(np.float32)
    v[T_ATTR:T_ATTR + len(attrs)] = attrs
    v[-1] = item
    return v


def _read_split(d, names=("images", "landmarks", "attributes", "item")):
    from fashioncaffe.formats.lmdb_datum import DatumReader

    out = {}
    for n in names:
        p = os.path.join(d, f"{n}_lmdb")
        if os.path.isdir(p):
            out[n] = DatumReader(p)
    return out


def _float(d):
    return np.asarray(d.float_data, np.float32)


def adapt_split(src, dst, order_fn, size, attr_map, A, with_item):
    """Re-key ``src`` (a converter split) into ``dst`` in the order given by ``order_fn(records)``."""
    from fashioncaffe.formats.lmdb_datum import DatumWriter, float_datum, make_key

    r = _read_split(src)
    keys = r["images"].keys
    recs = []
    for i, k in enumerate(keys):
        name = k.decode("utf-8").split("_", 1)[1]
        lm = _float(r["landmarks"].get(k)) if "landmarks" in r else np.concatenate([np.full(8, 3.0), np.zeros(16)])
        a_src = _float(r["attributes"].get(k)) if "attributes" in r else np.zeros(0, np.float32)
        a = np.full(A, -1.0, np.float32)
        for j_src, j in attr_map.items():
            if j_src < a_src.size:
                a[j] = a_src[j_src]
        item = float(_float(r["item"].get(k))[0]) if (with_item and "item" in r) else -1.0
        recs.append(dict(key=k, name=name, lm=lm, attrs=a, item=item))
    order = order_fn(recs)
    os.makedirs(dst, exist_ok=True)
    wi = DatumWriter(os.path.join(dst, "images_lmdb"), overwrite=True)
    wt = DatumWriter(os.path.join(dst, "targets_lmdb"), overwrite=True)
    with r["images"].env.begin(buffers=False) as txn:
        for n, i in enumerate(order):
            rec = recs[i]
            key = make_key(n, rec["name"])
            wi.put(key, txn.get(rec["key"]))
            wt.put(key, float_datum(targets_vector(rec["lm"], size, rec["attrs"], rec["item"])))
    wi.close()
    wt.close()
    return [recs[i] for i in order]


def pk_order(recs, batch, k, seed):
    """Indices in P-items × K-images batches (items with one image fill the remainders)."""
    rng = np.random.RandomState(seed)
    by_item = {}
    for i, r in enumerate(recs):
        by_item.setdefault(int(r["item"]), []).append(i)
    multi = [v for v in by_item.values() if len(v) >= 2]
    singles = [i for v in by_item.values() if len(v) < 2 for i in v]
    chunks = []
    for v in multi:
        v = [v[j] for j in rng.permutation(len(v))]
        for s in range(0, len(v), k):
            c = v[s:s + k]
            if len(c) >= 2:
                chunks.append(c)
            else:  # a leftover image joins its item's previous chunk (s > 0 here)
                chunks[-1].extend(c)
    chunks = [chunks[j] for j in rng.permutation(len(chunks))]
    order, cur = [], []
    for c in chunks:
        if len(cur) + len(c) > batch:
            order += cur + [singles.pop() for _ in range(min(batch - len(cur), len(singles)))]
            cur = []
        cur += c
    order += cur + singles
    return order


def attribute_stats(recs, A):
    a = np.stack([r["attrs"] for r in recs]) if recs else np.zeros((0, A))
    return (a == 1).sum(0).astype(int), (a == 0).sum(0).astype(int)


def weights_for(pos, neg, subset):
    tot = pos + neg
    wp = np.where(pos > 0, tot / (2.0 * np.maximum(pos, 1)), 0.0)
    wn = np.where(neg > 0, tot / (2.0 * np.maximum(neg, 1)), 0.0)
    wp, wn = np.clip(wp, 0, 10), np.clip(wn, 0, 10)
    keep = np.zeros(pos.size, bool)
    keep[subset] = True
    return np.where(keep, wp, 0.0), np.where(keep, wn, 0.0)


def prepare(exp):
    """Converters + adapter for the experiment's data source and scale (skipped when done, unless --force)."""
    cfg = exp.cfg
    seed = config.DATA_SEED
    droot = exp.data_dir
    os.makedirs(droot, exist_ok=True)
    done = os.path.join(droot, "p001", ".done")
    if os.path.exists(done) and not exp.force:
        print(f"[paper001] {droot}/p001 is up to date", flush=True)
        return droot
    bm = convert(exp, droot)
    conv = os.path.join(droot, "conv")
    p = os.path.join(droot, "p001")
    os.makedirs(p, exist_ok=True)
    meta = json.load(open(os.path.join(conv, "cat", "train", "meta.json")))
    am = meta["companions"]["attributes"]
    names, types = am["names"], am["types"]
    A = len(names)
    identity = {j: j for j in range(A)}
    rng_seed = seed + 17
    cat_recs = adapt_split(os.path.join(conv, "cat", "train"), os.path.join(p, "cat_train"),
                           lambda recs: list(np.random.RandomState(rng_seed).permutation(len(recs))),
                           cfg["size"], identity, A, False)
    # In-shop attributes: mapped to C&A's order by name (real DeepFashion's lists differ)
    is_names = None
    for cand in ("Anno/list_attr_cloth.txt", "list_attr_cloth.txt"):
        if os.path.isfile(os.path.join(bm["inshop"], cand)):
            is_names = _attr_names(os.path.join(bm["inshop"], cand))
            break
    by_name = {n: j for j, n in enumerate(names)}
    is_map = ({js: by_name[n] for js, n in enumerate(is_names) if n in by_name} if is_names else identity)
    is_recs = adapt_split(os.path.join(conv, "inshop", "train"), os.path.join(p, "inshop_train"),
                          lambda recs: pk_order(recs, cfg["ft_batch"], cfg["pk"], rng_seed),
                          cfg["size"], is_map, A, True)
    shutil.copyfile(os.path.join(conv, "cat", "train", "mean.binaryproto"), os.path.join(p, "mean.binaryproto"))
    pos, neg = attribute_stats(cat_recs, A)
    freq_order = [int(j) for j in np.argsort(-pos, kind="stable")]
    subsets = {}
    for v in config.VARIANTS:
        k = max(1, int(round(config.ATTR_FRACTION[v] * A)))
        subsets[v] = sorted(freq_order[:k])
        wp, wn = weights_for(pos, neg, subsets[v])
        with open(os.path.join(p, f"attr_weights_{v}.json"), "w") as f:
            json.dump({"pos_weight": [round(float(x), 6) for x in wp],
                       "neg_weight": [round(float(x), 6) for x in wn]}, f)
    stats = dict(attributes=names, attribute_types=types, A=A, pos=pos.tolist(), neg=neg.tolist(),
                 subsets=subsets, categories=meta["label"]["names"], size=cfg["size"],
                 synthetic=exp.synthetic, source=os.path.abspath(bm["cat"]),
                 counts={"cat_train": len(cat_recs), "inshop_train": len(is_recs),
                         "inshop_items_train": len({r["item"] for r in is_recs})},
                 mapped_inshop_attributes=len(is_map), seed=seed)
    with open(os.path.join(p, "stats.json"), "w") as f:
        json.dump(stats, f, indent=1)
    open(done, "w").close()
    print(f"wrote {p}: C&A train {len(cat_recs)}, In-shop train {len(is_recs)} (PK order), A = {A}")
    return droot
