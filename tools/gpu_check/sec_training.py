"""Training throughput: the engine vs a hand-written PyTorch model (``tools/benchmark.measure_speed``).

AlexNet, VGG-16 and ResNet-50 at their real input sizes (227 / 224 / 224) on a fixed random batch,
interleaved rounds in one process, median of rounds, in fp32 (TF32 off, Caffe's numbers) and the
opt-in modes: bf16, bf16 + channels-last (the reference only: the engine has no channels-last mode),
bf16 + torch.compile.  Peak CUDA memory per side beside it.  Rows run in that order of priority; a
row that the section's cap leaves no time for is reported as not run.

Then a torch.profiler trace of the engine's steady-state training steps (AlexNet, bf16): the host
synchronisations and device → host copies it issues per iteration (goal: none per layer).

Dry mode: tiny inputs on the CPU; compile through the ``eager`` backend (the plumbing, not inductor).
"""
from __future__ import annotations

TITLE = "training throughput: engine vs hand-written PyTorch; fp32 / bf16 / channels-last / compile"
PLAN = {
    "gpu": dict(nets={"alexnet": (256, 227), "vgg16": (64, 224), "resnet50": (64, 224)},
                modes=["fp32", "bf16", "bf16+cl", "bf16+compile"], compile_nets=["alexnet", "resnet50", "vgg16"],
                iters=5, rounds=4, warmup=3, backend="inductor", compile_reserve_s=75, profile_iters=3),
    "dry": dict(nets={"alexnet": (2, 67), "vgg16": (1, 32), "resnet50": (2, 32)},
                modes=["fp32", "bf16", "bf16+cl", "fp32+compile"], compile_nets=["alexnet"],
                iters=1, rounds=2, warmup=1, backend="eager", compile_reserve_s=0, profile_iters=1),
}
SYNC_NAMES = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")


def run(ctx):
    from tools import benchmark as bm

    plan = PLAN["dry" if ctx.dry else "gpu"]
    cap = ctx.cap_s or 300
    ctx.note(f"fixed random batch (no data pipeline); {plan['rounds']} interleaved rounds of {plan['iters']} "
             f"iterations after {plan['warmup']} warm-up ones; images/s = median of rounds; SGD momentum 0.9"
             + ("; dry: tiny inputs, compile with the eager backend" if ctx.dry else ""))
    rows = [(m, n) for m in plan["modes"] for n in plan["nets"]
            if "compile" not in m or n in plan["compile_nets"]]
    for mode, net in rows:
        if "compile" in mode and ctx.remaining(cap) < plan["compile_reserve_s"]:
            ctx.skip(f"{net} {mode}", f"not run: {ctx.remaining(cap):.0f} s left of the section's cap (compiling "
                                      f"needs ~{plan['compile_reserve_s']} s)")
            continue
        batch, size = plan["nets"][net]
        ctx.log(f"{net} {mode} batch {batch} at {size}")
        sides, runners = bm.measure_speed(net, batch, size, ctx.device, plan["iters"], plan["rounds"], plan["warmup"],
                                          mode, plan["backend"])
        del runners
        eng, ref = sides["engine"], sides["torch"]
        row = {"net": net, "mode": mode, "batch": batch, "input": size,
               "engine img/s": eng.get("ips"), "torch img/s": ref.get("ips"),
               "engine / torch": eng["ips"] / ref["ips"] if eng.get("ips") and ref.get("ips") else None,
               "engine warm-up s": eng.get("warmup_s"), "torch warm-up s": ref.get("warmup_s")}
        if ctx.cuda:
            row.update({"engine peak MiB": _mib(eng.get("peak_bytes")), "torch peak MiB": _mib(ref.get("peak_bytes"))})
        if "unavailable" in eng:
            row["engine img/s"] = f"n/a: {eng['unavailable']}"
        ctx.row("training images/s (median of rounds) and peak CUDA memory", row)
        if ctx.cuda and mode == "fp32" and row["engine / torch"] is not None:
            ctx.goal(f"{net} fp32: engine / hand-written", "≥ 1.0×", f"{row['engine / torch']:.3f}×",
                     row["engine / torch"] >= 1.0)
        _release(ctx)
    profile_syncs(ctx, plan)


def _mib(b):
    return None if b is None else round(b / 2 ** 20, 1)


def _release(ctx):
    import gc

    gc.collect()
    if ctx.cuda:
        import torch

        torch.cuda.empty_cache()


def profile_syncs(ctx, plan):
    """Host synchronisations and device → host copies per steady-state iteration of the engine."""
    from torch.profiler import ProfilerActivity, profile

    from tools import benchmark as bm

    batch, size = plan["nets"]["alexnet"]
    data, label = bm.make_batch(batch, size)
    runner = bm.EngineRunner("alexnet", batch, size, ctx.device, data, label, bm.parse_mode("bf16"))
    runner.step(plan["warmup"])
    runner.sync()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if ctx.cuda else [])
    n = plan["profile_iters"]
    with profile(activities=acts) as prof:
        runner.step(n)
    counts = {}
    for ev in prof.key_averages():
        if ev.key in SYNC_NAMES or "DtoH" in ev.key:
            counts[ev.key] = counts.get(ev.key, 0) + ev.count
    for name, c in sorted(counts.items()):
        ctx.row("engine steady state, AlexNet bf16 (torch.profiler)", {"event": name, "count": c,
                                                                       "per iteration": c / n})
    layers = len(runner.net.layers)
    syncs = sum(c for k, c in counts.items() if k in SYNC_NAMES) / n
    copies = sum(c for k, c in counts.items() if k not in SYNC_NAMES) / n
    ctx.set("profiled", f"{n} iterations of AlexNet bf16 ({layers} layers): {syncs:g} host synchronisations and "
                        f"{copies:g} device → host copies per iteration")
    if ctx.cuda:
        ctx.goal("no host synchronisation per layer (engine steady state)", f"< {layers} per iteration (one per layer)",
                 f"{syncs:g} syncs, {copies:g} D→H copies per iteration", syncs + copies < 2)
    else:
        ctx.skip("CUDA synchronisation count", "no CUDA" + (" (dry mode: the profiler ran on the CPU)" if ctx.dry else ""))
