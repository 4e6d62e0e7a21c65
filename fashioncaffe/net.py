"""Net: builds a Caffe network from a NetParameter and runs it with pycaffe's API.

Construction follows Caffe's Net::Init: upgrade V0/V1 definitions, filter layers by the NetState
(phase, level, stages), create each layer by its type name, wire bottoms to the newest blob of that
name (so in-place layers, top == bottom, chain naturally), set up parameters (shared by
``param { name }``), and record loss weights (1 on top[0] of ``*Loss`` layers unless given).

Forward runs each layer's torch forward in order; backward is autograd over
``Σ loss_weight · top`` plus the diffs a user put on output blobs.  A blob with several consumers
gets the sum of their gradients (what Caffe's Split layers do).  pycaffe's view is preserved: after
forward, ``net.blobs['conv1'].data`` is the value at the end of an in-place chain (after the in-place
ReLU), and after backward its ``diff`` is the gradient at the chain's start.
"""
from __future__ import annotations

import os
import sys
from collections import OrderedDict

import numpy as np
import torch

from . import mode
from .blob import Blob
from .errors import fail
from .layers.base import TRAIN, layer_class
from .pylayer import PythonLayer


class _Step:
    """One layer in the forward schedule: the layer and its bottom / top slot indices."""

    __slots__ = ("layer", "bottoms", "tops", "inplace_tops")

    def __init__(self, layer, bottoms, tops, inplace_tops):
        self.layer = layer
        self.bottoms = bottoms
        self.tops = tops
        self.inplace_tops = inplace_tops


def _read_net_param(net_file):
    from .prototxt import read_net_param

    return read_net_param(net_file)


class Net:
    """A Caffe network (pycaffe's ``caffe.Net``).

    ``Net(prototxt, phase)``, ``Net(prototxt, weights, phase)``, ``Net(prototxt, phase, weights=...)``;
    ``prototxt`` may also be a NetParameter.  Keyword ``level`` and ``stages`` complete the NetState.
    """

    def __init__(self, network_file, *args, weights=None, phase=None, level=0, stages=(), device=None):
        from .netstate import filter_net
        from .proto import caffe_pb2
        from .upgrade import upgrade_net

        pos = list(args)
        if pos and isinstance(pos[0], str):
            weights = pos.pop(0)
        if pos:
            phase = pos.pop(0)
        if pos:
            raise TypeError("Net(prototxt, [weights,] phase): too many positional arguments")
        if phase is None:
            raise TypeError("Net(prototxt, [weights,] phase): the phase (caffe.TRAIN or caffe.TEST) is required")
        self.phase = int(phase)
        self.device = torch.device(device) if device is not None else mode.device()
        self.source = network_file if isinstance(network_file, str) else "<NetParameter>"

        param = _read_net_param(network_file)
        param = upgrade_net(param)
        state = caffe_pb2.NetState()
        state.CopyFrom(param.state)
        state.phase = self.phase
        if level:
            state.level = level
        if stages:
            del state.stage[:]
            state.stage.extend(stages)
        param = filter_net(param, state)
        self.param = param
        self.name = param.name
        self._python_paths_added = self._add_python_path()
        self._build(param)
        if weights:
            self.copy_from(weights)

    # ------------------------------------------------------------------------------------------
    # construction
    def _add_python_path(self):
        """Python layers' modules are looked up beside the prototxt and in the working directory."""
        added = []
        dirs = [os.getcwd()]
        if isinstance(self.source, str) and os.path.exists(self.source):
            dirs.append(os.path.dirname(os.path.abspath(self.source)))
        for d in dirs:
            if d not in sys.path:
                sys.path.append(d)
                added.append(d)
        return added

    def _build(self, param):
        self.blobs: "OrderedDict[str, Blob]" = OrderedDict()
        self._layer_names: list[str] = []
        self._layers: list = []           # engine layer objects
        self.layers: list = []            # pycaffe view: Python layers appear as the user's object
        self.layer_dict: "OrderedDict[str, object]" = OrderedDict()
        self.params: "OrderedDict[str, list[Blob]]" = OrderedDict()
        self.top_names: "OrderedDict[str, list[str]]" = OrderedDict()
        self.bottom_names: "OrderedDict[str, list[str]]" = OrderedDict()
        self.blob_loss_weights: "OrderedDict[str, float]" = OrderedDict()
        self.param_specs = []             # (blob, lr_mult, decay_mult, owner) for learnable params, owners only
        self._param_owner: dict[str, tuple] = {}
        self.force_backward = bool(param.force_backward)
        self._loss_terms: list[tuple[int, float]] = []

        # Slots: every tensor the forward produces; a blob name maps to the newest slot
        # (end of its in-place chain) and to the first one (start of the chain).
        slot_names: list[str] = []
        slot_shapes: list[tuple] = []
        newest: dict[str, int] = {}
        first: dict[str, int] = {}
        consumed: set[str] = set()
        self._input_slots: list[int] = []
        self._input_names: list[str] = []
        self._steps: list[_Step] = []
        used_names = set()

        for li, lp in enumerate(param.layer):
            if lp.name in used_names:
                raise fail(f"Net '{param.name}' ({self.source}) has two layers named '{lp.name}'; layer names "
                           "must be unique (weights are matched by layer name).")
            used_names.add(lp.name)
            cls = layer_class(lp.type, lp.name)
            layer = cls(lp, self.phase, self.device)
            layer.check_counts(len(lp.bottom), len(lp.top))

            bottoms = []
            for b in lp.bottom:
                if b not in newest:
                    known = ", ".join(newest) or "none"
                    raise fail(f"Layer '{lp.name}' (type {lp.type}) in {self.source} takes bottom blob '{b}', "
                               f"which no earlier layer produces (blobs so far: {known}).")
                bottoms.append(newest[b])
                consumed.add(b)
            bottom_shapes = [slot_shapes[i] for i in bottoms]

            if isinstance(layer, PythonLayer):
                layer.setup_blobs(bottom_shapes, len(lp.top))
            else:
                layer.setup(bottom_shapes)
            try:
                top_shapes = layer.reshape(bottom_shapes)
            except Exception as e:
                if isinstance(e, type(fail(""))):
                    raise
                shapes = ", ".join(f"{n} {s}" for n, s in zip(lp.bottom, bottom_shapes))
                raise fail(f"Layer '{lp.name}' (type {lp.type}) cannot run on its bottoms ({shapes}): "
                           f"{type(e).__name__}: {e}") from e
            if len(top_shapes) != len(lp.top):
                raise fail(f"Layer '{lp.name}' (type {lp.type}) produces {len(top_shapes)} top blob(s) but the "
                           f"prototxt names {len(lp.top)}.")

            tops, inplace = [], []
            for t, shape in zip(lp.top, top_shapes):
                slot = len(slot_names)
                slot_names.append(t)
                slot_shapes.append(tuple(shape))
                if t in newest and t in lp.bottom:
                    inplace.append(True)
                else:
                    first[t] = slot
                    inplace.append(False)
                newest[t] = slot
                tops.append(slot)
                if t not in self.blobs:
                    self.blobs[t] = Blob(shape, device=self.device, name=t)
                else:
                    self.blobs[t].reshape(shape)
                consumed.discard(t)  # an in-place top makes its blob available again, as in Caffe
            if lp.type == "Input":
                for t, s in zip(lp.top, tops):
                    self._input_slots.append(s)
                    self._input_names.append(t)

            self._layer_names.append(lp.name)
            self._layers.append(layer)
            view = layer.obj if isinstance(layer, PythonLayer) else layer
            self.layers.append(view)
            self.layer_dict[lp.name] = view
            self.top_names[lp.name] = list(lp.top)
            self.bottom_names[lp.name] = list(lp.bottom)
            self._steps.append(_Step(layer, bottoms, tops, inplace))

            self._setup_params(layer, lp)
            self._setup_loss_weights(layer, lp)

        self._slot_names = slot_names
        self._blob_first_slot = first
        self._blob_last_slot = newest
        # Caffe keeps its available blobs in a std::set: outputs come in name order
        self._outputs = sorted(n for n in self.blobs if n not in consumed)
        self._slots: list = [None] * len(slot_names)
        self._plan_inplace(slot_names)
        self._retain = True     # keep every blob's gradient (pycaffe); solvers turn it off for speed
        self._graph_alive = False

    def _plan_inplace(self, slot_names):
        """Which in-place steps may overwrite their bottom's memory when blob diffs are not kept:
        those whose bottom slot has no other consumer (as Caffe's in-place layers do)."""
        uses = [0] * len(slot_names)
        for step in self._steps:
            for s in step.bottoms:
                uses[s] += 1
        self._superseded = []
        for step in self._steps:
            old = [b for b, t, ip in zip(step.bottoms, step.tops, step.inplace_tops) if ip]
            self._superseded.append(old)
            step.layer.inplace_allowed = bool(step.inplace_tops) and all(step.inplace_tops) and \
                all(uses[b] == 1 for b in step.bottoms)

    def set_fast_training(self, fast: bool) -> None:
        """Solver mode: do not keep per-blob gradients, and let in-place layers reuse memory."""
        self._retain = not fast
        for step in self._steps:
            step.layer.inplace = fast and getattr(step.layer, "inplace_allowed", False)

    def _setup_params(self, layer, lp):
        if not layer.blobs:
            return
        specs = list(lp.param)
        blobs = list(layer.blobs)
        for i, blob in enumerate(blobs):
            spec = specs[i] if i < len(specs) else None
            lr = spec.lr_mult if spec is not None and spec.HasField("lr_mult") else 1.0
            decay = spec.decay_mult if spec is not None and spec.HasField("decay_mult") else 1.0
            lr, decay = getattr(layer, "param_mults", lambda i, lr, d: (lr, d))(i, lr, decay)
            pname = spec.name if spec is not None else ""
            if pname and pname in self._param_owner:
                owner_layer, owner_idx, owner_blob = self._param_owner[pname]
                if owner_blob.shape != blob.shape:
                    same_count = owner_blob.count == blob.count
                    if not (same_count and spec.share_mode == 1):  # PERMISSIVE allows equal counts
                        raise fail(f"Layer '{lp.name}' shares parameter '{pname}' (its blob {i}) with layer "
                                   f"'{owner_layer}', but the shapes differ: {blob.shape} here vs "
                                   f"{owner_blob.shape} in '{owner_layer}'.")
                layer.blobs[i] = owner_blob
                if isinstance(layer, PythonLayer):
                    layer.obj.blobs[i] = owner_blob
                continue
            if pname:
                self._param_owner[pname] = (lp.name, i, blob)
            blob.name = f"{lp.name}[{i}]"
            self.param_specs.append((blob, float(lr), float(decay), lp.name))
        self.params[lp.name] = layer.blobs

    def _setup_loss_weights(self, layer, lp):
        step = self._steps[-1]
        weights = list(lp.loss_weight)
        if not weights and layer.is_loss:
            weights = [1.0] + [0.0] * (len(lp.top) - 1)
        if weights and len(weights) != len(lp.top):
            raise fail(f"Layer '{lp.name}' gives {len(weights)} loss_weight values for {len(lp.top)} top blobs; "
                       "give one per top (or none).")
        for name, slot, w in zip(lp.top, step.tops, weights):
            if w != 0:
                self._loss_terms.append((slot, float(w)))
                self.blob_loss_weights[name] = float(w)
            else:
                self.blob_loss_weights.setdefault(name, 0.0)
        for name in lp.top:
            self.blob_loss_weights.setdefault(name, 0.0)

    # ------------------------------------------------------------------------------------------
    # pycaffe properties
    @property
    def inputs(self):
        return list(self._input_names)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def _blob_loss_weights(self):
        return [self.blob_loss_weights.get(n, 0.0) for n in self.blobs]

    @property
    def learnable_params(self):
        return [spec[0] for spec in self.param_specs]

    # ------------------------------------------------------------------------------------------
    # forward / backward
    def _layer_index(self, name, default):
        if name is None:
            return default
        try:
            return self._layer_names.index(name)
        except ValueError:
            raise fail(f"Net '{self.name}' has no layer named '{name}'.") from None

    def _run_forward(self, start=0, end=None, grad=True):
        """Run layers start..end (inclusive); returns the weighted loss as a float tensor."""
        steps = self._steps
        end = len(steps) - 1 if end is None else end
        slots = self._slots
        track = grad and torch.is_grad_enabled()
        retain = self._retain and track
        if start == 0:
            for i in range(len(slots)):
                slots[i] = None
        with torch.set_grad_enabled(track):
            for k in range(start, end + 1):
                step = steps[k]
                if step.layer.feeds_from_blob:
                    for s in step.tops:
                        self._slot_from_blob(s, track)
                    continue
                ins = []
                for s in step.bottoms:
                    t = slots[s]
                    if t is None:  # produced before `start`, or fed by the user through the blob
                        t = self._slot_from_blob(s, track)
                    ins.append(t)
                self._store_tops(k, step, step.layer.forward(ins), retain)
        self._graph_alive = track
        loss = None
        for s, w in self._loss_terms:
            t = slots[s]
            if t is None:
                continue
            term = t.sum() * w if w != 1.0 else t.sum()
            loss = term if loss is None else loss + term
        return loss

    def _store_tops(self, k, step, outs, retain):
        """Record step k's tops in their slots and blobs; without retained diffs, release the slots
        its in-place tops superseded."""
        slots, blobs, names = self._slots, self.blobs, self._slot_names
        for s, t in zip(step.tops, outs):
            if retain and t.requires_grad and not t.is_leaf:
                t.retain_grad()
            slots[s] = t
            blobs[names[s]].set_tensor(t)
        if not retain:
            for s in self._superseded[k]:
                slots[s] = None

    def _slot_from_blob(self, s, track):
        blob = self.blobs[self._slot_names[s]]
        t = blob.tensor
        if track and self.force_backward and t.is_floating_point():
            t = t.detach().requires_grad_(True)
        self._slots[s] = t
        return t

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
        i0 = self._layer_index(start, 0)
        i1 = self._layer_index(end, len(self._steps) - 1)
        if i0 > 0:
            for i in range(len(self._slots)):
                self._slots[i] = None
        self._last_loss = self._run_forward(i0, i1)
        outs = set(self._outputs if end is None else self.top_names[self._layer_names[i1]])
        outs.update(blobs or [])
        return {o: self.blobs[o].data for o in outs}

    def _forward_loss(self):
        """Engine forward from the first layer; returns the net's loss (a float)."""
        loss = self._run_forward(0)
        self._last_loss = loss
        return 0.0 if loss is None else float(loss.detach())

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """pycaffe backward: output diffs from kwargs; param diffs accumulate, blob diffs are replaced."""
        for name, value in kwargs.items():
            if name not in self.blobs:
                raise fail(f"Net.backward got diff for '{name}', but the net has no blob of that name.")
            self.blobs[name].diff[...] = value
        self._backward(user_diffs=True)
        outs = set(self._input_names) | set(diffs or [])
        return {o: self.blobs[o].diff for o in outs}

    def _backward(self, user_diffs=True):
        if not self._graph_alive:
            raise fail("Net.backward() needs a forward pass first (the last forward ran without gradients "
                       "or the net changed since).")
        tensors, grads = [], []
        slots = self._slots
        loss_slots = {s for s, _ in self._loss_terms}
        for s, w in self._loss_terms:
            t = slots[s]
            if t is not None and t.requires_grad:
                tensors.append(t)
                grads.append(torch.full_like(t, w))
        if user_diffs:
            for name in self._outputs:
                s = self._blob_last_slot[name]
                if s in loss_slots:
                    continue
                t = slots[s]
                if t is None or not t.requires_grad:
                    continue
                g = self.blobs[name].grad
                if g.shape != t.shape:
                    continue
                tensors.append(t)
                grads.append(g.detach().clone())
        if self._retain:
            # clear stale intermediate diffs: a blob with no gradient path reads as zeros
            for name, blob in self.blobs.items():
                blob.zero_grad()
        if tensors:
            torch.autograd.backward(tensors, grads, retain_graph=self._retain)
        if self._retain:
            self._collect_blob_diffs()

    def _collect_blob_diffs(self):
        slots = self._slots
        for name, blob in self.blobs.items():
            s = self._blob_first_slot.get(name)
            t = slots[s] if s is not None else None
            if t is not None and t.grad is not None:
                blob.set_grad(t.grad)
            else:
                blob._diff.reshape(blob.shape)

    def _forward_backward(self):
        """One training pass for the solver: forward, backward of the loss; returns the loss."""
        loss = self._run_forward(0)
        if loss is not None and loss.requires_grad:
            loss.backward()
        self._graph_alive = False
        return 0.0 if loss is None else loss.detach()

    def reshape(self):
        """Propagate input blob shapes through the net (pycaffe's net.reshape())."""
        shapes = {}
        for step, lp in zip(self._steps, self.param.layer):
            bshapes = []
            for s in step.bottoms:
                n = self._slot_names[s]
                bshapes.append(shapes.get(s, self.blobs[n].shape))
            tshapes = step.layer.reshape(bshapes)
            for s, shape in zip(step.tops, tshapes):
                shapes[s] = tuple(shape)
                blob = self.blobs[self._slot_names[s]]
                if step.layer.type != "Input":
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
        from .layers.data_layers import MemoryDataLayer

        if not self._layers or not isinstance(self._layers[0], MemoryDataLayer):
            raise fail(f"Net '{self.name}': set_input_arrays needs a MemoryData layer as the first layer "
                       "(as in pycaffe).")
        self._layers[0].set_input_arrays(data, labels)

    # ------------------------------------------------------------------------------------------
    # weights
    def copy_from(self, path):
        """Copy weights by layer name from a .caffemodel (binary or .h5); shapes must agree."""
        from .io.weights import copy_weights_into

        copy_weights_into(self, path)

    def save(self, path):
        from .io.weights import save_net

        save_net(self, path)

    def save_hdf5(self, path):
        from .io.weights import save_net

        save_net(self, path, hdf5=True)

    def load_hdf5(self, path):
        self.copy_from(path)

    def share_with(self, other: "Net"):
        """Use ``other``'s parameter blobs (test nets share the train net's weights)."""
        for name, blobs in self.params.items():
            if name in other.params:
                theirs = other.params[name]
                for i in range(min(len(blobs), len(theirs))):
                    if blobs[i].shape == theirs[i].shape:
                        blobs[i] = theirs[i]
                        layer = self._layers[self._layer_names.index(name)]
                        layer.blobs[i] = theirs[i]
                        if isinstance(layer, PythonLayer):
                            layer.obj.blobs[i] = theirs[i]

    def to(self, device):
        self.device = torch.device(device)
        seen = set()
        for blob in list(self.blobs.values()) + [b for bl in self.params.values() for b in bl]:
            if id(blob) not in seen:
                seen.add(id(blob))
                blob.to(self.device)
        for layer in self._layers:
            layer.device = self.device
            for b in layer.blobs:
                if id(b) not in seen:
                    seen.add(id(b))
                    b.to(self.device)
        return self

    def __repr__(self):
        return f"<Net {self.name!r}: {len(self._layers)} layers, phase {'TRAIN' if self.phase == TRAIN else 'TEST'}>"
