"""Training never loses work: a run killed (kill -9) mid-way and resumed with ``--snapshot`` ends with the
same weights, bit for bit, as a run that was never interrupted -- with a Data layer (random crop and
mirror), Dropout and a random DummyData filler drawing random numbers on the way; snapshot files are
complete whenever they exist.  (All six solvers: tests/test_reliability_resume.py.)"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.formats.lmdb_datum import DatumWriter, array_to_datum, make_key

NET = """
name: "resume"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { crop_size: 12 mirror: true scale: 0.01 mean_value: 100 }
  data_param { source: "%(db)s" batch_size: 4 backend: LMDB } }
layer { name: "slow" type: "Python" bottom: "data" top: "slowed"
  python_param { module: "slow_layer" layer: "Slow" } }
layer { name: "conv" type: "Convolution" bottom: "slowed" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "drop" type: "Dropout" bottom: "conv" top: "conv" dropout_param { dropout_ratio: 0.3 } }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.05 } } }
layer { name: "noise" type: "DummyData" top: "noise"
  dummy_data_param { shape { dim: 4 dim: 3 } data_filler { type: "gaussian" std: 0.5 } } }
layer { name: "noisy" type: "Eltwise" bottom: "ip" bottom: "noise" top: "noisy" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "noisy" bottom: "label" top: "loss" }
"""

SOLVER = """
net: "net.prototxt"
base_lr: 0.05 momentum: 0.9 weight_decay: 0.001 lr_policy: "step" gamma: 0.5 stepsize: 10
max_iter: %(iters)d display: 5 snapshot: 5 snapshot_prefix: "snap" random_seed: 3
solver_mode: CPU
"""

SLOW = '''
import time
import caffe


class Slow(caffe.Layer):
    """Identity that takes a while, so the run can be killed mid-way."""

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        time.sleep(0.04)
        top[0].data[...] = bottom[0].data

    def backward(self, top, propagate_down, bottom):
        bottom[0].diff[...] = top[0].diff
'''


def _make_db(path, n=24, seed=0):
    rs = np.random.RandomState(seed)
    with DatumWriter(path) as w:
        for i in range(n):
            label = i % 3
            img = rs.randint(0, 255, size=(3, 16, 16)).astype(np.uint8)
            img[label] = np.clip(img[label].astype(int) + 80, 0, 255)
            w.put(make_key(i, f"img{i}.png"), array_to_datum(img, label))


def _setup(d, db, iters):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "net.prototxt"), "w") as f:
        f.write(NET % {"db": db})
    with open(os.path.join(d, "solver.prototxt"), "w") as f:
        f.write(SOLVER % {"iters": iters})
    with open(os.path.join(d, "slow_layer.py"), "w") as f:
        f.write(SLOW)


def _train(d, *extra, wait=True):
    env = dict(os.environ, FASHIONCAFFE_DATA_WORKERS="0", PYTHONPATH=d + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "fashioncaffe", "train", "--solver", "solver.prototxt", *extra]
    p = subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if wait:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out.decode(errors="replace")[-3000:]
    return p


def _weights(path, prototxt_dir):
    net = caffe.Net(os.path.join(prototxt_dir, "deploy_check.prototxt"), path, caffe.TEST)
    return {k: [b.data.copy() for b in v] for k, v in net.params.items()}


def test_killed_run_resumes_to_identical_weights(tmp_path):
    db = str(tmp_path / "db")
    _make_db(db)
    iters = 20
    whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
    _setup(whole, db, iters)
    _setup(broken, db, iters)

    _train(whole)

    p = _train(broken, wait=False)
    target = os.path.join(broken, "snap_iter_10.solverstate")
    deadline = time.time() + 240
    while not os.path.exists(target) and p.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.communicate()
    assert os.path.exists(target), "the interrupted run never reached its iteration-10 snapshot"
    assert not os.path.exists(os.path.join(broken, f"snap_iter_{iters}.caffemodel")), \
        "the run finished before it could be killed; the test needs a slower net"
    # no half-written snapshot files are left behind: every file that exists parses
    for f in os.listdir(broken):
        assert not f.endswith(".tmp"), f"temporary snapshot file left behind: {f}"

    _train(broken, "--snapshot", "snap_iter_10.solverstate")

    deploy = NET.split('layer { name: "slow"')[0]
    deploy = deploy.replace(deploy[deploy.index('layer { name: "data"'):], "")
    deploy += ('layer { name: "data" type: "Input" top: "slowed" input_param { shape { dim: 4 dim: 3 dim: 12 dim: 12 } } }\n'
               + NET[NET.index('layer { name: "conv"'):NET.index('layer { name: "loss"')])
    with open(os.path.join(str(tmp_path), "deploy_check.prototxt"), "w") as f:
        f.write(deploy)
    a = _weights(os.path.join(whole, f"snap_iter_{iters}.caffemodel"), str(tmp_path))
    b = _weights(os.path.join(broken, f"snap_iter_{iters}.caffemodel"), str(tmp_path))
    assert a.keys() == b.keys() and a
    for k in a:
        for x, y in zip(a[k], b[k]):
            np.testing.assert_array_equal(x, y, err_msg=f"layer {k} differs after resume")
