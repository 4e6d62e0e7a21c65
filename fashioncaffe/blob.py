"""Blob: a named N-d array with data and diff, as pycaffe shows it.

The engine computes on torch tensors on the current device; pycaffe scripts read and write numpy
arrays (``net.blobs['data'].data[...] = x``).  Like Caffe's SyncedMemory, each of ``data`` and
``diff`` keeps a device tensor and, on a GPU, a host mirror, with a note of which side is newer:
touching ``.data`` from Python hands out the host array and marks it as the newest copy, and the
next time the engine needs the tensor it is copied up.  On the CPU the numpy array *is* the
tensor's memory, so nothing is ever copied.

**Stable arrays.** pycaffe's ``blob.data`` is a view of memory the blob keeps for as long as its
shape does: an array taken before a forward shows the values after it (net surgery code reads one
array before and after).  The engine's layers produce a new tensor each pass; a blob adopts it as
its memory until Python has been handed an array of the blob, and from then on copies each new
value into that memory instead (on the CPU; on a GPU the host mirror stays the same array and is
refreshed when ``.data`` is read again, as BVLC's ``mutable_cpu_data()`` does).
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np
import torch

from .errors import fail

_DEVICE, _HOST, _SYNCED = 0, 1, 2


def _shares_host_memory(device) -> bool:
    """True where a tensor's memory *is* host memory (the CPU): numpy views need no mirror there.
    (Tests replace this to run the mirror logic on CPU tensors as if they lived on a GPU.)"""
    return device.type == "cpu"


def _version(t) -> int:
    """The tensor's in-place modification counter (-1 where it has none: inference tensors)."""
    try:
        return t._version
    except (RuntimeError, AttributeError):
        return -1


class _Synced:
    """One array living on the device with a lazily kept host mirror.

    ``_head`` says which side is newer.  SYNCED is only trusted while the device tensor's version
    counter is the one recorded at the sync: the engine gets the tensor from :meth:`tensor` and may
    update it in place later (the solver's update, BatchNorm statistics), which bumps the counter
    (Caffe's mutable_gpu_data() moves its head to the GPU for the same reason).
    """

    __slots__ = ("_tensor", "_host", "_head", "_ver", "shape", "device", "leaf", "_handed_out")

    def __init__(self, shape, device, leaf=False):
        self.shape = tuple(int(s) for s in shape)
        self.device = device
        self.leaf = leaf          # a learnable parameter: keep tensor identity, update in place
        self._tensor = None       # allocated on first use
        self._host = None
        self._head = _DEVICE
        self._ver = -1            # the tensor's version when host and device were last equal
        self._handed_out = False  # Python holds an array of this memory: keep it, copy into it

    # -- device side -------------------------------------------------------------------------
    def tensor(self) -> torch.Tensor:
        if self._tensor is None:
            self._tensor = torch.zeros(self.shape, dtype=torch.float32, device=self.device)
            if self.leaf:
                self._tensor.requires_grad_(True)
        if self._head == _HOST and self._host is not None and not _shares_host_memory(self.device):
            with torch.no_grad():
                self._tensor.copy_(torch.from_numpy(self._host))
            self._head = _SYNCED
            self._ver = _version(self._tensor)
        return self._tensor

    def set_tensor(self, t: torch.Tensor) -> None:
        """Take ``t`` as the newest value: adopted as the memory, or -- once Python holds an array of
        the memory and the shape is unchanged -- copied into it (the host mirror becomes stale)."""
        shape = tuple(t.shape)
        kept = self._tensor
        if (self._handed_out and kept is not None and kept is not t and tuple(kept.shape) == shape
                and kept.device == t.device and _shares_host_memory(self.device)):
            with torch.no_grad():
                kept.copy_(t.detach())
            self._head = _DEVICE
            return
        self._tensor = t
        if shape != self.shape:
            self._handed_out = False
        self.shape = shape
        self._head = _DEVICE
        if not _shares_host_memory(self.device) and self._host is not None and self._host.shape != shape:
            self._host = None

    # -- host side ---------------------------------------------------------------------------
    def host(self) -> np.ndarray:
        if self._head == _HOST and self._host is not None and self._tensor is not None:
            return self._host     # already the newest copy: no round trip through the device
        t = self.tensor()
        if _shares_host_memory(t.device):
            arr = t.detach().numpy()
            if (not arr.flags.writeable or not arr.flags.c_contiguous) and not self.leaf:
                # an op's result may be a strided or read-only view: the blob takes memory of its own
                self._tensor = t.detach().contiguous().clone()
                arr = self._tensor.numpy()
            self._handed_out = True
            return arr
        if self._host is None or self._host.shape != tuple(t.shape):
            self._host = t.detach().to("cpu", copy=True).numpy()  # never the device memory itself
        elif self._head == _DEVICE or self._ver < 0 or _version(t) != self._ver:
            # the device is newer, or was written in place since the last sync
            self._host[...] = t.detach().cpu().numpy()
        self._head = _HOST  # pycaffe hands out a mutable array: the host copy is now the newest
        return self._host

    def reshape(self, shape) -> None:
        shape = tuple(int(s) for s in shape)
        if shape == self.shape and self._tensor is not None:
            return
        self.shape = shape
        self._tensor = None
        self._host = None
        self._head = _DEVICE
        self._ver = -1
        self._handed_out = False

    def to(self, device) -> None:
        if self._tensor is not None:
            if self._head == _HOST and self._host is not None:
                self.tensor()
            t = self._tensor.detach().to(device)
            if self.leaf:
                t.requires_grad_(True)
            self._tensor = t
        self.device = device
        self._host = None
        self._head = _DEVICE
        self._ver = -1


class Blob:
    """pycaffe's Blob: ``data``/``diff`` numpy views, ``shape``, ``count``, ``reshape``.

    Engine code uses :attr:`tensor` (the device tensor holding ``data``) and :attr:`grad`
    (the device tensor holding ``diff``).  A *learnable* blob's tensor is an autograd leaf whose
    ``.grad`` is the diff, so autograd accumulates parameter gradients exactly where Caffe keeps them.
    """

    def __init__(self, shape=(), device=None, learnable=False, name=""):
        device = torch.device("cpu") if device is None else torch.device(device)
        self.name = name
        self.learnable = learnable
        self._grad_head_host = False   # learnable blobs: the host mirror of the diff is newer
        self._grad_handed_out = False  # learnable blobs: Python holds an array of the diff
        self._data = _Synced(shape, device, leaf=learnable)
        self._diff = None if learnable else _Synced(shape, device)

    # -- pycaffe API -------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        return self._data.host()

    @data.setter
    def data(self, value):
        self.data[...] = value

    @property
    def diff(self) -> np.ndarray:
        if self.learnable:
            self._grad_handed_out = True
            g = self.grad
            if _shares_host_memory(g.device):
                return g.numpy()
            return self._diff_host_mirror(g)
        return self._diff.host()

    @diff.setter
    def diff(self, value):
        self.diff[...] = value

    @property
    def shape(self):
        return tuple(self._data.shape)

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def reshape(self, *shape) -> None:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if any(int(s) < 0 for s in shape):
            raise fail(f"Blob '{self.name}': cannot reshape to {tuple(shape)}; dimensions must be >= 0.")
        self._data.reshape(shape)
        if self.learnable:
            self._grad_mirror = None
        else:
            self._diff.reshape(shape)

    def _legacy_dim(self, i):
        s = self.shape
        if len(s) > 4:
            raise fail(f"Blob '{self.name}' has {len(s)} axes; num/channels/height/width need at most 4.")
        # Caffe's LegacyShape: pad to 4 axes on the right with ones
        return (tuple(s) + (1, 1, 1, 1))[i]

    num = property(lambda self: self._legacy_dim(0))
    channels = property(lambda self: self._legacy_dim(1))
    height = property(lambda self: self._legacy_dim(2))
    width = property(lambda self: self._legacy_dim(3))

    def __repr__(self):
        return f"<Blob {self.name!r} {self.shape}>"

    # -- engine side -------------------------------------------------------------------------
    @property
    def tensor(self) -> torch.Tensor:
        return self._data.tensor()

    def set_tensor(self, t: torch.Tensor) -> None:
        self._data.set_tensor(t)

    @property
    def grad(self) -> torch.Tensor:
        """The diff as a device tensor (allocated as zeros on first use)."""
        if self.learnable:
            t = self._data.tensor()
            if t.grad is None:
                t.grad = torch.zeros_like(t, requires_grad=False)
            elif self._grad_head_host:
                # The host mirror is newer only while the device gradient is the very tensor it was
                # copied from, unmodified since: autograd accumulates into .grad (or replaces it)
                # without asking, and then the device holds the newer gradient.
                ref, ver = self._grad_mirror_of
                m = getattr(self, "_grad_mirror", None)
                if m is not None and ref() is t.grad and _version(t.grad) == ver and m.shape == tuple(t.grad.shape):
                    with torch.no_grad():
                        t.grad.copy_(torch.from_numpy(m))
                self._grad_head_host = False
            return t.grad
        return self._diff.tensor()

    @property
    def diff_edited_on_host(self) -> bool:
        """A learnable blob whose ``diff`` array (its host mirror, on a GPU) may hold a pycaffe edit
        the device gradient has not seen yet: read :attr:`grad` rather than ``tensor.grad``."""
        return self._grad_head_host

    def set_grad(self, g: torch.Tensor) -> None:
        if self.learnable:
            self._data.tensor().grad = g
        else:
            self._diff.set_tensor(g)

    def release_grad(self) -> None:
        """A learnable blob's diff to zero before a solver iteration: dropped (autograd then writes
        the first gradient instead of adding it to zeros), or zeroed in place once Python holds an
        array of it (which must go on showing the diff)."""
        if self._grad_handed_out:
            self.zero_grad()
        else:
            self._data.tensor().grad = None
            self._grad_head_host = False

    def zero_grad(self) -> None:
        if self.learnable:
            t = self._data.tensor()
            if t.grad is not None:
                t.grad.zero_()
            self._grad_head_host = False
        else:
            self._diff.reshape(self.shape)

    def _diff_host_mirror(self, g):
        m = getattr(self, "_grad_mirror", None)
        if m is None or m.shape != tuple(g.shape):
            m = g.detach().to("cpu", copy=True).numpy()
        else:
            m[...] = g.detach().cpu().numpy()
        self._grad_mirror = m
        self._grad_head_host = True
        self._grad_mirror_of = (weakref.ref(g), _version(g))
        return m

    @contextlib.contextmanager
    def substituted(self, t: torch.Tensor):
        """Let the engine see ``t`` as this blob's tensor inside the ``with`` block (shape inference
        runs layers on meta tensors); nothing else about the blob changes."""
        saved = self._data._tensor
        self._data._tensor = t
        try:
            yield
        finally:
            self._data._tensor = saved

    def to(self, device) -> None:
        device = torch.device(device)
        grad = self._data._tensor.grad if (self.learnable and self._data._tensor is not None) else None
        self._data.to(device)
        if self.learnable and grad is not None:
            self._data._tensor.grad = grad.to(device)
        if self._diff is not None:
            self._diff.to(device)

    @property
    def device(self):
        return self._data.device


class BlobVec(list):
    """pycaffe's ``BlobVec``: a layer's blobs (``layer.blobs``, ``net.params[name]``), a list with
    ``add_blob(*shape)``, which appends a new zero-filled blob -- on any layer, as in pycaffe.  A blob
    added after the net was built is one of the layer's blobs (``net.params``, weight files) but not
    a learnable parameter of a solver, as in Caffe (its learnable parameters are fixed at Init)."""

    def __init__(self, items=(), name: str = "", device=None):
        super().__init__(items)
        self.bind(name, device)

    def bind(self, name: str, device=None) -> None:
        """Name new blobs after ``name`` and create them on ``device`` (the owning layer's)."""
        self._name = name
        self._device = torch.device("cpu") if device is None else torch.device(device)

    def add_blob(self, *shape) -> None:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        self.append(Blob(shape, device=self._device, learnable=True, name=f"{self._name}.{len(self)}"))
