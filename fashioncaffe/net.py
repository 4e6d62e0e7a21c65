"""Net: builds a Caffe network from a NetParameter and runs it (Caffe's net.cpp).

Construction follows Caffe's Net::Init: upgrade V0/V1 definitions, filter layers by the NetState
(phase, level, stages), create each layer by its type name, wire bottoms to the newest blob of that
name (so in-place layers, top == bottom, chain naturally), set up parameters (shared by
``param { name }``), and record loss weights (1 on top[0] of ``*Loss`` layers unless given).

Forward runs each layer's torch forward in order.  The solver's pass differentiates
``Σ loss_weight · top`` with one autograd call (:meth:`Net.forward_backward`); pycaffe's
``backward()`` is Caffe's layer-by-layer BackwardFromTo on the blobs' diffs
(:mod:`fashioncaffe.backward`).  A blob with several consumers gets the sum of their gradients
(what Caffe's Split layers do).  pycaffe's view is preserved: after forward,
``net.blobs['conv1'].data`` is the value at the end of an in-place chain (after the in-place ReLU),
and after backward its ``diff`` is the gradient at the chain's start.  Two layers may share a name,
as in BVLC Caffe (with a warning): name-keyed views show the later one, lookups by name
(``forward(start=...)``, weight files) find the first.

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

from . import logging_caffe as log
from . import mode
from .backward import analyse_backward, backward_from_to, cut_input
from .blob import Blob
from .errors import fail
from .layers.base import TRAIN, layer_class
from .net_checks import check_has_layers, check_inplace_shapes, check_param_specs, check_tops, warn_if_filtered_empty
from .net_pycaffe import PycaffeNetMethods
from .netstate import filter_net
from .proto import caffe_pb2
from .prototxt import read_net_param
from .pylayer import PythonLayer
from .schedule import EAGER, Executor, Hooks, Step, layer_reshape
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
        used_names: dict[str, int] = {}

        for li, lp in enumerate(param.layer):
            if lp.name in used_names:
                log.warning(f"Net '{param.name}' ({self.source}): layers {used_names[lp.name]} and {li} are both "
                            f"named '{lp.name}'. BVLC Caffe accepts this; pycaffe's name-keyed views (net.params, "
                            "net.layer_dict, top_names) show the later layer, while forward(start=/end=) and weight "
                            "files find the first. Give each layer its own name to avoid surprises.", "net.cpp:0")
            used_names.setdefault(lp.name, li)
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

            self.schedule[-1].param_lr = self._setup_params(layer, lp)
            self._setup_loss_weights(layer, lp)

        self.slot_names = slot_names      # the blob name of every slot
        self._blob_first_slot = first
        self._blob_last_slot = newest
        # Caffe keeps its available blobs in a std::set: outputs come in name order
        self._output_names = sorted(n for n in self.blobs if n not in consumed)
        self._slots: list = [None] * len(slot_names)
        self._plan_inplace(slot_names)
        self._executor = EAGER
        self._segment_inputs = {}
        self._retain = True     # pycaffe mode: keep every slot; solvers turn it off for speed
        #: per step, the (bottoms, tops) tensors of its last layerwise forward (fashioncaffe.backward)
        self.records: list = [None] * len(self.schedule)
        self.hooks = Hooks()
        analyse_backward(self)

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

    def _setup_params(self, layer, lp) -> list:
        """Register the layer's parameters (sharing by ``param { name }``); returns their lr_mults."""
        check_param_specs(lp, len(layer.blobs), self.source)
        lrs = []
        if not layer.blobs:
            return lrs
        specs = list(lp.param)
        blobs = list(layer.blobs)
        for i, blob in enumerate(blobs):
            spec = specs[i] if i < len(specs) else None
            lr = spec.lr_mult if spec is not None and spec.HasField("lr_mult") else 1.0
            decay = spec.decay_mult if spec is not None and spec.HasField("decay_mult") else 1.0
            lr, decay = layer.param_mults(i, lr, decay)
            lrs.append(float(lr))
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
        return lrs

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
                # Caffe's SetLossWeights: a loss top's diff holds its weight, which its backward reads
                blob = self.blobs[name]
                blob.set_grad(torch.full(blob.shape, float(w), dtype=torch.float32, device=self.device))
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
        return list(self._output_names)

    @property
    def learnable_params(self):
        return [spec[0] for spec in self.param_specs]

    @property
    def params(self) -> "OrderedDict[str, list[Blob]]":
        """pycaffe's ``net.params``: {layer name: its blobs} for the layers that have any (each list is
        the layer's own, so blobs a layer adds later show up)."""
        return OrderedDict((name, layer.blobs) for name, layer in zip(self.layer_names, self.engine_layers)
                           if len(layer.blobs) > 0)

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
    def forward_from_to(self, start: int = 0, end: int | None = None, grad: bool = True, layerwise: bool = False):
        """Run steps ``start``..``end`` (inclusive; default all) and return the weighted loss as a
        float32 tensor (None when no loss top was computed).  Steps read their bottoms from the
        slots this pass produced, and a bottom produced before ``start`` (or an input) from its
        blob.  With ``grad`` (and autograd enabled) the pass is recorded for backward: as one graph
        (what :meth:`forward_backward` differentiates), or with ``layerwise`` as one small graph per
        layer that needs backward, each from its own cut bottoms (what :meth:`backward_from_to`
        differentiates; pycaffe's ``forward()``).  The net's ``hooks`` run around every layer."""
        steps = self.schedule
        end = len(steps) - 1 if end is None else end
        slots = self._slots
        track = grad and torch.is_grad_enabled()
        retain = self._retain and track
        executor = self._executor
        hooks = self.hooks
        per_layer = layerwise or hooks.any_forward
        for i in range(len(slots)):
            slots[i] = None
        with torch.set_grad_enabled(track):
            fused = end + 1 if per_layer else max(start, min(executor.fused_from(start, end), end + 1))
            for k in range(start, fused):
                step = steps[k]
                hooks.run(hooks.before_forward, k)
                if step.layer.feeds_from_blob:
                    for s in step.tops:
                        self._slot_from_blob(s, track)
                elif layerwise and track:
                    self.records[k] = None
                    with torch.set_grad_enabled(step.need_backward):
                        ins = [cut_input(slots[s] if slots[s] is not None else self._slot_from_blob(s, False),
                                         step.need_backward and need)
                               for s, need in zip(step.bottoms, step.bottom_need_backward)]
                        outs = list(executor.run_layer(step, ins))
                    if step.need_backward:
                        self.records[k] = (ins, outs)
                    self._store_tops(step, outs, retain)
                else:
                    ins = [slots[s] if slots[s] is not None else self._slot_from_blob(s, track) for s in step.bottoms]
                    self._store_tops(step, executor.run_layer(step, ins), retain)
                hooks.run(hooks.after_forward, k)
            if fused <= end:
                inputs = {s: slots[s] if slots[s] is not None else self._slot_from_blob(s, track)
                          for s in self.segment_inputs(fused, end)}
                for step, outs in zip(steps[fused:end + 1], executor.run_fused(self, fused, end, inputs)):
                    self._store_tops(step, outs, retain)
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
        """Record a step's tops in their slots and blobs; without retained slots, release the slots
        its in-place tops superseded."""
        slots, blobs, names = self._slots, self.blobs, self.slot_names
        for s, t in zip(step.tops, outs):
            slots[s] = t
            blobs[names[s]].set_tensor(t)
        if not retain:
            for s in self._superseded[step.index]:
                slots[s] = None

    def _slot_from_blob(self, s, track):
        t = self.slot_blob(s).tensor
        if self._blob_last_slot[self.slot_names[s]] != s:
            # the rest of this in-place chain will be written into the blob: read a copy
            t = t.detach().clone()
        if track and self.force_backward and t.is_floating_point():
            t = t.detach().requires_grad_(True)
        self._slots[s] = t
        return t

    def forward_backward(self):
        """One training pass for the solver (Caffe's ForwardBackward): forward, backward of the
        loss into the parameters' diffs; returns the loss (a detached tensor, 0.0 without one).
        With backward hooks the backward runs layer by layer (:meth:`backward_from_to`)."""
        if self.hooks.any_backward:
            loss = self.forward_from_to(layerwise=True)
            self.backward_from_to()
        else:
            loss = self.forward_from_to()
            if loss is not None and loss.requires_grad:
                loss.backward()
        return 0.0 if loss is None else loss.detach()

    def backward_from_to(self, start: int | None = None, end: int = 0) -> None:
        """Caffe's BackwardFromTo: layers ``start`` (default the last) down to ``end``, each from the
        diffs its tops' blobs hold (:mod:`fashioncaffe.backward`).  Parameter diffs accumulate;
        bottom blob diffs are replaced."""
        backward_from_to(self, len(self.schedule) - 1 if start is None else start, end)

    # ------------------------------------------------------------------------------------------
    # weights
    def copy_from(self, path):
        """Copy weights by layer name from a .caffemodel (binary or .h5); shapes must agree."""
        from .formats.weights import copy_weights_into  # loads h5py: on first use, not at `import caffe`

        copy_weights_into(self, path)

    def share_with(self, other: "Net"):
        """Use ``other``'s parameter blobs (test nets share the train net's weights)."""
        theirs_by_name = other.params
        for name, blobs in self.params.items():
            if name in theirs_by_name:
                theirs = theirs_by_name[name]
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
