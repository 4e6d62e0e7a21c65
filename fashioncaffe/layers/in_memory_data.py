"""In-memory data layers: DummyData (tops filled by fillers) and MemoryData (arrays handed over by
pycaffe's ``set_input_arrays``).

(The layers that read files — Data, ImageData, HDF5Data — are :mod:`.file_data`.)
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import fail
from ..fillers import fill
from .base import Layer, register
from .input import check_input_shape


@register("DummyData")
class DummyDataLayer(Layer):
    """Tops filled by fillers, no bottoms.

    ``dummy_data_param``: one ``shape`` per top (or one for all), or the legacy 4-D
    ``num``/``channels``/``height``/``width`` (each given once or once per top); ``data_filler``:
    none (constant 0), one for all tops, or one per top.  As in Caffe, a top whose filler is not
    ``constant`` is refilled on every forward; a constant top is filled once.
    tops: y_1 … y_K.
    """

    num_bottoms = (0, 0)
    num_tops = (1, None)

    def setup(self, bottom_shapes):
        from ..proto import caffe_pb2

        p = self.param.dummy_data_param
        ntop = len(self.param.top)
        nf = len(p.data_filler)
        if nf not in (0, 1, ntop):
            raise fail(f"DummyData layer '{self.name}' has {ntop} tops but {nf} data_filler entries; give none, "
                       "one, or one per top.")
        legacy = len(p.num) + len(p.channels) + len(p.height) + len(p.width) > 0
        if legacy and len(p.shape):
            raise fail(f"DummyData layer '{self.name}': give either 'shape' or the legacy num/channels/height/width, "
                       "not both.")
        shapes = []
        if legacy:
            fields = {f: list(getattr(p, f)) for f in ("num", "channels", "height", "width")}
            for f, vals in fields.items():
                if len(vals) not in (1, ntop):
                    raise fail(f"DummyData layer '{self.name}': dummy_data_param.{f} must be given once or once per "
                               f"top ({ntop}), got {len(vals)} values.")
            for i in range(ntop):
                shapes.append(tuple(int(fields[f][i if len(fields[f]) > 1 else 0])
                                    for f in ("num", "channels", "height", "width")))
        else:
            if len(p.shape) not in (1, ntop):
                raise fail(f"DummyData layer '{self.name}' has {ntop} tops but {len(p.shape)} dummy_data_param.shape "
                           "entries; give one, or one per top.")
            for i in range(ntop):
                s = p.shape[i if len(p.shape) > 1 else 0]
                shapes.append(tuple(int(d) for d in s.dim))
        if nf == 0:
            fillers = [caffe_pb2.FillerParameter(type="constant", value=0.0)] * ntop
        elif nf == 1:
            fillers = [p.data_filler[0]] * ntop
        else:
            fillers = list(p.data_filler)
        for i, shape in enumerate(shapes):
            check_input_shape(self, shape, f"dummy_data_param shape of top {i}")
        self.shapes = shapes
        self.fillers = fillers
        self.refill = [(f.type or "constant") != "constant" for f in fillers]
        self._fixed = [None] * ntop

    @property
    def uses_global_rng(self):
        return any(self.refill) and any((f.type or "constant") != "constant" for f in self.fillers)

    def reshape(self, bottom_shapes):
        return list(self.shapes)

    def forward(self, bottoms):
        tops = []
        for i, (shape, filler) in enumerate(zip(self.shapes, self.fillers)):
            if self.refill[i]:
                tops.append(fill(torch.empty(shape, dtype=torch.float32, device=self.device), filler))
                continue
            t = self._fixed[i]
            if t is None or t.device != self.device:
                t = fill(torch.empty(shape, dtype=torch.float32, device=self.device), filler)
                self._fixed[i] = t
            tops.append(t)
        return tops


@register("MemoryData")
class MemoryDataLayer(Layer):
    """Serves batches from arrays handed over by ``net.set_input_arrays(data, labels)`` (pycaffe).

    ``memory_data_param``: batch_size, channels, height, width.
    tops: data (batch_size, channels, height, width), label (batch_size,).
    Each forward returns the next ``batch_size`` rows, wrapping around at the end (the array length
    must be a multiple of batch_size).  The arrays are copied to the device once, on
    :meth:`set_input_arrays`; no transformation is applied (as in Caffe's ``Reset``).
    """

    num_bottoms = (0, 0)
    num_tops = (1, 2)

    def setup(self, bottom_shapes):
        p = self.param.memory_data_param
        self.batch_size = int(p.batch_size)
        self.chw = (int(p.channels), int(p.height), int(p.width))
        if self.batch_size <= 0 or min(self.chw) <= 0:
            raise fail(f"MemoryData layer '{self.name}': memory_data_param needs positive batch_size, channels, "
                       f"height and width (got {self.batch_size}, {self.chw}).")
        self._data = None
        self._labels = None
        self._pos = 0
        self._n = 0

    def reshape(self, bottom_shapes):
        tops = [(self.batch_size,) + self.chw]
        if len(self.param.top) > 1:
            tops.append((self.batch_size,))
        return tops

    def set_input_arrays(self, data, labels):
        """pycaffe's ``Net.set_input_arrays``: ``data`` (n, C, H, W) float32, ``labels`` (n,) or
        (n, 1, 1, 1); n must be a multiple of batch_size.  Serving restarts at row 0."""
        data = np.asarray(data)
        labels = np.asarray(labels)
        if data.dtype != np.float32 or labels.dtype != np.float32:
            raise fail(f"MemoryData layer '{self.name}': set_input_arrays needs float32 arrays, got "
                       f"{data.dtype} data and {labels.dtype} labels.")
        if data.ndim != 4 or tuple(data.shape[1:]) != self.chw:
            raise fail(f"MemoryData layer '{self.name}': data must have shape (n, {', '.join(map(str, self.chw))}), "
                       f"got {data.shape}.")
        if labels.ndim == 4 and labels.shape[1:] == (1, 1, 1):
            labels = labels.reshape(-1)
        if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
            raise fail(f"MemoryData layer '{self.name}': labels must have shape ({data.shape[0]},) (one per data "
                       f"row), got {labels.shape}.")
        n = data.shape[0]
        if n == 0 or n % self.batch_size:
            raise fail(f"MemoryData layer '{self.name}': the number of rows ({n}) must be a positive multiple of "
                       f"the batch size ({self.batch_size}).")
        self._data = torch.from_numpy(np.ascontiguousarray(data)).to(self.device)
        self._labels = torch.from_numpy(np.ascontiguousarray(labels)).to(self.device)
        self._n = n
        self._pos = 0

    def forward(self, bottoms):
        if self._data is None:
            if self.device.type == "meta":
                return [torch.empty(s, device="meta") for s in self.reshape([])]
            raise fail(f"MemoryData layer '{self.name}' has no data: call net.set_input_arrays(data, labels) "
                       "before forward.")
        if self._data.device != self.device:
            self._data = self._data.to(self.device)
            self._labels = self._labels.to(self.device)
        b, i = self.batch_size, self._pos
        tops = [self._data[i:i + b]]
        if len(self.param.top) > 1:
            tops.append(self._labels[i:i + b])
        self._pos = (i + b) % self._n
        return tops
