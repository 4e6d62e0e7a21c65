"""Evaluate trained FashionNet variants on the three benchmarks (Table 2, Fig. 8, 9, 10).

    python -m tools.paper001.evaluate --scale tiny [--data synthetic] [--variants ...] [--gpu 0] [--parts cat]

Models: category / attributes / landmarks use the last step-2 weights (trained on C&A); the
retrievals use the fine-tuned (``ft``) weights.  Images are read from the converters' test LMDBs
and preprocessed as the training nets' transform_param (mean of the C&A training set, scale; no
crop, no mirror).  Features for retrieval: fc7_fusion, L2-normalised (cosine distance).
Writes ``<run>/<variant>/results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from . import config, metrics
from .train import run_dir

THRESHOLDS = [round(0.01 * i, 2) for i in range(0, 21)]


def load_split(d, size):
    """images (N, 3, S, S) uint8 BGR, landmarks (N, 24) or None, attributes or None, item ids or None, labels."""
    from fashioncaffe.formats.lmdb_datum import DatumReader, datum_to_array

    imgs, labels = [], []
    r = DatumReader(os.path.join(d, "images_lmdb"))
    for k, dat in r:
        a = datum_to_array(dat, color=True)
        if a.shape[1:] != (size, size):
            raise SystemExit(f"{d}: image {k!r} is {a.shape}, expected {size}x{size} (converter --resize)")
        imgs.append(a)
        labels.append(dat.label)
    out = {"images": np.stack(imgs), "labels": np.asarray(labels)}
    for name in ("landmarks", "attributes", "item"):
        p = os.path.join(d, f"{name}_lmdb")
        if os.path.isdir(p):
            out[name] = float_rows(p)
    return out


def float_rows(lmdb_dir):
    """(N, D) float32 of a companion LMDB's Datum float_data (landmarks, attributes, item ids)."""
    from fashioncaffe.formats.lmdb_datum import DatumReader

    return np.stack([np.asarray(dat.float_data, np.float32) for _, dat in DatumReader(lmdb_dir)])


def preprocess(images, mean, scale):
    return (images.astype(np.float32) - mean[None]) * scale


def gt_landmarks(lm24, size):
    vis = lm24[:, :8] == 0
    xy = lm24[:, 8:].reshape(-1, 8, 2) / float(size)
    xy[~vis] = 0
    return xy.reshape(-1, 16), vis.astype(np.float32)


def run_net(net, x, extra=None, blobs=("fc8_category", "fc8_attributes", "fc7_fusion", "fc8_landmarks", "vis_prob"),
            batch=50):
    outs = {b: [] for b in blobs if b in net.blobs}
    n = len(x)
    for s in range(0, n, batch):
        xb = x[s:s + batch]
        m = len(xb)
        net.blobs["data"].reshape(m, *x.shape[1:])
        net.blobs["data"].data[...] = xb
        for name, arr in (extra or {}).items():
            net.blobs[name].reshape(m, *arr.shape[1:])
            net.blobs[name].data[...] = arr[s:s + batch]
        net.reshape()
        net.forward()
        for b in outs:
            outs[b].append(np.array(net.blobs[b].data, copy=True))
    return {b: np.concatenate(v) for b, v in outs.items()}


def evaluate_variant(data, scale, seed, variant, gpus=(), root=".", retrieval=True):
    """Evaluate one trained variant into its results.json.  ``retrieval=False`` re-scores only the C&A
    part (category, attributes, landmarks: about a tenth of the time) and keeps the in-shop /
    consumer-to-shop results of the existing results.json."""
    import fashioncaffe as caffe
    from fashioncaffe.formats.blobproto import read_binaryproto

    if gpus:
        caffe.set_device(gpus[0])
        caffe.set_mode_gpu()
    cfg = config.SCALES[scale]
    S = cfg["size"]
    droot = os.path.join(root, config.data_root(data, scale))
    stats = json.load(open(os.path.join(droot, "p001", "stats.json")))
    mean = read_binaryproto(os.path.join(droot, "p001", "mean.binaryproto")).reshape(3, S, S)
    rd = run_dir(data, scale, seed, variant, root)
    info = json.load(open(os.path.join(rd, "models.json")))
    deploy = os.path.join(root, info["deploy"])
    conv = os.path.join(droot, "conv")
    gt = variant == "fn_gtlm"
    sub = stats["subsets"][variant]
    res = {"variant": variant, "title": config.VARIANT_TITLES[variant], "scale": scale, "seed": seed,
           "data": config.data_tag(data), "synthetic": stats.get("synthetic", data in ("", "synthetic")),
           "arch": cfg["arch"], "attributes_trained": len(sub), "attributes_total": stats["A"],
           "train_seconds": info.get("train_seconds")}

    def extras(split):
        if not gt:
            return None
        if "landmarks" not in split:
            return False
        xy, vis = gt_landmarks(split["landmarks"], S)
        return {"lm_gt": xy, "vis_gt": vis}

    # --- category, attributes, landmarks (C&A test, step-2 model)
    net = caffe.Net(deploy, caffe.TEST, weights=os.path.join(root, info["models"]["cat"]))
    test = load_split(os.path.join(conv, "cat", "test"), S)
    out = run_net(net, preprocess(test["images"], mean, cfg["input_scale"]), extras(test))
    res["n_test_images"] = int(len(test["labels"]))
    per_item = {}  # outcomes per test image / query, for paired comparisons between variants (report.claims)
    for k in (3, 5):
        per_item[f"category_top{k}"] = metrics.topk_hits(out["fc8_category"], test["labels"], k)
    res["category"] = {f"top{k}": float(per_item[f"category_top{k}"].mean()) for k in (3, 5)}
    dep = metrics.input_dependence(out["fc8_category"])
    res["collapse"] = {"input_dependence": dep, "distinct_top1": int(len(np.unique(out["fc8_category"].argmax(1)))),
                       "collapsed": bool(dep < metrics.COLLAPSE_THRESHOLD)}
    sc = np.full_like(out["fc8_attributes"], -np.inf)
    sc[:, sub] = out["fc8_attributes"][:, sub]
    types = stats["attribute_types"]
    attr = {}
    for k in (3, 5):
        attr[f"all_top{k}"] = metrics.attribute_recall(sc, test["attributes"], k)
        for t in metrics.ATTR_TYPES:
            cols = [j for j, tt in enumerate(types) if tt == t]
            attr[f"{t}_top{k}"] = metrics.attribute_recall(sc, test["attributes"], k, cols)
    attr["mean_auc"] = metrics.attribute_auc(sc, test["attributes"])
    res["attributes"] = attr
    per_item["attributes_all_top3_hits"], per_item["attributes_all_top3_positives"] = \
        metrics.attribute_hits(sc, test["attributes"], 3)
    if "fc8_landmarks" in out:
        xy, vis = gt_landmarks(test["landmarks"], S)
        rates, counts = metrics.detection_rates(out["fc8_landmarks"], xy, vis, THRESHOLDS)
        pvis = out["vis_prob"][:, 0, :] > 0.5
        res["landmarks"] = {"thresholds": THRESHOLDS, "rates": rates, "visible_counts": counts,
                            "visibility_accuracy": float((pvis == vis.astype(bool)).mean())}
    if not retrieval:
        old_file = os.path.join(rd, "results.json")
        if not os.path.exists(old_file):
            raise SystemExit(f"{old_file}: missing; --parts cat keeps the retrieval results of an earlier full "
                             "evaluation, so run one first (without --parts)")
        old = json.load(open(old_file))
        res.update({k: old[k] for k in ("inshop", "c2s") if k in old})
        per_item.update({k: v for k, v in (old.get("per_item") or {}).items() if k.startswith(("inshop_", "c2s_"))})
        return _write(rd, res, per_item)
    # --- retrieval (fine-tuned model)
    net = caffe.Net(deploy, caffe.TEST, weights=os.path.join(root, info["models"]["retrieval"]))
    q = load_split(os.path.join(conv, "inshop", "query"), S)
    g = load_split(os.path.join(conv, "inshop", "gallery"), S)
    fq = run_net(net, preprocess(q["images"], mean, cfg["input_scale"]), extras(q), blobs=("fc7_fusion",))
    fg = run_net(net, preprocess(g["images"], mean, cfg["input_scale"]), extras(g), blobs=("fc7_fusion",))
    first, kmax = metrics.retrieval_first_hit(fq["fc7_fusion"], q["labels"], fg["fc7_fusion"], g["labels"])
    per_item["inshop_first_hit"] = first
    res["inshop"] = {"topk": metrics.topk_from_first_hit(first, kmax),
                     "n_query": int(len(q["labels"])), "n_gallery": int(len(g["labels"]))}
    cq_dir, cg_dir = os.path.join(conv, "c2s", "test_consumer"), os.path.join(conv, "c2s", "test_shop")
    cq, cg = load_split(cq_dir, S), load_split(cg_dir, S)
    eq, eg = extras(cq), extras(cg)
    if eq is False or eg is False:
        res["c2s"] = {"topk": None, "note": "no ground-truth landmarks in the consumer-to-shop LMDBs"}
    else:
        fq = run_net(net, preprocess(cq["images"], mean, cfg["input_scale"]), eq, blobs=("fc7_fusion",))
        fg = run_net(net, preprocess(cg["images"], mean, cfg["input_scale"]), eg, blobs=("fc7_fusion",))
        first, kmax = metrics.retrieval_first_hit(fq["fc7_fusion"], cq["labels"], fg["fc7_fusion"], cg["labels"])
        per_item["c2s_first_hit"] = first
        res["c2s"] = {"topk": metrics.topk_from_first_hit(first, kmax),
                      "n_query": int(len(cq["labels"])), "n_gallery": int(len(cg["labels"]))}
    return _write(rd, res, per_item)


def _write(rd, res, per_item):
    res["per_item"] = {k: np.asarray(v).astype(int).tolist() for k, v in per_item.items()}
    tmp = os.path.join(rd, "results.json.tmp")
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, os.path.join(rd, "results.json"))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="tiny", choices=list(config.SCALES))
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--variants", default="", help="comma-separated (default: the scale's variants)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gpu", default="")
    ap.add_argument("--parts", default="all", choices=["all", "cat"],
                    help="cat: re-score category / attributes / landmarks only, keep the retrieval results")
    a = ap.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    gpus = [int(x) for x in a.gpu.split(",") if x.strip()]
    for seed in ([a.seed] if a.seed else config.SCALES[a.scale]["seeds"]):
        for v in [x for x in (a.variants or ",".join(config.scale_variants(a.scale))).split(",") if x]:
            r = evaluate_variant(a.data, a.scale, seed, v, gpus, retrieval=a.parts == "all")
            print(f"{v}: category top3 {r['category']['top3']:.3f}, attributes all top3 "
                  f"{r['attributes']['all_top3']:.3f} (mean AUC {r['attributes']['mean_auc']:.3f}), in-shop top20 "
                  f"{r['inshop']['topk'][19]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
