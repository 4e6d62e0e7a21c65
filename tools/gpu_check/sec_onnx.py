"""onnxruntime's CUDA provider vs the engine's eager inference (``tools/benchmark_onnx.measure``).

The zoo deploy nets with random weights, exported to ONNX; both sides keep input and output on the
device; images/s per side and onnxruntime / engine (goal ≥ 0.9).  Where onnxruntime has no CUDA
provider (the plain ``onnxruntime`` package is CPU-only) the comparison is reported skipped.
Dry mode: the CPU provider against the engine on the CPU, small batch.
"""
from __future__ import annotations

TITLE = "onnxruntime (CUDA provider) vs engine eager inference"
PLAN = {"gpu": dict(nets=["bvlc_alexnet", "bvlc_googlenet", "resnet50"], batch=64, iters=20, warmup=3, size=0),
        "dry": dict(nets=["bvlc_alexnet"], batch=2, iters=2, warmup=1, size=99)}


def run(ctx):
    from tools.benchmark_onnx import GOAL, NoCudaProvider, measure

    plan = PLAN["dry" if ctx.dry else "gpu"]
    if not ctx.cuda:
        ctx.skip("CUDA provider vs engine on CUDA", "no CUDA" + (" (dry mode: CPU provider vs engine on the CPU)"
                                                                if ctx.dry else ""))
    try:
        rows = measure(plan["nets"], plan["batch"], plan["iters"], plan["warmup"], ctx.device, plan["size"])
    except NoCudaProvider as e:
        ctx.skip_section(f"skipped: {e}")
        return
    for r in rows:
        ctx.row(f"inference, batch {plan['batch']}, random weights", r)
        if ctx.cuda:
            ctx.goal(f"{r['net']}: onnxruntime CUDA / engine eager", f"≥ {GOAL}", f"{r['ratio']:.2f}",
                     r["ratio"] >= GOAL)
