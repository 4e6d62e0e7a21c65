"""Training never loses work or reproducibility (issue 20).

* A run resumed from a snapshot ends with the same weights, bit for bit, as the run that wrote it went
  on to, for nets that draw random numbers (Dropout, a random DummyData filler, Data with random crop and
  mirror, HDF5Data with shuffle), on all six solvers: the snapshot keeps every random stream, in a form
  BVLC Caffe's reader ignores.  (tests/test_resume.py does the same across a kill -9 of a real process.)
* "The last good snapshot" after a NaN is one that resumes.
* One snapshot prefix, one training: a second is refused naming the holder; a killed holder frees it.
* What a killed snapshot write leaves behind is cleaned up by the next run, and nothing else is.
"""
import os
import re
import random
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest
import torch

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats.lmdb_datum import DatumWriter, array_to_datum, make_key
from fashioncaffe.proto import caffe_pb2

SOLVERS = {"SGD": "momentum: 0.9", "Nesterov": "momentum: 0.9", "AdaGrad": "", "RMSProp": "rms_decay: 0.9",
           "AdaDelta": "momentum: 0.95 delta: 1e-6", "Adam": "momentum: 0.9 momentum2: 0.999"}


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    caffe.set_mode_cpu()
    monkeypatch.setenv("FASHIONCAFFE_DATA_WORKERS", "0")


def _db(path, n=14):
    rs = np.random.RandomState(0)
    with DatumWriter(str(path)) as w:
        for i in range(n):
            w.put(make_key(i, f"i{i}"), array_to_datum(rs.randint(0, 255, (3, 10, 10)).astype(np.uint8), i % 3))


def _net(d):
    return f'''
layer {{ name: "data" type: "Data" top: "data" top: "label"
  transform_param {{ crop_size: 8 mirror: true scale: 0.01 }}
  data_param {{ source: "{d}/db" batch_size: 4 backend: LMDB }} }}
layer {{ name: "noise" type: "DummyData" top: "noise"
  dummy_data_param {{ shape {{ dim: 4 dim: 6 }} data_filler {{ type: "gaussian" std: 0.3 }} }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param {{ num_output: 6 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "sum" type: "Eltwise" bottom: "ip1" bottom: "noise" top: "sum" }}
layer {{ name: "drop" type: "Dropout" bottom: "sum" top: "sum" dropout_param {{ dropout_ratio: 0.5 }} }}
layer {{ name: "ip2" type: "InnerProduct" bottom: "sum" top: "ip2"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }}
layer {{ name: "acc" type: "Accuracy" bottom: "ip2" bottom: "label" top: "acc" include {{ phase: TEST }} }}
'''


def _solver(d, typ, name, extra=""):
    path = os.path.join(d, f"{name}.prototxt")
    with open(path, "w") as f:
        f.write(f'net: "{d}/net.prototxt" type: "{typ}" base_lr: 0.05 {SOLVERS[typ]} lr_policy: "fixed" '
                f'weight_decay: 0.001 max_iter: 7 snapshot: 3 snapshot_prefix: "{d}/{name}" display: 0 '
                f'test_iter: 2 test_interval: 2 {extra}\n')
    return path


def _scramble_process_rngs():
    """What a fresh process has: generators in some other state."""
    torch.manual_seed(987)
    np.random.seed(654)
    random.seed(321)


def _params(solver):
    return {b.name: b.data.copy() for b, *_ in solver.net.param_specs}


def _run_and_resume(d, typ, extra="", state_name="a_iter_3.solverstate"):
    d = str(d)
    _db(os.path.join(d, "db"))
    with open(os.path.join(d, "net.prototxt"), "w") as f:
        f.write(_net(d))
    whole = caffe.get_solver(_solver(d, typ, "a", extra))
    whole.solve()
    _scramble_process_rngs()
    resumed = caffe.get_solver(_solver(d, typ, "b", extra))
    resumed.solve(os.path.join(d, state_name))
    return _params(whole), _params(resumed)


@pytest.mark.parametrize("typ", sorted(SOLVERS))
def test_resume_is_bit_exact_with_dropout_dummydata_and_data(tmp_path, typ):
    a, b = _run_and_resume(tmp_path, typ)
    assert a.keys() == b.keys() and len(a) == 4
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{typ}: {k} differs after resume")


def test_resume_is_bit_exact_from_hdf5_snapshots(tmp_path):
    a, b = _run_and_resume(tmp_path, "Adam", "snapshot_format: HDF5", "a_iter_3.solverstate.h5")
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{k} differs after resume")
    with h5py.File(tmp_path / "a_iter_3.solverstate.h5", "r") as f:   # BVLC's datasets, plus ours
        assert {"iter", "learned_net", "current_step", "history", "fashioncaffe_rng_state"} == set(f)


def test_snapshot_without_the_record_resumes_naming_the_layers_that_differ(tmp_path, capsys):
    """A solverstate as BVLC Caffe writes it (and reads ours: the record is an unknown field to BVLC's
    SolverState) still resumes; the layers whose random numbers cannot be restored are named."""
    d = str(tmp_path)
    _run_and_resume(tmp_path, "SGD")
    ours = open(os.path.join(d, "a_iter_3.solverstate"), "rb").read()
    bvlc = caffe_pb2.SolverState()
    bvlc.ParseFromString(ours)                  # BVLC's message type parses it
    assert bvlc.iter == 3 and len(bvlc.history) == 4 and bvlc.learned_net.endswith("a_iter_3.caffemodel")
    bvlc.DiscardUnknownFields()
    assert len(bvlc.SerializeToString()) < len(ours)
    with open(os.path.join(d, "bvlc_iter_3.solverstate"), "wb") as f:
        f.write(bvlc.SerializeToString())
    capsys.readouterr()
    _scramble_process_rngs()
    resumed = caffe.get_solver(_solver(d, "SGD", "c"))
    resumed.solve(os.path.join(d, "bvlc_iter_3.solverstate"))
    err = capsys.readouterr().err
    assert "has no fashioncaffe random-stream record" in err
    assert "train net: noise (DummyData); train net: drop (Dropout)" in err
    assert "test net" not in err.split("random-stream record")[1].split("\n")[0]   # TEST Dropout draws nothing
    whole = caffe.get_solver(_solver(d, "SGD", "a2"))
    whole.solve()
    assert any(not np.array_equal(x, y) for x, y in zip(_params(whole).values(), _params(resumed).values()))


def test_hdf5data_shuffle_resumes_bit_exact(tmp_path):
    d = str(tmp_path)
    rs = np.random.RandomState(1)
    files = []
    for i in range(3):
        p = os.path.join(d, f"part{i}.h5")
        with h5py.File(p, "w") as f:
            f["data"] = rs.rand(5, 4).astype(np.float32)
            f["label"] = (np.arange(5) % 3).astype(np.float32)
        files.append(p)
    with open(os.path.join(d, "list.txt"), "w") as f:
        f.write("\n".join(files) + "\n")
    with open(os.path.join(d, "net.prototxt"), "w") as f:
        f.write(f'''
layer {{ name: "h5" type: "HDF5Data" top: "data" top: "label" hdf5_data_param {{ source: "{d}/list.txt"
  batch_size: 3 shuffle: true }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param {{ num_output: 3
  weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }}
''')
    for name in ("a", "b"):
        with open(os.path.join(d, f"{name}.prototxt"), "w") as f:
            f.write(f'net: "{d}/net.prototxt" base_lr: 0.1 lr_policy: "fixed" max_iter: 9 snapshot: 4 '
                    f'snapshot_prefix: "{d}/{name}" random_seed: 2\n')
    whole = caffe.get_solver(os.path.join(d, "a.prototxt"))
    whole.solve()
    _scramble_process_rngs()
    resumed = caffe.get_solver(os.path.join(d, "b.prototxt"))
    resumed.solve(os.path.join(d, "a_iter_4.solverstate"))
    for k, v in _params(whole).items():
        np.testing.assert_array_equal(v, _params(resumed)[k])


# ------------------------------------------------------------------------------------------------
# the last good snapshot
def test_last_good_snapshot_after_a_nan_is_one_that_resumes(tmp_path):
    """Weights grow ×(1 + lr·λ) per step until the loss overflows while the weights are still finite
    (~1e20): the snapshot written from those weights is finite but useless, and must not be called good."""
    d = str(tmp_path)
    with open(os.path.join(d, "net.prototxt"), "w") as f:
        f.write('''
layer { name: "x" type: "DummyData" top: "x" top: "y" dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 dim: 1 }
  data_filler { type: "constant" value: 1 } data_filler { type: "constant" value: 0 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 1
  weight_filler { type: "constant" value: 1 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "y" top: "loss" }
''')

    def solver(name, max_iter):
        p = os.path.join(d, f"{name}.prototxt")
        with open(p, "w") as f:
            f.write(f'net: "{d}/net.prototxt" base_lr: 60 lr_policy: "fixed" max_iter: {max_iter} snapshot: 1 '
                    f'snapshot_prefix: "{d}/s" display: 0\n')
        return p

    s = caffe.get_solver(solver("diverge", 100))
    with pytest.raises(FashionCaffeError) as e:
        s.solve()
    msg = str(e.value)
    n = s.iter                                   # the snapshot written from weights whose loss was inf
    w = np.abs(caffe.Net(os.path.join(d, "net.prototxt"), os.path.join(d, f"s_iter_{n}.caffemodel"),
                         caffe.TEST).params["ip"][0].data).max()
    assert np.isfinite(w) and w > 1e15           # finite: the weights check alone would call it good
    assert f"Iteration {n}: the loss is inf" in msg or f"Iteration {n}: the loss is nan" in msg
    assert f"The last good snapshot is {d}/s_iter_{n - 1}.solverstate (training went on" in msg
    assert f"the good one before it is {d}/s_iter_{n - 2}.solverstate" in msg
    assert f"Do not resume from {d}/s_iter_{n}.solverstate" in msg
    again = caffe.get_solver(solver("again", n))  # the named snapshot resumes: its next loss is finite
    again.solve(os.path.join(d, f"s_iter_{n - 1}.solverstate"))
    assert again.iter == n


# ------------------------------------------------------------------------------------------------
# one prefix, one training
HOLDER = textwrap.dedent('''
    import sys, time
    from fashioncaffe.solvers.prefix_lock import PrefixLock
    PrefixLock(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(120)
''')


def _small_solver(d, name="solver", prefix="snap"):
    with open(os.path.join(d, "net.prototxt"), "w") as f:
        f.write('layer { name: "x" type: "DummyData" top: "x" top: "y" dummy_data_param { shape { dim: 2 dim: 3 } '
                'shape { dim: 2 } data_filler { type: "gaussian" } data_filler { type: "constant" } } }\n'
                'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 2 '
                'weight_filler { type: "gaussian" std: 0.1 } } }\n'
                'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "y" top: "loss" }\n')
    path = os.path.join(d, f"{name}.prototxt")
    with open(path, "w") as f:
        f.write(f'net: "{d}/net.prototxt" base_lr: 0.1 lr_policy: "fixed" max_iter: 2 snapshot: 1 '
                f'snapshot_prefix: "{d}/{prefix}"\n')
    return path


def test_second_training_on_one_prefix_is_refused_naming_the_holder(tmp_path):
    d = str(tmp_path)
    path = _small_solver(d)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, os.path.join(d, "snap")], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        solver = caffe.get_solver(path)         # building a solver to look at it is fine
        with pytest.raises(FashionCaffeError) as e:
            solver.solve()
        msg = str(e.value)
        assert f"Snapshot prefix '{d}/snap' is in use by another training (PID {holder.pid}" in msg
        assert f"{d}/snap.lock" in msg and "another snapshot_prefix" in msg
        assert not [f for f in os.listdir(d) if "_iter_" in f]
    finally:
        holder.send_signal(signal.SIGKILL)      # a killed holder releases the lock by itself
        holder.wait()
    caffe.get_solver(path).solve()
    assert os.path.exists(os.path.join(d, "snap_iter_2.caffemodel"))


def test_solvers_of_one_process_share_the_prefix(tmp_path):
    path = _small_solver(str(tmp_path))
    a = caffe.get_solver(path)
    a.step(1)
    a.snapshot()                                # a holds the lock from here on
    b = caffe.get_solver(path)
    b.solve()                                   # same process: not refused
    assert b.iter == 2


def test_stale_tmp_files_of_this_prefix_are_removed_and_only_those(tmp_path, capsys):
    d = str(tmp_path)
    path = _small_solver(d)
    ours = [".snap_iter_5.caffemodel.k2j_8xq1.tmp", ".snap_iter_5.solverstate.a8sd7f6g.tmp",
            ".snap_iter_12.caffemodel.h5.zz09_abc.tmp", ".snap_iter_12.solverstate.h5.q1w2e3r4.tmp"]
    others = [".snapx_iter_5.caffemodel.k2j_8xq1.tmp", ".other_iter_5.caffemodel.abcdefgh.tmp", "snap_notes.tmp",
              ".snap_iter_5.caffemodel", "snap_iter_1.txt"]
    for n in ours + others:
        with open(os.path.join(d, n), "w") as f:
            f.write("x")
    caffe.get_solver(path).solve()
    left = set(os.listdir(d))
    assert not left & set(ours) and set(others) <= left
    err = capsys.readouterr().err
    assert all(f"Removed {os.path.join(d, n)}, left by a snapshot write that was interrupted" in err for n in ours)


def test_kill_9_during_snapshot_writes_leaves_only_cleanable_tmp(tmp_path):
    """A training killed at a moment it is likely inside a snapshot write (it snapshots every
    iteration) leaves at most our .tmp files; the next run removes them and resumes."""
    d = str(tmp_path)
    path = _small_solver(d)

    def set_max_iter(n):
        text = open(path).read()
        with open(path, "w") as f:
            f.write(re.sub(r"max_iter: \d+", f"max_iter: {n}", text, count=1))

    set_max_iter(100000)
    p = subprocess.Popen([sys.executable, "-m", "fashioncaffe", "train", "--solver", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len([n for n in os.listdir(d) if n.endswith(".solverstate")]) < 3:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    states = sorted((n for n in os.listdir(d) if n.endswith(".solverstate")),
                    key=lambda n: int(n.split("_iter_")[1].split(".")[0]))
    assert states, "the training wrote no snapshot before the deadline"
    last = int(states[-1].split("_iter_")[1].split(".")[0])
    set_max_iter(last + 2)
    caffe.get_solver(path).solve(os.path.join(d, states[-1]))
    assert not [n for n in os.listdir(d) if n.endswith(".tmp")]
    assert os.path.exists(os.path.join(d, f"snap_iter_{last + 2}.caffemodel"))
