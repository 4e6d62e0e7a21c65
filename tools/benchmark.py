#!/usr/bin/env python
"""Training throughput and peak memory: the engine vs a hand-written PyTorch model of the same net.

    python tools/benchmark.py --net all --device cpu          # AlexNet at 227, VGG-16 and ResNet-50 at 64 on the CPU
    python tools/benchmark.py --net vgg16 --device cuda --batch 64 --input-size 224
    python tools/benchmark.py --net resnet50 --device cuda --modes fp32,bf16,bf16+cl,bf16+compile

The engine trains the zoo prototxt (``prototxt/zoo/<net>``) with its data layers swapped for Input
layers (data N×3×S×S, label N), through ``SGDSolver.step`` (Caffe's SGD: h = μh + lr·(g + λw),
w −= h; bias lr_mult 2, decay_mult 0; BatchNorm on batch statistics as in TRAIN).  The reference is
the torch.nn module of the same architecture in ``tools/benchmark_models.py``, initialised with the
same gaussian scales, trained with torch.optim.SGD (momentum 0.9, the same per-group lr / weight decay)
on the same batch.  Both see the same fixed random batch, so the timing is the training step alone (no
data pipeline; ``tools/benchmark_data.py`` measures that).

Modes (``--modes``, comma-separated): ``fp32`` (TF32 off on both sides, Caffe's float32), ``bf16``
(the engine's opt-in bf16; the reference under torch.autocast bfloat16), ``+cl`` channels-last memory
format (the reference only: the engine has no channels-last mode, so its side is reported as not
available), ``+compile`` (the engine's ``solver.compile``; the reference through torch.compile), with
``--compile-backend`` (inductor by default; ``eager`` only exercises the plumbing).

Speed: the two alternate in rounds of ``--iters`` iterations (order flipped every round), in one
process, after a warm-up, so they share thermal and cache state; images/s is the median over rounds
per side (the total-time rate is kept beside it), and the ratio is engine / reference (goal ≥ 1.0).
Memory: CUDA: measured in the same process, per side: what the side keeps allocated after its
warm-up plus the highest transient allocation during its rounds (torch.cuda.max_memory_allocated);
CPU: each side runs alone in a fresh subprocess, peak RSS (VmHWM) minus the RSS after imports.  Ratio
engine / reference (goal ≤ 1.2).

``--profile`` prints torch.profiler tables of both sides (top ops by self CPU time, and the
engine's Python-side share), to find where the engine loses time.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.benchmark_models import build_torch_model  # noqa: E402

ZOO = ROOT / "prototxt" / "zoo"
os.environ.setdefault("GLOG_minloglevel", "1")  # the solver's INFO log would drown the results
NETS = {"alexnet": "bvlc_alexnet/train_val.prototxt", "vgg16": "vgg16/deploy.prototxt",
        "resnet50": "resnet50/deploy.prototxt"}
CPU_DEFAULT_SIZE = {"alexnet": 227, "vgg16": 64, "resnet50": 64}
FULL_SIZE = {"alexnet": 227, "vgg16": 224, "resnet50": 224}
CPU_DEFAULT_BATCH = {"alexnet": 16, "vgg16": 8, "resnet50": 8}
CUDA_DEFAULT_BATCH = {"alexnet": 256, "vgg16": 64, "resnet50": 64}
BASE_LR, MOMENTUM, WEIGHT_DECAY = 0.001, 0.9, 0.0005


class NotAvailable(Exception):
    """This side has no such mode (reported, not an error)."""


def parse_mode(text: str) -> dict:
    """``fp32``, ``bf16``, ``bf16+cl``, ``bf16+compile``, ``fp32+cl+compile`` ... as a dict."""
    parts = [p for p in str(text).lower().split("+") if p]
    if not parts or parts[0] not in ("fp32", "bf16"):
        raise ValueError(f"mode {text!r}: expected fp32 or bf16, optionally followed by +cl and/or +compile")
    extra = set(parts[1:])
    unknown = extra - {"cl", "compile"}
    if unknown:
        raise ValueError(f"mode {text!r}: unknown part(s) {sorted(unknown)}; known: cl, compile")
    return {"name": "+".join([parts[0]] + [p for p in ("cl", "compile") if p in extra]), "precision": parts[0],
            "channels_last": "cl" in extra, "compile": "compile" in extra}


# ------------------------------------------------------------------------------------------------
# the engine side
def engine_net_param(net: str, batch: int, size: int):
    """The zoo net as a training NetParameter with Input layers for data and label."""
    from fashioncaffe.proto import caffe_pb2
    from fashioncaffe.prototxt import read_net_param

    src = read_net_param(str(ZOO / NETS[net]))
    out = caffe_pb2.NetParameter()
    out.name = src.name
    out.layer.add(name="data", type="Input", top=["data", "label"]).input_param.shape.extend(
        [caffe_pb2.BlobShape(dim=[batch, 3, size, size]), caffe_pb2.BlobShape(dim=[batch])])
    for lp in src.layer:
        if lp.type in ("Data", "Input"):
            continue
        if any(r.phase == caffe_pb2.TEST for r in lp.include if r.HasField("phase")):
            continue  # Accuracy
        if lp.type == "Softmax" and lp.name == "prob":  # deploy net: train with SoftmaxWithLoss instead
            out.layer.add(name="loss", type="SoftmaxWithLoss", bottom=[lp.bottom[0], "label"], top=["loss"])
            continue
        new = out.layer.add()
        new.CopyFrom(lp)
        del new.include[:]
        if lp.type in ("Convolution", "InnerProduct"):
            # the deploy file has no fillers or lr mults: give it train_val's (gaussian, bias lr ×2, no decay)
            p = new.convolution_param if lp.type == "Convolution" else new.inner_product_param
            if not p.HasField("weight_filler"):
                p.weight_filler.type, p.weight_filler.std = "gaussian", 0.01
                if p.bias_term:
                    p.bias_filler.type, p.bias_filler.value = "constant", 0.0
            if not new.param:
                new.param.add(lr_mult=1, decay_mult=1)
                if p.bias_term:
                    new.param.add(lr_mult=2, decay_mult=0)
        elif lp.type == "BatchNorm":
            new.batch_norm_param.ClearField("use_global_stats")  # TRAIN: batch statistics, as Caffe's default
        elif lp.type == "Pooling" and lp.name == "pool5" and net == "resnet50" and size != FULL_SIZE[net]:
            new.pooling_param.ClearField("kernel_size")   # the 7×7 average is the whole map only at 224
            new.pooling_param.ClearField("stride")
            new.pooling_param.global_pooling = True
    return out


class EngineRunner:
    def __init__(self, net, batch, size, device, data, label, mode=None, compile_backend="inductor"):
        import fashioncaffe as caffe
        from fashioncaffe.proto import caffe_pb2

        mode = mode or parse_mode("fp32")
        if mode["channels_last"]:
            raise NotAvailable("the engine has no channels-last mode")
        if device == "cuda":
            caffe.set_mode_gpu()
        else:
            caffe.set_mode_cpu()
        sp = caffe_pb2.SolverParameter(base_lr=BASE_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                                       lr_policy="fixed", display=0, max_iter=10 ** 9, snapshot=0,
                                       snapshot_after_train=False)
        sp.net_param.CopyFrom(engine_net_param(net, batch, size))
        self.solver = caffe.SGDSolver(sp)
        self.solver.precision = mode["precision"]
        self.solver.compile = mode["compile"]
        self.solver.compile_backend = compile_backend
        self.net = self.solver.net
        self.net.blobs["data"].data[...] = data
        self.net.blobs["label"].data[...] = label
        self.device = device

    def step(self, n):
        self.solver.step(n)

    def sync(self):
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
        else:
            float(self.net.blobs["loss"].tensor.detach())

    def loss(self):
        return float(self.net.blobs["loss"].tensor.detach())


# ------------------------------------------------------------------------------------------------
# the hand-written PyTorch reference
class TorchRunner:
    def __init__(self, net, batch, size, device, data, label, mode=None, compile_backend="inductor"):
        import torch

        from fashioncaffe import fastmodes

        mode = mode or parse_mode("fp32")
        fastmodes.set_tf32(False)  # the engine's fp32 and bf16 modes run with TF32 off: so does the reference
        self.device = torch.device(device)
        self.model = build_torch_model(net, size).to(self.device).train()
        fmt = torch.channels_last if mode["channels_last"] else torch.contiguous_format
        self.model = self.model.to(memory_format=fmt)
        weights = [p for n, p in self.model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in self.model.named_parameters() if n.endswith("bias")]
        self.opt = torch.optim.SGD([dict(params=weights, lr=BASE_LR, weight_decay=WEIGHT_DECAY),
                                    dict(params=biases, lr=2 * BASE_LR, weight_decay=0.0)],
                                   lr=BASE_LR, momentum=MOMENTUM, foreach=True)
        self.x = torch.as_tensor(data, device=self.device).contiguous(memory_format=fmt)
        self.y = torch.as_tensor(label, device=self.device).long()
        self.lossf = torch.nn.CrossEntropyLoss()
        self.forward = torch.compile(self.model, backend=compile_backend) if mode["compile"] else self.model
        self.bf16 = mode["precision"] == "bf16"
        self._loss = None

    def step(self, n):
        import torch

        for _ in range(n):
            self.opt.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                loss = self.lossf(self.forward(self.x), self.y)
            loss.backward()
            self.opt.step()
            self._loss = loss.detach()

    def sync(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
        elif self._loss is not None:
            float(self._loss)

    def loss(self):
        return float(self._loss)


def make_batch(batch, size, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((batch, 3, size, size)) * 50).astype(np.float32)
    label = rng.integers(0, 1000, size=batch).astype(np.float32)
    return data, label


RUNNERS = {"engine": EngineRunner, "torch": TorchRunner}


# ------------------------------------------------------------------------------------------------
# measurements
def _cuda_mem():
    import torch

    torch.cuda.synchronize()
    return torch.cuda.memory_allocated()


def measure_speed(net, batch, size, device, iters, rounds, warmup, mode="fp32", compile_backend="inductor"):
    """Interleaved rounds of both sides.  Returns ``(sides, runners)``: per side a dict with
    ``ips`` (median of rounds), ``ips_total``, ``per_round``, ``loss``, ``warmup_s`` (the first steps,
    compilation included) and on CUDA ``peak_bytes``; or ``{"unavailable": reason}``."""
    import torch

    mode = parse_mode(mode) if isinstance(mode, str) else mode
    cuda = device == "cuda"
    data, label = make_batch(batch, size)
    torch.manual_seed(0)
    runners, sides = {}, {}
    for k, cls in RUNNERS.items():
        before = _cuda_mem() if cuda else 0
        try:
            r = cls(net, batch, size, device, data, label, mode, compile_backend)
        except NotAvailable as e:
            sides[k] = {"unavailable": str(e)}
            continue
        t0 = time.perf_counter()
        r.step(warmup)
        r.sync()
        sides[k] = {"warmup_s": time.perf_counter() - t0, "per_round": [], "total_s": 0.0,
                    "resident_bytes": (_cuda_mem() - before) if cuda else None, "transient_bytes": 0}
        runners[k] = r
    order = [k for k in ("engine", "torch") if k in runners]
    for i in range(rounds):
        for k in (order if i % 2 == 0 else order[::-1]):
            r, s = runners[k], sides[k]
            r.sync()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
            t0 = time.perf_counter()
            r.step(iters)
            r.sync()
            dt = time.perf_counter() - t0
            if cuda:
                s["transient_bytes"] = max(s["transient_bytes"], torch.cuda.max_memory_allocated() - base)
            s["total_s"] += dt
            s["per_round"].append(batch * iters / dt)
    for k in order:
        s = sides[k]
        s["ips"] = statistics.median(s["per_round"]) if s["per_round"] else None
        s["ips_total"] = batch * iters * rounds / s["total_s"] if s["total_s"] else None
        s["loss"] = runners[k].loss()
        s["peak_bytes"] = s["resident_bytes"] + s["transient_bytes"] if cuda else None
    return sides, runners


def _peak_rss_bytes():
    """This process's peak resident set size.  Linux: VmHWM (per address space, so it starts afresh
    at exec; ru_maxrss would carry the parent's peak over fork + exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def memory_probe(side, net, batch, size, device, iters):
    """Run in a fresh process: build one side, train ``iters`` steps, report peak memory (bytes)."""
    import torch

    import fashioncaffe  # noqa: F401  (both sides pay the same imports)

    data, label = make_batch(batch, size)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    base_rss = _peak_rss_bytes()
    runner = RUNNERS[side](net, batch, size, device, data, label)
    runner.step(iters)
    runner.sync()
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _peak_rss_bytes() - base_rss
    return {"side": side, "peak_bytes": int(peak), "loss": runner.loss()}


def measure_memory(net, batch, size, device, iters):
    """Peak memory per side (fp32), each side alone in a fresh subprocess."""
    out = {}
    for side in ("engine", "torch"):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_probe", side, "--net", net, "--batch", str(batch),
               "--input-size", str(size), "--device", device, "--iters", str(iters)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
        if res.returncode != 0 or not lines:
            raise RuntimeError(f"memory probe for {side} failed:\n{res.stdout}\n{res.stderr}")
        out[side] = json.loads(lines[-1])["peak_bytes"]
    return out


def profile(runners, iters):
    from torch.profiler import ProfilerActivity, profile as tprofile

    acts = [ProfilerActivity.CPU]
    import torch

    if torch.cuda.is_available():
        acts.append(ProfilerActivity.CUDA)
    for k, r in runners.items():
        with tprofile(activities=acts) as prof:
            r.step(iters)
            r.sync()
        print(f"\n--- torch.profiler: {k} ({iters} iterations), top ops by self CPU time ---")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))
    if "engine" not in runners:
        return
    # Python-side overhead of the engine: cProfile over the same steps
    import cProfile
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    runners["engine"].step(iters)
    runners["engine"].sync()
    pr.disable()
    print(f"\n--- cProfile: engine ({iters} iterations), top functions by internal time ---")
    pstats.Stats(pr).sort_stats("tottime").print_stats(15)


def fmt_mb(b):
    return f"{b / 2 ** 20:,.1f} MiB"


def default_shape(net, device, batch=None, size=None):
    """(batch, input size) for ``net`` on ``device`` unless given."""
    if device == "cuda":
        return batch or CUDA_DEFAULT_BATCH[net], size or FULL_SIZE[net]
    return batch or CPU_DEFAULT_BATCH[net], size or CPU_DEFAULT_SIZE[net]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=list(NETS) + ["all"], default="all")
    ap.add_argument("--batch", type=int, default=None, help="images per iteration (CPU default: 16 AlexNet, 8 "
                                                            "VGG-16 / ResNet-50; CUDA: 256 / 64 / 64)")
    ap.add_argument("--iters", type=int, default=3, help="iterations per timed round")
    ap.add_argument("--rounds", type=int, default=4, help="timed rounds per side (alternating)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--input-size", type=int, default=None,
                    help="input height = width (CPU default: 227 AlexNet, 64 VGG-16 / ResNet-50; CUDA: the full "
                         "227 / 224 / 224)")
    ap.add_argument("--modes", default="fp32", help="comma-separated: fp32, bf16, bf16+cl, bf16+compile, ...")
    ap.add_argument("--compile-backend", default="inductor")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    ap.add_argument("--profile", action="store_true", help="print profiler tables for both sides")
    ap.add_argument("--_probe", choices=["engine", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    nets = list(NETS) if args.net == "all" else [args.net]
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible to PyTorch")
    try:
        modes = [parse_mode(m) for m in args.modes.split(",") if m]
    except ValueError as e:
        ap.error(str(e))

    if args._probe:
        net = nets[0]
        print(json.dumps(memory_probe(args._probe, net, args.batch, args.input_size, args.device, args.iters)))
        return 0

    print(f"fashioncaffe benchmark: device={args.device} torch={torch.__version__} "
          f"threads={torch.get_num_threads()} iters/round={args.iters} rounds={args.rounds}")
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}")
    rows = []
    for net in nets:
        batch, size = default_shape(net, args.device, args.batch, args.input_size)
        note = "" if size == FULL_SIZE[net] else f" (reduced from {FULL_SIZE[net]})"
        for mode in modes:
            print(f"\n== {net}: batch {batch}, input 3x{size}x{size}{note}, {mode['name']}, SGD momentum {MOMENTUM}")
            sides, runners = measure_speed(net, batch, size, args.device, args.iters, args.rounds, args.warmup,
                                           mode, args.compile_backend)
            for k, s in sides.items():
                if "unavailable" in s:
                    print(f"  {k:6s} not available: {s['unavailable']}")
                    continue
                rounds = " ".join(f"{v:.1f}" for v in s["per_round"])
                mem = f"; peak {fmt_mb(s['peak_bytes'])}" if s.get("peak_bytes") is not None else ""
                print(f"  {k:6s} {s['ips']:9.2f} images/s median   (per round: {rounds}; warm-up "
                      f"{s['warmup_s']:.1f} s; last loss {s['loss']:.4f}{mem})")
            row = {"net": net, "batch": batch, "size": size, "mode": mode["name"],
                   "engine_ips": sides["engine"].get("ips"), "torch_ips": sides["torch"].get("ips")}
            if row["engine_ips"] and row["torch_ips"]:
                row["speed_ratio"] = row["engine_ips"] / row["torch_ips"]
                print(f"  speed ratio engine/torch = {row['speed_ratio']:.3f}  "
                      f"(goal >= 1.0: {'met' if row['speed_ratio'] >= 1.0 else 'NOT met'})")
            if args.profile:
                profile(runners, args.iters)
            del runners
            if not args.no_memory:
                if args.device == "cuda":
                    mem = {k: s.get("peak_bytes") for k, s in sides.items()}
                elif mode["name"] == "fp32":
                    mem = measure_memory(net, batch, size, args.device, max(2, args.iters))
                else:
                    mem = {}
                if mem.get("engine") and mem.get("torch"):
                    mratio = mem["engine"] / max(mem["torch"], 1)
                    what = "peak CUDA allocated" if args.device == "cuda" else "peak RSS over imports"
                    print(f"  memory ({what}): engine {fmt_mb(mem['engine'])}, torch {fmt_mb(mem['torch'])}, "
                          f"ratio {mratio:.3f}  (goal <= 1.2: {'met' if mratio <= 1.2 else 'NOT met'})")
                    row.update(engine_mem=mem["engine"], torch_mem=mem["torch"], mem_ratio=mratio)
            rows.append(row)
    print("\nsummary:")
    for r in rows:
        mem = f", memory x{r['mem_ratio']:.2f}" if "mem_ratio" in r else ""
        eng = f"{r['engine_ips']:.2f} img/s" if r["engine_ips"] else "n/a"
        ratio = f" -> x{r['speed_ratio']:.3f}" if "speed_ratio" in r else ""
        print(f"  {r['net']:8s} {r['mode']:14s} b{r['batch']} {r['size']}px: engine {eng} vs torch "
              f"{r['torch_ips']:.2f} img/s{ratio}{mem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
