"""The alternatives the engine's prefetch ring is measured against (``tools/benchmark_data.py
--compare`` and the GPU check's data section):

* torch's DataLoader over the same :class:`~fashioncaffe.data_pipeline.prefetch.BatchMaker` — the same records,
  the same OpenCV decode and crop / mirror, the same per-batch seeds — with pinned memory, persistent
  workers (one OpenCV / torch thread each, as the ring's), 4 batches prefetched per worker;
* JPEG decoding on the device (:class:`GpuDecodeBatches`): raw bytes from the LMDB, batched nvJPEG
  through ``torchvision.io.decode_jpeg``, then crop, mirror and mean on the device.

Both produce the batches of :func:`make_batch_maker` (the Data layer's TRAIN transform with per-channel
mean values), so images/s are comparable and the batches can be checked equal.
"""
from __future__ import annotations

import time

import numpy as np
import torch

MEAN_VALUES = [104, 117, 123]
SEED = 1


def make_batch_maker(path, batch, crop):
    """The engine's TRAIN batches of ``path`` (random crop + mirror, seeded per batch) and their spec."""
    from fashioncaffe.data_pipeline.prefetch import BatchMaker
    from fashioncaffe.data_pipeline.sources import LMDBSource, ReadPlan
    from fashioncaffe.data_pipeline.transform import TransformSpec

    spec = TransformSpec(crop_size=crop, mirror=True, mean_values=MEAN_VALUES, scale=1.0, phase=0)
    src = LMDBSource(path)
    plan = ReadPlan(len(src), batch, seed=SEED)
    return BatchMaker(src, plan, spec, seed=SEED, stream=0, rank=0, what="bench"), spec


# ------------------------------------------------------------------------------------------------
# torch's DataLoader over the same BatchMaker
class MakerDataset:
    """Batch b of a BatchMaker as a map-style dataset item (for ``DataLoader(batch_size=None)``)."""

    def __init__(self, maker):
        self.maker = maker

    def __len__(self):
        return 1 << 40   # batch numbers; the sampler chooses which

    def __getitem__(self, b):
        data, offsets, flips, labels = self.maker.make(int(b))
        return (int(b), torch.from_numpy(data), torch.from_numpy(offsets), torch.from_numpy(flips),
                torch.from_numpy(labels))


def _one_thread_worker(_):
    import cv2

    cv2.setNumThreads(1)     # as the ring's workers: parallelism comes from the workers
    torch.set_num_threads(1)


def make_dataloader(path, workers, batch, crop, device, start=0, count=10 ** 9):
    """torch.utils.data.DataLoader yielding the ring's batches ``start, start + 1, ...`` (pinned memory
    on CUDA, persistent workers, 4 batches prefetched per worker)."""
    from torch.utils.data import DataLoader

    from fashioncaffe.data_pipeline.transform import DeviceTransform

    maker, spec = make_batch_maker(path, batch, crop)
    cuda = device is not None and device.startswith("cuda")
    kw = dict(persistent_workers=True, prefetch_factor=4, worker_init_fn=_one_thread_worker) if workers else {}
    loader = DataLoader(MakerDataset(maker), batch_size=None, sampler=range(start, start + count),
                        num_workers=workers, pin_memory=cuda, **kw)
    return loader, (DeviceTransform(spec, device) if device else None)


def dataloader_rate(path, workers, batch, crop, batches, device=None):
    """images/s of the DataLoader (warm-up of 2 batches first), as :func:`pipeline_rate` does for the ring."""
    loader, dev = make_dataloader(path, workers, batch, crop, device, count=batches + 2)
    it = iter(loader)
    for _ in range(2):
        _, data, off, fl, _ = next(it)
        if dev is not None:
            dev(data, off, fl)
    t = time.perf_counter()
    for _, data, off, fl, _ in it:
        if dev is not None:
            dev(data, off, fl)
    if dev is not None and device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t
    del it, loader
    return batches * batch / wall


def same_batches(path, workers, batch, crop, batches=3):
    """True when the ring and the DataLoader give identical batches 0..batches-1 (pixels, offsets,
    flips, labels)."""
    from fashioncaffe.data_pipeline.prefetch import Prefetcher

    pf = Prefetcher(make_batch_maker(path, batch, crop)[0], workers)
    loader, _ = make_dataloader(path, workers, batch, crop, None, count=batches)
    try:
        for got in loader:
            want = pf.next()
            if not all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(want, got)):
                return False
            pf.release()
        return True
    finally:
        pf.close()


# ------------------------------------------------------------------------------------------------
# JPEG decoding on the device
def torchvision_decoder(device):
    """Batched nvJPEG decoding (torchvision.io.decode_jpeg on ``device``), returned as BGR CHW uint8
    device tensors (OpenCV's channel order, as BVLC's decoding)."""
    from torchvision.io import decode_jpeg

    def decode(raws):
        tensors = [torch.frombuffer(bytearray(r), dtype=torch.uint8) for r in raws]
        return [img.flip(0) for img in decode_jpeg(tensors, device=device)]
    return decode


def opencv_decoder(device):
    """The stand-in used without CUDA: cv2 decoding as the engine's workers do, moved to ``device``."""
    from fashioncaffe.formats.lmdb_datum import decode_image

    def decode(raws):
        return [torch.from_numpy(np.ascontiguousarray(decode_image(r, None).transpose(2, 0, 1))).to(device)
                for r in raws]
    return decode


class GpuDecodeBatches:
    """The TRAIN batches of :func:`make_batch_maker` with decoding, crop and mirror on the device: raw
    JPEG bytes from the LMDB, ``decode(list of bytes)`` → BGR CHW device tensors, crop offsets and
    mirror flags drawn from the same per-batch generator as ``augment_batch`` (so the batches are the
    engine's up to the decoder's rounding), then the DeviceTransform's mean subtraction."""

    def __init__(self, path, batch, crop, device, decode):
        from fashioncaffe.data_pipeline.transform import DeviceTransform

        self.maker, self.spec = make_batch_maker(path, batch, crop)
        self.reader = self.maker.source.reader
        self.device, self.decode = device, decode
        self.transform = DeviceTransform(self.spec, device)

    def raw(self, b):
        from fashioncaffe.formats.lmdb_datum import parse_datum

        return [parse_datum(v).data for _, v in self.reader.many(self.maker.plan.indices(b))]

    def __call__(self, b):
        import torch

        from fashioncaffe.data_pipeline.transform import batch_rng

        imgs = self.decode(self.raw(b))
        n, cs = len(imgs), self.spec.crop_size
        u = batch_rng(self.maker.seed, self.maker.stream, self.maker.rank, b).random((n, 3))
        flips = (u[:, 2] < 0.5) if self.spec.mirror else np.zeros(n, dtype=bool)
        offsets = np.zeros((n, 2), dtype=np.int32)
        crops = []
        for i, img in enumerate(imgs):
            h, w = img.shape[1:]
            ho, wo = int(u[i, 0] * (h - cs + 1)), int(u[i, 1] * (w - cs + 1))
            offsets[i] = (ho, wo)
            c = img[:, ho:ho + cs, wo:wo + cs]
            crops.append(c.flip(2) if flips[i] else c)
        return self.transform(torch.stack(crops), torch.from_numpy(offsets), torch.from_numpy(flips))


def gpu_decode_rate(path, batch, crop, batches, device, decode):
    g = GpuDecodeBatches(path, batch, crop, device, decode)
    for b in range(2):
        g(b)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for b in range(2, 2 + batches):
        g(b)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return batches * batch / (time.perf_counter() - t)


def decode_difference(path, batch, crop, device, decode, batches=2):
    """(mean, max) absolute difference, in pixel levels, between the device-decoded batches and the
    engine's (OpenCV decode in the BatchMaker, then the same DeviceTransform)."""
    from fashioncaffe.data_pipeline.transform import DeviceTransform

    g = GpuDecodeBatches(path, batch, crop, device, decode)
    ref_t = DeviceTransform(g.spec, device)
    mean = peak = 0.0
    for b in range(batches):
        _, data, off, fl, _ = g.maker[b]
        diff = (g(b) - ref_t(data, off, fl)).abs()
        mean += float(diff.mean()) / batches
        peak = max(peak, float(diff.max()))
    return mean, peak
