"""A folder holding every file README's example commands name, so the commands run as written.

``build(folder, repo_root)`` writes: ``images_dir/`` (a few small images) and ``image.jpg``, a Datum
LMDB of them with its ``mean.binaryproto``, ``train_val.prototxt`` (an LMDB Data layer with a
transform, a small conv net, SoftmaxWithLoss and Accuracy), ``solver.prototxt``, ``train.log`` (a
short training), ``W.caffemodel`` / ``weights.caffemodel`` and ``S.solverstate`` (its snapshot),
``deploy.prototxt`` (derived from the train_val), ``net.prototxt`` (the train_val with an ``fc7``
blob, for extract_features), ``old.prototxt`` (a V1-format net, for upgrade_net_proto_text), ``meta.json`` (label names, stored size, mean file),
``model.onnx`` and ``my_pycaffe_script.py``; and links ``.venv`` and ``tools`` to the checkout's, so
``.venv/bin/python tools/...`` works in it.  No tests here.
"""
from __future__ import annotations

import json
import os
import sys

import cv2
import numpy as np

LABELS = ["tee", "coat", "dress"]

TRAIN_VAL = """name: "readme_net"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        transform_param { crop_size: 28 mirror: true mean_file: "mean.binaryproto" scale: 0.015625 }
        data_param { source: "train_lmdb" batch_size: 4 backend: LMDB } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { crop_size: 28 mean_file: "mean.binaryproto" scale: 0.015625 }
        data_param { source: "train_lmdb" batch_size: 4 backend: LMDB } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: "msra" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool1" top: "fc"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "fc" bottom: "label" top: "accuracy" include { phase: TEST } }
"""

SOLVER = """net: "train_val.prototxt"
base_lr: 0.01 lr_policy: "fixed" momentum: 0.9
max_iter: 4 display: 2 test_iter: 1 test_interval: 2 test_initialization: true
snapshot: 4 snapshot_prefix: "snap" solver_mode: CPU random_seed: 1
"""

# extract_features' example names the blob fc7
FEATURE_NET = TRAIN_VAL + """layer { name: "fc7" type: "Flatten" bottom: "fc" top: "fc7" }
"""

OLD_FORMAT_NET = """name: "old_net"
input: "data" input_dim: 1 input_dim: 3 input_dim: 28 input_dim: 28
layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2
         convolution_param { num_output: 4 kernel_size: 3 } }
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
"""

PYCAFFE_SCRIPT = """import sys

import numpy as np

import caffe

net = caffe.Net("deploy.prototxt", "W.caffemodel", caffe.TEST)
net.blobs["data"].data[...] = np.zeros(net.blobs["data"].data.shape, np.float32)
print("args:", sys.argv[1:], "prob:", net.forward()["prob"].round(3).tolist())
"""


def build(folder, repo_root):
    from fashioncaffe import cli, logging_caffe
    from fashioncaffe.imageset import compute_image_mean, convert_imageset
    from fashioncaffe.onnx.deploy import derive_deploy
    from fashioncaffe.prototxt import net_to_text, parse_net_text

    folder = str(folder)
    rng = np.random.RandomState(0)
    os.makedirs(os.path.join(folder, "images_dir"), exist_ok=True)
    lines = []
    for i in range(6):
        img = rng.randint(0, 256, size=(36 + i, 40, 3)).astype(np.uint8)
        name = f"images_dir/img{i}.jpg"
        cv2.imwrite(os.path.join(folder, name), img)
        lines.append(f"{name} {i % 3}")
    cv2.imwrite(os.path.join(folder, "image.jpg"), rng.randint(0, 256, size=(50, 44, 3)).astype(np.uint8))
    with open(os.path.join(folder, "list.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    quiet = lambda m: None  # noqa: E731
    convert_imageset(folder + os.sep, os.path.join(folder, "list.txt"), os.path.join(folder, "train_lmdb"), 32, 32,
                     progress=False, workers=1, log=quiet)
    compute_image_mean(os.path.join(folder, "train_lmdb"), os.path.join(folder, "mean.binaryproto"), workers=1,
                       progress=False, log=quiet)
    for name, text in (("train_val.prototxt", TRAIN_VAL), ("solver.prototxt", SOLVER),
                       ("net.prototxt", FEATURE_NET), ("old.prototxt", OLD_FORMAT_NET),
                       ("my_pycaffe_script.py", PYCAFFE_SCRIPT)):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"dataset": "README sandbox", "label": {"name": "category", "names": LABELS},
                   "images": {"resize": 32}, "mean_file": "mean.binaryproto"}, f)
    here = os.getcwd()
    os.chdir(folder)
    logging_caffe.set_stderr(False)  # the log goes to train.log only
    try:
        assert cli.main(["train", "--solver", "solver.prototxt", "--log_file", "train.log"]) == 0
        deploy, _, _ = derive_deploy(parse_net_text(TRAIN_VAL), base_dir=folder)
        with open("deploy.prototxt", "w") as f:
            f.write(net_to_text(deploy))
        for src, dst in (("snap_iter_4.caffemodel", "W.caffemodel"), ("snap_iter_4.caffemodel", "weights.caffemodel"),
                         ("snap_iter_4.solverstate", "S.solverstate")):
            with open(src, "rb") as a, open(dst, "wb") as b:
                b.write(a.read())
        assert cli.main(["export", "--model", "train_val.prototxt", "--from-train-val", "--weights", "W.caffemodel",
                         "-o", "model.onnx", "--labels", "meta.json"]) == 0
    finally:
        logging_caffe.set_stderr(True)
        os.chdir(here)
    os.symlink(os.path.join(repo_root, "tools"), os.path.join(folder, "tools"))
    os.symlink(sys.prefix, os.path.join(folder, ".venv"))
    return folder
