"""The engine's layer base class and the registry of layer types by their Caffe type names.

An engine layer is built from its ``LayerParameter``; ``setup`` creates its learnable blobs from
the bottom shapes (as Caffe's LayerSetUp), and ``forward`` maps bottom tensors to top tensors with
differentiable torch ops.  Backward is autograd's: a layer whose Caffe gradient differs from the
autograd gradient of its forward formula (ties in Eltwise MAX, clipped logs, ...) says so with a
custom ``torch.autograd.Function``.  Top shapes come from running ``forward`` on meta tensors, so a
layer only overrides ``reshape`` when it cannot run on the meta device.

Conventions every layer follows:
* ``self.blobs[i].tensor`` is the parameter as an autograd leaf: use it where Caffe computes a
  parameter gradient; use ``.tensor.detach()`` for state blobs Caffe never differentiates
  (BatchNorm statistics).
* ``self.phase`` is ``TRAIN`` (0) or ``TEST`` (1); ``self.param`` is the LayerParameter.
* Errors about the layer's configuration raise ``fail(...)`` naming the layer (``self.name``).
"""
from __future__ import annotations

import contextlib
import difflib

import torch

from ..blob import Blob, BlobVec
from ..errors import fail

TRAIN, TEST = 0, 1

#: C's <cfloat> limits as Caffe uses them (MAX pooling starts from −FLT_MAX, logs clip at FLT_MIN)
FLT_MAX = 3.4028234663852886e38
FLT_MIN = 1.1754943508222875e-38

_REGISTRY: dict[str, type] = {}


def register(*type_names):
    """Class decorator: make the layer constructible by its Caffe type name(s)."""

    def deco(cls):
        for name in type_names:
            _REGISTRY[name] = cls
        if getattr(cls, "type", None) is None:
            cls.type = type_names[0]
        return cls

    return deco


def layer_class(type_name: str, layer_name: str = "?"):
    """The class registered for ``type_name``; an unknown type lists the nearest known ones."""
    cls = _REGISTRY.get(type_name)
    if cls is None:
        near = difflib.get_close_matches(type_name, list(_REGISTRY), n=5, cutoff=0.4)
        hint = f" The nearest known types are: {', '.join(near)}." if near else ""
        raise fail(f"Layer '{layer_name}' has unknown type '{type_name}'.{hint} "
                   f"fashioncaffe.layer_type_list() lists all {len(_REGISTRY)} known types.")
    return cls


def layer_type_list():
    return sorted(_REGISTRY)


class Layer:
    """Base of the engine's layers (the pycaffe Python-layer base is :class:`fashioncaffe.Layer`)."""

    type: str | None = None
    #: (min, max) numbers of bottoms / tops accepted; None means unbounded
    num_bottoms = (0, None)
    num_tops = (0, None)
    #: Input-like layers: the net feeds their tops from the blobs users fill (no forward call)
    feeds_from_blob = False
    #: set by the Net: this layer is in-place and its bottom has no other consumer
    inplace_allowed = False
    #: set by the Net in solver mode when this in-place layer may overwrite its bottom's memory
    inplace = False
    #: set by a solver on a GPU: bad input a layer finds on the device (a label out of range) is
    #: kept there and reported by :meth:`take_deferred_error` at the solver's next check, instead
    #: of a host synchronisation in every forward
    defer_checks = False

    def __init__(self, param, phase: int, device):
        self.param = param
        self.name = param.name
        self.phase = phase
        self.device = torch.device(device)
        self.blobs: BlobVec = BlobVec(name=param.name, device=self.device)

    # -- hooks ------------------------------------------------------------------------------------
    def setup(self, bottom_shapes: list[tuple]) -> None:
        """Create learnable blobs and validate parameters (Caffe's LayerSetUp)."""

    def reshape(self, bottom_shapes: list[tuple]) -> list[tuple]:
        """Top shapes for these bottom shapes; default: run forward on meta tensors."""
        metas = [torch.empty(s, dtype=torch.float32, device="meta") for s in bottom_shapes]
        with contextlib.ExitStack() as stack:
            for b in self.blobs:
                stack.enter_context(b.substituted(torch.empty(b.shape, dtype=torch.float32, device="meta")))
            with torch.no_grad():
                tops = self.forward(metas)
        return [tuple(t.shape) for t in tops]

    def forward(self, bottoms: list[torch.Tensor]) -> list[torch.Tensor]:
        raise NotImplementedError

    def allow_force_backward(self, bottom_index: int) -> bool:
        """Caffe's AllowForceBackward: may ``force_backward`` give this bottom a diff?  Every bottom
        of most layers; a ``*Loss`` layer (Caffe's LossLayer) not its label, bottom 1."""
        return not (self.is_loss and bottom_index == 1)

    def param_mults(self, i: int, lr_mult: float, decay_mult: float) -> tuple[float, float]:
        """The (lr_mult, decay_mult) parameter ``i`` learns with; a layer may force them
        (BatchNorm's statistics never learn)."""
        return lr_mult, decay_mult

    #: the layer draws from the process-wide random generators (torch / numpy / python) in its
    #: forward: Dropout in TRAIN, DummyData with a random filler.  A snapshot keeps those generators.
    uses_global_rng = False

    def stream_state(self):
        """The state of this layer's own random or reading stream (JSON-compatible), which a
        snapshot keeps so a resumed run continues it; None when the layer has none."""
        return None

    def set_stream_state(self, state) -> None:
        """Continue from a state :meth:`stream_state` returned."""

    def take_deferred_error(self) -> str | None:
        """The message about bad input found on the device since the last call (None: none found)."""
        return None

    # -- helpers for subclasses -------------------------------------------------------------------
    def add_param(self, shape, filler=None, name="") -> Blob:
        """Append a learnable blob of ``shape`` filled by ``filler`` (a FillerParameter)."""
        from ..fillers import fill

        if filler is not None and any(int(d) == 0 for d in shape):
            # BVLC's fillers CHECK(blob->count()): a parameter sized by an empty bottom is refused
            raise fail(f"Layer '{self.name}' (type {self.type}): its parameter {len(self.blobs)} would have shape "
                       f"{tuple(int(d) for d in shape)}, with no elements (a bottom has a dimension of size 0 or "
                       "the layer's settings give 0). Caffe cannot fill an empty parameter; check the input "
                       "shapes and this layer's settings.")
        if any(int(d) < 0 for d in shape):
            raise fail(f"Layer '{self.name}' (type {self.type}): its parameter {len(self.blobs)} would have shape "
                       f"{tuple(int(d) for d in shape)}; dimensions must be >= 0.")
        blob = Blob(shape, device=self.device, learnable=True, name=f"{self.name}.{name or len(self.blobs)}")
        if filler is not None:
            with torch.no_grad():
                fill(blob.tensor, filler)
        self.blobs.append(blob)
        return blob

    def check_counts(self, n_bottom: int, n_top: int) -> None:
        for what, n, (lo, hi) in (("bottom", n_bottom, self.num_bottoms), ("top", n_top, self.num_tops)):
            if n < lo or (hi is not None and n > hi):
                want = f"exactly {lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
                raise fail(f"Layer '{self.name}' of type {self.type} takes {want} {what} blob(s), "
                           f"but the prototxt gives it {n}.")

    @property
    def is_loss(self) -> bool:
        return (self.type or "").endswith("Loss")

    def __repr__(self):
        return f"<{self.type} layer {self.name!r}>"


def canonical_axis(axis: int, ndim: int, layer: Layer, field: str = "axis") -> int:
    """Caffe's CanonicalAxisIndex: negative axes count from the end; out of range is an error."""
    if not -ndim <= axis < ndim:
        raise fail(f"Layer '{layer.name}': {field} {axis} is out of range for a {ndim}-axis bottom blob.")
    return axis % ndim
