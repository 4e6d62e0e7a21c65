"""ONNX export of :class:`layers.part_roi_pooling.PartROIPooling` with standard ops (opset >= 13).

The same computation as the tensor path, node by node: boxes (N, K·4) → Reshape (N, K, 4) → Gather
the pooled parts → cells in float32 (Mul by the scale, C's round as Floor(|v|) + (fraction >= 1/2)
with the sign) → Where(gate > threshold, cells, whole map) → Fast R-CNN's bin edges (Floor / Ceil of
i · bin with bin = roi / pooled in float32, plus the start, Clip to [0, size]) → column and row masks
against Range constants → Where(mask, features, −FLT_MAX) → ReduceMax over the columns, then the
rows → empty bins to 0 → (N, P·C, ph, pw).

ONNX's MaxRoiPool is not used (see the layer's docstring): it takes one (batch, box) row per ROI and
no gate, and older onnxruntime kernels started each bin's maximum at FLT_MIN, returning ~1e-38 for
all-negative bins; these standard ops are exact on any runtime.
"""
import numpy as np
from onnx import TensorProto

from .part_roi_pooling_t import NEG


def _round_half_away(g, v):
    a = g.node("Abs", [v])
    r = g.node("Floor", [a])
    frac_up = g.node("Cast", [g.node("GreaterOrEqual", [g.node("Sub", [a, r]), g.const(np.array(0.5, np.float32))])],
                     to=TensorProto.FLOAT)
    r = g.node("Add", [r, frac_up])
    return g.node("Where", [g.node("Less", [v, g.const(np.array(0.0, np.float32))]), g.node("Neg", [r]), r])


def _bins(g, start, end, pooled, size):
    """(lo, hi): (N, P, pooled) float32 bin edges of the ROIs [start, end] (each (N, P, 1))."""
    one = g.const(np.array(1.0, np.float32))
    roi = g.node("Max", [g.node("Add", [g.node("Sub", [end, start]), one]), one])
    bin_size = g.node("Div", [roi, g.const(np.array(float(pooled), np.float32))])
    i = g.const(np.arange(pooled, dtype=np.float32))
    lo = g.node("Add", [g.node("Floor", [g.node("Mul", [i, bin_size])]), start])
    hi = g.node("Add", [g.node("Ceil", [g.node("Mul", [g.const(np.arange(1, pooled + 1, dtype=np.float32)),
                                                        bin_size])]), start])
    zero, top = g.const(np.array(0.0, np.float32)), g.const(np.array(float(size), np.float32))
    return g.node("Clip", [lo, zero, top]), g.node("Clip", [hi, zero, top])


def convert(cx):
    layer = cx.layer.obj
    g = cx.g
    _, c, h, w = cx.in_shapes[0]
    k = layer.K
    parts = layer.part_indices(k)
    p_n = len(parts)
    ph, pw = layer.pooled_h, layer.pooled_w
    sx, sy = layer.scales(h, w)
    x, boxes = cx.inputs[0], cx.inputs[1]

    b = g.node("Gather", [cx.reshape_to(boxes, (-1, k, 4)), g.const(np.array(parts, np.int64))], axis=1)  # N×P×4
    scale = g.const(np.array([sx, sy, sx, sy], np.float32))
    cells = _round_half_away(g, g.node("Mul", [b, scale]))
    if len(cx.inputs) > 2:
        gate = g.node("Gather", [cx.reshape_to(cx.inputs[2], (-1, k)), g.const(np.array(parts, np.int64))], axis=1)
        on = cx.unsqueeze(g.node("Greater", [gate, g.const(np.array(layer.threshold, np.float32))]), [2])
        whole = g.const(np.array([0.0, 0.0, w - 1.0, h - 1.0], np.float32))
        cells = g.node("Where", [on, cells, whole])

    def coord(i):
        return cx.slice(cells, [i], [i + 1], [2])                                      # N × P × 1

    wlo, whi = _bins(g, coord(0), coord(2), pw, w)                                     # N × P × pw
    hlo, hhi = _bins(g, coord(1), coord(3), ph, h)                                     # N × P × ph
    col = g.const(np.arange(w, dtype=np.float32))
    row = g.const(np.arange(h, dtype=np.float32))

    def mask(lo, hi, idx):                                                             # N × P × bins × size
        lo4, hi4 = cx.unsqueeze(lo, [3]), cx.unsqueeze(hi, [3])
        return g.node("And", [g.node("GreaterOrEqual", [idx, lo4]), g.node("Less", [idx, hi4])])

    neg = g.const(np.array(NEG, np.float32))
    wmask = cx.unsqueeze(mask(wlo, whi, col), [3, 4])                                  # N×P×pw×1×1×W
    hmask = cx.unsqueeze(mask(hlo, hhi, row), [3, 4])                                  # N×P×ph×1×1×H
    x6 = cx.unsqueeze(x, [1, 2])                                                       # N×1×1×C×H×W
    along_w = cx.reduce("ReduceMax", g.node("Where", [wmask, x6, neg]), [5], keepdims=0)     # N×P×pw×C×H
    along_h = cx.reduce("ReduceMax", g.node("Where", [hmask, cx.unsqueeze(along_w, [2]), neg]), [5],
                        keepdims=0)                                                    # N×P×ph×pw×C
    pooled = g.node("Transpose", [along_h], perm=[0, 1, 4, 2, 3])                      # N×P×C×ph×pw
    empty = g.node("Or", [cx.unsqueeze(g.node("LessOrEqual", [hhi, hlo]), [3]),
                          cx.unsqueeze(g.node("LessOrEqual", [whi, wlo]), [2])])       # N×P×ph×pw
    pooled = g.node("Where", [cx.unsqueeze(empty, [2]), g.const(np.array(0.0, np.float32)), pooled])
    return [cx.reshape_to(pooled, (-1, p_n * c, ph, pw), out=cx.top(0))]


def register():
    """Register with fashioncaffe's exporter (idempotent)."""
    from fashioncaffe.onnx import register_python_converter

    register_python_converter("layers.part_roi_pooling.PartROIPooling", convert)
