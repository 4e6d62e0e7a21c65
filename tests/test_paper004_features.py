"""Paper 004's feature sources: a deploy net's signatures and attribute probabilities are the same
through the engine and through its ONNX export run by onnxruntime (the web app's path), with the part
boxes extracted on the fly (proposed) and the manipulation input (AMNet); the export's metadata is
enough to build the ONNX source."""
import os
import sys

import numpy as np
import pytest
import torch

import fashioncaffe as caffe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.paper004 import amnet, config, netgen  # noqa: E402
from tools.paper004.features import EngineFeatures, OnnxFeatures, export_model, onnx_info  # noqa: E402

SPEC = netgen.AttrSpec.wardrobe()
TINY = config.SCALES["tiny"]


def _images(n, seed=0):
    from data_prep.wardrobe.render import render_shot
    from data_prep.wardrobe.shopping import make_products, product_shot

    prods, _ = make_products(seed, n)
    return [render_shot(product_shot(p, j, 128))[0] for j, p in enumerate(prods)]


@pytest.mark.parametrize("variant", ["proposed", "amnet", "classic"])
def test_engine_and_onnx_sources_agree(tmp_path, variant):
    from fashioncaffe.formats.blobproto import write_binaryproto
    from fashioncaffe.onnx.testing import fill_random

    deploy = tmp_path / "deploy.prototxt"
    deploy.write_text(str(netgen.deploy_net(TINY, SPEC, variant, "t")))
    torch.manual_seed(0)
    net = caffe.Net(str(deploy), caffe.TEST)
    fill_random(net, seed=2)
    weights = tmp_path / "w.caffemodel"
    net.save(str(weights))
    s = TINY["size"]
    mean = tmp_path / "mean.binaryproto"
    write_binaryproto(str(mean), np.full((1, 3, s, s), 200.0, np.float32), legacy_4d=True)
    stats = {"groups": SPEC.groups, "special": SPEC.special, "values": {g: [str(i) for i in range(SPEC.sizes[g])]
                                                                          for g in SPEC.groups}}
    model = export_model(str(deploy), str(weights), tmp_path / "m.onnx", variant, stats, s, TINY["input_scale"])
    assert onnx_info(model)["special"] == SPEC.special and onnx_info(model)["variant"] == variant
    eng = EngineFeatures.from_files(str(deploy), str(weights), str(mean), s, TINY["input_scale"], variant, SPEC.groups,
                                    SPEC.special, batch=3)
    ort = OnnxFeatures.from_model(model, str(mean), batch=4)
    imgs = _images(5)
    manip = None
    if variant == "amnet":
        manip = np.stack([amnet.indicator(SPEC, [("color", i % 3, 5)]) for i in range(5)])
    a, b = eng.extract(imgs, manip), ort.extract(imgs, manip)
    assert set(a.signatures) == set(b.signatures) and set(a.probs) == set(SPEC.groups)
    for k in a.signatures:
        assert a.signatures[k].shape[0] == 5 and np.abs(a.signatures[k]).sum() > 0
        np.testing.assert_allclose(b.signatures[k], a.signatures[k], rtol=1e-4, atol=1e-5)
    for g in a.probs:
        np.testing.assert_allclose(b.probs[g], a.probs[g], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a.probs[g].sum(1), 1.0, rtol=1e-5)
    if variant == "amnet":
        with pytest.raises(ValueError, match="manipulation"):
            eng.extract(imgs)
    else:
        with pytest.raises(ValueError, match="no manipulation"):
            eng.extract(imgs, np.zeros((5, 3)))
