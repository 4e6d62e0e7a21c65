"""Paper 001's predictions: trained FashionNet variants on the three benchmarks (Table 2, Fig. 8, 9, 10).

Models: category / attributes / landmarks use the last step-2 weights (trained on C&A); the
retrievals use the fine-tuned (``ft``) weights.  Images are read from the converters' test LMDBs
and preprocessed as the training nets' transform_param (mean of the C&A training set, scale; no
crop, no mirror).  Retrieval ranks the gallery by cosine similarity of L2-normalised fc7_fusion.

predictions.npz tasks (metrics in :mod:`tools.paper001.metrics`):

    category    ids (C&A test keys), labels (category), scores (N × 50 fc8_category)
    attributes  ids, labels (N × A: 1 / 0 / −1), scores (N × A fc8_attributes; −inf for the attributes
                the variant was not trained on), types (A attribute types)
    landmarks   ids, labels (N × 16 ground-truth x, y in [0, 1]), visible (N × 8), scores (N × 16
                fc8_landmarks), visible_prob (N × 8 p(visible))             -- nets with a pose branch
    inshop      ids (queries), labels (query item ids), ranked (Q × 50 gallery indices, nearest first),
                gallery_ids, gallery_labels (gallery item ids)
    c2s         the same for consumer-to-shop (absent for fn_gtlm without ground-truth landmarks there)
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import config, metrics
from ..repro import forward

KMAX = 50


def load_split(d, size):
    """{"ids", "images" (N, 3, S, S) uint8 BGR, "labels", and the companions landmarks / attributes / item}."""
    ids, images, labels = forward.image_rows(os.path.join(d, "images_lmdb"), size)
    out = {"ids": ids, "images": images, "labels": labels}
    for name in ("landmarks", "attributes", "item"):
        p = os.path.join(d, f"{name}_lmdb")
        if os.path.isdir(p):
            out[name] = forward.float_rows(p)[1]
    return out


def preprocess(images, mean, scale):
    return (images.astype(np.float32) - mean[None]) * scale


def gt_landmarks(lm24, size):
    vis = lm24[:, :8] == 0
    xy = lm24[:, 8:].reshape(-1, 8, 2) / float(size)
    xy[~vis] = 0
    return xy.reshape(-1, 16), vis.astype(np.float32)


def _inputs(split, mean, cfg, gt):
    """The deploy net's inputs for a split; None when fn_gtlm needs landmarks the split lacks."""
    x = {"data": preprocess(split["images"], mean, cfg["input_scale"])}
    if gt:
        if "landmarks" not in split:
            return None
        x["lm_gt"], x["vis_gt"] = gt_landmarks(split["landmarks"], cfg["size"])
    return x


def _retrieval(net, conv, query, gallery, mean, cfg, gt):
    q, g = load_split(os.path.join(conv, query), cfg["size"]), load_split(os.path.join(conv, gallery), cfg["size"])
    xq, xg = _inputs(q, mean, cfg, gt), _inputs(g, mean, cfg, gt)
    if xq is None or xg is None:
        return None
    fq = forward.forward_arrays(net, xq, ("fc7_fusion",))["fc7_fusion"]
    fg = forward.forward_arrays(net, xg, ("fc7_fusion",))["fc7_fusion"]
    return {"ids": q["ids"], "labels": q["labels"], "ranked": metrics.retrieval_ranked(fq, fg, KMAX).astype(np.int32),
            "gallery_ids": g["ids"], "gallery_labels": g["labels"]}


def predict(exp, run):
    import fashioncaffe as caffe
    from fashioncaffe.formats.blobproto import read_binaryproto

    cfg, variant = exp.cfg, run.variant
    S = cfg["size"]
    with open(os.path.join(exp.data_dir, "p001", "stats.json")) as f:
        stats = json.load(f)
    mean = read_binaryproto(os.path.join(exp.data_dir, "p001", "mean.binaryproto")).reshape(3, S, S)
    deploy = run.training["info"]["deploy"]
    conv = os.path.join(exp.data_dir, "conv")
    gt = variant == "fn_gtlm"
    sub = stats["subsets"][variant]
    forward.use_device(exp)

    # --- category, attributes, landmarks (C&A test, the last step-2 model)
    rounds = 1 if variant == "global" else cfg["rounds"]
    net = caffe.Net(deploy, caffe.TEST, weights=run.weights(f"step2_r{rounds}"))
    test = load_split(os.path.join(conv, "cat", "test"), S)
    out = forward.forward_arrays(net, _inputs(test, mean, cfg, gt),
                                 ("fc8_category", "fc8_attributes", "fc8_landmarks", "vis_prob"))
    scores = np.full_like(out["fc8_attributes"], -np.inf)
    scores[:, sub] = out["fc8_attributes"][:, sub]
    tasks = {"category": {"ids": test["ids"], "labels": test["labels"], "scores": out["fc8_category"]},
             "attributes": {"ids": test["ids"], "labels": test["attributes"], "scores": scores,
                            "types": np.asarray(stats["attribute_types"])}}
    if "fc8_landmarks" in out:
        xy, vis = gt_landmarks(test["landmarks"], S)
        tasks["landmarks"] = {"ids": test["ids"], "labels": xy, "visible": vis, "scores": out["fc8_landmarks"],
                              "visible_prob": out["vis_prob"][:, 0, :]}

    # --- retrieval (the fine-tuned model)
    net = caffe.Net(deploy, caffe.TEST, weights=run.weights("ft_r1"))
    for key, query, gallery in (("inshop", "inshop/query", "inshop/gallery"),
                                ("c2s", "c2s/test_consumer", "c2s/test_shop")):
        t = _retrieval(net, conv, query, gallery, mean, cfg, gt)
        if t is not None:
            tasks[key] = t
    info = {"title": config.VARIANT_TITLES[variant], "attributes_trained": len(sub), "attributes_total": stats["A"]}
    return tasks, info
