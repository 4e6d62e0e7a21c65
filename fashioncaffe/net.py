"""Net: builds a Caffe network from a NetParameter and runs it (Caffe's net.cpp).

Construction follows Caffe's Net::Init: upgrade V0/V1 definitions, filter layers by the NetState
(phase, level, stages), create each layer by its type name, wire bottoms to the newest blob of that
name (so in-place layers, top == bottom, chain naturally), set up parameters (shared by
``param { name }``), and record loss weights (1 on top[0] of ``*Loss`` layers unless given).

Forward runs each layer's torch forward in order; backward is autograd over
``Σ loss_weight · top`` plus the diffs a user put on output blobs.  A blob with several consumers
gets the sum of their gradients (what Caffe's Split layers do).  pycaffe's view is preserved: after
forward, ``net.blobs['conv1'].data`` is the value at the end of an in-place chain (after the in-place
ReLU), and after backward its ``diff`` is the gradient at the chain's start.

**The schedule** (the public seam other modules use; see docs/ENGINE_INTERNALS.md): every layer
top is a *slot* (``net.slot_names[s]`` is its blob's name); ``net.schedule`` lists one
:class:`~fashioncaffe.schedule.Step` per layer with its bottom and top slots.  ``forward_from_to``
runs a range of steps (Caffe's ForwardFromTo) through the net's
:class:`~fashioncaffe.schedule.Executor`, which a fast mode may replace.  The pycaffe methods (``forward()``, ``backward()``, ``forward_all()``, ...) live in
:mod:`fashioncaffe.net_pycaffe`, as BVLC's live in ``pycaffe.py``.
"""
from __future__ import annotations

import os
import sys
from collections import OrderedDict

import torch

from . import mode
from .blob import Blob
from .errors import fail
from .layers.base import TRAIN, layer_class
from .net_checks import check_has_layers, check_inplace_shapes, check_param_specs, check_tops, warn_if_filtered_empty
from .net_pycaffe import PycaffeNetMethods
from .netstate import filter_net
from .proto import caffe_pb2
from .prototxt import read_net_param
from .pylayer import PythonLayer
from .schedule import EAGER, Executor, Step, layer_reshape
from .upgrade import upgrade_net


class Net(PycaffeNetMethods):
    """A Caffe network (pycaffe's ``caffe.Net``).

    ``Net(prototxt, phase)``, ``Net(prototxt, weights, phase)``, ``Net(prototxt, phase, weights=...)``;
    ``prototxt`` may also be a NetParameter (``source``: the file it came from, for messages).  Keyword
    ``level`` and ``stages`` complete the NetState.
    """

    def __init__(self, network_file, *args, weights=None, phase=None, level=0, stages=(), device=None, source=None):
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
        self.source = network_file if isinstance(network_file, str) else (source or "<NetParameter>")

        param = read_net_param(network_file)
        param = upgrade_net(param)
        phase_name = "TRAIN" if self.phase == TRAIN else "TEST"
        check_has_layers(param, self.source)
        state = caffe_pb2.NetState()
        state.CopyFrom(param.state)
        state.phase = self.phase
        if level:
            state.level = level
        if stages:
            del state.stage[:]
            state.stage.extend(stages)
        param = filter_net(param, state)
        warn_if_filtered_empty(param, self.source, phase_name)
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
        self.layer_names: list[str] = []  # Caffe's layer_names()
        self.engine_layers: list = []      # Caffe's layers(): the engine layer objects
        self.layers: list = []             # pycaffe view: Python layers appear as the user's object
        self.layer_dict: "OrderedDict[str, object]" = OrderedDict()
        self.params: "OrderedDict[str, list[Blob]]" = OrderedDict()
        self.top_names: "OrderedDict[str, list[str]]" = OrderedDict()
        self.bottom_names: "OrderedDict[str, list[str]]" = OrderedDict()
        self.blob_loss_weights: "OrderedDict[str, float]" = OrderedDict()
        self.param_specs = []              # (blob, lr_mult, decay_mult, owner) for learnable params, owners only
        self._param_owner: dict[str, tuple] = {}
        self.force_backward = bool(param.force_backward)
        self.loss_terms: list[tuple[int, float]] = []   # (slot, loss weight) of every weighted top
        self.schedule: list[Step] = []
        self.input_slots: list[int] = []  # the Input layers' tops, in order
        self._input_names: list[str] = []

        # Slots: every tensor the forward produces; a blob name maps to the newest slot
        # (end of its in-place chain) and to the first one (start of the chain).
        slot_names: list[str] = []
        slot_shapes: list[tuple] = []
        newest: dict[str, int] = {}
        first: dict[str, int] = {}
        consumed: set[str] = set()
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
            check_tops(lp, newest, self.source)

            if isinstance(layer, PythonLayer):
                layer.setup_blobs(bottom_shapes, len(lp.top))
            else:
                layer.setup(bottom_shapes)
            top_shapes = layer_reshape(lp, layer, lp.bottom, bottom_shapes)
            if len(top_shapes) != len(lp.top):
                raise fail(f"Layer '{lp.name}' (type {lp.type}) produces {len(top_shapes)} top blob(s) but the "
                           f"prototxt names {len(lp.top)}.")
            check_inplace_shapes(lp, self.source, bottom_shapes, top_shapes)

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
            if layer.feeds_from_blob:
                for t, s in zip(lp.top, tops):
                    self.input_slots.append(s)
                    self._input_names.append(t)

            self.layer_names.append(lp.name)
            self.engine_layers.append(layer)
            view = layer.obj if isinstance(layer, PythonLayer) else layer
            self.layers.append(view)
            self.layer_dict[lp.name] = view
            self.top_names[lp.name] = list(lp.top)
            self.bottom_names[lp.name] = list(lp.bottom)
            self.schedule.append(Step(li, lp, layer, bottoms, tops, inplace))

            self._setup_params(layer, lp)
            self._setup_loss_weights(layer, lp)

        self.slot_names = slot_names      # the blob name of every slot
        self._blob_first_slot = first
        self._blob_last_slot = newest
        # Caffe keeps its available blobs in a std::set: outputs come in name order
        self._outputs = sorted(n for n in self.blobs if n not in consumed)
        self._slots: list = [None] * len(slot_names)
        self._plan_inplace(slot_names)
        self._executor = EAGER
        self._segment_inputs = {}
        self._retain = True     # keep every blob's gradient (pycaffe); solvers turn it off for speed
        self._graph_alive = False

    def _plan_inplace(self, slot_names):
        """Which in-place steps may overwrite their bottom's memory when blob diffs are not kept:
        those whose bottom slot has no other consumer (as Caffe's in-place layers do)."""
        uses = self.slot_uses()
        self._superseded = []
        for step in self.schedule:
            old = [b for b, t, ip in zip(step.bottoms, step.tops, step.inplace_tops) if ip]
            self._superseded.append(old)
            step.layer.inplace_allowed = bool(step.inplace_tops) and all(step.inplace_tops) and \
                all(uses[b] == 1 for b in step.bottoms)

    def set_fast_training(self, fast: bool) -> None:
        """Solver mode: do not keep per-blob gradients, and let in-place layers reuse memory."""
        self._retain = not fast
        for step in self.schedule:
            step.layer.inplace = fast and step.layer.inplace_allowed

    def _setup_params(self, layer, lp):
        check_param_specs(lp, len(layer.blobs), self.source)
        if not layer.blobs:
            return
        specs = list(lp.param)
        blobs = list(layer.blobs)
        for i, blob in enumerate(blobs):
            spec = specs[i] if i < len(specs) else None
            lr = spec.lr_mult if spec is not None and spec.HasField("lr_mult") else 1.0
            decay = spec.decay_mult if spec is not None and spec.HasField("decay_mult") else 1.0
            lr, decay = layer.param_mults(i, lr, decay)
            pname = spec.name if spec is not None else ""
            if pname and pname in self._param_owner:
                owner_layer, owner_idx, owner_blob = self._param_owner[pname]
                if owner_blob.shape != blob.shape:
                    same_count = owner_blob.count == blob.count
                    if not (same_count and spec.share_mode == 1):  # PERMISSIVE allows equal counts
                        raise fail(f"Layer '{lp.name}' shares parameter '{pname}' (its blob {i}) with layer "
                                   f"'{owner_layer}', but the shapes differ: {blob.shape} here vs "
                                   f"{owner_blob.shape} in '{owner_layer}'.")
                _use_param_blob(layer, i, owner_blob)
                continue
            if pname:
                self._param_owner[pname] = (lp.name, i, blob)
            blob.name = f"{lp.name}[{i}]"
            self.param_specs.append((blob, float(lr), float(decay), lp.name))
        self.params[lp.name] = layer.blobs

    def _setup_loss_weights(self, layer, lp):
        step = self.schedule[-1]
        weights = list(lp.loss_weight)
        if not weights and layer.is_loss:
            weights = [1.0] + [0.0] * (len(lp.top) - 1)
        if weights and len(weights) != len(lp.top):
            raise fail(f"Layer '{lp.name}' gives {len(weights)} loss_weight values for {len(lp.top)} top blobs; "
                       "give one per top (or none).")
        for name, slot, w in zip(lp.top, step.tops, weights):
            if w != 0:
                self.loss_terms.append((slot, float(w)))
                self.blob_loss_weights[name] = float(w)
            else:
                self.blob_loss_weights.setdefault(name, 0.0)
        for name in lp.top:
            self.blob_loss_weights.setdefault(name, 0.0)

    # ------------------------------------------------------------------------------------------
    # the schedule (public: what the solver, the tools, the fast modes and the exporter use)
    @property
    def inputs(self):
        """The Input layers' top blob names (Caffe's input_blobs)."""
        return list(self._input_names)

    @property
    def outputs(self):
        """Blobs no layer consumes, in name order (Caffe's output_blobs)."""
        return list(self._outputs)

    @property
    def learnable_params(self):
        return [spec[0] for spec in self.param_specs]

    def layer_index(self, name: str) -> int:
        """The schedule position of the layer called ``name``."""
        try:
            return self.layer_names.index(name)
        except ValueError:
            raise fail(f"Net '{self.name}' has no layer named '{name}'.") from None

    def blob_slot(self, name: str, first: bool = False) -> int:
        """The slot holding blob ``name``: the end of its in-place chain (the value ``blobs[name].data``
        shows after forward), or with ``first`` its start (where ``blobs[name].diff`` comes from)."""
        table = self._blob_first_slot if first else self._blob_last_slot
        if name not in table:
            raise fail(f"Net '{self.name}' has no blob named '{name}'.")
        return table[name]

    def slot_blob(self, slot: int) -> Blob:
        """The Blob a slot belongs to."""
        return self.blobs[self.slot_names[slot]]

    def slot_uses(self) -> list[int]:
        """How many steps read each slot."""
        uses = [0] * len(self.slot_names)
        for step in self.schedule:
            for s in step.bottoms:
                uses[s] += 1
        return uses

    def segment_inputs(self, k0: int, k1: int) -> list[int]:
        """The slots steps k0..k1 read but do not produce themselves (in first-use order)."""
        key = (k0, k1)
        if key not in self._segment_inputs:
            made, ext = set(), []
            for step in self.schedule[k0:k1 + 1]:
                for s in step.bottoms:
                    if s not in made and s not in ext:
                        ext.append(s)
                made.update(step.tops)
            self._segment_inputs[key] = ext
        return self._segment_inputs[key]

    @property
    def executor(self) -> Executor:
        return self._executor

    def set_executor(self, executor: Executor | None) -> None:
        """Run the layers through ``executor`` (None: the default, eager)."""
        self._executor = EAGER if executor is None else executor

    def propagate_shapes(self, batch: int | None = None) -> dict:
        """{slot: top shape} for the input blobs' current shapes (their first axis replaced by
        ``batch`` when given), running every layer's reshape in order; the layers are left set
        up for these shapes."""
        shapes = {}
        for step in self.schedule:
            if step.layer.feeds_from_blob:
                for s in step.tops:
                    shp = list(self.slot_blob(s).shape)
                    if shp and batch is not None:
                        shp[0] = batch
                    shapes[s] = tuple(shp)
                continue
            bshapes = [shapes[s] for s in step.bottoms]
            tshapes = layer_reshape(step.param, step.layer, step.param.bottom, bshapes)
            for s, t in zip(step.tops, tshapes):
                shapes[s] = tuple(int(d) for d in t)
        return shapes

    # ------------------------------------------------------------------------------------------
    # forward / backward (Caffe's ForwardFromTo, ForwardBackward)
    def forward_from_to(self, start: int = 0, end: int | None = None, grad: bool = True):
        """Run steps ``start``..``end`` (inclusive; default all) and return the weighted loss as a
        float32 tensor (None when no loss top was computed).  Steps read their bottoms from the
        slots this pass produced, and a bottom produced before ``start`` (or an input) from its
        blob.  With ``grad`` (and autograd enabled) the pass is recorded for backward."""
        steps = self.schedule
        end = len(steps) - 1 if end is None else end
        slots = self._slots
        track = grad and torch.is_grad_enabled()
        retain = self._retain and track
        executor = self._executor
        for i in range(len(slots)):
            slots[i] = None
        with torch.set_grad_enabled(track):
            fused = max(start, min(executor.fused_from(start, end), end + 1))
            for k in range(start, fused):
                step = steps[k]
                if step.layer.feeds_from_blob:
                    for s in step.tops:
                        self._slot_from_blob(s, track)
                    continue
                ins = [slots[s] if slots[s] is not None else self._slot_from_blob(s, track) for s in step.bottoms]
                self._store_tops(step, executor.run_layer(step, ins), retain)
            if fused <= end:
                inputs = {s: slots[s] if slots[s] is not None else self._slot_from_blob(s, track)
                          for s in self.segment_inputs(fused, end)}
                for step, outs in zip(steps[fused:end + 1], executor.run_fused(self, fused, end, inputs)):
                    self._store_tops(step, outs, retain)
        self._graph_alive = track
        loss = None
        for s, w in self.loss_terms:
            t = slots[s]
            if t is None:
                continue
            t = t.float() if t.dtype != torch.float32 else t
            term = t.sum() * w if w != 1.0 else t.sum()
            loss = term if loss is None else loss + term
        return loss

    def run_segment(self, k0: int, k1: int, inputs: dict, run_layer) -> list:
        """Steps k0..k1 as a pure function: from ``inputs`` ({slot: tensor} for
        :meth:`segment_inputs`) compute each step's tops with ``run_layer(step, bottoms)``; returns
        them (a list per step).  Touches no blob and no slot, so an executor may compile it."""
        slots = dict(inputs)
        produced = []
        for step in self.schedule[k0:k1 + 1]:
            outs = run_layer(step, [slots[s] for s in step.bottoms])
            for s, t in zip(step.tops, outs):
                slots[s] = t
            produced.append(list(outs))
        return produced

    def _store_tops(self, step, outs, retain):
        """Record a step's tops in their slots and blobs; without retained diffs, release the slots
        its in-place tops superseded."""
        slots, blobs, names = self._slots, self.blobs, self.slot_names
        for s, t in zip(step.tops, outs):
            if retain and t.requires_grad and not t.is_leaf:
                t.retain_grad()
            slots[s] = t
            blobs[names[s]].set_tensor(t)
        if not retain:
            for s in self._superseded[step.index]:
                slots[s] = None

    def _slot_from_blob(self, s, track):
        t = self.slot_blob(s).tensor
        if track and self.force_backward and t.is_floating_point():
            t = t.detach().requires_grad_(True)
        self._slots[s] = t
        return t

    def forward_backward(self):
        """One training pass for the solver (Caffe's ForwardBackward): forward, backward of the
        loss into the parameters' diffs; returns the loss (a detached tensor, 0.0 without one)."""
        loss = self.forward_from_to()
        if loss is not None and loss.requires_grad:
            loss.backward()
        self._graph_alive = False
        return 0.0 if loss is None else loss.detach()

    def run_backward(self, output_diffs: bool = True) -> None:
        """Backward of the last recorded forward: Σ loss_weight · loss top, plus (with
        ``output_diffs``) the diffs users put on output blobs.  Parameter diffs accumulate; blob
        diffs are replaced (kept only outside fast-training mode)."""
        if not self._graph_alive:
            raise fail("Net.backward() needs a forward pass first (the last forward ran without gradients "
                       "or the net changed since).")
        tensors, grads = [], []
        slots = self._slots
        loss_slots = {s for s, _ in self.loss_terms}
        for s, w in self.loss_terms:
            t = slots[s]
            if t is not None and t.requires_grad:
                tensors.append(t)
                grads.append(torch.full_like(t, w))
        if output_diffs:
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
            for blob in self.blobs.values():
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
                blob.zero_grad()

    # ------------------------------------------------------------------------------------------
    # weights
    def copy_from(self, path):
        """Copy weights by layer name from a .caffemodel (binary or .h5); shapes must agree."""
        from .formats.weights import copy_weights_into  # loads h5py: on first use, not at `import caffe`

        copy_weights_into(self, path)

    def share_with(self, other: "Net"):
        """Use ``other``'s parameter blobs (test nets share the train net's weights)."""
        for name, blobs in self.params.items():
            if name in other.params:
                theirs = other.params[name]
                layer = self.engine_layers[self.layer_index(name)]
                for i in range(min(len(blobs), len(theirs))):
                    if blobs[i].shape == theirs[i].shape:
                        blobs[i] = theirs[i]
                        _use_param_blob(layer, i, theirs[i])

    def to(self, device):
        self.device = torch.device(device)
        seen = set()
        for blob in list(self.blobs.values()) + [b for bl in self.params.values() for b in bl]:
            if id(blob) not in seen:
                seen.add(id(blob))
                blob.to(self.device)
        for layer in self.engine_layers:
            layer.device = self.device
            for b in layer.blobs:
                if id(b) not in seen:
                    seen.add(id(b))
                    b.to(self.device)
        return self

    def __repr__(self):
        return f"<Net {self.name!r}: {len(self.engine_layers)} layers, phase {'TRAIN' if self.phase == TRAIN else 'TEST'}>"


def _use_param_blob(layer, i, blob):
    """Make parameter ``i`` of ``layer`` the (shared) ``blob``; a Python layer's own view too."""
    layer.blobs[i] = blob
    if isinstance(layer, PythonLayer):
        layer.obj.blobs[i] = blob
