"""pycaffe's Python-side Net methods (BVLC's ``python/caffe/pycaffe.py``) and the few Net bindings
of ``_caffe.cpp`` that are not the engine's own: ``forward()``, ``backward()``, ``forward_all()``,
``forward_backward_all()``, ``reshape()``, ``set_input_arrays()``, ``save()`` / ``save_hdf5()`` /
``load_hdf5()``, the per-layer callbacks ``before_forward`` ... ``after_backward``, and the
underscored names (``_forward``, ``_backward``, ``_blob_names``, ...) some scripts use.

They are written on :class:`fashioncaffe.net.Net`'s public schedule API only (``forward_from_to``,
``backward_from_to``, ``propagate_shapes``, ``layer_index``, ``hooks``, ...), as pycaffe's are
written on the C++ Net's bindings; ``Net`` inherits them.  Argument checks raise what pycaffe
raises (its plain ``Exception`` for inputs that do not match), with a message that says what
was expected.
"""
from __future__ import annotations

from itertools import zip_longest

import numpy as np

from .errors import fail


def _set_arrays(net, arrays, expected, what, field):
    """pycaffe's keyword arrays: exactly the ``expected`` blobs, each batch-sized, written into their
    ``field`` ("data" or "diff")."""
    if set(arrays) != set(expected):
        raise fail(f"Net '{net.name}': got {what} arguments {sorted(arrays)} but the net's are {sorted(expected)}; "
                   f"{what} arguments do not match net {'inputs' if field == 'data' else 'outputs'}.")
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.shape[0] != net.blobs[name].shape[0]:
            raise fail(f"Net '{net.name}': {what} '{name}' has batch size {value.shape[0]} but the blob's is "
                       f"{net.blobs[name].shape[0]}; reshape the blob first (net.blobs['{name}'].reshape(...)) "
                       "or use forward_all().")
        getattr(net.blobs[name], field)[...] = value


class PycaffeNetMethods:
    """Mixed into :class:`fashioncaffe.net.Net`."""

    # -- the bindings' underscored names --------------------------------------------------------
    @property
    def _layer_names(self):
        return list(self.layer_names)

    @property
    def _blob_names(self):
        return list(self.blobs)

    @property
    def _blobs(self):
        return list(self.blobs.values())

    @property
    def _blob_loss_weights(self):
        return [self.blob_loss_weights.get(n, 0.0) for n in self.blobs]

    @property
    def _inputs(self):
        names = list(self.blobs)
        return [names.index(n) for n in self.inputs]

    @property
    def _outputs(self):
        names = list(self.blobs)
        return [names.index(n) for n in self.outputs]

    def _top_ids(self, i):
        names = list(self.blobs)
        return [names.index(n) for n in self.schedule[i].param.top]

    def _bottom_ids(self, i):
        names = list(self.blobs)
        return [names.index(n) for n in self.schedule[i].param.bottom]

    def _forward(self, start, end):
        """The binding of Caffe's ForwardFromTo (layer indices); returns the loss as a float."""
        loss = self.forward_from_to(int(start), int(end), layerwise=True)
        return 0.0 if loss is None else float(loss.detach())

    def _backward(self, start, end):
        """The binding of Caffe's BackwardFromTo (layer indices, start >= end)."""
        self.backward_from_to(int(start), int(end))

    # -- forward / backward ----------------------------------------------------------------------
    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """pycaffe forward: set the inputs given as keywords (all of them, each batch-sized), run
        layers ``start``..``end`` (names; default all), return {blob: data} for the outputs (or the
        ``end`` layer's tops) and ``blobs``."""
        blobs = list(blobs or [])
        i0 = 0 if start is None else self.layer_index(start)
        if end is not None:
            i1 = self.layer_index(end)
            outputs = set(self.top_names[end] + blobs)
        else:
            i1 = len(self.schedule) - 1
            outputs = set(self.outputs + blobs)
        if kwargs:
            _set_arrays(self, kwargs, self.inputs, "input blob", "data")
        self.forward_from_to(i0, i1, layerwise=True)
        return {o: self.blobs[o].data for o in outputs}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """pycaffe backward: set the output diffs given as keywords (all of them, each
        batch-sized), run layers ``start`` down to ``end`` (names; default all) from the diffs the
        blobs hold, return {blob: diff} for the inputs (or the ``end`` layer's bottoms) and ``diffs``."""
        diffs = list(diffs or [])
        i0 = len(self.schedule) - 1 if start is None else self.layer_index(start)
        if end is not None:
            i1 = self.layer_index(end)
            outputs = set(self.bottom_names[end] + diffs)
        else:
            i1 = 0
            outputs = set(self.inputs + diffs)
        if kwargs:
            _set_arrays(self, kwargs, self.outputs, "top diff", "diff")
        self.backward_from_to(i0, i1)
        return {o: self.blobs[o].diff for o in outputs}

    def _batches(self, arrays):
        """Split {blob: array of N items} into the net's batches; the last one is padded with zeros."""
        if not arrays:
            return
        n = len(next(iter(arrays.values())))
        batch = next(iter(self.blobs.values())).shape[0]
        for i in range(0, n, batch):
            chunk = {}
            for name, value in arrays.items():
                part = np.asarray(value[i:i + batch])
                if len(part) < batch:
                    part = np.concatenate([part, np.zeros((batch - len(part),) + part.shape[1:], dtype=part.dtype)])
                chunk[name] = part
            yield chunk

    def forward_all(self, blobs=None, **kwargs):
        """Run forward over inputs of any number of items, in the net's batches; returns
        {blob: array} for the outputs and ``blobs`` (padding dropped).  Without inputs, one forward."""
        if not kwargs:
            out = self.forward(blobs=blobs)
            return {k: np.array(v) for k, v in out.items()}
        all_outs = {o: [] for o in set(self.outputs + list(blobs or []))}
        for chunk in self._batches(kwargs):
            for name, value in self.forward(blobs=blobs, **chunk).items():
                all_outs[name].extend(value.copy())
        total = len(next(iter(kwargs.values())))
        return {k: np.asarray(v)[:total] for k, v in all_outs.items()}

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs):
        """pycaffe's forward + backward in batches: keywords give inputs (for forward) and output
        diffs (for backward); returns ({blob: data}, {blob: diff}) without the padding."""
        all_outs = {o: [] for o in set(self.outputs + list(blobs or []))}
        all_diffs = {d: [] for d in set(self.inputs + list(diffs or []))}
        forward_batches = self._batches({k: kwargs[k] for k in self.inputs if k in kwargs}) or ()
        backward_batches = self._batches({k: kwargs[k] for k in self.outputs if k in kwargs}) or ()
        for fb, bb in zip_longest(forward_batches, backward_batches, fillvalue={}):
            for name, value in self.forward(blobs=blobs, **fb).items():
                all_outs[name].extend(value.copy())
            for name, value in self.backward(diffs=diffs, **bb).items():
                all_diffs[name].extend(value.copy())
        total = len(next(iter(kwargs.values()))) if kwargs else None
        outs = {k: np.asarray(v)[:total] for k, v in all_outs.items()}
        grads = {k: np.asarray(v)[:total] for k, v in all_diffs.items()}
        return outs, grads

    def clear_param_diffs(self) -> None:
        """Caffe's ClearParamDiffs: every learnable parameter's diff to zero (in place, so arrays
        Python holds show it)."""
        for blob, *_ in self.param_specs:
            blob.zero_grad()

    # -- per-layer callbacks (Caffe's Net::Callback) ----------------------------------------------
    def before_forward(self, callback):
        """Run ``callback(layer_index)`` before each layer's forward."""
        self.hooks.before_forward.append(_callback(callback))

    def after_forward(self, callback):
        self.hooks.after_forward.append(_callback(callback))

    def before_backward(self, callback):
        self.hooks.before_backward.append(_callback(callback))

    def after_backward(self, callback):
        """Run ``callback(layer_index)`` after each layer's backward.  (An ``NCCL`` object, which
        pycaffe also accepts here, does nothing: see :mod:`fashioncaffe.pycaffe_runtime`.)"""
        from .pycaffe_runtime import NCCL

        if isinstance(callback, NCCL):
            return
        self.hooks.after_backward.append(_callback(callback))

    # -- shapes, inputs, files -------------------------------------------------------------------
    def reshape(self):
        """Propagate the input blobs' shapes through the net (pycaffe's net.reshape())."""
        for s, shape in self.propagate_shapes().items():
            blob = self.slot_blob(s)
            if blob.shape != shape:
                blob.reshape(shape)

    def set_input_arrays(self, data, labels):
        """pycaffe: feed a MemoryData first layer with (n, C, H, W) float32 data and n labels."""
        first = self.engine_layers[0] if self.engine_layers else None
        if first is None or first.type != "MemoryData":
            raise fail(f"Net '{self.name}': set_input_arrays needs a MemoryData layer as the first layer "
                       "(as in pycaffe).")
        first.set_input_arrays(data, labels)

    def save(self, path):
        """Write the weights as a binary .caffemodel, whatever the file's name."""
        from .formats.weights import save_net

        save_net(self, path, hdf5=False)

    def save_hdf5(self, path):
        """Write the weights in Caffe's HDF5 layout, whatever the file's name."""
        from .formats.weights import save_net

        save_net(self, path, hdf5=True)

    def load_hdf5(self, path):
        """Copy weights from a file in Caffe's HDF5 layout, whatever the file's name."""
        from .formats.weights import copy_weights_into

        copy_weights_into(self, path, hdf5=True)


def _callback(callback):
    if not callable(callback):
        raise fail(f"A net callback must be callable with the layer index; got {type(callback).__name__}.")
    return callback
