"""pycaffe as its users run it: what BVLC's own pycaffe tests, examples and notebooks rely on.

Each test states one point of BVLC Caffe's pycaffe behaviour (python/caffe/_caffe.cpp, pycaffe.py,
net.cpp, solver.cpp, python_layer.hpp) and checks the engine does the same.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import caffe  # the installed shim: the engine, BVLC Caffe being absent here
import fashioncaffe
from fashioncaffe.errors import FashionCaffeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NET = """name: 'testnet' force_backward: true
layer { type: 'DummyData' name: 'data' top: 'data' top: 'label'
  dummy_data_param { num: 5 channels: 2 height: 3 width: 4 num: 5 channels: 1 height: 1 width: 1
    data_filler { type: 'gaussian' std: 1 } data_filler { type: 'constant' } } }
layer { type: 'Convolution' name: 'conv' bottom: 'data' top: 'conv'
  convolution_param { num_output: 3 kernel_size: 2 pad: 1 weight_filler { type: 'gaussian' std: 1 }
    bias_filler { type: 'constant' value: 2 } } }
layer { type: 'InnerProduct' name: 'ip' bottom: 'conv' top: 'ip'
  inner_product_param { num_output: 4 weight_filler { type: 'gaussian' std: 1 } } }
layer { type: 'SoftmaxWithLoss' name: 'loss' bottom: 'ip' bottom: 'label' top: 'loss' }
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def net(tmp_path):
    n = caffe.Net(write(tmp_path, "net.prototxt", NET), caffe.TRAIN)
    n.blobs["label"].data[...] = np.arange(5).reshape(5, 1, 1, 1) % 4
    return n


def run_python(code, cwd, env_extra=None):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


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
# names pycaffe has
def test_runtime_names_answer_as_a_cpu_build():
    assert caffe.has_nccl() is False
    nccl = caffe.NCCL(None, b"")  # constructible, does nothing (a build without USE_NCCL)
    assert caffe.solver_count() == 1 and caffe.solver_rank() == 0
    caffe.set_solver_count(3)
    caffe.set_solver_rank(2)
    caffe.set_multiprocess(True)
    try:
        assert caffe.solver_count() == 3 and caffe.solver_rank() == 2
    finally:
        caffe.set_solver_count(1)
        caffe.set_solver_rank(0)
        caffe.set_multiprocess(False)
    timer = caffe.Timer()
    timer.start()
    timer.stop()
    assert timer.ms >= 0.0
    caffe.init_log()
    caffe.init_log(0)
    caffe.log("hello from pycaffe")
    assert nccl.uid == b""


def test_log_writes_a_glog_line(capfd):
    caffe.log("a line from pycaffe")
    err = capfd.readouterr().err
    assert "] a line from pycaffe" in err and err.startswith("I")


def test_clear_param_diffs_zeroes_the_array_pycaffe_holds(net):
    net.forward()
    net.backward()
    diff = net.params["conv"][0].diff
    assert np.abs(diff).max() > 0
    net.clear_param_diffs()
    assert (diff == 0).all()


def test_forward_and_backward_hooks_run_in_caffe_order(net):
    calls = []
    net.before_forward(lambda i: calls.append(("bf", i)))
    net.after_forward(lambda i: calls.append(("af", i)))
    net.before_backward(lambda i: calls.append(("bb", i)))
    net.after_backward(lambda i: calls.append(("ab", i)))
    net.forward()
    net.backward()
    n = len(net.layers)
    want = [(k, i) for i in range(n) for k in ("bf", "af")] + [(k, i) for i in reversed(range(n)) for k in ("bb", "ab")]
    assert calls == want


def test_layer_blobs_grow_on_built_in_layers(net, tmp_path):
    relu_free = net.layers[list(net._layer_names).index("loss")]
    assert "loss" not in net.params
    relu_free.blobs.add_blob(2, 3)
    assert net.params["loss"][0].data.shape == (2, 3)
    net.params["loss"][0].data[...] = 7
    path = str(tmp_path / "w.caffemodel")
    net.save(path)
    from fashioncaffe.formats.model_files import iter_layer_blobs

    saved = dict(iter_layer_blobs(path))
    assert (saved["loss"][0] == 7).all()


def test_solver_lr_is_the_current_learning_rate(tmp_path):
    netf = write(tmp_path, "net.prototxt", NET)
    solverf = write(tmp_path, "solver.prototxt", f"net: '{netf}' base_lr: 0.5 lr_policy: 'step' gamma: 0.1 "
                    "stepsize: 2 max_iter: 4 snapshot_after_train: false")
    s = caffe.SGDSolver(solverf)
    assert s.lr == pytest.approx(0.5)
    s.step(2)
    assert s.lr == pytest.approx(0.05)


def test_forward_backward_all_batches_and_strips_padding(tmp_path):
    n = caffe.Net(write(tmp_path, "d.prototxt", """
        force_backward: true
        input: 'x' input_shape { dim: 2 dim: 3 }
        layer { type: 'InnerProduct' name: 'ip' bottom: 'x' top: 'y'
          inner_product_param { num_output: 2 weight_filler { type: 'gaussian' std: 1 } } }"""), caffe.TEST)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    dy = np.ones((5, 2), np.float32)
    outs, diffs = n.forward_backward_all(x=x, y=dy)
    w = n.params["ip"][0].data
    np.testing.assert_allclose(outs["y"], x @ w.T + n.params["ip"][1].data, rtol=1e-5)
    np.testing.assert_allclose(diffs["x"], dy @ w, rtol=1e-5)
    assert outs["y"].shape == (5, 2) and diffs["x"].shape == (5, 3)


# --------------------------------------------------------------------------------------------
# semantics
def test_data_arrays_stay_views_across_forward(net):
    net.forward()
    conv0 = net.blobs["conv"].data[0, 0]          # net surgery: hold the array, change a bias, forward
    before = conv0.copy()
    net.params["conv"][1].data[0] += 1.0
    net.forward(start="conv")                       # (not re-running the random data layer)
    np.testing.assert_allclose(conv0, before + 1.0, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(conv0, net.blobs["conv"].data[0, 0])


def test_diff_arrays_stay_views_across_backward(net):
    net.forward()
    net.backward()
    held = net.blobs["conv"].diff
    first = held.copy()
    net.blobs["loss"].diff[...] = 2.0              # the loss weight the loss layer reads
    net.backward()
    np.testing.assert_allclose(held, 2 * first, rtol=1e-5)


def test_backward_start_end_uses_the_diff_on_a_non_output_blob(net):
    net.forward()
    g = np.random.default_rng(1).normal(size=net.blobs["ip"].diff.shape).astype(np.float32)
    net.blobs["ip"].diff[...] = g                  # 'ip' feeds the loss: not a net output
    conv_params = net.params["conv"][0].diff.copy()
    out = net.backward(start="ip", end="ip")
    assert set(out) == {"conv"}
    w = net.params["ip"][0].data
    np.testing.assert_allclose(net.blobs["conv"].diff.reshape(5, -1), g @ w, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(net.params["conv"][0].diff, conv_params)  # conv did not run


def test_backward_reads_a_user_diff_on_a_loss_top(net):
    net.forward()
    net.backward()
    one = net.blobs["ip"].diff.copy()
    assert net.blobs["loss"].diff == 1.0           # Caffe's SetLossWeights
    net.blobs["loss"].diff[...] = 3.0
    net.backward()
    np.testing.assert_allclose(net.blobs["ip"].diff, 3 * one, rtol=1e-5)


def test_param_diffs_accumulate_and_blob_diffs_are_replaced(net):
    net.forward()
    net.backward()
    p1, b1 = net.params["ip"][0].diff.copy(), net.blobs["conv"].diff.copy()
    net.backward()
    np.testing.assert_allclose(net.params["ip"][0].diff, 2 * p1, rtol=1e-5)
    np.testing.assert_allclose(net.blobs["conv"].diff, b1, rtol=1e-6)


def test_backward_without_forward_uses_the_blobs(tmp_path):
    n = caffe.Net(write(tmp_path, "s.prototxt", """
        force_backward: true
        input: 'x' input_shape { dim: 2 dim: 3 }
        layer { type: 'Power' name: 'sq' bottom: 'x' top: 'y' power_param { power: 2 } }"""), caffe.TEST)
    n.blobs["x"].data[...] = 3.0
    n.blobs["y"].diff[...] = 1.0
    n.backward()
    np.testing.assert_allclose(n.blobs["x"].diff, 6.0)


def test_deploy_net_without_force_backward_back_propagates_nothing(tmp_path):
    text = """input: 'x' input_shape { dim: 2 dim: 3 }
        layer { type: 'InnerProduct' name: 'ip' bottom: 'x' top: 'y'
          inner_product_param { num_output: 2 weight_filler { type: 'gaussian' std: 1 } } }"""
    n = caffe.Net(write(tmp_path, "d.prototxt", text), caffe.TEST)
    n.forward(x=np.ones((2, 3), np.float32))
    n.backward(y=np.ones((2, 2), np.float32))
    assert (n.blobs["x"].diff == 0).all() and (n.params["ip"][0].diff == 0).all()  # nothing under a loss
    n = caffe.Net(write(tmp_path, "f.prototxt", "force_backward: true\n" + text), caffe.TEST)
    n.forward(x=np.ones((2, 3), np.float32))
    n.backward(y=np.ones((2, 2), np.float32))
    np.testing.assert_allclose(n.blobs["x"].diff, np.ones((2, 2)) @ n.params["ip"][0].data, rtol=1e-6)


def test_forward_backward_keyword_checks_raise_as_pycaffe(net, tmp_path):
    n = caffe.Net(write(tmp_path, "d.prototxt", "input: 'x' input_shape { dim: 2 dim: 3 }\n"
                        "layer { type: 'ReLU' name: 'r' bottom: 'x' top: 'y' }"), caffe.TEST)
    with pytest.raises(Exception, match="do not match net inputs"):
        n.forward(y=np.ones((2, 3)))
    with pytest.raises(Exception, match="batch size"):
        n.forward(x=np.ones((3, 3)))
    with pytest.raises(Exception, match="do not match net outputs"):
        n.backward(x=np.ones((2, 3)))


@pytest.mark.parametrize("kind", ["SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"])
def test_after_a_step_param_diffs_hold_the_update(tmp_path, kind):
    netf = write(tmp_path, "net.prototxt", NET.replace("bias_filler { type: 'constant' value: 2 } } }",
                                                       "bias_filler { type: 'constant' value: 2 } } "
                                                       "param { lr_mult: 0 } param { lr_mult: 1 } }"))
    extra = {"SGD": "momentum: 0.9", "Nesterov": "momentum: 0.9", "AdaGrad": "", "RMSProp": "rms_decay: 0.9",
             "AdaDelta": "momentum: 0.9 delta: 1e-6", "Adam": "momentum: 0.9 momentum2: 0.999"}[kind]
    solverf = write(tmp_path, "solver.prototxt", f"net: '{netf}' type: '{kind}' base_lr: 0.1 lr_policy: 'fixed' "
                    f"weight_decay: 0.01 {extra} max_iter: 3 snapshot_after_train: false")
    s = caffe.get_solver(solverf)
    held = s.net.params["ip"][0].diff             # a diff array held across steps stays the diff
    for _ in range(2):
        before = {k: [b.data.copy() for b in v] for k, v in s.net.params.items()}
        s.step(1)
        np.testing.assert_allclose(s.net.params["ip"][0].diff, before["ip"][0] - s.net.params["ip"][0].data,
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(held, s.net.params["ip"][0].diff)
        assert (s.net.params["conv"][0].diff == 0).all()   # frozen (lr_mult 0): Caffe leaves zero
        np.testing.assert_array_equal(s.net.params["conv"][0].data, before["conv"][0])


def test_apply_update_uses_the_diff_set_from_python(tmp_path):
    netf = write(tmp_path, "net.prototxt", NET)
    s = caffe.SGDSolver(write(tmp_path, "s.prototxt", f"net: '{netf}' base_lr: 0.01 lr_policy: 'fixed' "
                              "momentum: 0.9 max_iter: 1"))
    w = s.net.layers[1].blobs[0]
    w.data[...] = 0
    w.diff[...] = 1
    s.apply_update()
    np.testing.assert_allclose(w.data, -0.01, rtol=1e-6)


def test_pycaffe_solver_ignores_solver_mode(tmp_path):
    netf = write(tmp_path, "net.prototxt", NET)
    s = caffe.get_solver(write(tmp_path, "s.prototxt", f"net: '{netf}' base_lr: 0.01 lr_policy: 'fixed' "
                               "max_iter: 1 solver_mode: GPU device_id: 0"))
    assert s.net.device.type == "cpu" and not fashioncaffe.mode.is_gpu()  # only set_mode_gpu() selects a GPU


def test_duplicate_layer_names_are_accepted_with_a_warning(tmp_path, capfd):
    text = """force_backward: true
        input: 'x' input_shape { dim: 2 dim: 3 }
        input: 't' input_shape { dim: 2 dim: 3 }
        layer { type: 'InnerProduct' name: 'ip' bottom: 'x' top: 'y'
          inner_product_param { num_output: 3 weight_filler { type: 'gaussian' std: 1 } } }
        layer { type: 'EuclideanLoss' name: 'loss' bottom: 'y' bottom: 't' top: 'l2' }
        layer { type: 'SigmoidCrossEntropyLoss' name: 'loss' bottom: 'y' bottom: 't' top: 'ce' loss_weight: 0 }"""
    n = caffe.Net(write(tmp_path, "dup.prototxt", text), caffe.TRAIN)
    assert "both named 'loss'" in capfd.readouterr().err
    assert list(n._layer_names) == ["input", "ip", "loss", "loss"]
    assert n.layer_dict["loss"].type == "SigmoidCrossEntropyLoss"   # name-keyed views: the later layer
    out = n.forward(x=np.ones((2, 3), np.float32), t=np.zeros((2, 3), np.float32))
    assert set(out) == {"l2", "ce"}


PYLAYERS = '''
import caffe

class Raises(caffe.Layer):
    def setup(self, bottom, top):
        if self.param_str == "setup":
            raise KeyError("from setup")
    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)
    def forward(self, bottom, top):
        if self.param_str == "forward":
            raise ZeroDivisionError("from forward")
        top[0].data[...] = bottom[0].data
    def backward(self, top, propagate_down, bottom):
        raise LookupError("from backward")

class ReadsParamStrInInit(caffe.Layer):
    def __init__(self, param):
        super().__init__(param)
        self.early = self.param_str

class Phase(caffe.Layer):
    def setup(self, bottom, top):
        self.seen = (self.param_str, self.phase)
    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)
    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data
'''


def _py_net(tmp_path, layer, param_str=""):
    (tmp_path / "pylayers_sem.py").write_text(PYLAYERS)
    return write(tmp_path, f"{layer}{param_str}.prototxt", f"""
        force_backward: true
        input: 'x' input_shape {{ dim: 2 dim: 3 }}
        layer {{ type: 'Python' name: 'p' bottom: 'x' top: 'y'
          python_param {{ module: 'pylayers_sem' layer: '{layer}' param_str: '{param_str}' }} }}""")


@pytest.mark.parametrize("where,exc", [("setup", KeyError), ("forward", ZeroDivisionError),
                                       ("backward", LookupError)])
def test_python_layer_exceptions_reach_the_caller_as_themselves(tmp_path, where, exc):
    with pytest.raises(exc) as info:
        n = caffe.Net(_py_net(tmp_path, "Raises", where), caffe.TRAIN)
        n.forward()
        n.backward()
    assert type(info.value) is exc and f"from {where}" in str(info.value)
    assert any("Python layer 'p'" in note for note in getattr(info.value, "__notes__", []))


def test_python_layer_param_str_and_phase_are_set_before_setup_not_init(tmp_path):
    with pytest.raises(AttributeError, match="param_str"):      # as in BVLC: set by LayerSetUp only
        caffe.Net(_py_net(tmp_path, "ReadsParamStrInInit"), caffe.TEST)
    n = caffe.Net(_py_net(tmp_path, "Phase", "abc"), caffe.TEST)
    assert n.layers[1].seen == ("abc", caffe.TEST)


def test_python_layer_missing_module_is_an_import_error(tmp_path):
    path = write(tmp_path, "m.prototxt", """input: 'x' input_shape { dim: 1 }
        layer { type: 'Python' name: 'p' bottom: 'x' top: 'y' python_param { module: 'no_such_mod' layer: 'L' } }""")
    with pytest.raises(ImportError, match="no_such_mod"):
        caffe.Net(path, caffe.TEST)


def test_io_helpers_raise_what_pycaffe_raises(tmp_path):
    blob = caffe.proto.caffe_pb2.BlobProto()
    blob.data.extend([0.0] * 100)
    with pytest.raises(ValueError):
        caffe.io.blobproto_to_array(blob)
    with pytest.raises(ValueError):
        caffe.io.array_to_datum(np.zeros((2, 2)))
    with pytest.raises(FileNotFoundError):
        caffe.io.load_image(str(tmp_path / "missing.jpg"))
    with pytest.raises(RuntimeError):
        caffe.Net(str(tmp_path / "missing.prototxt"), caffe.TEST)
    try:
        caffe.io.blobproto_to_array(blob)
    except FashionCaffeError as e:   # still the engine's one error type, with a clear message
        assert "needs" in str(e)


def test_save_hdf5_and_load_hdf5_do_not_depend_on_the_file_name(net, tmp_path):
    import h5py

    odd = str(tmp_path / "weights.caffemodel")
    net.save_hdf5(odd)
    assert h5py.is_hdf5(odd)
    other = caffe.Net(write(tmp_path, "net.prototxt", NET), caffe.TRAIN)
    other.load_hdf5(odd)
    np.testing.assert_array_equal(other.params["ip"][0].data, net.params["ip"][0].data)
    binary = str(tmp_path / "model.h5")
    net.save(binary)                                   # pycaffe's save is always binary
    assert not h5py.is_hdf5(binary)


def test_blob_shape_is_a_tuple_as_pycaffe_code_uses_it(net):
    shape = net.blobs["data"].shape
    assert shape == (5, 2, 3, 4) and list(shape) == [5, 2, 3, 4] and shape[0] == 5
    net.blobs["data"].reshape(*shape)


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
