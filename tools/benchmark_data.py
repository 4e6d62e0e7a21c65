#!/usr/bin/env python
"""Data pipeline throughput: LMDB → decoded, cropped, mirrored uint8 batches, per worker count.

    python tools/benchmark_data.py [--images 2000] [--batch 64] [--crop 227] [--workers 0,1,2,4]
                                   [--device cpu|cuda] [--db EXISTING_LMDB] [--step-ms 80]

Writes a temporary LMDB of 256×256 JPEG Datums (smooth random textures with noise, ~20-40 kB each, like
photos), then reports, in the same run:
  * the raw LMDB read rate (cursor + Datum parse, no decode),
  * the single-thread JPEG decode rate (cv2.imdecode, one OpenCV thread),
  * the pipeline rate in images/s for each worker count (0 = decoding in this process; TRAIN
    transform: random crop + mirror), and with --device, including the copy to the device and the
    mean/scale there,
  * with --step-ms S, an overlap run per worker count: every batch is followed by a compute-bound
    dummy "training step" in this process (a fixed amount of single-threaded matrix work that takes
    S ms on an idle core, --step-threads to change), showing whether the workers hide the data time:
    total ≈ max(step, data) when they do, step + data when they do not,
  * the machine's load average (os.getloadavg) before and after every row: on a small shared box
    other processes compete for the cores, and the numbers must be read with that in mind,
  * with --compare, the same batches through torch's DataLoader (pinned memory, persistent workers,
    the same BatchMaker: same decode, same per-batch seeds) beside the engine's shared-memory ring
    for each worker count, after checking that both give identical batches, and with --device cuda
    the JPEG decode on the GPU (torchvision.io.decode_jpeg, nvJPEG) followed by the same crop /
    mirror / mean on the device (:class:`GpuDecodeBatches`).
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def make_db(path, n, size=256, seed=0):
    import cv2

    from fashioncaffe.formats.lmdb_datum import DatumWriter, encoded_datum, make_key

    rng = np.random.default_rng(seed)
    with DatumWriter(path, overwrite=True) as w:
        for i in range(n):
            low = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            img = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
            img = np.clip(img.astype(np.int16) + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            w.put(make_key(i, f"img_{i:06d}.jpg"), encoded_datum(buf.tobytes(), i % 50))


def raw_read_rate(path):
    from fashioncaffe.formats.lmdb_datum import DatumReader, parse_datum

    r = DatumReader(path)
    t = time.perf_counter()
    n = nbytes = 0
    with r.env.begin(buffers=False) as txn:
        for k, v in txn.cursor():
            d = parse_datum(v)
            nbytes += len(d.data)
            n += 1
    return n / (time.perf_counter() - t), nbytes / max(n, 1)


def decode_rate(path, limit=500):
    import cv2

    from fashioncaffe.formats.lmdb_datum import DatumReader, decode_image

    cv2.setNumThreads(1)
    r = DatumReader(path)
    blobs = [r.datum(i).data for i in range(min(limit, len(r)))]
    t = time.perf_counter()
    for b in blobs:
        decode_image(b, None)
    return len(blobs) / (time.perf_counter() - t)


def _make_prefetcher(path, workers, batch, crop, device):
    from fashioncaffe.data_pipeline.prefetch import Prefetcher
    from fashioncaffe.data_pipeline.transform import DeviceTransform

    from tools.benchmark_data_loaders import make_batch_maker

    maker, spec = make_batch_maker(path, batch, crop)
    pf = Prefetcher(maker, workers, prefetch=max(4, 2 * workers), pin_memory=device is not None and
                    device.startswith("cuda"))
    dev = DeviceTransform(spec, device) if device else None
    return pf, dev


def _consume(pf, dev, device):
    import torch

    b, data, off, fl, lab = pf.next()
    event = None
    if dev is not None:
        dev(data, off, fl)
        if pf.pinned:
            event = torch.cuda.Event()
            event.record()
    pf.release(event)


def pipeline_rate(path, workers, batch, crop, batches, device=None):
    import torch

    pf, dev = _make_prefetcher(path, workers, batch, crop, device)
    try:
        for _ in range(2):  # warm-up: worker start, first reads
            _consume(pf, dev, device)
        pids = [p.pid for p in pf.workers]
        c0 = sum(_proc_cpu(p) for p in pids)
        m0 = time.process_time()
        t = time.perf_counter()
        for _ in range(batches):
            _consume(pf, dev, device)
        if dev is not None and device.startswith("cuda"):
            torch.cuda.synchronize()
        wall = time.perf_counter() - t
        n = batches * batch
        main_cpu = (time.process_time() - m0) / n * 1e6
        worker_cpu = (sum(_proc_cpu(p) for p in pids) - c0) / n * 1e6
        return n / wall, main_cpu, worker_cpu
    finally:
        pf.close()


def _proc_cpu(pid):
    """CPU seconds (user + system) of a process, from /proc (0 where unavailable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class DummyStep:
    """A compute-bound stand-in for a training step: a fixed number of float32 matrix products,
    calibrated on this process (idle workers) to take ``ms`` milliseconds."""

    def __init__(self, ms, threads=1, n=256):
        import torch

        self.torch = torch
        torch.set_num_threads(max(1, int(threads)))
        self.a = torch.randn(n, n)
        self.b = torch.randn(n, n)
        for _ in range(5):
            self.a @ self.b
        reps, t = 0, time.perf_counter()
        while time.perf_counter() - t < 0.3:
            self.a @ self.b
            reps += 1
        per = (time.perf_counter() - t) / reps
        self.reps = max(1, round(ms / 1000 / per))
        t = time.perf_counter()
        self()
        self.ms = (time.perf_counter() - t) * 1000

    def __call__(self):
        a, b = self.a, self.b
        for _ in range(self.reps):
            a @ b


def overlap_run(path, workers, batch, crop, batches, step, device=None):
    """Seconds per batch for: data + step, in a training-like loop."""
    import torch

    pf, dev = _make_prefetcher(path, workers, batch, crop, device)
    try:
        for _ in range(2):
            _consume(pf, dev, device)
        wait = stepped = 0.0
        t = time.perf_counter()
        for _ in range(batches):
            t0 = time.perf_counter()
            _consume(pf, dev, device)
            t1 = time.perf_counter()
            step()
            wait += t1 - t0
            stepped += time.perf_counter() - t1
        if dev is not None and device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / batches, wait / batches, stepped / batches
    finally:
        pf.close()


def _load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--crop", type=int, default=227)
    ap.add_argument("--batches", type=int, default=0, help="batches timed per worker count (default: 2 passes)")
    ap.add_argument("--workers", default="", help="comma-separated worker counts (default 0,1,2,4,... up to CPUs)")
    ap.add_argument("--step-ms", type=float, default=0.0,
                    help="also run the overlap test with a dummy training step of this many ms per batch")
    ap.add_argument("--step-threads", type=int, default=1, help="threads of the dummy training step")
    ap.add_argument("--device", default=None, help="also run the device half of the transform (cpu, cuda)")
    ap.add_argument("--db", default=None, help="benchmark this LMDB instead of a generated one")
    ap.add_argument("--compare", action="store_true", help="also torch's DataLoader per worker count, and "
                                                          "GPU decoding with --device cuda")
    a = ap.parse_args(argv)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if a.workers:
        counts = [int(x) for x in a.workers.split(",")]
    else:
        counts, w = [0], 1
        while w <= max(1, cpus):
            counts.append(w)
            w *= 2
        if counts[-1] != cpus and cpus > 1:
            counts.append(cpus)
    tmp = None
    path = a.db
    if path is None:
        tmp = tempfile.mkdtemp(prefix="fc_bench_")
        path = os.path.join(tmp, "jpeg_lmdb")
        t = time.perf_counter()
        make_db(path, a.images)
        print(f"generated {a.images} 256x256 JPEG Datums in {time.perf_counter() - t:.1f} s ({path})")
    try:
        rr, avg = raw_read_rate(path)
        dr = decode_rate(path)
        print(_load())
        print(f"CPUs: {cpus}   batch {a.batch}   crop {a.crop} + mirror (TRAIN)   device: {a.device or 'none'}")
        print(f"raw LMDB read (cursor + Datum parse):  {rr:10.0f} images/s   (avg {avg / 1024:.1f} kB/value)")
        print(f"single-thread JPEG decode:             {dr:10.0f} images/s")
        from fashioncaffe.formats.lmdb_datum import DatumReader

        n = len(DatumReader(path))
        batches = a.batches or max(4, 2 * n // a.batch)
        print("CPU us/img: CPU time per image of the training process (main) and of all workers together;"
              " unlike images/s they hardly depend on what else runs on the machine")
        print(f"{'workers':>8} {'images/s':>10} {'per worker':>11} {'vs 1-thread decode':>19} {'main CPU':>9} "
              f"{'worker CPU':>11}   machine load (1/5/15 min)")
        rates = {}
        for w in counts:
            before = _load()
            r, mc, wc = pipeline_rate(path, w, a.batch, a.crop, batches, a.device)
            rates[w] = r
            per = f"{r / w:11.0f}" if w else f"{'(in-proc)':>11}"
            print(f"{w:8d} {r:10.0f} {per} {r / dr:18.2f}x {mc:6.0f} us {wc:8.0f} us   {before} -> {_load()}",
                  flush=True)
        if a.compare:
            from tools.benchmark_data_loaders import (dataloader_rate, decode_difference, gpu_decode_rate,
                                                      same_batches, torchvision_decoder)

            print(f"\nthe ring vs torch's DataLoader (same batches: {same_batches(path, max(1, counts[-1]), a.batch, a.crop)})")
            print(f"{'workers':>8} {'ring img/s':>11} {'DataLoader img/s':>17} {'ring/DataLoader':>16}")
            for w in counts:
                dl = dataloader_rate(path, w, a.batch, a.crop, batches, a.device)
                print(f"{w:8d} {rates[w]:11.0f} {dl:17.0f} {rates[w] / dl:16.2f}", flush=True)
            if a.device and a.device.startswith("cuda"):
                dec = torchvision_decoder(a.device)
                r = gpu_decode_rate(path, a.batch, a.crop, batches, a.device, dec)
                mean, peak = decode_difference(path, a.batch, a.crop, a.device, dec)
                print(f"GPU decode (torchvision / nvJPEG): {r:.0f} images/s; vs OpenCV: mean |diff| {mean:.3f}, "
                      f"max {peak:.0f} levels")
        if a.step_ms > 0:
            step = DummyStep(a.step_ms, a.step_threads)
            sb = max(4, batches // 2)
            print(f"\noverlap: dummy training step {step.ms:.1f} ms/batch ({step.reps} x 256^2 matmul, "
                  f"{a.step_threads} thread(s)), {sb} batches per row")
            print(f"{'workers':>8} {'data ms':>8} {'step ms':>8} {'total ms':>9} {'sum':>7} {'max':>7} "
                  f"{'hidden':>7} {'wait ms':>8} {'step in loop':>13}   machine load")
            for w in counts:
                before = _load()
                tot, wait, inloop = (x * 1000 for x in overlap_run(path, w, a.batch, a.crop, sb, step, a.device))
                data_ms = a.batch / rates[w] * 1000
                hidden = (data_ms + step.ms - tot) / max(1e-9, min(data_ms, step.ms))
                print(f"{w:8d} {data_ms:8.1f} {step.ms:8.1f} {tot:9.1f} {data_ms + step.ms:7.1f} "
                      f"{max(data_ms, step.ms):7.1f} {100 * hidden:6.0f}% {wait:8.1f} {inloop:13.1f}   "
                      f"{before} -> {_load()}", flush=True)
            print("hidden: share of the shorter of (data, step) that the overlap removed from the sum "
                  "(100% = total is max(step, data); 0% = total is their sum).\n"
                  "wait ms: time per batch the loop spent getting the batch (0 = data fully hidden); "
                  "step in loop: the step's time while the workers run (above 'step ms' when the workers "
                  "take CPU the step needs — with no idle core, overlap cannot pay)")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
