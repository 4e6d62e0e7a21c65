"""pycaffe's ``caffe.coord_map``: how spatial coordinates of one NetSpec top relate to another's, and
a ``crop`` helper that aligns two tops with a Crop layer (as FCN nets do).

A *coordinate map* is ``(axis, scale, shift)`` with ``scale`` and ``shift`` numpy arrays (one entry
per spatial axis, or one for all): a position ``x`` in a layer's bottom lands at
``scale · x + shift`` in its top, for the axes from ``axis`` on.  ``axis`` None means "any axis"
(element-wise layers).  Per layer type, with kernel extent ``k' = (k − 1) · dilation + 1``:

* Convolution, Pooling, Im2col:  scale ``1/stride``, shift ``(pad − (k' − 1)/2) / stride``
* Deconvolution:                 scale ``stride``,   shift ``(k' − 1)/2 − pad``
* element-wise layers:           ``(None, 1, 0)``
* Crop:                          axis ``axis − 1``, scale 1, shift ``−offset``

Maps compose as affine functions; :func:`coord_map_from_to` walks both tops back to a common
bottom and returns the map from ``top_from``'s coordinates to ``top_to``'s.
"""
from __future__ import annotations

import numpy as np

from .net_spec import layers as L

__all__ = ["PASS_THROUGH_LAYERS", "UndefinedMapException", "AxisMismatchException", "conv_params",
           "crop_params", "coord_map", "compose", "inverse", "coord_map_from_to", "crop"]

#: layer types that keep every coordinate where it is
PASS_THROUGH_LAYERS = ["AbsVal", "BatchNorm", "Bias", "BNLL", "Dropout", "Eltwise", "ELU", "Log", "LRN", "Exp",
                       "MVN", "Power", "ReLU", "PReLU", "Scale", "Sigmoid", "Split", "TanH", "Threshold"]

_IDENTITY = (None, 1, 0)


class UndefinedMapException(Exception):
    """The layer type has no coordinate map (e.g. InnerProduct mixes all positions)."""


class AxisMismatchException(Exception):
    """Two maps act on different axes and cannot be composed."""


def _as_array(value):
    return np.atleast_1d(np.asarray(value))


def conv_params(fn):
    """(axis, stride, kernel extent, pad) of a Convolution/Deconvolution/Pooling/Im2col function."""
    p = fn.params.get("convolution_param", fn.params)
    legacy = {"kernel_h", "kernel_w", "stride_h", "stride_w", "pad_h", "pad_w"} & set(fn.params)
    assert not legacy, f"coordinate maps need kernel_size/stride/pad, not the _h/_w forms ({sorted(legacy)})"
    kernel = _as_array(p["kernel_size"])
    extent = (kernel - 1) * _as_array(p.get("dilation", 1)) + 1
    return p.get("axis", 1), _as_array(p.get("stride", 1)), extent, _as_array(p.get("pad", 0))


def crop_params(fn):
    """(axis, offset) of a Crop function, with Crop's defaults (axis 2, offset 0)."""
    p = fn.params.get("crop_param", fn.params)
    return p.get("axis", 2), _as_array(p.get("offset", 0))


def coord_map(fn):
    """The coordinate map of one layer function (bottom → top)."""
    kind = fn.type_name
    if kind in ("Convolution", "Pooling", "Im2col"):
        axis, stride, extent, pad = conv_params(fn)
        return axis, 1 / stride, (pad - (extent - 1) / 2) / stride
    if kind == "Deconvolution":
        axis, stride, extent, pad = conv_params(fn)
        return axis, stride, (extent - 1) / 2 - pad
    if kind in PASS_THROUGH_LAYERS:
        return _IDENTITY
    if kind == "Crop":
        axis, offset = crop_params(fn)
        return axis - 1, 1, -offset  # the map acts from the axis before the first cropped one
    raise UndefinedMapException(f"{kind} layers have no coordinate map")


def compose(base_map, next_map):
    """The map of applying ``next_map``'s coordinates within ``base_map``'s (x → a1·(a2·x + b2) + b1)."""
    ax1, a1, b1 = base_map
    ax2, a2, b2 = next_map
    if ax1 is not None and ax2 is not None and ax1 != ax2:
        raise AxisMismatchException(f"coordinate maps on axes {ax1} and {ax2} do not compose")
    return (ax2 if ax1 is None else ax1), a1 * a2, a1 * b2 + b1


def inverse(coord_map):
    """The map going the other way (x → (x − b)/a)."""
    ax, a, b = coord_map
    return ax, 1 / a, -b / a


def _mappable_bottoms(top):
    """The bottoms a top's coordinates come from (a Crop layer's second bottom only gives a size)."""
    inputs = list(top.fn.inputs)
    return inputs[:1] if top.fn.type_name == "Crop" else inputs


def _walk_back(top):
    """(ancestor top, map from the ancestor's coordinates to ``top``'s) over the spatial layers,
    ``top`` itself first, depth first."""
    maps = {top: _IDENTITY}
    stack = [top]
    while stack:
        current = stack.pop()
        yield current, maps[current]
        try:
            step = coord_map(current.fn)
        except UndefinedMapException:
            continue
        for bottom in _mappable_bottoms(current):
            maps[bottom] = compose(maps[current], step)
            stack.append(bottom)


def coord_map_from_to(top_from, top_to):
    """The map from ``top_from``'s coordinates to ``top_to``'s, through a common ancestor; a
    RuntimeError when no chain of spatial layers connects them."""
    from_maps = dict(_walk_back(top_from))
    for ancestor, to_map in _walk_back(top_to):
        if ancestor in from_maps:
            return compose(to_map, inverse(from_maps[ancestor]))
    raise RuntimeError("Could not compute map between tops; are they connected by spatial layers?")


def crop(top_from, top_to):
    """A Crop layer function cutting ``top_from`` to ``top_to``'s extent at the aligned offset;
    AssertionError when the tops differ in scale or the offset would be negative or fractional."""
    ax, a, b = coord_map_from_to(top_from, top_to)
    assert (np.asarray(a) == 1).all(), f"scale mismatch on crop (a = {a})"
    assert (np.asarray(b) <= 0).all(), f"cannot crop negative offset (b = {b})"
    assert (np.round(b) == b).all(), f"cannot crop noninteger offset (b = {b})"
    return L.Crop(top_from, top_to, crop_param=dict(axis=ax + 1, offset=list(-np.round(b).astype(int))))
