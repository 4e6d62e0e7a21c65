"""pycaffe's API as BVLC's pycaffe tests, examples and notebooks use it: ``import caffe`` (the shim),
``caffe.draw``, ``caffe.coord_map``, ``Classifier``, ``Detector``, and BVLC's tools as commands.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import caffe  # the installed shim: the engine, BVLC Caffe being absent here
from pycaffe_nets import NET, ROOT, run_python, write


# --------------------------------------------------------------------------------------------
# `import caffe`
def test_plain_import_caffe_in_a_fresh_interpreter_is_the_engine(tmp_path):
    r = run_python("import caffe, caffe.io, caffe.draw, caffe.coord_map\nfrom caffe.proto import caffe_pb2\n"
                   "from caffe import layers as L, params as P\nimport fashioncaffe, sys\n"
                   "assert caffe is fashioncaffe and sys.modules['caffe.io'] is fashioncaffe.io\n"
                   "print(caffe.Net.__module__, L.Convolution.__name__, P.Pooling.MAX)", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["fashioncaffe.net", "Convolution", "0"]


def test_import_caffe_yields_to_a_built_bvlc_pycaffe_on_the_path(tmp_path):
    bvlc = tmp_path / "bvlc" / "caffe"
    bvlc.mkdir(parents=True)
    (bvlc / "__init__.py").write_text("WHO = 'bvlc'\n")
    ext = __import__("importlib.machinery").machinery.EXTENSION_SUFFIXES[0]
    (bvlc / f"_caffe{ext}").write_bytes(b"")  # the compiled extension is what marks a built pycaffe
    unbuilt = tmp_path / "unbuilt" / "caffe"
    unbuilt.mkdir(parents=True)
    (unbuilt / "__init__.py").write_text("raise ImportError('an unbuilt checkout must not be chosen')\n")
    code = "import caffe, sys; print(getattr(caffe, 'WHO', 'engine'), 'fashioncaffe' in sys.modules)"
    path = os.pathsep.join([ROOT, str(unbuilt.parent), str(bvlc.parent)])
    r = run_python(code, tmp_path, {"PYTHONPATH": path})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["bvlc", "False"]  # BVLC chosen; the engine (and its caffe.proto) never loaded
    r = run_python(code, tmp_path, {"PYTHONPATH": os.pathsep.join([ROOT, str(unbuilt.parent)])})
    assert r.stdout.split() == ["engine", "True"], r.stderr


def test_a_caffe_folder_without_init_does_not_shadow_the_engine(tmp_path):
    (tmp_path / "python" / "caffe" / "imagenet").mkdir(parents=True)  # as BVLC notebooks' caffe_root/python
    r = run_python("import sys; sys.path.insert(0, 'python')\nimport caffe; print(caffe.Net)", tmp_path)
    assert r.returncode == 0 and "fashioncaffe.net.Net" in r.stdout, r.stderr


# --------------------------------------------------------------------------------------------
# modules
def test_coord_map_crop_aligns_conv_and_deconv():
    from caffe import layers as L
    from caffe.coord_map import coord_map_from_to, crop

    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 32, 32]))
    n.conv = L.Convolution(n.data, num_output=1, kernel_size=5, pad=4)
    n.pool = L.Pooling(n.conv, kernel_size=2, stride=2)
    n.up = L.Deconvolution(n.pool, convolution_param=dict(num_output=1, kernel_size=4, stride=2))
    ax, a, b = coord_map_from_to(n.up, n.data)
    assert ax == 1 and (a == 1).all() and (b == -3).all()   # conv pad 4, k 5 (+2), pool, deconv k 4 (+1)
    n.crop = crop(n.up, n.data)
    layer = n.to_proto().layer[-1]
    assert layer.type == "Crop" and list(layer.crop_param.offset) == [3] and layer.crop_param.axis == 2
    n.ip = L.InnerProduct(n.up, num_output=2)
    with pytest.raises(RuntimeError):
        coord_map_from_to(n.ip, n.data)


def test_draw_net_renders_png_and_dot_source(tmp_path):
    from google.protobuf import text_format

    p = caffe.proto.caffe_pb2.NetParameter()
    text_format.Merge(NET, p)
    png = caffe.draw.draw_net(p, "LR")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    raw = str(tmp_path / "net.raw")
    caffe.draw.draw_net_to_file(p, raw, "TB", phase=caffe.TRAIN, display_lrm=True)
    text = open(raw).read()
    assert "digraph" in text and "(Convolution)" in text and "lr mult: 1.0, 1.0" in text


def _tiny_classifier(tmp_path):
    deploy = write(tmp_path, "deploy.prototxt", """input: 'data' input_shape { dim: 4 dim: 3 dim: 8 dim: 8 }
        layer { type: 'Convolution' name: 'c' bottom: 'data' top: 'c'
          convolution_param { num_output: 5 kernel_size: 8 weight_filler { type: 'gaussian' std: 0.1 } } }
        layer { type: 'Softmax' name: 'prob' bottom: 'c' top: 'prob' }""")
    weights = str(tmp_path / "w.caffemodel")
    caffe.Net(deploy, caffe.TEST).save(weights)
    return deploy, weights


def test_classifier_predicts_probabilities_with_oversampling(tmp_path):
    deploy, weights = _tiny_classifier(tmp_path)
    clf = caffe.Classifier(deploy, weights, image_dims=(10, 10), mean=np.zeros(3), raw_scale=255,
                           channel_swap=(2, 1, 0))
    images = [np.random.default_rng(i).random((12, 12, 3)).astype(np.float32) for i in range(3)]
    for over in (True, False):
        p = clf.predict(images, oversample=over)
        assert p.shape == ((3, 5) if over else (3, 5, 1, 1))   # ten crops averaged: flattened, as pycaffe's
        np.testing.assert_allclose(p.reshape(3, 5).sum(1), 1.0, rtol=1e-5)


def test_detector_scores_windows_with_context(tmp_path):
    import cv2

    deploy, weights = _tiny_classifier(tmp_path)
    img = str(tmp_path / "img.png")
    cv2.imwrite(img, (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8))
    det = caffe.Detector(deploy, weights, mean=np.full((3, 8, 8), 10.0), raw_scale=255, channel_swap=(2, 1, 0),
                         context_pad=2)
    windows = np.array([[0, 0, 10, 10], [5, 5, 19, 29]])
    out = det.detect_windows([(img, windows)])
    assert len(out) == 2 and out[1]["filename"] == img and out[1]["prediction"].shape == (5, 1, 1)
    assert det.crop(caffe.io.load_image(img), windows[0]).shape == (8, 8, 3)


# --------------------------------------------------------------------------------------------
# tools
def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fashioncaffe", *args], cwd=cwd, capture_output=True, text=True)


def test_extract_features_writes_datums_as_bvlc(tmp_path):
    from fashioncaffe.formats.lmdb_datum import DatumReader

    model = write(tmp_path, "f.prototxt", """layer { type: 'DummyData' name: 'd' top: 'data'
          dummy_data_param { shape { dim: 3 dim: 2 dim: 2 dim: 2 } data_filler { type: 'constant' value: 1 } } }
        layer { type: 'InnerProduct' name: 'ip' bottom: 'data' top: 'ip'
          inner_product_param { num_output: 4 weight_filler { type: 'constant' value: 0.5 } } }""")
    weights = str(tmp_path / "w.caffemodel")
    caffe.Net(model, caffe.TEST).save(weights)
    r = _cli("extract_features", weights, model, "ip,data", "ip_db,data_db", "2", "lmdb", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    reader = DatumReader(str(tmp_path / "ip_db"))
    keys = [k for k, _ in reader]
    assert keys[:2] == [b"0000000000", b"0000000001"] and len(keys) == 6
    d = reader.get(b"0000000005")
    assert (d.channels, d.height, d.width) == (4, 1, 1) and list(d.float_data) == [4.0] * 4
    assert not d.HasField("label")
    reader.close()


def test_upgrade_tools_rewrite_legacy_files(tmp_path):
    v1 = write(tmp_path, "v1.prototxt", """name: 'old' input: 'data' input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
        layers { name: 'c' type: CONVOLUTION bottom: 'data' top: 'c' convolution_param { num_output: 2 kernel_size: 3 } }""")
    assert _cli("upgrade_net_proto_text", v1, "v2.prototxt", cwd=tmp_path).returncode == 0
    up = (tmp_path / "v2.prototxt").read_text()
    assert 'type: "Convolution"' in up and "layers {" not in up and 'type: "Input"' in up
    p = caffe.proto.caffe_pb2.NetParameter()
    from google.protobuf import text_format

    text_format.Merge(open(v1).read(), p)
    (tmp_path / "v1.caffemodel").write_bytes(p.SerializeToString())
    assert _cli("upgrade_net_proto_binary", "v1.caffemodel", "v2.caffemodel", cwd=tmp_path).returncode == 0
    q = caffe.proto.caffe_pb2.NetParameter()
    q.ParseFromString((tmp_path / "v2.caffemodel").read_bytes())
    assert [lp.type for lp in q.layer] == ["Input", "Convolution"] and not len(q.layers)
    write(tmp_path, "old_solver.prototxt", "net: 'x.prototxt' base_lr: 0.1 solver_type: ADAM")
    assert _cli("upgrade_solver_proto_text", "old_solver.prototxt", "new.prototxt", cwd=tmp_path).returncode == 0
    new = (tmp_path / "new.prototxt").read_text()
    assert 'type: "Adam"' in new and "solver_type" not in new


def test_draw_net_tool(tmp_path):
    netf = write(tmp_path, "net.prototxt", NET)
    r = _cli("draw_net", netf, "net.png", "--rankdir", "TB", "--phase", "TRAIN", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "net.png").read_bytes()[:4] == b"\x89PNG"
