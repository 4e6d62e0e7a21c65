"""Multi-node data-parallel training through torchrun: two "nodes" on localhost (two torchrun
invocations with --nnodes 2, one process each, a c10d rendezvous on 127.0.0.1, gloo) train exactly
what one process with iter_size 2 trains, and only rank 0 logs and snapshots."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe import training
from fashioncaffe.errors import FashionCaffeError
from tools.local_nodes import node_command, run_nodes

sys.path.insert(0, os.path.dirname(__file__))
from test_solvers_helpers import make_case, params_of  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLVER = ('base_lr: 0.1 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.001 max_iter: 6 display: 1\n'
          'snapshot_prefix: "{d}/snap"\n')


def test_two_torchrun_nodes_equal_one_process_with_iter_size_two(tmp_path):
    caffe.set_mode_cpu()
    # clipping after the mean over processes = clipping the sum over 2 passes at twice the threshold
    par = make_case(tmp_path / "par", SOLVER.format(d=tmp_path / "par") + "clip_gradients: 1\n", batch=3)
    seq = make_case(tmp_path / "seq", SOLVER.format(d=tmp_path / "seq") + "iter_size: 2\nclip_gradients: 2\n",
                    batch=3)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    results = run_nodes(["-m", "fashioncaffe", "train", "--solver", par], nnodes=2, nproc_per_node=1,
                        timeout=240, cwd=str(tmp_path), env=env)
    for rc, out in results:
        assert rc == 0, out[-3000:]
    s = caffe.get_solver(seq)
    s.solve()
    got = caffe.Net(str(tmp_path / "par" / "net.prototxt"), caffe.TEST,
                    weights=str(tmp_path / "par" / "snap_iter_6.caffemodel"))
    want = params_of(s.net)
    for k, v in params_of(got).items():
        np.testing.assert_allclose(v, want[k], rtol=1e-5, atol=1e-6, err_msg=k)
    outs = [out for _, out in results]
    assert sum("torchrun process 0 of 2" in o for o in outs) == 1      # the two nodes formed one group of 2
    assert sum("Snapshotting to binary proto file" in o for o in outs) == 1   # rank 0 alone snapshots ...
    assert sum("Iteration 6" in o for o in outs) == 1                   # ... and logs
    assert sorted(os.listdir(tmp_path / "par")).count("snap_iter_6.caffemodel") == 1


def test_node_command_stays_on_loopback():
    cmd = node_command(["-m", "fashioncaffe", "train", "--solver", "s.prototxt"], 2, 4, 29500, "job")
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert cmd[cmd.index("--rdzv-endpoint") + 1] == "127.0.0.1:29500"
    assert cmd[cmd.index("--local-addr") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--nnodes") + 1] == "2" and cmd[cmd.index("--nproc-per-node") + 1] == "4"
    assert cmd[-5:] == ["-m", "fashioncaffe", "train", "--solver", "s.prototxt"]


@pytest.mark.parametrize("devices,want", [([], "gloo"), ([0, 1], "nccl"), ([0, 0], "gloo"), ([1], "nccl")])
def test_backend_choice(devices, want, monkeypatch):
    monkeypatch.delenv(training.BACKEND_ENV, raising=False)
    assert training.backend_for(devices) == want


def test_backend_override(monkeypatch):
    monkeypatch.setenv(training.BACKEND_ENV, "GLOO")
    assert training.backend_for([0, 1]) == "gloo"
    monkeypatch.setenv(training.BACKEND_ENV, "smoke-signals")
    with pytest.raises(FashionCaffeError, match="FASHIONCAFFE_DIST_BACKEND"):
        training.backend_for([0])


def test_torchrun_detection(monkeypatch):
    for k in ("TORCHELASTIC_RUN_ID", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    assert not training.launched_by_torchrun()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    assert training.launched_by_torchrun()
