"""What ``fashioncaffe train`` runs: :func:`run_training` in one process, or in each of N processes
that train data-parallel with Caffe's multi-GPU meaning (each takes ``batch_size`` from its own data
shard, the effective batch is N × batch_size, gradients are averaged, rank 0 tests, logs and
snapshots; synchronised by :mod:`fashioncaffe.distributed`).  The N processes come from

* :func:`train_parallel`: ``--gpu 0,1`` (one process per listed GPU) or N CPU processes, on this
  machine, started here;
* :func:`train_launched`: torch.distributed's standard launcher, ``torchrun``, on one or several
  machines (``--nnodes`` / ``--nproc-per-node`` / ``--rdzv-*``): each process it starts runs
  ``fashioncaffe train`` and joins the group it describes; local process i of a machine takes the
  i-th GPU of ``--gpu`` (cycling when there are fewer GPUs than processes).

Backend (:func:`backend_for`): NCCL when every process has a GPU of its own, gloo on the CPU or when
processes share a GPU (NCCL refuses two ranks on one device); ``FASHIONCAFFE_DIST_BACKEND`` overrides.
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

__all__ = ["run_training", "train_parallel", "train_launched", "launched_by_torchrun", "backend_for"]

#: environment variable naming the torch.distributed backend to use instead of the automatic choice
BACKEND_ENV = "FASHIONCAFFE_DIST_BACKEND"


def run_training(job: dict) -> Solver:
    """Build the solver, fine-tune or resume, solve.  ``job``: solver, weights, snapshot,
    iterations, snapshot_prefix, sigint_effect, sighup_effect, precision, compile."""
    overrides = {}
    if job.get("iterations") is not None:
        if int(job["iterations"]) <= 0:
            raise fail(f"--iterations {job['iterations']}: training needs a positive number of iterations (it "
                       "replaces the solver's max_iter); leave the flag out to use max_iter.")
        overrides["max_iter"] = int(job["iterations"])
    if job.get("snapshot_prefix"):
        overrides["snapshot_prefix"] = job["snapshot_prefix"]
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


def backend_for(devices, processes_sharing=None) -> str:
    """``nccl`` when each process of this machine has a GPU of its own, ``gloo`` on the CPU or when
    processes share a GPU; ``$FASHIONCAFFE_DIST_BACKEND`` wins.  ``devices``: the GPU of each local
    process (empty on the CPU)."""
    forced = os.environ.get(BACKEND_ENV, "").strip().lower()
    if forced:
        if forced not in ("nccl", "gloo", "mpi", "ucc"):
            raise fail(f"{BACKEND_ENV}={forced}: expected nccl or gloo (or mpi / ucc where PyTorch has them).")
        return forced
    if not devices:
        return "gloo"
    shared = len(set(devices)) < len(devices) if processes_sharing is None else processes_sharing
    return "gloo" if shared else "nccl"


def _start_process(rank, device, job, threads=None):
    """Per-process setup of a data-parallel run: the device, and logging by rank 0 alone."""
    if device is not None:
        mode.set_device(device)
        mode.set_mode_gpu()
    else:
        mode.set_mode_cpu()
        if threads:
            torch.set_num_threads(threads)
    log.forget_log_files()   # a forked worker must not share the parent's log handles
    if rank != 0:
        log.set_enabled(False)
    if job.get("log_file") and rank == 0:
        log.add_log_file(job["log_file"])


def _worker(r, n, port, devices, job):
    import torch.distributed as dist

    device = devices[r] if devices else None
    if device is not None:
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(devices), init_method=f"tcp://127.0.0.1:{port}", rank=r, world_size=n)
    try:
        _start_process(r, device, job, threads=max(1, (os.cpu_count() or 1) // n))
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


def launched_by_torchrun() -> bool:
    """True in a process that torchrun (torch.distributed.run / elastic launch) started."""
    env = os.environ
    return "TORCHELASTIC_RUN_ID" in env or all(k in env for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK",
                                                                   "MASTER_ADDR", "MASTER_PORT"))


def train_launched(job: dict, gpus=None) -> None:
    """Run :func:`run_training` in this process as one rank of the group torchrun describes (its
    RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE / MASTER_ADDR / MASTER_PORT).  ``gpus``: this
    machine's GPUs for its processes (local rank i takes ``gpus[i % len(gpus)]``); empty: the CPU."""
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    local_n = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    device = gpus[local % len(gpus)] if gpus else None
    backend = backend_for([gpus[i % len(gpus)] for i in range(local_n)] if gpus else [])
    if device is not None:
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method="env://")
    try:
        rank, n = dist.get_rank(), dist.get_world_size()
        _start_process(rank, device, job)
        log.info(f"torchrun process {rank} of {n} (local {local} of {local_n}) on "
                 f"{'GPU ' + str(device) if device is not None else 'the CPU'}, backend {backend}", "caffe.cpp:233")
        run_training(job)
    finally:
        dist.destroy_process_group()
