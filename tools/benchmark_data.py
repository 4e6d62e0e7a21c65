#!/usr/bin/env python
"""Data pipeline throughput: LMDB → decoded, cropped, mirrored uint8 batches, per worker count.

    python tools/benchmark_data.py [--images 2000] [--batch 64] [--crop 227] [--workers 1,2,4]
                                   [--device cpu|cuda] [--db EXISTING_LMDB]

Writes a temporary LMDB of 256×256 JPEG Datums (smooth random textures with noise, ~20-40 kB each, like
photos), then reports, in the same run:
  * the raw LMDB read rate (cursor + Datum parse, no decode),
  * the single-thread JPEG decode rate (cv2.imdecode, one OpenCV thread),
  * the pipeline rate in images/s for each worker count (TRAIN transform: random crop + mirror), and
    with --device, including the copy to the device and the mean/scale there.
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

    from fashioncaffe.io.lmdb_datum import DatumWriter, encoded_datum, make_key

    rng = np.random.default_rng(seed)
    with DatumWriter(path, overwrite=True) as w:
        for i in range(n):
            low = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            img = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
            img = np.clip(img.astype(np.int16) + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            w.put(make_key(i, f"img_{i:06d}.jpg"), encoded_datum(buf.tobytes(), i % 50))


def raw_read_rate(path):
    from fashioncaffe.io.lmdb_datum import DatumReader, parse_datum

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

    from fashioncaffe.io.lmdb_datum import DatumReader, decode_image

    cv2.setNumThreads(1)
    r = DatumReader(path)
    blobs = [r.datum(i).data for i in range(min(limit, len(r)))]
    t = time.perf_counter()
    for b in blobs:
        decode_image(b, None)
    return len(blobs) / (time.perf_counter() - t)


def pipeline_rate(path, workers, batch, crop, batches, device=None):
    import torch

    from fashioncaffe.data.prefetch import BatchMaker, Prefetcher
    from fashioncaffe.data.sources import LMDBSource, ReadPlan
    from fashioncaffe.data.transform import DeviceTransform, TransformSpec

    spec = TransformSpec(crop_size=crop, mirror=True, mean_values=[104, 117, 123], scale=1.0, phase=0)
    src = LMDBSource(path)
    plan = ReadPlan(len(src), batch, seed=1)
    maker = BatchMaker(src, plan, spec, seed=1, stream=0, rank=0, what="bench")
    pf = Prefetcher(maker, workers, prefetch=max(4, 2 * workers), pin_memory=device is not None and
                    device.startswith("cuda"))
    dev = DeviceTransform(spec, device) if device else None
    try:
        for _ in range(2):  # warm-up: worker start, first reads
            pf.next()
        t = time.perf_counter()
        for _ in range(batches):
            b, data, off, fl, lab = pf.next()
            if dev is not None:
                dev(data, off, fl)
        if dev is not None and device.startswith("cuda"):
            torch.cuda.synchronize()
        return batches * batch / (time.perf_counter() - t)
    finally:
        pf.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--crop", type=int, default=227)
    ap.add_argument("--batches", type=int, default=0, help="batches timed per worker count (default: 2 passes)")
    ap.add_argument("--workers", default="", help="comma-separated worker counts (default 1,2,4,... up to CPUs)")
    ap.add_argument("--device", default=None, help="also run the device half of the transform (cpu, cuda)")
    ap.add_argument("--db", default=None, help="benchmark this LMDB instead of a generated one")
    a = ap.parse_args(argv)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if a.workers:
        counts = [int(x) for x in a.workers.split(",")]
    else:
        counts, w = [], 1
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
        print(f"CPUs: {cpus}   batch {a.batch}   crop {a.crop} + mirror (TRAIN)   device: {a.device or 'none'}")
        print(f"raw LMDB read (cursor + Datum parse):  {rr:10.0f} images/s   (avg {avg / 1024:.1f} kB/value)")
        print(f"single-thread JPEG decode:             {dr:10.0f} images/s")
        from fashioncaffe.io.lmdb_datum import DatumReader

        n = len(DatumReader(path))
        batches = a.batches or max(4, 2 * n // a.batch)
        print(f"{'workers':>8} {'images/s':>10} {'per worker':>11} {'vs 1-thread decode':>19}")
        for w in counts:
            r = pipeline_rate(path, w, a.batch, a.crop, batches, a.device)
            print(f"{w:8d} {r:10.0f} {r / max(w, 1):11.0f} {r / dr:18.2f}x", flush=True)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
