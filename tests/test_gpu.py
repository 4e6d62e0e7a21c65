"""GPU behaviour.

Part 1 runs everywhere: the host/device synchronisation of ``fashioncaffe.blob`` (Caffe's
SyncedMemory) is exercised on the CPU by making the blobs treat CPU tensors as device memory
(``blob._shares_host_memory`` → False), so every blob keeps a separate host mirror as on a GPU.

Part 2 (``@pytest.mark.gpu``) needs CUDA and is skipped, with the reason, where there is none:
CUDA training equals CPU training, pycaffe writes reach the device, ``solver_mode: GPU``, data
layers on the GPU, bf16/tf32 on CUDA, and a 2-process NCCL run when two GPUs are present.
"""
from __future__ import annotations

import os
import sys
import textwrap

import numpy as np
import pytest
import torch

import fashioncaffe as caffe
from fashioncaffe import blob as blobmod
from fashioncaffe import fastmodes, training
from fashioncaffe.blob import Blob

sys.path.insert(0, os.path.dirname(__file__))
from test_fastmodes import make_conv_case, weights  # noqa: E402
from test_solvers_helpers import make_case  # noqa: E402

CUDA = torch.cuda.is_available()
NEEDS_CUDA = "needs a CUDA device: torch.cuda.is_available() is False on this machine"


@pytest.fixture(autouse=True)
def _cpu_mode():
    caffe.set_mode_cpu()
    fastmodes.reset()
    yield
    fastmodes.reset()
    caffe.set_mode_cpu()


@pytest.fixture
def mirrored(monkeypatch):
    """Blobs keep a host mirror as on a GPU (CPU tensors play the device)."""
    monkeypatch.setattr(blobmod, "_shares_host_memory", lambda device: False)


# ----------------------------------------------------------------------------------------------
# Part 1: SyncedMemory logic, simulated on the CPU
def test_host_write_reaches_device(mirrored):
    b = Blob((2, 3))
    t = b.tensor
    arr = b.data
    assert not np.shares_memory(arr, t.numpy())           # really a separate mirror
    b.data[...] = 5
    assert torch.equal(b.tensor, torch.full((2, 3), 5.0))
    assert b.tensor is t                                  # copied into the same device tensor


def test_in_place_device_update_after_host_read_is_seen_and_kept(mirrored):
    p = Blob((4,), learnable=True)
    with torch.no_grad():
        p.tensor.fill_(1.0)
    assert (p.data == 1).all()                            # host read: head at host
    t = p.tensor                                          # the engine takes the tensor (sync) ...
    with torch.no_grad():
        t.add_(2.0)                                       # ... and updates it in place (the solver)
    assert (p.data == 3).all(), "host mirror is stale after an in-place device update"
    assert (p.tensor == 3).all(), "a stale host mirror was copied back over the update"


def test_param_diff_mirror_does_not_overwrite_new_gradients(mirrored):
    p = Blob((3,), learnable=True)
    with torch.no_grad():
        p.tensor.fill_(1.0)
    (p.tensor * 2).sum().backward()
    assert (p.diff == 2).all()                            # host mirror of the diff
    (p.tensor * 3).sum().backward()                       # autograd accumulates into .grad
    assert (p.diff == 5).all(), "the stale diff mirror replaced the accumulated gradient"
    assert (p.grad == 5).all()


def test_param_diff_edit_reaches_device(mirrored):
    p = Blob((3,), learnable=True)
    (p.tensor * 2).sum().backward()
    p.diff[...] *= 0.5
    assert torch.equal(p.grad, torch.ones(3))
    p.tensor.grad = None                                  # the solver drops the buffer ...
    (p.tensor * 4).sum().backward()                       # ... and autograd makes a new one
    assert torch.equal(p.grad, torch.full((3,), 4.0))


def _train_case(folder, reader=None, steps=5):
    s = caffe.get_solver(make_conv_case(folder, iters=steps))
    if reader is not None:
        s.add_callback(lambda: None, lambda: reader(s))
    for _ in range(steps):
        s.step(1)
        if reader is not None:
            reader(s)
    return s


def test_solver_with_mirrored_blobs_equals_cpu(tmp_path, monkeypatch):
    ref = weights(_train_case(tmp_path / "ref").net)
    monkeypatch.setattr(blobmod, "_shares_host_memory", lambda device: False)

    def read_everything(s):            # a pycaffe script looking at weights and diffs every step
        for bl in s.net.params.values():
            for b in bl:
                float(b.data.sum()), float(b.diff.sum())

    got = weights(_train_case(tmp_path / "sim", read_everything).net)
    for k, v in ref.items():
        assert np.array_equal(got[k], v), k


def test_diff_edit_in_callback_reaches_the_update(tmp_path, mirrored):
    s = caffe.get_solver(make_conv_case(tmp_path, iters=1))
    s.param.weight_decay = 0
    before = s.net.params["ip1"][0].data.copy()

    def freeze():
        s.net.params["ip1"][0].diff[...] = 0

    s.add_callback(lambda: None, freeze)
    s.step(1)
    np.testing.assert_array_equal(s.net.params["ip1"][0].data, before)
    assert not np.array_equal(s.net.params["conv1"][0].data, 0)


# ----------------------------------------------------------------------------------------------
# Part 2: on a CUDA device
INPUT_NET = textwrap.dedent('''
    name: "deploy"
    input: "data" input_shape { dim: 2 dim: 1 dim: 8 dim: 8 }
    layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
            convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.2 } } }
    layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
    layer { name: "ip" type: "InnerProduct" bottom: "conv1" top: "ip"
            inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.2 }
                                  bias_filler { type: "constant" value: 0.5 } } }
''')


def _deploy(tmp_path):
    p = tmp_path / "deploy.prototxt"
    p.write_text(INPUT_NET)
    return str(p)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason=NEEDS_CUDA)
def test_cuda_training_matches_cpu(tmp_path):
    cpu = weights(_train_case(tmp_path / "cpu", steps=8).net)
    caffe.set_mode_gpu()
    s = _train_case(tmp_path / "gpu", steps=8)
    assert s.net.device.type == "cuda"
    assert all(b.tensor.is_cuda for bl in s.net.params.values() for b in bl)
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    got = weights(s.net)
    for k, v in cpu.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason=NEEDS_CUDA)
def test_blob_writes_reach_the_device(tmp_path):
    path = _deploy(tmp_path)
    torch.manual_seed(0)
    cpu = caffe.Net(path, caffe.TEST)
    caffe.set_mode_gpu()
    net = caffe.Net(path, caffe.TEST)
    for name, bl in cpu.params.items():
        for i, b in enumerate(bl):
            net.params[name][i].data[...] = b.data
    x = np.random.RandomState(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    for k in range(3):                               # every new input reaches the device
        xk = x * (k + 1)
        cpu.blobs["data"].data[...] = xk
        net.blobs["data"].data[...] = xk
        assert net.blobs["data"].tensor.is_cuda
        out_c, out_g = cpu.forward()["ip"], net.forward()["ip"]
        np.testing.assert_allclose(out_g, out_c, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(net.blobs["data"].tensor.cpu(), torch.from_numpy(xk))
    out = net.forward(data=-x)["ip"]                 # forward(**inputs) too
    np.testing.assert_allclose(out, cpu.forward(data=-x)["ip"], rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason=NEEDS_CUDA)
def test_param_edits_reach_the_device_before_next_forward(tmp_path):
    caffe.set_mode_gpu()
    net = caffe.Net(_deploy(tmp_path), caffe.TEST)
    net.blobs["data"].data[...] = 1.0
    net.forward()
    net.params["ip"][0].data[...] = 0                # edit weights through pycaffe
    net.params["ip"][1].data[...] = [3.0, -2.0]
    out = net.forward()["ip"]
    np.testing.assert_array_equal(out, np.array([[3.0, -2.0]] * 2, dtype=np.float32))
    assert net.params["ip"][0].tensor.is_cuda and float(net.params["ip"][0].tensor.abs().sum()) == 0.0


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason=NEEDS_CUDA)
def test_reading_params_between_steps_does_not_undo_training(tmp_path):
    caffe.set_mode_gpu()
    ref = weights(_train_case(tmp_path / "a", steps=4).net)

    def read(s):
        for bl in s.net.params.values():
            for b in bl:
                float(b.data.sum()), float(b.diff.sum())

    got = weights(_train_case(tmp_path / "b", read, steps=4).net)
    for k, v in ref.items():
        np.testing.assert_array_equal(got[k], v, err_msg=k)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason=NEEDS_CUDA)
def test_solver_mode_gpu(tmp_path):
    """pycaffe ignores solver_mode (only the command-line tool reads it); set_mode_gpu selects the GPU."""
    path = make_conv_case(tmp_path, iters=3, extra="solver_mode: GPU\ndevice_id: 0\n")
    assert caffe.get_solver(path).net.device.type == "cpu"
    caffe.set_mode_gpu()
    s = caffe.get_solver(path)
    assert s.net.device == torch.device("cuda", 0)
    assert all(n.device.type == "cuda" for n in s.test_nets)
    s.solve()
    assert all(b.tensor.is_cuda for bl in s.net.params.values() for b in bl)
    assert s.test(0)["acc"] >= 0


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason=NEEDS_CUDA)
def test_data_layers_on_gpu(tmp_path):
    from fashioncaffe.formats.lmdb_datum import DatumWriter, array_to_datum, make_key

    imgs = np.random.default_rng(0).integers(0, 256, (6, 3, 5, 4), dtype=np.uint8)
    with DatumWriter(tmp_path / "img") as w:
        for i in range(6):
            w.put(make_key(i, f"im{i}.png"), array_to_datum(imgs[i], i))
    (tmp_path / "net.prototxt").write_text(f'''
        layer {{ name: "data" type: "Data" top: "data" top: "label"
                 data_param {{ source: "{tmp_path / 'img'}" batch_size: 3 backend: LMDB }}
                 transform_param {{ scale: 0.5 }} }}
        layer {{ name: "dummy" type: "DummyData" top: "noise"
                 dummy_data_param {{ shape {{ dim: 3 dim: 2 }} data_filler {{ type: "gaussian" }} }} }}
        layer {{ name: "mem" type: "MemoryData" top: "m" top: "ml"
                 memory_data_param {{ batch_size: 3 channels: 1 height: 2 width: 2 }} }}
    ''')
    caffe.set_mode_gpu()
    net = caffe.Net(str(tmp_path / "net.prototxt"), caffe.TEST)
    mem = np.arange(24, dtype=np.float32).reshape(6, 1, 2, 2)
    net.set_input_arrays(mem, np.arange(6, dtype=np.float32))
    for it in range(2):
        net.forward()
        for name in ("data", "label", "noise", "m", "ml"):
            assert net.blobs[name].tensor.is_cuda, name
        lab = net.blobs["label"].data.astype(int)
        np.testing.assert_array_equal(lab, np.arange(3 * it, 3 * it + 3))
        np.testing.assert_allclose(net.blobs["data"].data, imgs[lab].astype(np.float32) * 0.5)
        np.testing.assert_array_equal(net.blobs["m"].data, mem[3 * it:3 * it + 3])
    for layer in net.layers:
        getattr(layer, "close", lambda: None)()


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason=NEEDS_CUDA)
def test_bf16_and_tf32_on_cuda(tmp_path):
    caffe.set_mode_gpu()
    fastmodes.configure(precision="tf32")
    s = _train_case(tmp_path / "tf32", steps=3)
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    fastmodes.configure(precision="bf16")
    s = caffe.get_solver(make_conv_case(tmp_path / "bf16", iters=40))
    with torch.no_grad():
        first = float(s.net.forward_from_to(grad=False))
    s.step(40)
    with torch.no_grad():
        last = float(s.net.forward_from_to(grad=False))
    assert last < first
    assert s.net.params["conv1"][0].tensor.dtype == torch.float32
    fastmodes.configure(precision="fp32")
    _train_case(tmp_path / "fp32", steps=1)
    assert not torch.backends.cudnn.allow_tf32               # fp32 is true float32 on the GPU


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA devices for an NCCL data-parallel run "
                    f"(this machine has {torch.cuda.device_count()})")
def test_two_gpu_nccl_equals_iter_size_two(tmp_path):
    solver = ('base_lr: 0.1 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.001 max_iter: 6\n'
              'snapshot_prefix: "{d}/snap"\nsolver_mode: GPU\n')
    par = make_case(tmp_path / "par", solver.format(d=tmp_path / "par"), batch=3)
    seq = make_case(tmp_path / "seq", solver.format(d=tmp_path / "seq") + "iter_size: 2\n", batch=3)
    os.chdir(tmp_path)
    training.train_parallel({"solver": par}, devices=[0, 1])
    caffe.set_mode_gpu()
    s = caffe.get_solver(seq)
    s.solve()
    caffe.set_mode_cpu()
    got = caffe.Net(str(tmp_path / "par" / "net.prototxt"), caffe.TEST,
                    weights=str(tmp_path / "par" / "snap_iter_6.caffemodel"))
    for name, blobs in s.net.params.items():
        for i, b in enumerate(blobs):
            np.testing.assert_allclose(got.params[name][i].data, b.data, rtol=1e-4, atol=1e-5, err_msg=f"{name}/{i}")
