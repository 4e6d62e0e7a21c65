"""pycaffe's semantics as its users rely on them (BVLC's python/caffe/_caffe.cpp, pycaffe.py, net.cpp,
solver.cpp, python_layer.hpp): each test states one point and checks the engine does the same.
The API surface (``import caffe``, the modules and tools) is in test_pycaffe_api.py.
"""
import numpy as np
import pytest

import caffe  # the installed shim: the engine, BVLC Caffe being absent here
import fashioncaffe
from fashioncaffe.errors import FashionCaffeError
from pycaffe_nets import NET, net, write  # noqa: F401  (net: a fixture)


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


