"""Each paper's tiny nets trained a few iterations on CUDA equal the CPU run (fp32, TF32 off).

For every selected tiny solver (:mod:`.nets`): the CPU run builds the solver (its ``random_seed``),
saves the initial weights, trains ``iters`` iterations recording every output blob (losses,
accuracies) per iteration, and keeps the final weights; the CUDA run builds the same solver, records
whether its initial weights already equal the CPU's (BVLC Caffe fills on the host, so its CPU and GPU
runs start equal), loads the CPU's initial weights, and trains the same iterations on the same data
(the data layers' augmentation is seeded per batch, independent of the device).  Checked: every
output of every iteration and every final weight blob within relative 1e-4 (‖a − b‖ / ‖b‖).

Dry mode: the second run is on the CPU too (the comparison machinery runs, the numbers must agree
exactly); the CUDA comparison is reported skipped.
"""
from __future__ import annotations

import time

import numpy as np

from . import nets

TITLE = "CUDA vs CPU: the papers' tiny nets, fp32"
RTOL = 1e-4
PLAN = {"gpu": dict(iters=4, per_paper=3), "dry": dict(iters=2, per_paper=1)}


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def _weights(net):
    return {f"{n}/{i}": np.array(b.data, copy=True) for n, bl in net.params.items() for i, b in enumerate(bl)}


def train(solver_path, device, iters, init_file=None, save_init=None):
    """Train and return (initial weights, outputs per iteration, final weights, seconds)."""
    import fashioncaffe as caffe

    (caffe.set_mode_gpu if device == "cuda" else caffe.set_mode_cpu)()
    from fashioncaffe import fastmodes

    fastmodes.configure(precision="fp32", compile=False)
    solver = caffe.get_solver(nets.comparison_param(solver_path, iters))
    init = _weights(solver.net)
    if save_init:
        solver.net.save(str(save_init))
    if init_file:
        solver.net.copy_from(str(init_file))
    outputs = []
    t0 = time.perf_counter()
    for _ in range(iters):
        solver.step(1)
        outputs.append({k: float(np.asarray(solver.net.blobs[k].data).sum()) for k in solver.net.outputs})
    seconds = time.perf_counter() - t0
    final = _weights(solver.net)
    for layer in solver.net.layers:            # stop data prefetch workers now, not at exit
        getattr(layer, "close", lambda: None)()
    caffe.set_mode_cpu()
    return init, outputs, final, seconds


def compare(ctx, label, ref, got):
    init_a, out_a, final_a, _ = ref
    init_b, out_b, final_b, _ = got
    same_init = all(np.array_equal(init_a[k], init_b[k]) for k in init_a)
    worst_out = max((_rel([o[k] for o in out_b], [o[k] for o in out_a]) for k in out_a[0]), default=0.0)
    worst_w, worst_name = 0.0, None
    for k in final_a:
        r = _rel(final_b[k], final_a[k])
        if r > worst_w:
            worst_w, worst_name = r, k
    return same_init, worst_out, worst_w, worst_name


def run(ctx):
    plan = PLAN["dry" if ctx.dry else "gpu"]
    chosen = nets.select(plan["per_paper"])
    ctx.set("nets", chosen)
    ctx.note(f"{plan['iters']} iterations per net, from each solver's random_seed; Dropout off (device RNGs "
             "differ); test phases and snapshots off; synthetic tiny data (the papers' own data preparation)")
    if not ctx.cuda:
        ctx.skip("CUDA runs", "no CUDA" + (" (dry mode: the second run is on the CPU)" if ctx.dry else ""))
    log_file = open(ctx.work / "data_prep.log", "w")
    for paper, solvers in chosen.items():
        if not solvers:
            ctx.skip(paper, "no readable tiny solver")
            continue
        missing = [f for s in solvers for f in nets.missing_files(nets.read_solver_and_net(s)[1])]
        if missing:
            ctx.log(f"{paper}: preparing the tiny synthetic data ({len(missing)} files missing)")
            t0 = time.time()
            ok, how = nets.prepare_data(paper, log_file, timeout=max(30, ctx.remaining(ctx.cap_s or 600) - 30))
            ctx.row("data preparation", {"paper": paper, "ok": ok, "seconds": round(time.time() - t0, 1),
                                         "command": how})
            if not ok:
                ctx.check(f"{paper}: tiny data prepared", False, how)
                continue
        for s in solvers:
            still = nets.missing_files(nets.read_solver_and_net(s)[1])
            if still:
                ctx.check(f"{s}: its data files exist", False, f"missing after preparation: {still[:3]}")
                continue
            ctx.log(f"{s}: CPU run")
            init_file = ctx.work / "init.caffemodel"
            ref = train(s, "cpu", plan["iters"], save_init=init_file)
            device = "cuda" if ctx.cuda else "cpu"
            ctx.log(f"{s}: the compared run, on {device}")
            got = train(s, device, plan["iters"], init_file=init_file)
            same_init, worst_out, worst_w, worst_name = compare(ctx, s, ref, got)
            ok = worst_out <= RTOL and worst_w <= RTOL
            ctx.row("nets", {"solver": s, "device": device, "iters": plan["iters"],
                             "cpu_s": round(ref[3], 2), "compared_run_s": round(got[3], 2),
                             "outputs_rel_diff": worst_out, "weights_rel_diff": worst_w, "worst_blob": worst_name,
                             "same_init_from_seed": same_init})
            what = "CUDA run equals the CPU run" if ctx.cuda else "a second CPU run equals the first"
            ctx.check(f"{s}: {what} (outputs and weights within {RTOL:g} relative)", ok,
                      f"outputs {worst_out:.2e}, weights {worst_w:.2e} ({worst_name})")
            if ctx.cuda and not same_init:
                ctx.note(f"{s}: the CUDA solver's initial weights differ from the CPU's for the same random_seed "
                         "(the engine fills on the device; BVLC fills on the host, so its runs start equal); "
                         "the CUDA run was given the CPU's initial weights")
    log_file.close()
