"""The ``fashioncaffe`` command (``python -m fashioncaffe``), Caffe's ``caffe`` tool on the engine.

    fashioncaffe train --solver S [--weights W[,W2] | --snapshot S] [--gpu 0|0,1|all] [--iterations N]
                       [--snapshot_prefix P]
    fashioncaffe test --model M --weights W [--iterations 50] [--gpu 0]
    fashioncaffe time --model M [--iterations 50] [--gpu 0]
    fashioncaffe device_query [--gpu 0]

Flags may also be written Caffe's way with one dash (``-solver x -gpu 0``).  Every command takes
``--log_file PATH`` (log lines, in Caffe's format, go to stderr and to the file).  A
FashionCaffeError prints its message alone and exits with status 2.

**Adding a command** (from any module, without editing this file)::

    from fashioncaffe.cli import register_command

    def add_args(parser):            # an argparse.ArgumentParser for the subcommand
        parser.add_argument("--model", required=True)

    def run(args):                   # the parsed argparse.Namespace; return an exit status or None
        ...

    register_command("export", add_args, run, help="export a deploy net to ONNX")

Modules are found automatically when they are named ``cli_<anything>.py`` in the ``fashioncaffe``
package or one of its subpackages (e.g. ``fashioncaffe/onnx/cli_export.py``), or when a distribution
declares an entry point in the group ``fashioncaffe.commands`` (the entry point's object is imported;
registering happens at import).  A command module that fails to import is an error, not skipped.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from importlib.metadata import entry_points

from . import logging_caffe as log
from .errors import FashionCaffeError, fail

__all__ = ["register_command", "main", "commands", "parse_gpus"]

_COMMANDS: dict = {}
_DISCOVERED = False


def register_command(name: str, add_args, run, help: str = "") -> None:
    """Make ``fashioncaffe <name>`` parse its flags with ``add_args(parser)`` and run ``run(args)``."""
    _COMMANDS[name] = (add_args, run, help)


def commands() -> dict:
    _discover()
    return dict(_COMMANDS)


def _discover():
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    pkg_dir = os.path.dirname(os.path.abspath(__file__))
    names = []
    for info in pkgutil.iter_modules([pkg_dir]):
        if info.name.startswith("cli_"):
            names.append(f"fashioncaffe.{info.name}")
        elif info.ispkg:
            for sub in pkgutil.iter_modules([os.path.join(pkg_dir, info.name)]):
                if sub.name.startswith("cli_"):
                    names.append(f"fashioncaffe.{info.name}.{sub.name}")
    for name in sorted(names):
        importlib.import_module(name)
    for ep in entry_points(group="fashioncaffe.commands"):
        try:
            ep.load()
        except Exception as e:
            dist = getattr(ep.dist, "name", "?")
            raise fail(f"The fashioncaffe command plugin '{ep.name}' (entry point {ep.value} of the installed "
                       f"distribution '{dist}') fails to import: {type(e).__name__}: {e}. Fix or uninstall "
                       "that distribution.") from e


def _flag(parser, name, **kw):
    """``--name`` and Caffe's ``-name``."""
    parser.add_argument(f"--{name}", f"-{name}", dest=name, **kw)


def _fast_flags(p):
    """Opt-in speed modes (fashioncaffe.fastmodes); the default is Caffe-faithful float32, eager."""
    _flag(p, "precision", default="fp32", choices=["fp32", "bf16", "tf32"],
          help="fp32 (default, faithful), bf16 (autocast) or tf32 (CUDA TensorFloat-32)")
    _flag(p, "compile", action="store_true", help="run the net's forward through torch.compile")


def _fast_net(net, a):
    """Put a net built by test/time in the requested mode and log it."""
    from . import fastmodes

    m = fastmodes.configure(precision=a.precision, compile=a.compile)
    fastmodes.apply(net, m)
    log.info(f"Compute mode: {fastmodes.describe(m, net.device)}", "fastmodes.py:0")
    return m


def parse_gpus(spec):
    """``""`` → [], ``"all"`` → every CUDA device, ``"0,1"`` → [0, 1]; spaces are ignored.  The one
    parser of GPU lists: the experiment drivers (tools/repro) use it too, so ``--gpu`` means the same
    everywhere and a missing device is refused before any work starts."""
    import torch

    if spec is None or spec == "":
        return []
    if spec == "all":
        n = torch.cuda.device_count()
        if n == 0:
            raise fail("--gpu all: no CUDA device is visible to PyTorch.")
        return list(range(n))
    try:
        gpus = [int(x) for x in spec.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise fail(f"--gpu {spec}: expected a device id, a comma-separated list (0,1) or 'all'.") from None
    if gpus and not torch.cuda.is_available():
        raise fail(f"--gpu {spec}: no CUDA device is visible to PyTorch (torch.cuda.is_available() is False); "
                   "leave out --gpu to run on the CPU.")
    n = torch.cuda.device_count()
    for g in gpus:
        if g < 0 or g >= n:
            raise fail(f"--gpu {spec}: device {g} does not exist (this machine has {n} CUDA device(s)).")
    return gpus


def _use_gpu(gpus):
    from . import mode

    if gpus:
        mode.set_device(gpus[0])
        mode.set_mode_gpu()
        log.info(f"Use GPU with device ID {gpus[0]}", "caffe.cpp:219")
    else:
        mode.set_mode_cpu()
        log.info("Use CPU.", "caffe.cpp:223")


# ----------------------------------------------------------------------------------------------
# train
def _train_args(p):
    _flag(p, "solver", required=True, help="solver prototxt")
    _flag(p, "weights", default="", help="comma-separated .caffemodel files to fine-tune from")
    _flag(p, "snapshot", default="", help=".solverstate to resume from")
    _flag(p, "gpu", default="", help="GPU id(s): 0, 0,1 or all (default: solver_mode/device_id, else CPU); under "
                                     "torchrun, local process i takes the i-th of them")
    _flag(p, "iterations", type=int, default=None, help="override max_iter")
    _flag(p, "snapshot_prefix", default="", help="override the solver's snapshot_prefix (where snapshots go)")
    _flag(p, "sigint_effect", default="stop", choices=["stop", "snapshot", "none"])
    _flag(p, "sighup_effect", default="snapshot", choices=["stop", "snapshot", "none"])
    _flag(p, "cpu_procs", type=int, default=0, help=argparse.SUPPRESS)  # data-parallel on CPU (gloo)
    _fast_flags(p)


def _train(a):
    from . import training
    from .solvers import read_solver
    from .proto import caffe_pb2

    if a.snapshot and a.weights:
        raise fail("Give a snapshot to resume training or weights to finetune but not both.")
    gpus = parse_gpus(a.gpu)
    if not gpus:
        param, _ = read_solver(a.solver)
        if param.HasField("solver_mode") and param.solver_mode == caffe_pb2.SolverParameter.GPU:
            import torch

            if torch.cuda.is_available():
                gpus = [int(param.device_id)]
            else:
                log.warning("solver_mode is GPU but no CUDA device is visible to PyTorch; training on the CPU.",
                            "caffe.cpp:205")
    job = {"solver": a.solver, "weights": a.weights, "snapshot": a.snapshot, "iterations": a.iterations,
           "snapshot_prefix": a.snapshot_prefix,
           "sigint_effect": a.sigint_effect, "sighup_effect": a.sighup_effect, "log_file": a.log_file,
           "precision": a.precision, "compile": a.compile}
    if training.launched_by_torchrun():
        if a.cpu_procs > 1:
            raise fail("--cpu_procs starts processes itself; under torchrun give --nproc-per-node instead.")
        training.train_launched(job, gpus)
        log.info("Optimization Done.", "caffe.cpp:260")
        return 0
    if len(gpus) > 1 or a.cpu_procs > 1:
        log.info(f"Using {len(gpus) or a.cpu_procs} processes: GPUs {gpus}" if gpus else
                 f"Using {a.cpu_procs} CPU processes (gloo)", "caffe.cpp:233")
        training.train_parallel(job, devices=gpus or None, num_procs=a.cpu_procs)
        log.info("Optimization Done.", "caffe.cpp:260")
        return 0
    _use_gpu(gpus)
    job["log_file"] = None  # already attached by main()
    training.run_training(job)
    return 0


# ----------------------------------------------------------------------------------------------
# test
def _positive_int(text):
    """argparse type of a count that must be >= 1 (BVLC's tool divides by it)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1 (the averages divide by it)")
    return value


def _net_args(p, iterations=50):
    _flag(p, "model", required=True, help="net prototxt")
    _flag(p, "iterations", type=_positive_int, default=iterations)
    _flag(p, "gpu", default="")
    _flag(p, "level", type=int, default=0)
    _flag(p, "stage", default="", help="comma-separated stages")
    _fast_flags(p)


def _test_args(p):
    _net_args(p)
    _flag(p, "weights", required=True, help=".caffemodel to test")


def _test(a):
    import numpy as np
    import torch

    from .net import Net

    gpus = parse_gpus(a.gpu)
    _use_gpu(gpus[:1])
    stages = tuple(s for s in a.stage.split(",") if s)
    net = Net(a.model, 1, level=a.level, stages=stages)
    net.copy_from(a.weights)
    _fast_net(net, a)
    log.info(f"Running for {a.iterations} iterations.", "caffe.cpp:304")
    scores = None
    loss_total = 0.0
    names = []
    for i in range(a.iterations):
        with torch.no_grad():
            loss = net.forward_from_to(grad=False)
        loss_total += 0.0 if loss is None else float(loss)
        vals = []
        for o in net.outputs:
            v = net.blobs[o].tensor.detach().reshape(-1).cpu().numpy().astype(np.float32)
            for x in v:
                log.info(f"Batch {i}, {o} = {log.fmt(x)}", "caffe.cpp:327")
                vals.append(x)
                if i == 0:
                    names.append(o)
        scores = np.array(vals, dtype=np.float32) if scores is None else scores + np.array(vals, dtype=np.float32)
    n = max(1, a.iterations)
    log.info(f"Loss: {log.fmt(loss_total / n)}", "caffe.cpp:332")
    for name, s in zip(names, scores if scores is not None else []):
        w = net.blob_loss_weights.get(name, 0.0)
        mean = np.float32(s / n)
        extra = f" (* {log.fmt(w)} = {log.fmt(np.float32(w) * mean)} loss)" if w else ""
        log.info(f"{name} = {log.fmt(mean)}{extra}", "caffe.cpp:344")
    return 0


# ----------------------------------------------------------------------------------------------
# time
def _time_args(p):
    _net_args(p)
    _flag(p, "phase", default="TRAIN", choices=["TRAIN", "TEST"])


def _timed_pass(net, sync, fwd_t, bwd_t):
    """One forward and one backward, layer by layer, each layer's graph cut from the others so its
    backward can be timed alone.  Adds microseconds to ``fwd_t`` / ``bwd_t``."""
    import torch

    steps = net.schedule
    slots = [None] * len(net.slot_names)
    record = []
    for k, step in enumerate(steps):
        t0 = time.perf_counter()
        if step.layer.feeds_from_blob:
            outs = [net.slot_blob(s).tensor for s in step.tops]
            ins = []
        else:
            ins = []
            for s in step.bottoms:
                x = slots[s] if slots[s] is not None else net.slot_blob(s).tensor
                x = x.detach()
                if x.is_floating_point():
                    x.requires_grad_(True)
                ins.append(x)
            outs = step.layer.forward(ins)
        sync()
        fwd_t[k] += (time.perf_counter() - t0) * 1e6
        for s, o in zip(step.tops, outs):
            slots[s] = o
        record.append((ins, outs))
    grads = {}
    for s, w in net.loss_terms:
        if slots[s] is not None:
            grads[s] = torch.full_like(slots[s], w)
    for k in range(len(steps) - 1, -1, -1):
        step = steps[k]
        ins, outs = record[k]
        t0 = time.perf_counter()
        ts, gs = [], []
        for s, o in zip(step.tops, outs):
            if s in grads and o.requires_grad:
                ts.append(o)
                gs.append(grads[s])
        if ts:
            torch.autograd.backward(ts, gs)
        sync()
        bwd_t[k] += (time.perf_counter() - t0) * 1e6
        for s, x in zip(step.bottoms, ins):
            if x.grad is not None:
                grads[s] = grads[s] + x.grad if s in grads else x.grad


def _whole_pass(net):
    loss = net.forward_from_to()
    if loss is not None and loss.requires_grad:
        loss.backward()


def _time(a):
    import torch

    from .net import Net

    gpus = parse_gpus(a.gpu)
    _use_gpu(gpus[:1])
    stages = tuple(s for s in a.stage.split(",") if s)
    phase = 0 if a.phase == "TRAIN" else 1
    net = Net(a.model, phase, level=a.level, stages=stages)
    cuda = net.device.type == "cuda"
    from . import fastmodes

    fm = _fast_net(net, a)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    log.info("Performing Forward", "caffe.cpp:361")
    loss = net.forward_from_to()
    log.info(f"Initial loss: {log.fmt(0.0 if loss is None else float(loss.detach()))}", "caffe.cpp:363")
    log.info("Performing Backward", "caffe.cpp:364")
    if loss is not None and loss.requires_grad:
        loss.backward()
    n = len(net.schedule)
    fwd_t, bwd_t = [0.0] * n, [0.0] * n
    log.info("*** Benchmark begins ***", "caffe.cpp:377")
    log.info(f"Testing for {a.iterations} iterations.", "caffe.cpp:378")
    total0 = time.perf_counter()
    f_sum = b_sum = 0.0
    for j in range(a.iterations):
        it0 = time.perf_counter()
        f0, b0 = sum(fwd_t), sum(bwd_t)
        with fastmodes.timing_context(fm, net.device):
            _timed_pass(net, sync, fwd_t, bwd_t)
        f_sum += sum(fwd_t) - f0
        b_sum += sum(bwd_t) - b0
        log.info(f"Iteration: {j + 1} forward-backward time: {log.fmt((time.perf_counter() - it0) * 1e3)} ms.",
                 "caffe.cpp:406")
    total_ms = (time.perf_counter() - total0) * 1e3
    iters = max(1, a.iterations)
    log.info("Average time per layer: ", "caffe.cpp:409")
    for name, f, b in zip(net.layer_names, fwd_t, bwd_t):
        log.info(f"{name:>10}\tforward: {log.fmt(f / 1000 / iters)} ms.", "caffe.cpp:412")
        log.info(f"{name:>10}\tbackward: {log.fmt(b / 1000 / iters)} ms.", "caffe.cpp:415")
    log.info(f"Average Forward pass: {log.fmt(f_sum / 1000 / iters)} ms.", "caffe.cpp:420")
    log.info(f"Average Backward pass: {log.fmt(b_sum / 1000 / iters)} ms.", "caffe.cpp:422")
    log.info(f"Average Forward-Backward: {log.fmt(total_ms / iters)} ms.", "caffe.cpp:424")
    log.info(f"Total Time: {log.fmt(total_ms)} ms.", "caffe.cpp:426")
    if fm.compile:  # a compiled graph has no layer boundaries: time the whole net
        for _ in range(2):  # warm-up (compiles)
            _whole_pass(net)
        sync()
        c0 = time.perf_counter()
        for _ in range(iters):
            _whole_pass(net)
        sync()
        log.info("Per-layer times above are eager; the compiled net as a whole: "
                 f"{log.fmt((time.perf_counter() - c0) * 1e3 / iters)} ms per forward-backward.", "fastmodes.py:0")
    log.info("*** Benchmark ends ***", "caffe.cpp:427")
    return 0


# ----------------------------------------------------------------------------------------------
# device_query
def _device_query_args(p):
    _flag(p, "gpu", default="all")


def _device_query(a):
    import torch

    if not torch.cuda.is_available():
        log.info("No CUDA device is visible to PyTorch; fashioncaffe runs on the CPU "
                 f"({os.cpu_count()} logical cores, torch {torch.__version__}, "
                 f"{torch.get_num_threads()} threads).", "common.cpp:0")
        return 0
    for g in parse_gpus(a.gpu):
        pr = torch.cuda.get_device_properties(g)
        log.info(f"Querying GPUs {g}", "caffe.cpp:113")
        log.info(f"Device id:                     {g}", "common.cpp:168")
        log.info(f"Major revision number:         {pr.major}", "common.cpp:169")
        log.info(f"Minor revision number:         {pr.minor}", "common.cpp:170")
        log.info(f"Name:                          {pr.name}", "common.cpp:171")
        log.info(f"Total global memory:           {pr.total_memory}", "common.cpp:172")
        log.info(f"Number of multiprocessors:     {pr.multi_processor_count}", "common.cpp:184")
    return 0


register_command("train", _train_args, _train, help="train or fine-tune a model from a solver prototxt")
register_command("test", _test_args, _test, help="score a model over --iterations batches")
register_command("time", _time_args, _time, help="benchmark per-layer forward/backward execution time")
register_command("device_query", _device_query_args, _device_query, help="show CUDA device diagnostics")


def build_parser():
    _discover()
    parser = argparse.ArgumentParser(prog="fashioncaffe", description="Caffe's command-line tool on the "
                                     "fashioncaffe engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_args, _run, help_) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_args(p)
        if p.get_default("log_file") is None:  # the command did not define --log_file itself
            _flag(p, "log_file", default="", help="also write the log to this file")
    return parser


def main(argv=None) -> int:
    try:
        parser = build_parser()
    except FashionCaffeError as e:
        sys.stderr.write(f"fashioncaffe: {e}\n")
        return 2
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 1
    _add, run, _help = _COMMANDS[args.command]
    logf = None
    try:
        if getattr(args, "log_file", ""):
            logf = log.add_log_file(args.log_file)
        status = run(args)
        return 0 if status is None else int(status)
    except FashionCaffeError as e:
        sys.stderr.write(f"fashioncaffe {args.command}: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"fashioncaffe {args.command}: interrupted\n")
        return 130
    finally:
        if logf is not None:
            log.remove_log_file(logf)


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
