"""pycaffe's Python-side Net methods (BVLC's ``python/caffe/pycaffe.py``): ``forward()``,
``backward()``, ``forward_all()``, ``reshape()``, ``set_input_arrays()``, ``save()``, ...

They are written on :class:`fashioncaffe.net.Net`'s public schedule API only (``forward_from_to``,
``run_backward``, ``propagate_shapes``, ``layer_index``, ...), as pycaffe's are written on the C++
Net's bindings; ``Net`` inherits them.
"""
from __future__ import annotations

import numpy as np

from .errors import fail


class PycaffeNetMethods:
    """Mixed into :class:`fashioncaffe.net.Net`."""

    @property
    def _layer_names(self):  # pycaffe's name for the layer name list
        return list(self.layer_names)

    @property
    def _blob_loss_weights(self):
        return [self.blob_loss_weights.get(n, 0.0) for n in self.blobs]

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """pycaffe forward: set inputs from kwargs, run, return {output: data}."""
        for name, value in kwargs.items():
            if name not in self.blobs:
                raise fail(f"Net.forward got input '{name}', but the net has no blob of that name.")
            value = np.asarray(value)
            blob = self.blobs[name]
            if value.shape[0] != blob.shape[0]:
                raise fail(f"Input '{name}' has batch size {value.shape[0]}, the blob has {blob.shape[0]}; "
                           "reshape the blob first (net.blobs[name].reshape(...)).")
            blob.data[...] = value
        i0 = 0 if start is None else self.layer_index(start)
        i1 = len(self.schedule) - 1 if end is None else self.layer_index(end)
        self.forward_from_to(i0, i1)
        outs = set(self.outputs if end is None else self.top_names[self.layer_names[i1]])
        outs.update(blobs or [])
        return {o: self.blobs[o].data for o in outs}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """pycaffe backward: output diffs from kwargs; param diffs accumulate, blob diffs are replaced."""
        for name, value in kwargs.items():
            if name not in self.blobs:
                raise fail(f"Net.backward got diff for '{name}', but the net has no blob of that name.")
            self.blobs[name].diff[...] = value
        self.run_backward(output_diffs=True)
        outs = set(self.inputs) | set(diffs or [])
        return {o: self.blobs[o].diff for o in outs}

    def reshape(self):
        """Propagate the input blobs' shapes through the net (pycaffe's net.reshape())."""
        for s, shape in self.propagate_shapes().items():
            blob = self.slot_blob(s)
            if blob.shape != shape:
                blob.reshape(shape)

    def forward_all(self, blobs=None, **kwargs):
        """Run forward over inputs of any batch size, in chunks of the net's batch size."""
        all_outs = {o: [] for o in set(self.outputs + (blobs or []))}
        if not kwargs:
            out = self.forward(blobs=blobs)
            return {k: np.array(v) for k, v in out.items()}
        batch = self.blobs[next(iter(kwargs))].shape[0]
        total = len(next(iter(kwargs.values())))
        for i in range(0, total, batch):
            chunk = {}
            for k, v in kwargs.items():
                part = np.asarray(v[i:i + batch])
                if len(part) < batch:
                    pad = np.zeros((batch - len(part),) + part.shape[1:], dtype=part.dtype)
                    part = np.concatenate([part, pad])
                chunk[k] = part
            out = self.forward(blobs=blobs, **chunk)
            for k in all_outs:
                all_outs[k].extend(np.array(out[k])[: min(batch, total - i)])
        return {k: np.asarray(v) for k, v in all_outs.items()}

    def set_input_arrays(self, data, labels):
        """pycaffe: feed a MemoryData first layer with (n, C, H, W) float32 data and n labels."""
        first = self.engine_layers[0] if self.engine_layers else None
        if first is None or first.type != "MemoryData":
            raise fail(f"Net '{self.name}': set_input_arrays needs a MemoryData layer as the first layer "
                       "(as in pycaffe).")
        first.set_input_arrays(data, labels)

    def save(self, path):
        from .formats.weights import save_net

        save_net(self, path)

    def save_hdf5(self, path):
        from .formats.weights import save_net

        save_net(self, path, hdf5=True)

    def load_hdf5(self, path):
        self.copy_from(path)
