"""What ``fashioncaffe train`` runs: :func:`run_training` in one process, or :func:`train_parallel`
across N processes (one per GPU with NCCL, or CPU processes with gloo, as the tests use) that each
run it on their own data shard, synchronised by :mod:`fashioncaffe.distributed`.
"""
from __future__ import annotations

import os
import socket

import torch

from . import fastmodes
from . import logging_caffe as log
from . import mode
from .errors import fail
from .solvers import Solver, get_solver

__all__ = ["run_training", "train_parallel"]


def run_training(job: dict) -> Solver:
    """Build the solver, fine-tune or resume, solve.  ``job``: solver, weights, snapshot,
    iterations, sigint_effect, sighup_effect, precision, compile."""
    overrides = {}
    if job.get("iterations") is not None:
        if int(job["iterations"]) <= 0:
            raise fail(f"--iterations {job['iterations']}: training needs a positive number of iterations (it "
                       "replaces the solver's max_iter); leave the flag out to use max_iter.")
        overrides["max_iter"] = int(job["iterations"])
    if job.get("weights"):
        if job.get("snapshot"):
            raise fail("Give a snapshot to resume training or weights to finetune but not both.")
        overrides["weights"] = [w for w in job["weights"].split(",") if w]
    if job.get("precision") or job.get("compile"):
        fastmodes.configure(precision=job.get("precision") or None, compile=job.get("compile") or None)
    solver = get_solver(job["solver"], overrides)
    for k in ("sigint_effect", "sighup_effect"):
        if job.get(k):
            setattr(solver, k, job[k])
    if job.get("snapshot"):
        log.info(f"Resuming from {job['snapshot']}", "caffe.cpp:250")
    log.info("Starting Optimization", "caffe.cpp:252")
    solver.solve(job.get("snapshot") or None)
    return solver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(r, n, port, devices, job):
    import torch.distributed as dist

    if devices:
        torch.cuda.set_device(devices[r])
        backend = "nccl"
    else:
        backend = "gloo"
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // n))
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=r, world_size=n)
    try:
        if devices:
            mode.set_mode_gpu()
            mode.set_device(devices[r])
        else:
            mode.set_mode_cpu()
        log.forget_log_files()   # a forked worker must not share the parent's log handles
        if r != 0:
            log.set_enabled(False)
        if job.get("log_file") and r == 0:
            log.add_log_file(job["log_file"])
        run_training(job)
    finally:
        dist.destroy_process_group()


def train_parallel(job: dict, devices=None, num_procs: int | None = None) -> None:
    """Run :func:`run_training` (``job``) in N processes: one per GPU in ``devices``, or
    ``num_procs`` CPU processes with gloo.  ``job`` may also give ``log_file`` (rank 0 writes it)."""
    import torch.multiprocessing as mp

    n = len(devices) if devices else int(num_procs or 1)
    port = _free_port()
    # CUDA needs fresh interpreters (spawn); CPU workers can fork and skip re-importing torch
    method = "fork" if not devices and "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(n, port, list(devices or []), job), nprocs=n, join=True, start_method=method)
