"""Data-parallel training: two gloo processes on the CPU give the weights of one process with
iter_size 2 on the same data (gradients summed then scaled by 1/N, as Caffe's multi-GPU)."""
from __future__ import annotations

import os
import sys

import numpy as np

import fashioncaffe as caffe
from fashioncaffe import distributed, training

sys.path.insert(0, os.path.dirname(__file__))
from test_solvers_helpers import make_case  # noqa: E402

SOLVER = ('base_lr: 0.1 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.001 max_iter: 6\n'
          'snapshot_prefix: "{d}/snap"\n')


def test_rank_defaults_outside_parallel_runs():
    assert distributed.rank() == 0 and distributed.world_size() == 1 and not distributed.is_parallel()


def test_two_gloo_processes_equal_iter_size_two(tmp_path):
    caffe.set_mode_cpu()
    # Caffe clips after the all-reduce (the mean over processes) but before the 1/iter_size
    # normalisation (on the sum over passes): clip 1 over 2 processes = clip 2 with iter_size 2.
    par = make_case(tmp_path / "par", SOLVER.format(d=tmp_path / "par") + "clip_gradients: 1\n", batch=3)
    seq = make_case(tmp_path / "seq", SOLVER.format(d=tmp_path / "seq") + "iter_size: 2\nclip_gradients: 2\n",
                    batch=3)
    os.chdir(tmp_path)
    training.train_parallel({"solver": par}, num_procs=2)
    s = caffe.get_solver(seq)
    s.solve()
    got = caffe.Net(str(tmp_path / "par" / "net.prototxt"), caffe.TEST, weights=str(tmp_path / "par" / "snap_iter_6.caffemodel"))
    for name, blobs in s.net.params.items():
        for i, b in enumerate(blobs):
            np.testing.assert_allclose(got.params[name][i].data, b.data, rtol=1e-5, atol=1e-6, err_msg=f"{name}/{i}")
    # only rank 0 snapshots
    assert sorted(os.listdir(tmp_path / "par")).count("snap_iter_6.caffemodel") == 1
