"""Exact k-NN for mAP@50 at paper 000's evaluation size (392k × 4096), next to faiss's exact search.

Paper 000's evaluation (``tools/paper000/metrics.map_at_r``): squared Euclidean distances by matrix
products in float32 with TF32 off, chunks of 4096 queries, ``topk`` plus a stable sort for ties,
then eq. 10's AP per query.  Here it runs on synthetic clustered features (N points around N/200
gaussian centres, one 10-way label group from the centre), timed end to end (host → device copy,
k-NN, relevance, AP).  A calibration at N/8 first predicts the full run (time grows as N²); the size
is cut to fit the section's cap when the prediction says it would not, and the summary says so.

faiss (``IndexFlatL2``, exact; GPU index where faiss has GPU support) searches the same database for a
subset of the queries (its time extrapolated to all N queries, labelled so); the neighbour lists are
compared with the engine's for those queries (share of the R neighbours in common).
"""
from __future__ import annotations

import time

import numpy as np

TITLE = "exact k-NN for mAP@50 (paper 000's evaluation size) and faiss"
PLAN = {"gpu": dict(n=392_000, d=4096, r=50, faiss_queries=1024), "dry": dict(n=3000, d=128, r=50, faiss_queries=3000)}
GOAL_S = 60.0


def make_features(n, d, device, seed=0):
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    n_centres = max(10, n // 200)
    centres = torch.randn(n_centres, d, generator=g, device=device)
    assign = torch.randint(0, n_centres, (n,), generator=g, device=device)
    x = centres[assign] + 0.7 * torch.randn(n, d, generator=g, device=device)
    labels = torch.nn.functional.one_hot(assign % 10, 10).float()
    return x, labels


def timed_map(n, d, r, device):
    """(seconds, mAP, features on the host, neighbour lists for the first rows) of one run at size n."""
    import torch

    from tools.paper000.metrics import map_at_r

    x, labels = make_features(n, d, device)
    host = x.cpu()
    lab = labels.cpu().numpy()
    del x, labels
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
    t0 = time.perf_counter()
    m = map_at_r(host, lab, r=r, device=device)
    seconds = time.perf_counter() - t0
    return seconds, m, host, lab


def faiss_search(host, queries, r, gpu):
    import faiss

    xb = np.ascontiguousarray(host.numpy(), dtype=np.float32)
    index = faiss.IndexFlatL2(xb.shape[1])
    if gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(xb)
    t0 = time.perf_counter()
    _, idx = index.search(xb[:queries], r + 1)
    seconds = time.perf_counter() - t0
    own = np.arange(queries)[:, None]
    nn = np.array([row[row != q][:r] for row, q in zip(idx, own[:, 0])])   # the query itself is no candidate
    return seconds, nn


def run(ctx):
    from tools.paper000.metrics import knn

    plan = PLAN["dry" if ctx.dry else "gpu"]
    n, d, r = plan["n"], plan["d"], plan["r"]
    cap = ctx.cap_s or 120
    if not ctx.cuda:
        ctx.skip("k-NN on the GPU at 392k × 4096", "no CUDA" + (" (dry mode: CPU at a tiny size)" if ctx.dry else ""))
    if ctx.cuda:
        cal_n = n // 8
        t_cal, _, _, _ = timed_map(cal_n, d, r, ctx.device)
        predicted = t_cal * (n / cal_n) ** 2
        ctx.set("calibration", {"n": cal_n, "seconds": round(t_cal, 2), "predicted_full_s": round(predicted, 1)})
        budget = ctx.remaining(cap) - 25  # faiss and the host side need the rest
        if predicted > budget:
            n_fit = int(n * (budget / predicted) ** 0.5)
            ctx.note(f"the full {n:,}-row run was predicted at {predicted:.0f} s, over this section's cap; ran "
                     f"{n_fit:,} rows instead (time grows as N²: the full size would take ≈ {predicted:.0f} s)")
            n = n_fit
    ctx.log(f"mAP@{r}: {n} × {d} on {ctx.device}")
    seconds, m, host, lab = timed_map(n, d, r, ctx.device)
    flops = 2.0 * n * n * d
    ctx.row("exact k-NN + mAP@50 (tools/paper000/metrics.map_at_r)",
            {"device": ctx.device, "N": n, "D": d, "R": r, "seconds": round(seconds, 2), "mAP@50": m,
             "distance TFLOP/s": flops / seconds / 1e12})
    if ctx.cuda:
        ctx.goal(f"mAP@{r} over {n:,} × {d} features, exact", f"under {GOAL_S:.0f} s", f"{seconds:.1f} s",
                 seconds < GOAL_S and n == plan["n"])
    try:
        import faiss
    except ImportError as e:
        ctx.skip("faiss exact search", f"faiss does not import ({e}); install faiss-cpu (docs/GPU_CHECK.md)")
        return
    gpu = ctx.cuda and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
    if ctx.cuda and not gpu:
        ctx.skip("faiss on the GPU", f"this faiss {faiss.__version__} has no GPU support (faiss-cpu); CPU index used")
    q = min(plan["faiss_queries"], n)
    f_seconds, f_nn = faiss_search(host, q, r, gpu)
    ours = knn(host, r, device=ctx.device, n_queries=q)
    common = float(np.mean([len(set(a) & set(b)) / r for a, b in zip(ours, f_nn)]))
    ctx.row("faiss IndexFlatL2 (exact) on the same database",
            {"where": "GPU" if gpu else f"CPU ({faiss.omp_get_max_threads()} threads)", "queries": q,
             "seconds": round(f_seconds, 2), "all N queries, extrapolated s": round(f_seconds * n / q, 1),
             "neighbours in common with the engine": common, "faiss": faiss.__version__})
    ctx.check(f"faiss and the engine find the same {r} nearest neighbours (≥ 99% in common)", common >= 0.99,
              f"{100 * common:.2f}% in common over {q} queries")


