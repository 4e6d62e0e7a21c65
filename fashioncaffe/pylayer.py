"""pycaffe Python layers: the ``caffe.Layer`` base class and the engine's adapter for ``type: "Python"``.

A Python layer (``python_param { module layer param_str }``) is a class deriving from
``caffe.Layer`` with ``setup(bottom, top)``, ``reshape(bottom, top)``, ``forward(bottom, top)`` and
``backward(top, propagate_down, bottom)`` over Blobs holding numpy arrays.  As in BVLC Caffe
(layer_factory's GetPythonLayer, python_layer.hpp): the class is constructed with the
LayerParameter (``cls(param)``), and ``self.param_str`` and ``self.phase`` are set just before
``setup`` -- a constructor that reads them fails with AttributeError, as it does in BVLC.
``reshape`` runs before every forward.  An exception a layer raises reaches the caller as itself
(same type and object), with a note naming the layer.  ``self.blobs`` is the engine layer's own
list, so blobs the layer adds (``self.blobs.add_blob(...)``) are the net's parameters.  This path
is exact but runs on the host.

**BVLC's vectors.** BVLC Caffe hands ``bottom`` and ``top`` as its ``RawBlobVec`` (a wrapped
``std::vector<Blob*>``) and ``propagate_down`` as its ``BoolVec`` (``std::vector<bool>``): ``len()``,
integer indexing and slicing work, iterating does not (boost.python has no by-value converter for a
``Blob*`` or a ``vector<bool>`` bit reference).  The engine hands a layer the same kind of vectors
(:class:`RawBlobVec`, :class:`BoolVec`), so a layer that iterates fails here as it would in BVLC
Caffe, with an error that says so.

**Tensor path.** A layer class may also name a device implementation with the class attribute
``tensor_path = "package.module:function"``.  The engine then calls
``function(layer, bottoms: list[torch.Tensor]) -> list[torch.Tensor]`` (after the layer's own
``setup``) and differentiates it with autograd: no host round trip.  BVLC Caffe ignores the
attribute, so the same layer file runs unchanged there.
"""
from __future__ import annotations

import importlib

import numpy as np
import torch

from .blob import Blob, BlobVec
from .errors import fail
from .layers.base import Layer as EngineLayer, register


class _CaffeVector:
    """A boost.python ``vector_indexing_suite`` wrapper as BVLC pycaffe builds them: ``len()``, integer
    indexing (negative too; another type, a numpy integer included, is refused), slicing without a
    step (a new vector of the same kind) -- and, for the vectors below, no iteration."""

    _what = "vector"
    _cpp_type = ""
    _hint = ""

    def __init__(self, items, owner=""):
        self._items = list(items)
        self._owner = owner

    def __len__(self):
        return len(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step is not None:
                raise IndexError("slice step size not supported.")
            return type(self)(self._items[index], self._owner)
        if not isinstance(index, int):  # boost extracts a C long: a numpy integer is not one
            raise TypeError("Invalid index type")
        n = len(self._items)
        if not -n <= index < n:
            raise IndexError("Index out of range")
        return self._items[index]

    def __iter__(self):
        raise TypeError(f"{self._owner or self._what} is BVLC Caffe's {type(self).__name__} (a wrapped C++ vector): len(), "
                        f"indexing and slicing work but iterating it does not -- `for x in ...`, zip(), list(), "
                        f"any()/all() and unpacking raise in BVLC Caffe 'No to_python (by-value) converter "
                        f"found for C++ type: {self._cpp_type}'. {self._hint}")

    def __repr__(self):
        return f"<{type(self).__name__} of {len(self._items)} ({self._owner})>"


class RawBlobVec(_CaffeVector):
    """``bottom`` / ``top`` of a Python layer: BVLC's ``RawBlobVec`` of Blobs (not iterable; ``in``
    refused too, as no layer should rely on boost's pointer extraction for it)."""

    _what = "bottom/top"
    _cpp_type = "caffe::Blob<float>*"
    _hint = "Index it instead: `for i in range(len(bottom)): bottom[i]`."

    def __contains__(self, item):
        raise TypeError(f"`in` on a {type(self).__name__}: not supported by BVLC Caffe's vector of Blob pointers; "
                        f"compare indices instead.")


class BoolVec(_CaffeVector):
    """``propagate_down`` of a Python layer's backward: BVLC's ``BoolVec`` (indexing gives a bool,
    ``True in propagate_down`` works, iterating does not)."""

    _what = "propagate_down"
    _cpp_type = "std::_Bit_reference"
    _hint = "Index it instead: `propagate_down[i]`."

    def __init__(self, items, owner=""):
        super().__init__((bool(x) for x in items), owner)

    def __contains__(self, item):
        return bool(item) in self._items


class Layer:
    """pycaffe's base class for Python layers (``caffe.Layer``), constructed with the layer's
    LayerParameter.  ``param_str`` and ``phase`` are set by the net before ``setup``."""

    def __init__(self, *args, **kwargs):
        self.blobs = BlobVec(name="python")

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        pass

    @property
    def type(self):
        return "Python"


def _load_class(param, layer_name):
    pp = param.python_param
    if not pp.module or not pp.layer:
        raise fail(f"Python layer '{layer_name}' needs python_param {{ module: ... layer: ... }}.")
    try:
        mod = importlib.import_module(pp.module)
    except ImportError as e:
        raise fail(f"Python layer '{layer_name}': cannot import module '{pp.module}' ({e}). The module must "
                   "be on PYTHONPATH (the current directory and the prototxt's folder are searched).",
                   like=type(e)) from e
    cls = getattr(mod, pp.layer, None)
    if cls is None:
        raise fail(f"Python layer '{layer_name}': module '{pp.module}' ({getattr(mod, '__file__', '?')}) has no "
                   f"class '{pp.layer}'.", like=AttributeError)
    return cls


def _resolve(path, layer_name):
    mod_name, _, fn_name = path.partition(":")
    try:
        return getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise fail(f"Python layer '{layer_name}': its tensor_path '{path}' cannot be loaded ({e}).") from e


class _NumpyPath(torch.autograd.Function):
    """Runs the pycaffe forward/backward on host Blobs inside the autograd graph."""

    @staticmethod
    def forward(ctx, adapter, *bottoms):
        ctx.adapter = adapter
        ctx.save_for_backward(*bottoms)
        outs = adapter._host_forward(bottoms)
        ctx.mark_non_differentiable(*[o for o in outs if not o.is_floating_point()])
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        bottoms = ctx.saved_tensors
        needs = list(ctx.needs_input_grad[1:])
        diffs = ctx.adapter._host_backward(bottoms, grads, needs)
        return (None, *diffs)


@register("Python")
class PythonLayer(EngineLayer):
    """Adapter running a pycaffe Python layer inside the engine (numpy path or tensor path)."""

    def __init__(self, param, phase, device):
        super().__init__(param, phase, device)
        cls = _load_class(param, self.name)
        self.obj = None
        obj = self._call("__init__", cls, param)
        if not isinstance(getattr(obj, "blobs", None), BlobVec):
            raise fail(f"Python layer '{self.name}': {cls.__module__}.{cls.__name__}.__init__ does not call "
                       "caffe.Layer.__init__(self, param), so the layer has no blob vector; BVLC Caffe refuses "
                       "such a layer too. Call the base constructor first.", like=TypeError)
        obj.blobs.bind(self.name, self.device)
        self.blobs = obj.blobs
        self.obj = obj
        self.tensor_fn = _resolve(cls.tensor_path, self.name) if getattr(cls, "tensor_path", None) else None
        self._bottom_blobs: list[Blob] = []
        self._top_blobs: list[Blob] = []

    def _call(self, what, *args):
        """Call the user's method; what it raises propagates as itself, noted with the layer's name."""
        try:
            if what == "__init__":
                return args[0](*args[1:])
            return getattr(self.obj, what)(*args)
        except Exception as e:
            cls = args[0] if what == "__init__" else type(self.obj)
            if hasattr(e, "add_note"):
                e.add_note(f"(raised in {what}() of Python layer '{self.name}', "
                           f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__name__', '?')})")
            raise

    def _vectors(self):
        """(bottom, top) as BVLC hands them to the layer."""
        return (RawBlobVec(self._bottom_blobs, f"bottom of layer '{self.name}'"),
                RawBlobVec(self._top_blobs, f"top of layer '{self.name}'"))

    def setup_blobs(self, bottom_shapes, n_tops):
        self._bottom_blobs = [Blob(s, device="cpu", name=f"{self.name}.bottom{i}") for i, s in enumerate(bottom_shapes)]
        self._top_blobs = [Blob((), device="cpu", name=f"{self.name}.top{i}") for i in range(n_tops)]
        self.obj.param_str = self.param.python_param.param_str
        self.obj.phase = self.phase
        self._call("setup", *self._vectors())

    def reshape(self, bottom_shapes):
        if self.tensor_fn is not None:
            return super().reshape(bottom_shapes)
        for b, s in zip(self._bottom_blobs, bottom_shapes):
            b.reshape(s)
        self._call("reshape", *self._vectors())
        return [t.shape for t in self._top_blobs]

    def forward(self, bottoms):
        if self.tensor_fn is not None:
            return list(self.tensor_fn(self.obj, bottoms))
        if any(b.device.type == "meta" for b in bottoms):
            return [torch.empty(s, device="meta") for s in self.reshape([tuple(b.shape) for b in bottoms])]
        return list(_NumpyPath.apply(self, *bottoms))

    def resume_at(self, batch: int) -> None:
        """A restored solver's data position, forwarded to a Python data layer that defines
        ``resume_at(batch)`` (see ``fashioncaffe.data_pipeline.python_batches``); others ignore it."""
        fn = getattr(self.obj, "resume_at", None)
        if callable(fn):
            fn(int(batch))

    # -- host execution -------------------------------------------------------------------------
    def _host_forward(self, bottoms):
        for blob, t in zip(self._bottom_blobs, bottoms):
            blob.set_tensor(t.detach().to("cpu", torch.float32))
        self._call("reshape", *self._vectors())
        self._call("forward", *self._vectors())
        return [t.tensor.detach().clone().to(self.device) for t in self._top_blobs]

    def _host_backward(self, bottoms, grads, needs):
        for blob, t in zip(self._bottom_blobs, bottoms):
            blob.set_tensor(t.detach().to("cpu", torch.float32))
            blob.zero_grad()
        for blob, g in zip(self._top_blobs, grads):
            if g is None:
                blob.zero_grad()
            else:
                blob.set_grad(g.detach().to("cpu", torch.float32).contiguous().clone())
        bottom, top = self._vectors()
        self._call("backward", top, BoolVec(needs, f"propagate_down of layer '{self.name}'"), bottom)
        out = []
        for blob, need in zip(self._bottom_blobs, needs):
            out.append(blob.grad.detach().clone().to(self.device) if need else None)
        return out


def as_numpy(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)
