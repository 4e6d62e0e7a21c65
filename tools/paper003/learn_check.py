"""Does one style's binary classifier learn?  A CPU check of paper 003's pieces end to end, before the
full driver: wardrobe JD labels → JD converter → StyleData (resampling, augmentation) → a narrow backbone
→ weighted sigmoid loss → threshold searched on validation → F2 on the held-out test split, beside
the all-positive baseline (recall 1, precision = the style's share: F2 = 5p / (4p + 1)) and the ROC AUC.

    python -m tools.paper003.learn_check --out runs/paper003_learn_check [--style 3] [--iters 300]
    python -m tools.paper003.learn_check --out runs/p003_attr --attributes      # pre-training: AUC per attribute

The wardrobe comes from ``runs/wardrobe/<size>`` (generated when missing).  Writes ``result.json`` and
``predictions.npz`` (ids = row numbers, val/test scores and labels, the threshold) in ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from . import data, metrics, netgen, paper
from .predict import predict


def all_positive_f2(labels):
    p = float(np.mean(labels))
    return 5 * p / (4 * p + 1) if p > 0 else float("nan")


def run(out, style=3, iters=300, backbone="densenet121", variant="narrow/8", size=72, crop=64, batch=16,
        base_lr=0.05, seed=1, wardrobe_size="tiny", workers=1, root=".", bn_fraction=0.9, augment=True):
    from data_prep import wardrobe

    import fashioncaffe as caffe
    from tools.paper001.metrics import attribute_auc

    os.makedirs(out, exist_ok=True)
    w = wardrobe.ensure(os.path.join(root, wardrobe.default_dir(wardrobe_size)), wardrobe_size, 0, workers=workers)
    jd = os.path.join(out, "jd")
    if not os.path.isfile(os.path.join(jd, "test", "meta.json")):
        data.convert_jd(os.path.join(w, "JD"), jd, size, workers=workers)
    split = {s: os.path.join(jd, s) for s in ("train", "val", "test")}
    count = {s: json.load(open(os.path.join(d, "meta.json")))["count"] for s, d in split.items()}
    mean = data.channel_mean(split["train"])
    net = netgen.style_net(backbone, variant, style, split["train"], split["val"], batch, crop, mean, 1 / 64.0,
                           test_batch=32, seed=seed, bn_fraction=bn_fraction, augment=augment)
    tv = os.path.join(out, "train_val.prototxt")
    with open(tv, "w") as f:
        f.write(netgen.net_text(net))
    solver = os.path.join(out, "solver.prototxt")
    with open(solver, "w") as f:
        f.write(netgen.solver_text(tv, os.path.join(out, "snap"), iters, base_lr, count["val"], 32,
                                   display=20, seed=seed))
    t0 = time.time()
    weights = os.path.join(out, f"snap_iter_{iters}.caffemodel")
    if not os.path.isfile(weights):
        caffe.get_solver(solver).solve()
    train_s = time.time() - t0
    val_s, val_y = predict(tv, weights, count["val"])
    test_s, test_y = predict(tv, weights, count["test"], source=split["test"])
    thr, val_f2 = metrics.best_threshold(val_s[:, 0], val_y[:, 0])
    test_f2 = float(metrics.f2_per_style(metrics.decide(test_s, [thr]), test_y)[0])
    result = {
        "style": style, "style_name": paper.STYLES[style - 1], "backbone": netgen.backbone(backbone).title(variant),
        "iterations": iters, "batch": batch, "base_lr": base_lr, "bn_moving_average_fraction": bn_fraction,
        "augment": augment, "input": f"{size} px resized, {crop} px crop", "seed": seed,
        "synthetic": True, "wardrobe": wardrobe_size, "counts": count, "train_seconds": round(train_s, 1),
        "threshold": thr, "val_f2_tuned": val_f2, "test_f2": test_f2,
        "test_all_positive_f2": all_positive_f2(test_y), "val_all_positive_f2": all_positive_f2(val_y),
        "val_auc": attribute_auc(val_s, val_y), "test_auc": attribute_auc(test_s, test_y),
        "test_share": float(test_y.mean()), "val_share": float(val_y.mean()),
    }
    np.savez(os.path.join(out, "predictions.npz"), val_scores=val_s, val_labels=val_y, test_scores=test_s,
             test_labels=test_y, threshold=np.array([thr]))
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def run_pretrain(out, iters=300, backbone="densenet121", variant="narrow/8", size=72, crop=64, batch=16,
                 base_lr=0.05, seed=1, wardrobe_size="tiny", workers=1, root=".", bn_fraction=0.9):
    """The attribute pre-training through the same path (StyleData multi-label, the 20 most balanced
    C&A attributes): ROC AUC per attribute on the validation split (0.5 = nothing learned)."""
    from data_prep import wardrobe

    import fashioncaffe as caffe
    from tools.paper001.metrics import attribute_auc

    os.makedirs(out, exist_ok=True)
    w = wardrobe.ensure(os.path.join(root, wardrobe.default_dir(wardrobe_size)), wardrobe_size, 0, workers=workers)
    cat = os.path.join(out, "cat")
    if not os.path.isfile(os.path.join(cat, "val", "attr20_lmdb", "data.mdb")):
        data.convert_attributes(os.path.join(w, "DeepFashion", "Category_and_Attribute"), cat, size, workers)
        data.write_pretrain_labels(cat)
    names = json.load(open(os.path.join(cat, "train", "meta.json")))["companions"]["attr20"]["names"]
    count = json.load(open(os.path.join(cat, "val", "meta.json")))["count"]
    net = netgen.pretrain_net(backbone, variant, os.path.join(cat, "train"), os.path.join(cat, "val"), batch, crop,
                              data.channel_mean(os.path.join(cat, "train")), 1 / 64.0, seed=seed,
                              bn_fraction=bn_fraction)
    tv = os.path.join(out, "train_val.prototxt")
    with open(tv, "w") as f:
        f.write(netgen.net_text(net))
    solver = os.path.join(out, "solver.prototxt")
    with open(solver, "w") as f:
        f.write(netgen.solver_text(tv, os.path.join(out, "snap"), iters, base_lr, count, batch, display=20,
                                   seed=seed))
    weights = os.path.join(out, f"snap_iter_{iters}.caffemodel")
    t0 = time.time()
    if not os.path.isfile(weights):
        caffe.get_solver(solver).solve()
    scores, labels = predict(tv, weights, count)
    aucs = [attribute_auc(scores[:, j:j + 1], labels[:, j:j + 1]) for j in range(scores.shape[1])]
    result = {"backbone": netgen.backbone(backbone).title(variant), "iterations": iters, "batch": batch,
              "input": f"{size} px resized, {crop} px crop", "seed": seed, "synthetic": True,
              "train_seconds": round(time.time() - t0, 1), "val_images": count,
              "val_auc": dict(zip(names, [round(a, 3) for a in aucs])), "val_mean_auc": float(np.nanmean(aucs))}
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/paper003_learn_check")
    ap.add_argument("--style", type=int, default=3)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--backbone", default="densenet121", choices=sorted(netgen.BACKBONES))
    ap.add_argument("--variant", default="narrow/8")
    ap.add_argument("--size", type=int, default=72)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bn-fraction", type=float, default=0.9, help="BatchNorm moving_average_fraction")
    ap.add_argument("--no-augment", dest="augment", action="store_false", help="no rotation, erasing, random crop")
    ap.add_argument("--attributes", action="store_true",
                    help="check the attribute pre-training (20 C&A attributes, AUC) instead of a style")
    ap.add_argument("--wardrobe", default="tiny", help="wardrobe size (runs/wardrobe/<size>)")
    a = ap.parse_args(argv)
    if a.attributes:
        print(json.dumps(run_pretrain(a.out, a.iters, a.backbone, a.variant, a.size, a.crop, a.batch, a.lr, a.seed,
                                      wardrobe_size=a.wardrobe, bn_fraction=a.bn_fraction), indent=1))
        return 0
    r = run(a.out, a.style, a.iters, a.backbone, a.variant, a.size, a.crop, a.batch, a.lr, a.seed,
            wardrobe_size=a.wardrobe, bn_fraction=a.bn_fraction, augment=a.augment)
    print(json.dumps(r, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
