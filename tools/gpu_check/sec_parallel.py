"""Data-parallel training equals one process with iter_size N (Caffe's multi-GPU meaning).

On a tiny classification problem (``tests/test_solvers_helpers.make_case``: a Python data layer that
shards by rank, so N processes with batch B read exactly what one process with iter_size N reads):

* ``fashioncaffe train --gpu 0,0``: two processes sharing the one GPU (gloo: NCCL refuses two ranks
  on one device) against ``--gpu 0`` with iter_size 2;
* torchrun: two processes started by ``torch.distributed.run`` (one node, loopback rendezvous) with
  ``--gpu 0`` (both share it), against the same single-process run.

Checked: the final weights (rank 0's snapshot) equal the single process's within float tolerance.
Dry mode: the same on the CPU with gloo (``--cpu_procs 2``, and torchrun as two "nodes" of one
process each: the multi-node path).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

TITLE = "data-parallel: two processes = one process with iter_size 2"
SOLVER = ('base_lr: 0.1 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.001 max_iter: 6\n'
          'snapshot_prefix: "{d}/snap"\n')
TOL = {"cpu": dict(rtol=1e-5, atol=1e-6), "cuda": dict(rtol=1e-4, atol=1e-5)}


def _case(ctx, name, extra=""):
    sys.path.insert(0, str(ctx.root / "tests"))
    from test_solvers_helpers import make_case

    folder = ctx.work / name
    return make_case(folder, SOLVER.format(d=folder) + extra, batch=3), folder


def _train(ctx, args, label, timeout=120):
    cmd = [sys.executable, "-m", "fashioncaffe", "train"] + args
    env = dict(os.environ, PYTHONPATH=str(ctx.root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(cmd, cwd=ctx.root, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"--- {label}: {' '.join(cmd)} -> {res.returncode}\n{res.stdout[-3000:]}{res.stderr[-3000:]}", flush=True)
    return res.returncode == 0, (res.stderr or res.stdout).strip().splitlines()[-1:] or [""]


def _weights(folder):
    import fashioncaffe as caffe

    caffe.set_mode_cpu()
    net = caffe.Net(str(folder / "net.prototxt"), caffe.TEST, weights=str(folder / "snap_iter_6.caffemodel"))
    return {f"{n}/{i}": np.array(b.data) for n, bl in net.params.items() for i, b in enumerate(bl)}


def _compare(ctx, what, par, seq):
    if not (par / "snap_iter_6.caffemodel").exists():
        ctx.check(what, False, "no snapshot from the parallel run")
        return
    a, b = _weights(par), _weights(seq)
    worst = max(float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-12)) for k in b)
    ok = all(np.allclose(a[k], b[k], **TOL[ctx.device]) for k in b)
    ctx.row("final weights: parallel vs one process with iter_size 2", {"run": what, "max relative diff": worst,
                                                                       "equal within tolerance": ok})
    ctx.check(what, ok, f"max relative difference {worst:.2e} ({TOL[ctx.device]})")


def run(ctx):
    from tools.local_nodes import run_nodes

    gpu = ["--gpu", "0"] if ctx.cuda else []
    seq_solver, seq = _case(ctx, "seq", "iter_size: 2\n")
    ok, msg = _train(ctx, ["--solver", seq_solver] + gpu, "one process, iter_size 2")
    if not ctx.check("one process with iter_size 2 trains", ok, msg[0]):
        return
    if not ctx.cuda:
        ctx.skip("two processes sharing one GPU", "no CUDA" + (" (dry mode: two CPU processes with gloo)"
                                                               if ctx.dry else ""))
    par_solver, par = _case(ctx, "par")
    ok, msg = _train(ctx, ["--solver", par_solver] + (["--gpu", "0,0"] if ctx.cuda else ["--cpu_procs", "2"]),
                     "two processes")
    what = "--gpu 0,0 (two processes on one GPU)" if ctx.cuda else "--cpu_procs 2 (gloo)"
    if ctx.check(f"{what} trains", ok, msg[0]):
        _compare(ctx, f"{what} equals iter_size 2", par, seq)
    tr_solver, tr = _case(ctx, "torchrun")
    nnodes, nproc = (1, 2) if ctx.cuda else (2, 1)
    results = run_nodes(["-m", "fashioncaffe", "train", "--solver", tr_solver] + gpu, nnodes=nnodes,
                        nproc_per_node=nproc, timeout=180, cwd=ctx.root,
                        env=dict(os.environ, PYTHONPATH=str(ctx.root) + os.pathsep + os.environ.get("PYTHONPATH", "")))
    for i, (rc, out) in enumerate(results):
        print(f"--- torchrun node {i}: exit code {rc}\n{out[-4000:]}", flush=True)
    what = (f"torchrun, {nnodes} node(s) × {nproc} process(es), loopback rendezvous" +
            (", both on GPU 0" if ctx.cuda else ", gloo"))
    if ctx.check(f"{what} trains", all(rc == 0 for rc, _ in results),
                 "; ".join(f"node {i}: exit {rc}" for i, (rc, _) in enumerate(results))):
        _compare(ctx, f"{what} equals iter_size 2", tr, seq)
