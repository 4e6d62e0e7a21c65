"""The frozen encoder of paper 002 when no pretrained weights exist: a narrow EfficientNet trained on
the wardrobe's training split on DeepFashion's *attribute* task, never on the categories.

The paper encodes images with an ImageNet-pretrained EfficientNet-b5 held fixed.  ImageNet weights
cannot be downloaded here, so the embedded default pre-trains the encoder itself, on the training
split only, on a task other than the one the heads learn:

**Task: the C&A attribute labels** (multi-label; texture, fabric, shape, part and style attributes,
``attributes_lmdb`` of data_prep.deepfashion_category; unknown labels ignored), with a weighted
sigmoid cross-entropy (layers.weighted_sigmoid_ce; w⁺ = (P+N)/2P, w⁻ = (P+N)/2N from the training
counts, clipped to [0, 10]).  The category labels are never read.  Why this task: it is the
other annotation DeepFashion ships, so the encoder learns garment appearance and shape as an
ImageNet encoder would, while the category decision is left to the heads.  The attributes are
related to the categories, as ImageNet's classes are (ImageNet has jersey, cardigan, miniskirt …):
on the tiny wardrobe a linear classifier on the *ground-truth* attribute vector reaches 55 %
top-1 / 78 % top-3 on the 42 categories (majority class 19 %), so they inform the category
without determining it.  ``attr_types`` restricts the task (e.g. ("texture", "fabric") for colour,
pattern and fabric only: 20 % top-1 by the same probe, near the prior -- too weak an encoder for
the heads' comparison to mean anything).

    prepare(conv_cat_dir, out_dir, seed)               # shuffled training copy + attribute weights
    net = train_net(cfg, data_dir, n_attrs)            # the pretraining NetParameter
    path = pretrain(cfg, data_dir, out_dir, seed)      # trains, returns the caffemodel
    net = encoder_net(cfg, ...)                        # the frozen encoder (features.py uses it)

``cfg`` is one of ``ENCODERS`` (or a dict like them): ``arch`` ("efficientnet" / "resnet"),
``variant`` (an EfficientNet name or ``narrow(...)`` spec; ResNet ``width`` / ``blocks``), ``size``
(network input = crop side), ``resize`` (the converter's stored side), ``input_scale``, ``batch``,
``iters``, ``base_lr``.
"""
from __future__ import annotations

import json
import os

import numpy as np

from fashioncaffe.net_spec import NetSpec, layers as L, params as P

from ..nets import efficientnet as eff, resnet

ENCODERS = {
    # narrow EfficientNet-b0-style net for 2 CPU cores: width 0.25, depth 0.5 (10 MBConv blocks),
    # 320-d features from a 2 × 2 map at 64 px
    "tiny": dict(arch="efficientnet", variant=eff.narrow(0.25, 0.5, 4), size=64, resize=72, input_scale=1 / 64.,
                 batch=32, iters=300, base_lr=2e-3),
    "small": dict(arch="efficientnet", variant=eff.narrow(0.5, 0.75, 8), size=128, resize=144, input_scale=1 / 64.,
                  batch=32, iters=3000, base_lr=2e-3),
    # the paper's encoder: b5 at 224 (7 × 7 × 2048), to be given ImageNet weights (--weights); the
    # mean / scale of torchvision-converted weights (tools/nets/README.md)
    "full": dict(arch="efficientnet", variant="b5", size=224, resize=256, mean_value=list(eff.CAFFE_MEAN_BGR),
                 input_scale=1.0, batch=32, iters=20000, base_lr=1e-3),
    # the other backbone the issue names: BVLC / He et al.'s ResNet-50 (pool5, 2048-d) for
    # ResNet-50-model.caffemodel; its per-channel ImageNet mean (the release's mean image averaged)
    "full_resnet50": dict(arch="resnet", width=1.0, size=224, resize=256, mean_value=[104.0, 117.0, 123.0],
                          input_scale=1.0, batch=32, iters=20000, base_lr=1e-3),
}
FEATURE_CUT = {"efficientnet": "avg_pool", "resnet": "pool5"}


def feature_dim(cfg):
    if cfg["arch"] == "efficientnet":
        return eff.channels(cfg["variant"])[1]
    return int(round(2048 * cfg.get("width", 1.0)))


def _encoder(n, data, cfg, frozen_bn, fillers):
    if cfg["arch"] == "efficientnet":
        return eff.efficientnet(n, data, cfg["variant"], cut="avg_pool", frozen_bn=frozen_bn, fillers=fillers)
    if cfg["arch"] == "resnet":
        return resnet.resnet(n, data, width=cfg.get("width", 1.0), blocks=cfg.get("blocks", resnet.RESNET50_BLOCKS),
                             size=cfg["size"], cut="pool5", frozen_bn=frozen_bn, fillers=fillers)
    raise ValueError(f"encoder arch must be efficientnet or resnet, got {cfg['arch']!r}")


def transform_param(cfg, mean_file=None, train=False):
    """The Data layer's transform: crop to ``size`` (random + mirror in training, centre otherwise),
    mean (file or per-channel values), scale."""
    tp = dict(crop_size=int(cfg["size"]))
    if train:
        tp["mirror"] = True
    if cfg.get("mean_value") is not None:
        tp["mean_value"] = list(cfg["mean_value"])
    elif mean_file:
        tp["mean_file"] = mean_file
    if cfg.get("input_scale", 1.0) != 1.0:
        tp["scale"] = float(cfg["input_scale"])
    return tp


# ---------------------------------------------------------------------------------------------
# data
def shuffled_copy(src, dst, seed, companions=("attributes",)):
    """Copy a converter split (``images_lmdb`` + companion LMDBs, identical keys) into ``dst`` in a
    seeded random order, re-keyed ``%08d_<name>`` so that Caffe's sequential Data layers read it
    shuffled and in lockstep.  Returns the number of records."""
    from fashioncaffe.formats.lmdb_datum import DatumReader, DatumWriter, make_key

    readers = {"images": DatumReader(os.path.join(src, "images_lmdb"))}
    for c in companions:
        readers[c] = DatumReader(os.path.join(src, f"{c}_lmdb"))
    keys = list(readers["images"].keys)
    for c in companions:
        if list(readers[c].keys) != keys:
            raise ValueError(f"{src}: {c}_lmdb's keys are not images_lmdb's")
    order = np.random.RandomState(seed).permutation(len(keys))
    os.makedirs(dst, exist_ok=True)
    for name, reader in readers.items():
        with DatumWriter(os.path.join(dst, f"{name}_lmdb"), overwrite=True) as w:
            for i, j in enumerate(order):
                w.put(make_key(i, keys[j].decode("utf-8").split("_", 1)[1]), reader.get_bytes(keys[j]))
    for r in readers.values():
        r.close()
    return len(keys)


def attribute_weights(attrs, max_weight=10.0):
    """w⁺ = (P + N) / 2P, w⁻ = (P + N) / 2N per attribute from a (N × K) matrix of 1 / 0 / −1
    (unknown), clipped to [0, max_weight]; an attribute without positives or negatives gets 0."""
    a = np.asarray(attrs)
    pos, neg = (a == 1).sum(0).astype(np.float64), (a == 0).sum(0).astype(np.float64)
    tot = pos + neg
    wp = np.where(pos > 0, tot / (2 * np.maximum(pos, 1)), 0.0)
    wn = np.where(neg > 0, tot / (2 * np.maximum(neg, 1)), 0.0)
    return np.clip(wp, 0, max_weight), np.clip(wn, 0, max_weight)


def prepare(conv_cat_dir, out_dir, seed=0, attr_types=None):
    """From the converter's C&A output (``<conv_cat_dir>/train/…``): a shuffled training copy, the
    attribute weights file and ``pretrain_data.json`` (counts, attribute names, the task).
    ``attr_types``: keep only attributes of these types (default: all).  Returns the summary."""
    from fashioncaffe.formats.lmdb_datum import DatumReader, DatumWriter, float_datum

    src = os.path.join(conv_cat_dir, "train")
    meta = json.load(open(os.path.join(src, "meta.json")))
    spec = meta["companions"].get("attributes")
    if not spec:
        raise ValueError(f"{src}: no attributes_lmdb (the pretraining task needs the C&A attribute labels)")
    names, types = spec["names"], spec["types"]
    keep = [j for j, t in enumerate(types) if attr_types is None or t in attr_types]
    if not keep:
        raise ValueError(f"no attribute of types {attr_types} (types present: {sorted(set(types))})")
    n = shuffled_copy(src, out_dir, seed)
    if len(keep) < len(names):  # rewrite the targets with the kept columns only
        path = os.path.join(out_dir, "attributes_lmdb")
        r = DatumReader(path)
        rows = [(k, np.asarray(r.get(k).float_data, np.float32)[keep]) for k in r.keys]
        r.close()
        with DatumWriter(path, overwrite=True) as w:
            for k, v in rows:
                w.put(k, float_datum(v))
    r = DatumReader(os.path.join(out_dir, "attributes_lmdb"))
    attrs = np.stack([np.asarray(r.get(k).float_data) for k in r.keys])
    r.close()
    wp, wn = attribute_weights(attrs)
    with open(os.path.join(out_dir, "attr_weights.json"), "w") as f:
        json.dump({"pos_weight": [round(float(x), 6) for x in wp], "neg_weight": [round(float(x), 6) for x in wn]}, f)
    summary = dict(task="DeepFashion C&A attribute labels (multi-label), category labels unused",
                   attributes=[names[j] for j in keep], attribute_types=sorted({types[j] for j in keep}),
                   n_attributes=len(keep), n_images=n, seed=seed, source=os.path.abspath(src),
                   mean_file=os.path.join(src, "mean.binaryproto"))
    with open(os.path.join(out_dir, "pretrain_data.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


# ---------------------------------------------------------------------------------------------
# nets
def train_net(cfg, data_dir, n_attrs, mean_file=None, name="paper002_encoder_pretrain"):
    """The pretraining NetParameter: shuffled images + attribute targets → encoder → attribute scores
    → weighted sigmoid cross-entropy (unknown attributes ignored)."""
    n = NetSpec()
    n.data = L.Data(source=os.path.join(data_dir, "images_lmdb"), backend=P.Data.LMDB, batch_size=cfg["batch"],
                    transform_param=transform_param(cfg, mean_file, train=True))
    n.attr_datum = L.Data(source=os.path.join(data_dir, "attributes_lmdb"), backend=P.Data.LMDB,
                          batch_size=cfg["batch"])
    n.attr = L.Flatten(n.attr_datum)
    feat = _encoder(n, n.data, cfg, frozen_bn=False, fillers=True)
    n.score_attr = L.InnerProduct(feat, num_output=int(n_attrs), weight_filler=dict(type="gaussian", std=0.01),
                                  bias_filler=dict(type="constant", value=0))
    n.loss_attr = L.Python(n.score_attr, n.attr, module="layers.weighted_sigmoid_ce",
                           layer="WeightedSigmoidCrossEntropyLoss", loss_weight=1,
                           param_str=json.dumps({"ignore_label": -1, "normalization": "BATCH_SIZE",
                                                 "weights_file": os.path.join(data_dir, "attr_weights.json")}))
    net = n.to_proto()
    net.name = name
    return net


def encoder_net(cfg, images_lmdb=None, batch=None, mean_file=None, name="paper002_encoder"):
    """The frozen encoder (BatchNorm on stored statistics) with its pooled features flattened to
    ``feat`` (N × D).  With ``images_lmdb``: a Data layer (centre crop, tops data + label) reads
    it in order; without: an Input ``data`` (deploy)."""
    n = NetSpec()
    b = int(batch or cfg["batch"])
    if images_lmdb:
        n.data, n.label = L.Data(ntop=2, source=images_lmdb, backend=P.Data.LMDB, batch_size=b,
                                 transform_param=transform_param(cfg, mean_file))
    else:
        n.data = L.Input(input_param=dict(shape=dict(dim=[b, 3, cfg["size"], cfg["size"]])))
    feat = _encoder(n, n.data, cfg, frozen_bn=True, fillers=False)
    n.feat = L.Flatten(feat)
    net = n.to_proto()
    net.name = name
    return net


def solver_text(cfg, net_path, prefix, seed=1, gpu=False, iters=None):
    """Adam, multistep × 0.1 at 60 % and 85 %, one snapshot at the end."""
    from google.protobuf import text_format
    from fashioncaffe.proto import caffe_pb2

    it = int(iters or cfg["iters"])
    s = caffe_pb2.SolverParameter(net=net_path, type="Adam", base_lr=cfg["base_lr"], momentum=0.9, momentum2=0.999,
                                  lr_policy="multistep", gamma=0.1, weight_decay=5e-5, max_iter=it,
                                  display=max(1, it // 20), snapshot=it, snapshot_prefix=prefix,
                                  snapshot_after_train=True, random_seed=int(seed))
    s.stepvalue.extend(sorted({max(1, int(it * 0.6)), max(1, int(it * 0.85))}))
    s.average_loss = max(1, s.display // 2)
    s.solver_mode = caffe_pb2.SolverParameter.GPU if gpu else caffe_pb2.SolverParameter.CPU
    return text_format.MessageToString(s)


def pretrain(cfg, data_dir, out_dir, seed=1, mean_file=None, iters=None, gpu=False):
    """Train the encoder on the attribute task (``prepare`` wrote ``data_dir``); returns the final
    caffemodel.  A run whose caffemodel exists is not repeated."""
    import fashioncaffe as caffe

    it = int(iters or cfg["iters"])
    prefix = os.path.join(out_dir, "encoder")
    final = f"{prefix}_iter_{it}.caffemodel"
    if os.path.exists(final):
        return final
    os.makedirs(out_dir, exist_ok=True)
    info = json.load(open(os.path.join(data_dir, "pretrain_data.json")))
    mean_file = mean_file or info["mean_file"]
    net_path = os.path.join(out_dir, "encoder_train.prototxt")
    with open(net_path, "w") as f:
        f.write(str(train_net(cfg, data_dir, info["n_attributes"], mean_file)))
    solver_path = os.path.join(out_dir, "encoder_solver.prototxt")
    with open(solver_path, "w") as f:
        f.write(solver_text(cfg, net_path, prefix, seed, gpu, it))
    if gpu:
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    solver = caffe.get_solver(solver_path)
    solver.solve()
    return final
