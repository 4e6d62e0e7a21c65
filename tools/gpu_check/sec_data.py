"""The data path: an LMDB of JPEG Datums → augmented batches on the device, and training from it.

On a synthetic LMDB of 256×256 JPEG Datums (``tools/benchmark_data.make_db``; photo-like textures):

* the engine's shared-memory prefetch ring vs torch's DataLoader (pinned memory, persistent workers,
  the same BatchMaker: same decode, same per-batch seeds), images/s per worker count, batches
  copied to the device and mean-subtracted there — after checking that both give identical batches;
* JPEG decoding on the GPU (torchvision.io.decode_jpeg / nvJPEG, then crop / mirror / mean on the
  device) vs the ring's CPU decoding, and how far the GPU decoder's pixels are from OpenCV's;
* end to end: the engine training AlexNet / VGG-16 from that LMDB through its Data layer (TRAIN
  transform: random 227 / 224 crop + mirror, mean values), images/s, with the engine's default
  number of data workers and with one per spare CPU.

Dry mode: a small LMDB of 72 px images, the CPU as the device, OpenCV standing in for the GPU decoder
(so the device-side crop path runs and must equal the engine's batches exactly).
"""
from __future__ import annotations

import os
import time

TITLE = "data path: LMDB of JPEGs → batches on the device; ring vs DataLoader; GPU decode; end to end"
PLAN = {
    "gpu": dict(images=4096, size=256, batch=256, crop=227, batches=12, workers=[4, 8, -1],
                e2e=[("alexnet", "bf16", 227, 256, 0), ("alexnet", "bf16", 227, 256, -1),
                     ("alexnet", "fp32", 227, 256, -1), ("vgg16", "bf16", 224, 64, -1)], e2e_iters=20, e2e_warmup=5),
    "dry": dict(images=96, size=72, batch=8, crop=64, batches=4, workers=[0, 1],
                e2e=[("alexnet", "fp32", 67, 4, 1)], e2e_iters=2, e2e_warmup=1),
}
E2E_GOALS = {("alexnet", "bf16"): 20000, ("vgg16", "bf16"): 3000}


def _cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _workers(w):
    return max(1, _cpus() - 1) if w < 0 else w


def e2e_rate(db, net, precision, crop, batch, workers, iters, warmup, device):
    """images/s of the engine training ``net`` from the LMDB ``db`` through its Data layer."""
    import torch

    import fashioncaffe as caffe
    from fashioncaffe.data_pipeline.prefetch import default_num_workers, set_num_workers
    from fashioncaffe.proto import caffe_pb2
    from tools.benchmark import BASE_LR, MOMENTUM, WEIGHT_DECAY, engine_net_param
    from tools.benchmark_data_loaders import MEAN_VALUES

    param = engine_net_param(net, batch, crop)
    data = param.layer[0]
    assert data.type == "Input", data.type
    data.Clear()
    data.name, data.type = "data", "Data"
    data.top.extend(["data", "label"])
    data.transform_param.crop_size = crop
    data.transform_param.mirror = True
    data.transform_param.mean_value.extend(MEAN_VALUES)
    data.data_param.source = str(db)
    data.data_param.batch_size = batch
    data.data_param.backend = caffe_pb2.DataParameter.LMDB
    (caffe.set_mode_gpu if device == "cuda" else caffe.set_mode_cpu)()
    set_num_workers(None if workers == 0 else workers)
    used = default_num_workers()
    try:
        sp = caffe_pb2.SolverParameter(base_lr=BASE_LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                                       lr_policy="fixed", display=0, max_iter=10 ** 9, snapshot=0,
                                       snapshot_after_train=False)
        sp.net_param.CopyFrom(param)
        solver = caffe.SGDSolver(sp)
        solver.precision = precision
        solver.step(warmup)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        solver.step(iters)
        if device == "cuda":
            torch.cuda.synchronize()
        float(solver.net.blobs["loss"].tensor.detach())
        seconds = time.perf_counter() - t0
        for layer in solver.net.layers:
            getattr(layer, "close", lambda: None)()
    finally:
        set_num_workers(None)
        caffe.set_mode_cpu()
    return iters * batch / seconds, used


def run(ctx):
    from tools import benchmark_data as bd
    from tools import benchmark_data_loaders as loaders

    plan = PLAN["dry" if ctx.dry else "gpu"]
    device = ctx.device
    db = ctx.work / "jpeg_lmdb"
    t0 = time.time()
    bd.make_db(str(db), plan["images"], size=plan["size"])
    ctx.set("lmdb", f"{plan['images']} synthetic {plan['size']}×{plan['size']} JPEG Datums, made in "
                    f"{time.time() - t0:.1f} s")
    ctx.set("cpus", _cpus())
    b, crop, batches = plan["batch"], plan["crop"], plan["batches"]
    ctx.note(f"batch {b}, crop {crop} + mirror (TRAIN), mean values on the device ({device}); {batches} timed "
             "batches per row after 2 warm-up batches; synthetic JPEGs")
    counts = sorted({_workers(w) for w in plan["workers"]})
    same = loaders.same_batches(str(db), max(1, counts[-1]), b, crop)
    ctx.check("the ring and torch's DataLoader give identical batches (pixels, offsets, flips, labels)", same)
    for w in counts:
        ctx.log(f"ring vs DataLoader, {w} workers")
        ring, _, _ = bd.pipeline_rate(str(db), w, b, crop, batches, device)
        dl = loaders.dataloader_rate(str(db), w, b, crop, batches, device)
        ctx.row("LMDB → batches on the device, images/s", {"workers": w, "ring": ring, "DataLoader": dl,
                                                           "ring / DataLoader": ring / dl})
        if w and ctx.cuda:
            ctx.goal(f"prefetch ring vs DataLoader, {w} workers", "keep the ring only if ≥ 1.05× faster",
                     f"{ring / dl:.2f}×", ring / dl >= 1.05)
    _gpu_decode(ctx, db, plan)
    for net, precision, e2e_crop, e2e_batch, w in plan["e2e"]:
        workers = _workers(w) if w else 0
        ctx.log(f"end to end: {net} {precision} batch {e2e_batch}")
        ips, used = e2e_rate(db, net, precision, e2e_crop, e2e_batch, workers, plan["e2e_iters"], plan["e2e_warmup"],
                             device)
        ctx.row("end to end: the engine training from the LMDB (Data layer)",
                {"net": net, "precision": precision, "batch": e2e_batch, "crop": e2e_crop,
                 "data workers": f"{used}" + (" (default)" if not w else ""), "images/s": ips})
        target = E2E_GOALS.get((net, precision))
        if ctx.cuda and target:
            ctx.goal(f"{net} {precision} end to end from LMDB, {used} workers", f"≥ {target:,} images/s",
                     f"{ips:,.0f}", ips >= target)


def _gpu_decode(ctx, db, plan):
    from tools import benchmark_data_loaders as loaders

    b, crop, batches = plan["batch"], plan["crop"], plan["batches"]
    if ctx.cuda:
        try:
            decode = loaders.torchvision_decoder(ctx.device)
            decode([loaders.GpuDecodeBatches(str(db), b, crop, ctx.device, None).raw(0)[0]])
        except Exception as e:  # noqa: BLE001 - an optional package: reported as the reason
            ctx.skip("GPU JPEG decoding", f"torchvision's decode_jpeg on CUDA is not usable here "
                                          f"({type(e).__name__}: {str(e).splitlines()[0][:160]})")
            return
        name = "torchvision.io.decode_jpeg (nvJPEG)"
    else:
        ctx.skip("GPU JPEG decoding", "no CUDA" + (" (dry mode: OpenCV stands in for the decoder; the device-side "
                                                   "crop path runs on the CPU)" if ctx.dry else ""))
        decode, name = loaders.opencv_decoder(ctx.device), "OpenCV stand-in on the CPU"
    rate = loaders.gpu_decode_rate(str(db), b, crop, batches, ctx.device, decode)
    mean, peak = loaders.decode_difference(str(db), b, crop, ctx.device, decode)
    ctx.row("decode on the device (one process)", {"decoder": name, "images/s": rate,
                                                   "mean |diff| vs OpenCV (levels)": mean, "max |diff|": peak})
    if ctx.cuda:
        ctx.check("GPU-decoded batches are within 1 level (mean) of the engine's OpenCV batches", mean <= 1.0,
                  f"mean {mean:.3f}, max {peak:.0f}")
    else:
        ctx.check("the device-side crop / mirror path gives the engine's batches exactly", peak == 0.0,
                  f"max |diff| {peak}")
