#!/usr/bin/env python
"""Training throughput and peak memory: the engine vs a hand-written PyTorch model of the same net.

    python tools/benchmark.py --net all --device cpu          # AlexNet at 227, VGG-16 at 64 on the CPU
    python tools/benchmark.py --net vgg16 --device cuda --batch 64 --input-size 224

The engine trains the zoo prototxt (``prototxt/zoo/<net>``) with its data layers swapped for Input
layers (data N×3×S×S, label N), through ``SGDSolver.step`` (Caffe's SGD: h = μh + lr·(g + λw),
w −= h; bias lr_mult 2, decay_mult 0).  The reference is a torch.nn module of the same architecture
(grouped convolutions, LRN, ceil-mode pooling, dropout), initialised with the same gaussian scales,
trained with torch.optim.SGD (momentum 0.9, the same per-group lr / weight decay) on the same batch.
Both see the same fixed random batch, so the timing is the training step alone (no data pipeline).

Speed: the two alternate in rounds of ``--iters`` iterations (order flipped every round), in one
process, after a warm-up, so they share thermal and cache state; images/s is total images over total
time per side, and the ratio is engine / reference (goal ≥ 0.95).
Memory: each side runs alone in a fresh subprocess; CPU: peak RSS (VmHWM) minus the
RSS after imports; CUDA: torch.cuda.max_memory_allocated.  Ratio engine / reference (goal ≤ 1.2).

``--profile`` prints torch.profiler tables of both sides (top ops by self CPU time, and the
engine's Python-side share), to find where the engine loses time.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ZOO = ROOT / "prototxt" / "zoo"
os.environ.setdefault("GLOG_minloglevel", "1")  # the solver's INFO log would drown the results
NETS = {"alexnet": "bvlc_alexnet/train_val.prototxt", "vgg16": "vgg16/deploy.prototxt"}
CPU_DEFAULT_SIZE = {"alexnet": 227, "vgg16": 64}
FULL_SIZE = {"alexnet": 227, "vgg16": 224}
CPU_DEFAULT_BATCH = {"alexnet": 16, "vgg16": 8}
BASE_LR, MOMENTUM, WEIGHT_DECAY = 0.001, 0.9, 0.0005


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
                p.bias_filler.type, p.bias_filler.value = "constant", 0.0
            if not new.param:
                new.param.add(lr_mult=1, decay_mult=1)
                new.param.add(lr_mult=2, decay_mult=0)
    return out


class EngineRunner:
    def __init__(self, net, batch, size, device, data, label):
        import fashioncaffe as caffe
        from fashioncaffe.proto import caffe_pb2

        if device == "cuda":
            caffe.set_mode_gpu()
        else:
            caffe.set_mode_cpu()
        sp = caffe_pb2.SolverParameter(base_lr=BASE_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                                       lr_policy="fixed", display=0, max_iter=10 ** 9, snapshot=0,
                                       snapshot_after_train=False)
        sp.net_param.CopyFrom(engine_net_param(net, batch, size))
        self.solver = caffe.SGDSolver(sp)
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
def build_torch_model(net, size):
    import torch
    from torch import nn

    def gauss(layer, std, bias):
        nn.init.normal_(layer.weight, 0.0, std)
        nn.init.constant_(layer.bias, bias)
        return layer

    if net == "alexnet":
        feats = nn.Sequential(
            gauss(nn.Conv2d(3, 96, 11, stride=4), 0.01, 0.0), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0), nn.MaxPool2d(3, 2, ceil_mode=True),
            gauss(nn.Conv2d(96, 256, 5, padding=2, groups=2), 0.01, 0.1), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0), nn.MaxPool2d(3, 2, ceil_mode=True),
            gauss(nn.Conv2d(256, 384, 3, padding=1), 0.01, 0.0), nn.ReLU(inplace=True),
            gauss(nn.Conv2d(384, 384, 3, padding=1, groups=2), 0.01, 0.1), nn.ReLU(inplace=True),
            gauss(nn.Conv2d(384, 256, 3, padding=1, groups=2), 0.01, 0.1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True))
        fc = [(4096, 0.005, 0.1), (4096, 0.005, 0.1)]
        last = (1000, 0.01, 0.0)
    else:
        layers, c_in = [], 3
        for c, reps in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
            for _ in range(reps):
                layers += [gauss(nn.Conv2d(c_in, c, 3, padding=1), 0.01, 0.0), nn.ReLU(inplace=True)]
                c_in = c
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        feats = nn.Sequential(*layers)
        fc = [(4096, 0.01, 0.0), (4096, 0.01, 0.0)]
        last = (1000, 0.01, 0.0)
    with torch.no_grad():
        n_flat = feats(torch.zeros(1, 3, size, size)).numel()
    head, d = [nn.Flatten()], n_flat
    for out, std, b in fc:
        head += [gauss(nn.Linear(d, out), std, b), nn.ReLU(inplace=True), nn.Dropout(0.5)]
        d = out
    head.append(gauss(nn.Linear(d, last[0]), last[1], last[2]))
    return nn.Sequential(feats, *head)


class TorchRunner:
    def __init__(self, net, batch, size, device, data, label):
        import torch

        self.device = torch.device(device)
        self.model = build_torch_model(net, size).to(self.device).train()
        weights = [p for n, p in self.model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in self.model.named_parameters() if n.endswith("bias")]
        self.opt = torch.optim.SGD([dict(params=weights, lr=BASE_LR, weight_decay=WEIGHT_DECAY),
                                    dict(params=biases, lr=2 * BASE_LR, weight_decay=0.0)],
                                   lr=BASE_LR, momentum=MOMENTUM, foreach=True)
        self.x = torch.as_tensor(data, device=self.device)
        self.y = torch.as_tensor(label, device=self.device).long()
        self.lossf = torch.nn.CrossEntropyLoss()
        self._loss = None

    def step(self, n):
        for _ in range(n):
            self.opt.zero_grad(set_to_none=True)
            loss = self.lossf(self.model(self.x), self.y)
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
def measure_speed(net, batch, size, device, iters, rounds, warmup):
    import torch

    data, label = make_batch(batch, size)
    torch.manual_seed(0)
    runners = {k: cls(net, batch, size, device, data, label) for k, cls in RUNNERS.items()}
    for r in runners.values():
        r.step(warmup)
        r.sync()
    total = {k: 0.0 for k in runners}
    per_round = {k: [] for k in runners}
    order = ["engine", "torch"]
    for i in range(rounds):
        for k in (order if i % 2 == 0 else order[::-1]):
            r = runners[k]
            r.sync()
            t0 = time.perf_counter()
            r.step(iters)
            r.sync()
            dt = time.perf_counter() - t0
            total[k] += dt
            per_round[k].append(batch * iters / dt)
    ips = {k: batch * iters * rounds / total[k] for k in runners}
    losses = {k: runners[k].loss() for k in runners}
    return ips, per_round, losses, runners


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=["alexnet", "vgg16", "all"], default="all")
    ap.add_argument("--batch", type=int, default=None, help="images per iteration (CPU default: 16 AlexNet, 8 VGG-16; "
                                                            "CUDA: 128 / 32)")
    ap.add_argument("--iters", type=int, default=3, help="iterations per timed round")
    ap.add_argument("--rounds", type=int, default=4, help="timed rounds per side (alternating)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--input-size", type=int, default=None,
                    help="input height = width (CPU default: 227 AlexNet, 64 VGG-16; CUDA: the full 227 / 224)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    ap.add_argument("--profile", action="store_true", help="print profiler tables for both sides")
    ap.add_argument("--_probe", choices=["engine", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    nets = ["alexnet", "vgg16"] if args.net == "all" else [args.net]
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible to PyTorch")

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
        if args.device == "cuda":
            size = args.input_size or FULL_SIZE[net]
            batch = args.batch or {"alexnet": 128, "vgg16": 32}[net]
        else:
            size = args.input_size or CPU_DEFAULT_SIZE[net]
            batch = args.batch or CPU_DEFAULT_BATCH[net]
        note = "" if size == FULL_SIZE[net] else f" (reduced from {FULL_SIZE[net]})"
        print(f"\n== {net}: batch {batch}, input 3x{size}x{size}{note}, float32, SGD momentum {MOMENTUM}")
        ips, per_round, losses, runners = measure_speed(net, batch, size, args.device, args.iters, args.rounds,
                                                        args.warmup)
        ratio = ips["engine"] / ips["torch"]
        for k in ("engine", "torch"):
            rounds = " ".join(f"{v:.1f}" for v in per_round[k])
            print(f"  {k:6s} {ips[k]:9.2f} images/s   (per round: {rounds}; last loss {losses[k]:.4f})")
        print(f"  speed ratio engine/torch = {ratio:.3f}  (goal >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})")
        if args.profile:
            profile(runners, args.iters)
        del runners
        row = {"net": net, "batch": batch, "size": size, "engine_ips": ips["engine"], "torch_ips": ips["torch"],
               "speed_ratio": ratio}
        if not args.no_memory:
            mem = measure_memory(net, batch, size, args.device, max(2, args.iters))
            mratio = mem["engine"] / max(mem["torch"], 1)
            what = "peak CUDA allocated" if args.device == "cuda" else "peak RSS over imports"
            print(f"  memory ({what}): engine {fmt_mb(mem['engine'])}, torch {fmt_mb(mem['torch'])}, "
                  f"ratio {mratio:.3f}  (goal <= 1.2: {'met' if mratio <= 1.2 else 'NOT met'})")
            row.update(engine_mem=mem["engine"], torch_mem=mem["torch"], mem_ratio=mratio)
        rows.append(row)
    print("\nsummary:")
    for r in rows:
        mem = f", memory x{r['mem_ratio']:.2f}" if "mem_ratio" in r else ""
        print(f"  {r['net']:8s} b{r['batch']} {r['size']}px: engine {r['engine_ips']:.2f} img/s vs torch "
              f"{r['torch_ips']:.2f} img/s -> x{r['speed_ratio']:.3f}{mem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
