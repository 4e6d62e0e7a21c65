"""Data side of paper 002: C&A images → the frozen encoder → stored features the heads train on.

    python -m tools.paper002 data --scale tiny [--data <DeepFashion root>] [--weights encoder.caffemodel]

1. ``data_prep.deepfashion_category`` converts the C&A benchmark (the synthetic wardrobe's or the
   real one) with the bounding-box crop (the paper's ROIs) into encoded image LMDBs resized to the
   encoder's ``resize`` (``<data>/conv<resize>/``).
2. The encoder: ``--weights`` (a user's EfficientNet-b5 caffemodel, e.g. ImageNet weights converted
   as tools/nets/README.md says, or at full scale BVLC's ResNet-50 caffemodel, recognised by its layer
   names, which selects the ResNet-50 encoder), else the embedded
   default -- the scale's narrow encoder pretrained on the training split's **attribute** labels
   (``pretrain.py``; the categories are never read), seed :data:`config.DATA_SEED`.
3. Its pooled features of every split (TEST phase, centre crop, each image once) into HDF5
   (``features.py``) with the category, both hierarchy levels and their one-hot targets.

Everything of one encoder lives in ``<data>/encoder-<tag>/`` (``tag``: ``pretrained-<encoder>-it<N>``
or ``weights-<file name>``), so scales that share the images (ci and tiny) keep their encoders
apart: ``stats.json`` (sizes, names, the encoder and how it was obtained), ``features/<split>_h5.txt``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from . import config, features, hierarchy, pretrain
from ..repro.layout import python_env, slug

SPLITS = ("train", "val", "test")
STATS = "stats.json"


#: layers every BVLC / He et al. ResNet-50 caffemodel holds (the release's names)
RESNET50_LAYERS = ("res2a_branch1", "res5c_branch2c", "bn5c_branch2c")


def is_resnet50_weights(path):
    """True when the caffemodel at ``path`` has the BVLC ResNet-50 release's layer names."""
    from fashioncaffe.formats.weights import read_weight_source

    names = {name for name, _ in read_weight_source(path).layers}
    return all(n in names for n in RESNET50_LAYERS)


def encoder_name(exp):
    """The key of ``pretrain.ENCODERS`` the experiment uses: the scale's, except that at full scale a
    user's ResNet-50 caffemodel given with ``--weights`` selects the ResNet-50 encoder (the issue's
    second backbone; 7 × 7 × 2048 as EfficientNet-b5's) -- the file says which net it fits."""
    name = exp.cfg["encoder"]
    if exp.weights and f"{name}_resnet50" in pretrain.ENCODERS and os.path.isfile(exp.weights) \
            and is_resnet50_weights(exp.weights):
        return f"{name}_resnet50"
    return name


def encoder_cfg(exp):
    return pretrain.ENCODERS[encoder_name(exp)]


def encoder_tag(exp):
    if exp.weights:
        return "weights-" + slug(os.path.splitext(os.path.basename(exp.weights))[0])
    return f"pretrained-{exp.cfg['encoder']}-it{int(exp.cfg['encoder_iters'])}"


def encoder_dir(exp):
    """The folder of the experiment's encoder, its features and stats.json."""
    return f"{exp.data_dir}/encoder-{encoder_tag(exp)}"


def load_stats(exp):
    path = os.path.join(encoder_dir(exp), STATS)
    if not os.path.isfile(path):
        raise SystemExit(f"{path} is missing: run `python -m tools.paper002 data --scale {exp.scale}` first")
    with open(path) as f:
        return json.load(f)


def find_category_benchmark(root):
    for rel in ("DeepFashion/Category_and_Attribute", "Category_and_Attribute",
                "Category and Attribute Prediction Benchmark", "."):
        p = os.path.join(root, rel)
        if os.path.isfile(os.path.join(p, "Anno", "list_category_cloth.txt")):
            return p
    raise SystemExit(f"{root}: no DeepFashion Category and Attribute benchmark (looked for "
                     "DeepFashion/Category_and_Attribute/, Category_and_Attribute/ and "
                     "'Category and Attribute Prediction Benchmark/' holding Anno/list_category_cloth.txt)")


def convert(exp, bench, resize):
    out = f"{exp.data_dir}/conv{int(resize)}"
    if os.path.exists(os.path.join(out, ".done")) and not exp.force:
        return out
    cmd = [sys.executable, "-m", "data_prep.deepfashion_category", "--root", bench, "--out", out, "--resize",
           str(int(resize)), "--bbox-crop", "--encoded", "--overwrite", "--no-progress"]
    if exp.synthetic:
        cmd.append("--synthetic")
    if exp.workers:
        cmd += ["--workers", str(exp.workers)]
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=python_env())
    open(os.path.join(out, ".done"), "w").close()
    return out


def encoder_weights(exp, conv, out):
    """(caffemodel, description) of the frozen encoder."""
    cfg = encoder_cfg(exp)
    if exp.weights:
        if not os.path.isfile(exp.weights):
            raise SystemExit(f"--weights {exp.weights}: no such file (the encoder's caffemodel)")
        return exp.weights, f"encoder weights given with --weights ({os.path.abspath(exp.weights)})"
    pre = os.path.join(out, "pretrain_data")
    if not os.path.isfile(os.path.join(pre, "pretrain_data.json")) or exp.force:
        pretrain.prepare(conv, pre, config.DATA_SEED)
    it = int(exp.cfg["encoder_iters"])
    print(f"[paper002] pretraining the encoder ({exp.cfg['encoder']}) {it} iterations on the attributes", flush=True)
    model = pretrain.pretrain(cfg, pre, os.path.join(out, "encoder"), config.DATA_SEED, iters=it,
                              gpu=bool(exp.gpus))
    return model, (f"encoder pretrained on the wardrobe's attributes ({it} iterations, training split, "
                   "category labels unused)" if exp.synthetic else
                   f"encoder pretrained on the dataset's attributes ({it} iterations, training split, "
                   "category labels unused)")


def describe_encoder(cfg):
    if cfg["arch"] == "resnet":
        return f"ResNet-50 (width {cfg.get('width', 1.0)}), {cfg['size']} px"
    v = cfg["variant"]
    name = f"EfficientNet-{v}" if isinstance(v, str) else f"EfficientNet (width {v[0]}, depth {v[1]})"
    return f"{name}, {cfg['size']} px, {pretrain.feature_dim(cfg)}-d features"


def prepare(exp):
    from ..repro import forward

    out = encoder_dir(exp)
    if os.path.isfile(os.path.join(out, STATS)) and not exp.force:
        print(f"[paper002] {out}: features exist; not repeated", flush=True)
        return
    cfg = encoder_cfg(exp)
    bench = find_category_benchmark(exp.wardrobe() if exp.synthetic else exp.data)
    conv = convert(exp, bench, cfg["resize"])
    hier = hierarchy.for_dataset(bench)
    forward.use_device(exp)
    model, how = encoder_weights(exp, conv, out)
    mean_file = os.path.join(conv, "train", "mean.binaryproto")
    sizes, lists = {}, {}
    for split in SPLITS:
        lmdb = os.path.join(conv, split, "images_lmdb")
        if not os.path.isdir(lmdb):
            raise SystemExit(f"{conv}: no {split} split (the converter writes train / val / test)")
        net = pretrain.encoder_net(cfg, lmdb, 64, mean_file=mean_file)
        feats, labels, keys = features.extract(net, model, lmdb)
        lists[split] = features.write_split(os.path.join(out, "features"), split, feats, labels, keys, hier)
        sizes[split] = int(labels.size)
    stats = dict(feature_dim=pretrain.feature_dim(cfg), n_categories=len(hier.categories), sizes=sizes,
                 lists=lists, categories=hier.categories, levels=list(hier.levels),
                 parents={str(k): hier.parents(k) for k in hier.levels},
                 parent_of={str(k): [int(p) for p in hier.parent_of(k)] for k in hier.levels},
                 hierarchy_source=hier.source, encoder=encoder_name(exp), encoder_arch=describe_encoder(cfg),
                 encoder_size=int(cfg["size"]), encoder_resize=int(cfg["resize"]), encoder_weights=model,
                 encoder_how=how, mean_file=mean_file if cfg.get("mean_value") is None else None,
                 benchmark=os.path.abspath(bench))
    with open(os.path.join(out, STATS), "w") as f:
        json.dump(stats, f, indent=1)
    print(f"[paper002] features of {sizes} images in {out}/features ({how})", flush=True)
