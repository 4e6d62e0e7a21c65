"""ONNX export of :class:`layers.landmark_pooling.LandmarkPooling` with standard ops (opset ≥ 13).

Same computation as the tensor path: window starts r0/c0 = Floor(coord · scale − k/2 + 1/2)
computed in double precision (the layer's float64; float32 would move some windows by a cell at
the paper's 224 px / 28 × 28 geometry) and clipped to [−k, size] → Pad the feature map with −FLT_MAX → gather every landmark's k × k window
with GatherND(batch_dims = 1) on the (N, (H+2k)(W+2k), C) view → ReduceMax per bin → empty bins to 0
(Where) → visibility gate (Greater + Cast for "hard", the value for "soft") → N × (L·C) × p × p.

Registered with the exporter's Python-layer registry under ``layers.landmark_pooling.LandmarkPooling``
(and named by the layer class's ``onnx_converter`` attribute, so either lookup finds it).
"""
import numpy as np
from onnx import TensorProto, numpy_helper

from .landmark_pooling_t import NEG


def convert(cx):
    layer = cx.layer.obj
    g = cx.g
    n_, c, h, w = cx.in_shapes[0]
    nl = layer.L
    k, p = layer.window, layer.pooled
    sx, sy = layer.scales(h, w)
    hp, wp = h + 2 * k, w + 2 * k
    x, lm = cx.inputs[0], cx.inputs[1]

    lm3 = cx.reshape_to(lm, (-1, nl, 2))

    def double(value):  # a float64 constant (the graph builder's constants are float32)
        return g.node("Constant", [], value=numpy_helper.from_array(np.array(value, np.float64)))

    def start(axis_idx, scale, size):
        # in double, as the layer and the tensor path compute it: float32 arithmetic rounds e.g.
        # float32(72/224)·28 = 8.99999988 up to 9.0 and shifts the window by a cell
        v = cx.slice(lm3, [axis_idx], [axis_idx + 1], [2])                       # N × L × 1
        v = g.node("Cast", [v], to=TensorProto.DOUBLE)
        v = g.node("Mul", [v, double(scale)])
        v = g.node("Add", [v, double(-k / 2.0 + 0.5)])
        v = g.node("Floor", [v])
        v = g.node("Clip", [v, double(-k), double(size)])
        v = g.node("Add", [v, double(k)])
        return g.node("Cast", [v], to=TensorProto.INT64)                        # N × L × 1

    c0 = start(0, sx, w)
    r0 = start(1, sy, h)
    ar = g.const(np.arange(k, dtype=np.int64))
    rows = g.node("Add", [r0, ar])                                                # N × L × k
    cols = g.node("Add", [c0, ar])
    rows = cx.unsqueeze(rows, [3])                                                # N × L × k × 1
    cols = cx.unsqueeze(cols, [2])                                                # N × L × 1 × k
    flat = g.node("Add", [g.node("Mul", [rows, g.const(np.array(wp, np.int64))]), cols])  # N × L × k × k
    idx = cx.reshape_to(flat, (-1, nl * k * k, 1))

    xp = g.node("Pad", [x, g.const(np.array([0, 0, k, k, 0, 0, k, k], np.int64)),
                        g.const(np.array(NEG, np.float32))], mode="constant")
    xt = g.node("Transpose", [xp], perm=[0, 2, 3, 1])
    xr = cx.reshape_to(xt, (-1, hp * wp, c))
    patch = g.node("GatherND", [xr, idx], batch_dims=1)                          # N × (L·k·k) × C
    patch = cx.reshape_to(patch, (-1, nl, k, k, c))
    rows_out = []
    for (rlo, rhi) in layer.edges:
        row = []
        for (clo, chi) in layer.edges:
            cell = cx.slice(patch, [rlo, clo], [rhi, chi], [2, 3])
            m = cx.reduce("ReduceMax", cell, [2, 3], keepdims=0)                 # N × L × C
            row.append(cx.unsqueeze(m, [3]))
        rows_out.append(cx.unsqueeze(g.node("Concat", row, axis=3) if len(row) > 1 else row[0], [3]))
    pooled = g.node("Concat", rows_out, axis=3) if len(rows_out) > 1 else rows_out[0]   # N × L × C × p × p
    empty = g.node("Less", [pooled, g.const(np.array(NEG * 0.5, np.float32))])
    pooled = g.node("Where", [empty, g.const(np.array(0.0, np.float32)), pooled])
    if len(cx.inputs) > 2:
        gate = cx.reshape_to(cx.inputs[2], (-1, nl, 1, 1, 1))
        if layer.gate == "hard":
            gate = g.node("Cast", [g.node("Greater", [gate, g.const(np.array(layer.threshold, np.float32))])],
                          to=TensorProto.FLOAT)
        pooled = g.node("Mul", [pooled, gate])
    return [cx.reshape_to(pooled, (-1, nl * c, p, p), out=cx.top(0))]


def register():
    """Register with fashioncaffe's exporter (idempotent)."""
    from fashioncaffe.onnx import register_python_converter

    register_python_converter("layers.landmark_pooling.LandmarkPooling", convert)


try:  # importing this module registers the converter when the exporter is present
    register()
except ImportError:  # pragma: no cover
    pass
