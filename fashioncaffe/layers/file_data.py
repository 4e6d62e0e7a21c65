"""Data layers that read files: Data (Datum LMDB), ImageData (list of image files), HDF5Data.

Data        tops: data (N, C, H', W') float32, optional label (N,).  Reads ``data_param.source``
            (an LMDB of Datums, raw or encoded) sequentially from a random start in
            [0, rand_skip), batch_size records per forward, wrapping at the end ("Restarting data
            prefetching from start.").  float_data Datums give float tops (our companion label
            databases: channels = K, height = width = 1 → top (N, K, 1, 1)).
ImageData   tops: data, label.  Reads ``image_data_param.source`` lines "path label", images from
            root_folder + path, resized to new_height × new_width when both are set, colour unless
            is_color is false; shuffle reorders the list at every pass.
HDF5Data    tops: one per dataset name; ``hdf5_data_param.source`` is a text file listing .h5
            files; rows are read batch_size at a time across files (shuffle: file order and rows).

Data and ImageData apply ``transform_param`` as Caffe's DataTransformer:
crop (TRAIN random offset, TEST centre) → mirror (random when set, in TEST too) →
(x − mean)·scale, with mean_file indexed at the uncropped position or mean_value per channel, output
BGR CHW float32.  Decoding, crop and mirror run in prefetch worker processes (see
``fashioncaffe.data_pipeline``); the mean and scale run on the device.  Batches depend only on the solver's
``random_seed`` (``fashioncaffe.set_random_seed``), not on the number of workers.

Multi-GPU (TRAIN phase): with world size W, rank r reads every W-th record starting at r (BVLC's
round-robin ``DataLayer::Skip``).  The rank and world come from ``fashioncaffe.distributed`` (an
initialised ``torch.distributed``); ``layer.set_shard(rank, world)`` sets them by hand.
"""
from __future__ import annotations

import os
import secrets
import zlib

import numpy as np
import torch

from .. import distributed, mode
from ..errors import fail
from .base import Layer, register, TRAIN


def _seed():
    s = mode.random_seed()
    if s is None or int(s) < 0:
        return secrets.randbits(48)
    return int(s)


def detect_shard():
    """(rank, world) of data-parallel training, (0, 1) when not distributed."""
    return distributed.rank(), distributed.world_size()


class _PrefetchingReader(Layer):
    """Shared machinery of Data and ImageData: plan + workers + device transform."""

    num_bottoms = (0, 0)
    num_tops = (1, 2)

    def _init_reader(self, source, batch_size, rand_skip, shuffle, prefetch, spec, workers=None):
        if batch_size <= 0:
            raise fail(f"Layer '{self.name}' ({self.type}): batch_size must be positive (got {batch_size}).")
        self.source = source
        self.batch_size = int(batch_size)
        self.rand_skip = int(rand_skip)
        self.shuffle = bool(shuffle)
        self.prefetch = int(prefetch)
        self.spec = spec
        self.workers = workers
        self._shard = None
        self._pf = None
        self._dev = None
        (c, h, w), dtype = source.first_shape()
        if spec.mean_shape is not None and spec.mean_shape != (c, h, w):
            raise fail(f"Layer '{self.name}': mean_file {spec.mean_file} has shape {list(spec.mean_shape)} but "
                       f"the first entry of {source.path} is {[c, h, w]}; they must be equal.")
        if spec.crop_size and (h < spec.crop_size or w < spec.crop_size):
            raise fail(f"Layer '{self.name}': crop_size {spec.crop_size} is larger than the images "
                       f"({h}×{w}) in {source.path}.")
        if spec.mean_values and len(spec.mean_values) not in (1, c):
            raise fail(f"Layer '{self.name}': transform_param has {len(spec.mean_values)} mean_value entries "
                       f"for {c}-channel images; give one per channel or a single one.")
        oh, ow = spec.out_hw(h, w)
        self._shapes = [(self.batch_size, c, oh, ow)]
        if len(self.param.top) > 1:
            self._shapes.append((self.batch_size,))
        self._small_float = dtype != np.uint8 and c * h * w <= 65536

    def resume_at(self, batch: int) -> None:
        """Continue the stream at batch number ``batch`` (a solver restored at iteration N calls this
        with N × iter_size), so an interrupted and resumed run sees the batches an uninterrupted run
        would.  BVLC Caffe restarts its data from the beginning instead."""
        self.close()
        self._start_batch = int(batch)

    def stream_state(self):
        """The seed of the augmentation / shuffling and the number of the next batch."""
        seed = getattr(self, "_stream_seed", None)
        return {"seed": seed, "next_batch": int(getattr(self, "_start_batch", 0))}

    def set_stream_state(self, state) -> None:
        self.close()
        if state.get("seed") is not None:
            self._stream_seed = int(state["seed"])
        self._start_batch = int(state["next_batch"])

    # -- sharding -------------------------------------------------------------------------------
    def set_shard(self, rank: int, world: int) -> None:
        """Read only the records of ``rank`` among ``world`` processes (before the first forward)."""
        if self._pf is not None:
            raise fail(f"Layer '{self.name}': set_shard must be called before the first forward.")
        if not 0 <= rank < world:
            raise fail(f"Layer '{self.name}': set_shard({rank}, {world}): rank must be in [0, world).")
        self._shard = (int(rank), int(world))

    def _start(self):
        from ..data_pipeline.prefetch import BatchMaker, Prefetcher
        from ..data_pipeline.sources import ReadPlan

        seed = getattr(self, "_stream_seed", None)
        if seed is None:
            seed = self._stream_seed = _seed()
        if self._shard is not None:
            rank, world = self._shard
        elif self.phase == TRAIN:
            rank, world = detect_shard()
        else:
            rank, world = 0, 1   # Caffe tests on the root solver only, reading everything
        skip = 0
        if self.rand_skip:
            # drawn from the seed alone: an image layer and its companion label layer skip alike
            skip = int(np.random.Generator(np.random.PCG64([seed & 0xFFFFFFFFFFFF, 0x5C1])).integers(self.rand_skip))
        stream = zlib.crc32(f"{self.name}/{self.phase}".encode())
        plan = ReadPlan(len(self.source), self.batch_size, rank, world, skip, self.shuffle, seed, stream=0)
        self.plan = plan
        what = f"Layer '{self.name}' ({self.source.path})"
        maker = BatchMaker(self.source, plan, self.spec, seed, stream, rank, what)
        workers = self.workers
        if workers is None and self._small_float:
            workers = 0  # label vectors: reading in-process is cheaper than shipping them
        self._pf = Prefetcher(maker, workers, self.prefetch, pin_memory=self.device.type == "cuda",
                              start=getattr(self, "_start_batch", 0))

    # -- layer API ------------------------------------------------------------------------------
    def reshape(self, bottom_shapes):
        return list(self._shapes)

    def forward(self, bottoms):
        from ..data_pipeline.transform import DeviceTransform

        if self._pf is None:
            self._start()
        if self._dev is None or self._dev.device != self.device:
            self._dev = DeviceTransform(self.spec, self.device)
        b, data, offsets, flips, labels = self._pf.next()
        self._start_batch = b + 1   # where a snapshot taken after this batch continues
        restarts = self.plan.restarts(b)
        if restarts:
            from ..logging_caffe import info

            for _ in range(restarts):
                info("Restarting data prefetching from start.", "data_layer.cpp:84")
        x = self._dev(data, offsets, flips)
        tops = [x]
        if len(self.param.top) > 1:
            tops.append(labels.to(self.device, non_blocking=True))
        # the batch's ring slot goes back to the workers once the copy out of it is done
        event = None
        if self._pf.pinned and self.device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
        self._pf.release(event)
        self._shapes = [tuple(t.shape) for t in tops]
        return tops

    @property
    def worker_processes(self) -> list:
        """The prefetch worker processes running now (none before the first forward, after
        ``close()``, or when decoding in-process)."""
        return self._pf.workers if self._pf is not None else []

    def close(self):
        """Stop the prefetch workers (also happens when the layer is collected and at exit)."""
        if self._pf is not None:
            self._pf.close()
            self._pf = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


@register("Data")
class DataLayer(_PrefetchingReader):
    def setup(self, bottom_shapes):
        from ..data_pipeline.sources import LMDBSource
        from ..data_pipeline.transform import TransformSpec

        dp = self.param.data_param
        if not dp.source:
            raise fail(f"Layer '{self.name}' (Data): data_param.source is not set.")
        src = dp.source
        is_lmdb = os.path.isfile(os.path.join(src, "data.mdb")) or (os.path.isfile(src) and not src.endswith(".ldb"))
        if dp.backend == 0 and os.path.exists(src) and not is_lmdb:
            raise fail(f"Layer '{self.name}' (Data): {src} is not an LMDB, and LevelDB is not supported; "
                       f"convert it with tools/convert_imageset.py --backend lmdb.")
        if dp.backend == 0 and is_lmdb:
            from ..logging_caffe import warning_once

            said = "says backend: LEVELDB" if dp.HasField("backend") else "gives no backend, so Caffe's default LEVELDB"
            warning_once(f"Layer '{self.name}' (Data): data_param {said}, but {src} is an LMDB; reading it as "
                         "LMDB. BVLC Caffe would try to open it as a LevelDB and fail; write backend: LMDB.",
                         "db.cpp:0")
        spec = TransformSpec.from_param(self.param.transform_param, self.phase, self.name)
        if dp.force_encoded_color:
            # BVLC reads this field nowhere since commit 3c46df7 (2015, before 1.0): the decode mode is
            # transform_param's force_color / force_gray alone.  Accept it, as BVLC does, and say so.
            from ..logging_caffe import warning

            warning(f"Layer '{self.name}' (Data): data_param.force_encoded_color has no effect in BVLC Caffe 1.0 "
                    f"and is ignored; set transform_param {{ force_color: true }} to decode encoded images "
                    f"as 3-channel colour.", "data_layer.cpp:0")
        self._init_reader(LMDBSource(src, spec.color), dp.batch_size, dp.rand_skip, False, dp.prefetch, spec)


@register("ImageData")
class ImageDataLayer(_PrefetchingReader):
    num_tops = (2, 2)

    def setup(self, bottom_shapes):
        from ..data_pipeline.sources import ImageListSource
        from ..data_pipeline.transform import TransformSpec

        ip = self.param.image_data_param
        if not ip.source:
            raise fail(f"Layer '{self.name}' (ImageData): image_data_param.source is not set.")
        spec = TransformSpec.from_param(self.param.transform_param, self.phase, self.name)
        source = ImageListSource(ip.source, ip.root_folder, ip.new_height, ip.new_width, ip.is_color)
        self._init_reader(source, ip.batch_size, ip.rand_skip, ip.shuffle, 4, spec)


@register("HDF5Data")
class HDF5DataLayer(Layer):
    num_bottoms = (0, 0)
    num_tops = (1, None)

    def setup(self, bottom_shapes):
        hp = self.param.hdf5_data_param
        if not hp.source:
            raise fail(f"Layer '{self.name}' (HDF5Data): hdf5_data_param.source is not set.")
        if not os.path.isfile(hp.source):
            raise fail(f"Layer '{self.name}' (HDF5Data): source list {hp.source} does not exist.")
        with open(hp.source, encoding="utf-8") as f:
            self.files = [ln.strip() for ln in f if ln.strip()]
        if not self.files:
            raise fail(f"Layer '{self.name}' (HDF5Data): source list {hp.source} names no .h5 files.")
        self.batch_size = int(hp.batch_size)
        if self.batch_size <= 0:
            raise fail(f"Layer '{self.name}' (HDF5Data): batch_size must be positive.")
        self.shuffle = bool(hp.shuffle)
        self.names = list(self.param.top)
        self._rng = None
        self._shard = None
        self._offset = 0
        self._file_perm = np.arange(len(self.files))
        self._load(0)
        self._shapes = [(self.batch_size,) + a.shape[1:] for a in self._arrays]

    def set_shard(self, rank, world):
        self._shard = (int(rank), int(world))

    def _load(self, slot):
        import h5py

        path = self.files[self._file_perm[slot]]
        if not os.path.isfile(path):
            raise fail(f"Layer '{self.name}' (HDF5Data): file {path} listed in {self.param.hdf5_data_param.source} "
                       f"does not exist.")
        arrays = []
        with h5py.File(path, "r") as f:
            for n in self.names:
                if n not in f:
                    raise fail(f"Layer '{self.name}' (HDF5Data): {path} has no dataset '{n}' (it has "
                               f"{', '.join(f.keys())}).")
                arrays.append(np.asarray(f[n][...], dtype=np.float32))
        rows = {a.shape[0] for a in arrays}
        if len(rows) != 1 or 0 in rows:
            raise fail(f"Layer '{self.name}' (HDF5Data): datasets of {path} have row counts "
                       f"{[a.shape[0] for a in arrays]}; they must be equal and non-zero.")
        self._arrays = arrays
        self._slot = slot
        self._row = 0
        self._rows = np.arange(arrays[0].shape[0])
        if self.shuffle and self._rng is not None:
            self._rng.shuffle(self._rows)

    def _next_row(self):
        if self._row >= len(self._rows):
            slot = self._slot + 1
            if slot >= len(self.files):
                slot = 0
                if self.shuffle:
                    self._rng.shuffle(self._file_perm)
            if len(self.files) > 1 or self.shuffle:
                self._load(slot)
            else:
                self._row = 0
        r = self._rows[self._row]
        self._row += 1
        return r

    def reshape(self, bottom_shapes):
        return list(self._shapes)

    def _begin(self, rng):
        self._rng = rng
        rank, world = self._shard or (detect_shard() if self.phase == TRAIN else (0, 1))
        self._rank, self._world = rank, world

    def stream_state(self):
        """Where reading stands: the shuffling generator, file order, file, row order and row."""
        if self._rng is None:
            return None
        return {"rng": self._rng.bit_generator.state, "file_perm": [int(i) for i in self._file_perm],
                "slot": int(self._slot), "rows": [int(r) for r in self._rows], "row": int(self._row),
                "offset": int(self._offset)}

    def set_stream_state(self, state) -> None:
        if state is None:
            return
        self._rng = None    # so loading the file does not shuffle (and draw) again
        self._file_perm = np.asarray(state["file_perm"], dtype=np.int64)
        self._load(int(state["slot"]))
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        self._begin(rng)
        self._rows = np.asarray(state["rows"], dtype=np.int64)
        self._row, self._offset = int(state["row"]), int(state["offset"])

    def forward(self, bottoms):
        if self._rng is None:
            self._begin(np.random.default_rng([_seed() & 0xFFFFFFFFFFFF, 0x4D5]))
            if self.shuffle:
                self._rng.shuffle(self._file_perm)
                self._load(0)
        outs = [np.empty(s, np.float32) for s in self._shapes]
        for i in range(self.batch_size):
            while self._offset % self._world != self._rank:
                self._next_row()
                self._offset += 1
            r = self._next_row()
            self._offset += 1
            for o, a in zip(outs, self._arrays):
                o[i] = a[r]
        return [torch.from_numpy(o).to(self.device) for o in outs]
