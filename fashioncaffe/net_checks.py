"""Net::Init's wiring checks, made readable: what BVLC Caffe refuses while it builds a net (top
blobs from two sources, too many ``param`` specs, in-place layers that cannot be in place), and
what it accepts but is almost always a mistake (a net file without layers), warned about once.

:class:`fashioncaffe.net.Net` calls these while it builds the schedule; each raises a
:class:`~fashioncaffe.errors.FashionCaffeError` naming the net file, the layer and what was expected.
"""
from __future__ import annotations

from . import logging_caffe as log
from .errors import fail

__all__ = ["check_has_layers", "warn_if_filtered_empty", "check_tops", "check_inplace_shapes", "check_param_specs",
           "NO_INPLACE_TYPES"]

#: layer types whose LayerSetUp refuses top == bottom (BVLC: CHECK_NE(top[0], bottom[0]) "... Layer does
#: not allow in-place computation" in absval_layer.cpp, flatten_layer.cpp, reshape_layer.cpp, split_layer.cpp)
NO_INPLACE_TYPES = frozenset({"AbsVal", "Flatten", "Reshape", "Split"})


def check_has_layers(param, source: str) -> None:
    """A net definition with no layer at all (an empty or comment-only file) is refused: BVLC builds
    an empty net from it, which computes and learns nothing.  A net whose layers are all left out by
    the NetState is legal (BVLC builds it) but warned about."""
    if len(param.layer) == 0 and len(param.layers) == 0:
        raise fail(f"{source}: the net definition has no layers (the file is empty or holds only comments / "
                   "top-level fields). Expected a NetParameter with 'layer { ... }' entries; check that the "
                   "path names the net prototxt.")


def warn_if_filtered_empty(param, source: str, phase_name: str) -> None:
    if len(param.layer) == 0:
        log.warning_once(f"{source}: no layer of this net is included in the {phase_name} phase (every layer's "
                         "include/exclude rules leave it out), so the net computes nothing. BVLC Caffe builds it "
                         "anyway; check the phase, level and stages.", "net.cpp:0")


def check_tops(lp, produced, source: str) -> None:
    """Caffe's AppendTop: top i is computed in place when it is named like bottom i; any other top
    whose name an earlier layer (or this one) already produced is refused ("produced by multiple
    sources"), as is in-place use by a layer type that does not allow it."""
    seen = set()
    for i, t in enumerate(lp.top):
        inplace = i < len(lp.bottom) and lp.bottom[i] == t
        if inplace:
            if lp.type in NO_INPLACE_TYPES:
                raise fail(f"Layer '{lp.name}' (type {lp.type}) in {source} is written in place (top '{t}' is also its "
                           f"bottom), but a {lp.type} layer does not allow in-place computation (BVLC Caffe "
                           "refuses it too). Give the top its own name.")
            seen.add(t)
            continue
        if t in produced or t in seen:
            if t in lp.bottom:
                j = list(lp.bottom).index(t)
                raise fail(f"Layer '{lp.name}' (type {lp.type}) in {source}: top {i} '{t}' is its bottom {j}, not its "
                           f"bottom {i}. Caffe computes a top in place only when top i is named like bottom i; "
                           f"otherwise '{t}' would be produced by multiple sources. Reorder the tops or give "
                           "this top its own name.")
            what = "this layer's own earlier top" if t in seen else "an earlier layer"
            raise fail(f"Layer '{lp.name}' (type {lp.type}) in {source}: top blob '{t}' is already produced by "
                       f"{what}; a top blob may be produced by only one source unless the layer works in place "
                       f"(top i named like bottom i). Rename this top (BVLC Caffe stops with \"Top blob '{t}' "
                       "produced by multiple sources\").")
        seen.add(t)


def check_inplace_shapes(lp, source: str, bottom_shapes, top_shapes) -> None:
    """An in-place top shares its bottom's blob, so its shape must be the bottom's: a layer that
    reshapes (an in-place Convolution changing the channels, a Pooling) would overwrite its own input
    with a blob of another shape.  BVLC's next Reshape then fails a CHECK; we refuse at construction."""
    for i, t in enumerate(lp.top):
        if i < len(lp.bottom) and lp.bottom[i] == t and i < len(top_shapes):
            bs, ts = tuple(bottom_shapes[i]), tuple(top_shapes[i])
            if bs != ts:
                raise fail(f"Layer '{lp.name}' (type {lp.type}) in {source} works in place on blob '{t}' but turns "
                           f"its shape {bs} into {ts}. An in-place layer must keep its bottom's shape (top and "
                           f"bottom are one blob in Caffe); give top '{t}' its own name.")


def check_param_specs(lp, num_blobs: int, source: str) -> None:
    """Caffe's AppendParam: ``CHECK_LE(param_size, num_param_blobs) << "Too many params specified for
    layer"``."""
    if len(lp.param) > num_blobs:
        raise fail(f"Layer '{lp.name}' (type {lp.type}) in {source} has {len(lp.param)} 'param {{ }}' specs but "
                   f"only {num_blobs} parameter blob(s); give at most one spec per blob (BVLC Caffe: \"Too many "
                   f"params specified for layer {lp.name}\").")
