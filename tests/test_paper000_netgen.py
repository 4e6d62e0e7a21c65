"""Paper 000 nets build with the shapes the paper describes (the committed files = the generator's
output is checked for every paper in tests/test_papers.py)."""
import os

import numpy as np
import pytest

import fashioncaffe as caffe
from tools.paper000 import config, netgen
from tools.repro.layout import slug

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("variant", ["multilabel", "multitask"])
def test_deploy_tiny_runs_and_has_group_outputs(variant):
    path = os.path.join(ROOT, netgen.file_paths("tiny", "all", variant)["deploy"])
    net = caffe.Net(path, caffe.TEST)
    groups = netgen.catalogue_groups("all")
    net.blobs["data"].data[...] = np.random.RandomState(0).randn(*net.blobs["data"].shape)
    out = net.forward()
    if variant == "multilabel":
        assert out["prob"].shape == (1, sum(m for _, m in groups))
    else:
        for g, m in groups:
            assert out["prob_" + slug(g)].shape == (1, m)
    assert net.blobs["fc7"].data.shape == (1, config.SCALES["tiny"]["fc"])


def test_full_deploy_is_alexnet():
    """The paper's layer sizes: conv1 96×55×55, conv2 256 (5×5×48: group 2), conv4 384 (3×3×192),
    conv5 256, fc6/fc7 4096, 227 crop (Caffe's AlexNet arithmetic for the paper's "224")."""
    path = os.path.join(ROOT, netgen.file_paths("full", "all", "multitask")["deploy"])
    net = caffe.Net(path, caffe.TEST)
    assert net.blobs["data"].data.shape == (1, 3, 227, 227)
    assert net.blobs["conv1"].data.shape == (1, 96, 55, 55)
    assert net.params["conv2"][0].data.shape == (256, 48, 5, 5)
    assert net.params["conv4"][0].data.shape == (384, 192, 3, 3)
    assert net.params["conv5"][0].data.shape == (256, 192, 3, 3)
    assert net.blobs["pool5"].data.shape == (1, 256, 6, 6)
    assert net.params["fc6"][0].data.shape == (4096, 9216)
    assert net.blobs["fc7"].data.shape == (1, 4096)


def test_lr_mults_and_gamma_params():
    from fashioncaffe.prototxt import read_net_param

    tv = read_net_param(os.path.join(ROOT, netgen.file_paths("tiny", "all", "ratio13")["train_val"]))
    by = {l.name: l for l in tv.layer}
    r = config.TASK_LR_RATIO
    assert [p.lr_mult for p in by["conv1"].param] == [1, 2]
    assert [p.lr_mult for p in by["fc8_color"].param] == [r, 2 * r]
    assert '"smoothed"' in by["loss"].python_param.param_str and list(by["loss"].loss_weight) == [1]
    assert len(by["loss"].bottom) == 24
    assert by["loss_color"].python_param.layer == "WeightedSigmoidCrossEntropyLoss"
    assert not by["loss_color"].loss_weight  # enters the objective only through the gamma layer
    ml = read_net_param(os.path.join(ROOT, netgen.file_paths("tiny", "all", "multilabel")["train_val"]))
    assert [l.name for l in ml.layer if l.type == "Python"] == ["loss"]


def test_solvers_keep_paper_iteration_ratio():
    for scale in config.SCALES:
        it = config.SCALES[scale]["iters"]
        assert it["multitask"] == it["multiweight"] == it["ratio13"]
        assert it["multilabel"] * 45 == it["multitask"] * 20
    assert config.SCALES["full"]["iters"] == {"multilabel": 20000, "multitask": 45000, "multiweight": 45000,
                                              "ratio13": 45000}
    assert config.SCALES["full"]["batch"] == 256
