"""End-to-end check that paper 002's pipeline learns on the synthetic wardrobe (not the driver).

    nice -n 10 python -m tools.paper002.learning [--scale tiny] [--head-iters 300] [--levels 5]

wardrobe (``runs/wardrobe/<scale>``) → C&A LMDBs (bbox crop, resized) → attribute-pretrained narrow
encoder (pretrain.py) → features of train / val / test in HDF5 (features.py) → for each hierarchy
level and variant (flat, HMCN-F, HMCN-F + MTL) the heads trained on the training features, scored
on the **validation** features every ``eval_every`` iterations.  Prints the validation top-1/3/5
accuracy (the paper's metric), macro top-3 recall and, for +MTL, the learned σ's; writes
``summary.json`` with the curves.  The test split is not scored here (the driver touches it once
per run).  Everything lands in ``--root`` (default runs/paper002/learning); finished steps are
reused.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from . import features, heads, hierarchy, netgen, pretrain

SPLITS = ("train", "val", "test")


def convert(wardrobe_root, out, resize):
    """data_prep.deepfashion_category on the wardrobe's C&A benchmark (bbox crop: the paper's ROIs)."""
    from data_prep import deepfashion_category

    if os.path.exists(os.path.join(out, ".done")):
        return out
    cat = os.path.join(wardrobe_root, "DeepFashion", "Category_and_Attribute")
    rc = deepfashion_category.main(["--root", cat, "--out", out, "--resize", str(resize), "--bbox-crop",
                                    "--encoded", "--overwrite", "--no-progress"])
    if rc:
        raise SystemExit(f"converting {cat} failed (exit status {rc})")
    open(os.path.join(out, ".done"), "w").close()
    return out


def extract_all(cfg, conv, model, hier, out_dir, batch=64):
    """Features of every split (skipped when its list file exists); returns {split: list file}."""
    lists = {}
    for split in SPLITS:
        lf = os.path.join(out_dir, f"{split}_h5.txt")
        lmdb = os.path.join(conv, split, "images_lmdb")
        if not os.path.exists(lf) and os.path.isdir(lmdb):
            net = pretrain.encoder_net(cfg, lmdb, batch, mean_file=os.path.join(conv, "train", "mean.binaryproto"))
            f, y, k = features.extract(net, model, lmdb)
            features.write_split(out_dir, split, f, y, k, hier)
        if os.path.exists(lf):
            lists[split] = lf
    return lists


def train_variant(root, variant, level, lists, dims, head_iters, eval_every, seed, tag="", **hp):
    """Train one head variant (``hp``: netgen.HEAD_DEFAULTS overrides) and score it on val."""
    name = (variant if variant == "flat" else f"{variant}_{level}") + (f"_{tag}" if tag else "")
    d = os.path.join(root, "heads", name, f"seed{seed}")
    os.makedirs(d, exist_ok=True)
    val = features.read_split(lists["val"], ["feat", "label"])
    n_val = val["label"].size
    texts = netgen.render(variant, dims["D"], dims["C"], level, lists["train"], lists["val"], val_batch=n_val,
                          val_iter=1, max_iter=head_iters, snapshot_prefix=os.path.join(d, "heads"),
                          net_path=os.path.join(d, "train_val.prototxt"), seed=seed,
                          test_interval=eval_every, **hp)
    for kind, text in texts.items():
        with open(os.path.join(d, f"{kind}.prototxt"), "w") as f:
            f.write(text)
    deploy = netgen.deploy_net(variant, dims["D"], dims["C"], level, **hp)
    curve, model = heads.train(os.path.join(d, "solver.prototxt"), deploy, val, eval_every=eval_every)
    return dict(variant=variant, level=None if variant == "flat" else level, tag=tag, hp=hp, curve=curve,
                model=model)


def run(root="runs/paper002/learning", scale="tiny", seed=1, head_iters=300, pretrain_iters=None, levels=(5,),
        variants=netgen.VARIANTS, eval_every=25, wardrobe_seed=0):
    from data_prep import wardrobe

    import fashioncaffe as caffe

    caffe.set_mode_cpu()
    caffe.set_random_seed(seed)
    cfg = pretrain.ENCODERS[scale]
    ward = wardrobe.ensure(wardrobe.default_dir(scale, wardrobe_seed), scale, wardrobe_seed, progress=False)
    conv = convert(ward, os.path.join(root, "conv"), cfg["resize"])
    pre = os.path.join(root, "pretrain_data")
    if not os.path.exists(os.path.join(pre, "pretrain_data.json")):
        pretrain.prepare(conv, pre, seed)
    model = pretrain.pretrain(cfg, pre, os.path.join(root, "encoder"), seed, iters=pretrain_iters)
    hier = hierarchy.for_dataset(os.path.join(ward, "DeepFashion", "Category_and_Attribute"))
    lists = extract_all(cfg, conv, model, hier, os.path.join(root, "features"))
    dims = dict(D=pretrain.feature_dim(cfg), C=len(hier.categories))
    runs = []
    for variant in variants:
        for level in ([None] if variant == "flat" else levels):
            runs.append(train_variant(root, variant, level, lists, dims, head_iters, eval_every, seed))
    summary = dict(scale=scale, seed=seed, synthetic=True, encoder=dict(cfg, variant=str(cfg["variant"]),
                                                                          caffemodel=model),
                   head_iters=head_iters, split_scored="val", runs=runs)
    with open(os.path.join(root, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print_table(summary)
    return summary


def print_table(summary):
    print(f"\npaper 002 learning check: synthetic wardrobe '{summary['scale']}', seed {summary['seed']}, "
          f"{summary['head_iters']} head iterations, scored on the validation split")
    print(f"{'row':<16}{'top-1':>8}{'top-3':>8}{'top-5':>8}{'macro rec@3':>13}{'best top-3 (iter)':>20}  σ (final)")
    for r in summary["runs"]:
        last = r["curve"][-1]
        best = max(r["curve"], key=lambda c: c["top3"])
        name = r["variant"] if r["level"] is None else f"{r['variant']}({r['level']})"
        sig = ""
        if "log_var" in last:
            sig = ", ".join(f"{np.exp(v / 2):.3f}" for v in last["log_var"])
        print(f"{name:<16}{100 * last['top1']:8.1f}{100 * last['top3']:8.1f}{100 * last['top5']:8.1f}"
              f"{100 * last['macro_recall_top3']:13.1f}{100 * best['top3']:13.1f} ({best['iteration']:4d})  {sig}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="runs/paper002/learning")
    ap.add_argument("--scale", default="tiny", choices=list(pretrain.ENCODERS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--head-iters", type=int, default=300)
    ap.add_argument("--pretrain-iters", type=int, default=None)
    ap.add_argument("--levels", default="5")
    ap.add_argument("--eval-every", type=int, default=25)
    a = ap.parse_args(argv)
    run(a.root, a.scale, a.seed, a.head_iters, a.pretrain_iters, tuple(int(x) for x in a.levels.split(",")),
        eval_every=a.eval_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
