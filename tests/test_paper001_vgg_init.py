"""``--weights VGG_ILSVRC_16_layers.caffemodel``: tools/paper001/vgg_init maps VGG-16 onto FashionNet.

BVLC's VGG-16 file cannot be downloaded here, so the tests write caffemodels in its format — legacy V1
``layers`` with 4-D num/channels/height/width blobs, VGG's layer names — whose shapes are those of a
FashionNet scale (tiny here; full, VGG's real shapes, in the slow test), and check every copied layer,
every kept filler and that training starts from the mapped weights."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from fashioncaffe.formats import iter_layer_blobs  # noqa: E402
from fashioncaffe.proto import caffe_pb2  # noqa: E402
from tools.paper001 import config, netgen, vgg_init  # noqa: E402

VGG_CONVS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
             "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]


def vgg16_shapes(scale):
    """VGG-16's param shapes with a FashionNet scale's widths (full: VGG-16's own)."""
    cfg = config.SCALES[scale]
    widths = [w for w, n in zip(cfg["conv"], (2, 2, 3, 3, 3)) for _ in range(n)]
    shapes, cin = {}, 3
    for name, w in zip(VGG_CONVS, widths):
        shapes[name] = [(w, cin, 3, 3), (w,)]
        cin = w
    side = cfg["size"] // 32
    shapes["fc6"] = [(cfg["fc"], cin * side * side), (cfg["fc"],)]
    shapes["fc7"] = [(cfg["fc"], cfg["fc"]), (cfg["fc"],)]
    shapes["fc8"] = [(1000, cfg["fc"]), (1000,)]
    return shapes


def write_v1_vgg(path, shapes, seed=0):
    """A VGG-16 caffemodel the way BVLC's file stores it (V1 layers, legacy 4-D blobs); returns the arrays."""
    rng = np.random.default_rng(seed)
    net = caffe_pb2.NetParameter(name="VGG_ILSVRC_16_layers")
    arrays = {}
    for name, sh in shapes.items():
        lp = net.layers.add()
        lp.name = name
        lp.type = caffe_pb2.V1LayerParameter.CONVOLUTION if name.startswith("conv") else \
            caffe_pb2.V1LayerParameter.INNER_PRODUCT
        arrays[name] = []
        for s in sh:
            a = rng.standard_normal(s).astype(np.float32)
            arrays[name].append(a)
            legacy = (1,) * (4 - len(s)) + tuple(s)
            b = lp.blobs.add()
            b.num, b.channels, b.height, b.width = legacy
            b.data.extend(a.ravel().tolist())
    with open(path, "wb") as f:
        f.write(net.SerializeToString())
    return arrays


def deploy_text(scale, variant):
    return str(netgen.deploy_net(config.SCALES[scale], variant, netgen.attribute_count(scale), "t"))


def _check_mapping(out, arrays, scale, variant):
    import fashioncaffe as caffe

    deploy = os.path.join(os.path.dirname(out), "deploy.prototxt")
    with open(deploy, "w") as f:
        f.write(deploy_text(scale, variant))
    net = caffe.Net(deploy, caffe.TEST)
    before = {k: [b.data.copy() for b in v] for k, v in net.params.items()}
    net.copy_from(out)
    expect = {name: name for name in VGG_CONVS}
    expect.update(vgg_init.FROM_VGG)
    if variant == "global":
        expect = {k: v for k, v in expect.items() if k in net.params}
    for name, vname in expect.items():
        for dst, src in zip(net.params[name], arrays[vname]):
            np.testing.assert_array_equal(dst.data, src.reshape(dst.data.shape), err_msg=f"{name} ← {vname}")
    for name in set(net.params) - set(expect):  # fc6_local, fc7_fusion, the heads: the filler's values
        for dst, old in zip(net.params[name], before[name]):
            np.testing.assert_array_equal(dst.data, old, err_msg=name)
    return expect


@pytest.mark.parametrize("variant", ["fn", "global"])
def test_v1_vgg16_maps_onto_fashionnet(tmp_path, variant):
    arrays = write_v1_vgg(str(tmp_path / "vgg.caffemodel"), vgg16_shapes("tiny"))
    assert vgg_init.is_vgg16(str(tmp_path / "vgg.caffemodel"))
    out = vgg_init.maybe_map_vgg(str(tmp_path / "vgg.caffemodel"), deploy_text("tiny", variant), str(tmp_path / "run"))
    assert out == str(tmp_path / "run" / "vgg_init.caffemodel")
    mapped = _check_mapping(out, arrays, "tiny", variant)
    assert ("conv5_pose_1" in mapped) == (variant != "global")
    # the mapped file holds VGG's layers only, so it fits any attribute count
    names = [name for name, _ in iter_layer_blobs(out)]
    assert sorted(names) == sorted(mapped)
    # a FashionNet caffemodel is not mapped again
    assert vgg_init.maybe_map_vgg(out, deploy_text("tiny", variant), str(tmp_path / "again")) == out


def test_vgg16_of_other_widths_is_refused_clearly(tmp_path):
    write_v1_vgg(str(tmp_path / "vgg.caffemodel"), vgg16_shapes("small"))
    msgs = []
    with pytest.raises(SystemExit, match="fit the full scale only"):
        vgg_init.map_vgg(str(tmp_path / "vgg.caffemodel"), deploy_text("tiny", "fn"), str(tmp_path / "o.caffemodel"),
                         log=msgs.append)
    assert any("conv1_1 → conv1_1: shapes differ" in m for m in msgs)
    assert not os.path.exists(tmp_path / "o.caffemodel")


def test_run_plan_maps_vgg_weights_per_variant(tmp_path, monkeypatch):
    """``train --weights vgg.caffemodel``: each run's plan maps VGG onto the variant's own deploy net into
    the run folder and starts its first stage from the mapped file, the later stages from the previous."""
    from tools.repro.layout import Experiment
    from tools.repro.training import PREVIOUS

    vgg = str(tmp_path / "vgg.caffemodel")
    write_v1_vgg(vgg, vgg16_shapes("tiny"))
    monkeypatch.chdir(tmp_path)
    exp = Experiment("001", "tiny", variants="fn,global", weights=vgg)
    os.makedirs(f"{exp.data_dir}/p001")
    with open(f"{exp.data_dir}/p001/stats.json", "w") as f:
        f.write('{"A": %d}' % netgen.attribute_count("tiny"))
    for v in ("fn", "global"):
        plan = netgen.run_plan(exp, v, 1)
        mapped = os.path.join(exp.run_dir(v, 1), "vgg_init.caffemodel")
        assert plan.stages[0].weights == mapped and os.path.exists(tmp_path / mapped)
        assert all(s.weights == PREVIOUS for s in plan.stages[1:])
        assert [s.name for s in plan.stages][0] == ("step2_r1" if v == "global" else "step1_r1")


@pytest.mark.slow
def test_full_scale_takes_every_vgg16_layer(tmp_path):
    """At full scale (input 224) every VGG-16 layer but fc8 fits: 13 convs, 3 pose convs, fc6 ×2, fc7."""
    arrays = write_v1_vgg(str(tmp_path / "vgg.caffemodel"), vgg16_shapes("full"))
    mapped = vgg_init.map_vgg(str(tmp_path / "vgg.caffemodel"), deploy_text("full", "fn"), str(tmp_path / "o.caffemodel"))
    assert len(mapped) == 13 + 6 and "fc8" not in mapped.values()
    _check_mapping(str(tmp_path / "o.caffemodel"), arrays, "full", "fn")
