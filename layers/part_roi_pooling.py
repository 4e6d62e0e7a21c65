"""Part ROI pooling (paper 004, Ak et al., Sec. 4.2-4.3: "ROI pooling idea inspired from Fast R-CNN
is used to feed part-specific features ... to a set of fully connected layers"), as a pycaffe Python
layer.  BVLC Caffe 1.0 has no ROIPooling layer; this one is Fast R-CNN's max ROI pooling (Girshick,
ICCV 2015) with one box per image and part, taken from a companion blob, and a gate that replaces a
part's box by the whole feature map ("when the extraction is deactivated for a part, the network ...
passes the whole feature map of conv-5 ... through the fully connected layers").

For image n, pooled part p (the parts listed in ``parts``; k = parts[p]) with box (x1, y1, x2, y2):

    gate:        g = bottom[2][n, k] > threshold   (no gate bottom: every box is used)
    cells:       if g:  coords "normalized" (box in [0, 1] of the image):
                            ws = round(x1 · (W − 1)), we = round(x2 · (W − 1)), hs, he the same with H
                        coords "pixels" (Fast R-CNN):  ws = round(x1 · spatial_scale), ...
                 else:  ws = 0, we = W − 1, hs = 0, he = H − 1            (the whole map)
                 round = half away from zero (C's round), products in float32 as Caffe computes them
    bins:        roi_w = max(we − ws + 1, 1), bin_w = float32(roi_w) / float32(pooled_w)   (same for h)
                 bin j covers columns [ws + floor(j · bin_w), ws + ceil((j + 1) · bin_w)) clipped to
                 [0, W]  (Fast R-CNN's rule, float32 arithmetic), rows likewise
    top[n, p·C + c, i, j] = max over bin (i, j) of bottom[0][n, c]    (0 for an empty bin)

With the whole map and pooled size 6 on AlexNet's 13 × 13 conv5 the bins are exactly pool5's
(3 × 3, stride 2) windows, and 3 on a 7 × 7 map likewise, so "parts off" = the plain pool5 features.

Backward, as Fast R-CNN: each top gradient goes to its bin's argmax, the first maximum in raster
order (rows, then columns); boxes and gates get no gradient.

Bottoms:
    0  features   N × C × H × W (conv5)
    1  boxes      N × (K·4) (any trailing shape with count 4K per image): x1, y1, x2, y2 of each part
    2  gate       optional, N × K (count K per image): > threshold pools the box, else the whole map
Tops:
    0  pooled     N × (P·C) × pooled_h × pooled_w, part-major (channels [p·C, (p+1)·C) = part p)

``param_str`` (JSON; keys optional)::

    {"parts": [1, 2],           # which of the K boxes to pool (default: all, in order)
     "pooled_h": 6, "pooled_w": 6,      # or "pooled_size": 6
     "coords": "normalized",    # or "pixels" (with spatial_scale, e.g. 0.0625 for AlexNet conv5)
     "spatial_scale": 0.0625,
     "threshold": 0.5}

Prototxt::

    layer { name: "roi_sleeve" type: "Python" bottom: "conv5" bottom: "part_boxes" bottom: "part_gate"
            top: "roi_sleeve"
            python_param { module: "layers.part_roi_pooling" layer: "PartROIPooling"
                           param_str: '{"parts": [1, 2], "pooled_size": 6}' } }

Imports only numpy, the standard library and ``caffe`` (BVLC Caffe runs it unchanged); fashioncaffe
runs :mod:`layers.tensor_impl.part_roi_pooling_t` through ``tensor_path`` and exports it to standard
ONNX ops through ``onnx_converter``.  In "pixels" mode the numbers equal onnxruntime's MaxRoiPool (CPU,
1.32; tested), an independent Fast R-CNN implementation; the export does not use that op (one
(batch, box) row per ROI, no gate, and older onnxruntime kernels started the maximum at FLT_MIN, so
all-negative bins came out as ~1e-38) but standard ops that give the same result on any runtime.
"""
import numpy as np

import caffe

from .param_str import parse_param_str

KEYS = {"parts", "pooled_h", "pooled_w", "pooled_size", "coords", "spatial_scale", "threshold"}


def round_half_away(v):
    """C's round() of float32 values, exactly: floor(|v|) + (fraction >= 0.5), with v's sign."""
    v = np.asarray(v, np.float32)
    a = np.abs(v)
    r = np.floor(a)
    r = r + ((a - r) >= np.float32(0.5)).astype(np.float32)
    return np.where(v < 0, -r, r).astype(np.float32)


def bin_edges(start, end, pooled, size):
    """[(lo, hi)] cell ranges of the ``pooled`` bins of the ROI [start, end] (inclusive cells) on an
    axis of ``size`` cells: Fast R-CNN's float32 rule, clipped to [0, size]."""
    roi = max(int(end) - int(start) + 1, 1)
    bin_size = np.float32(roi) / np.float32(pooled)
    out = []
    for i in range(pooled):
        lo = int(np.floor(np.float32(i) * bin_size)) + int(start)
        hi = int(np.ceil(np.float32(i + 1) * bin_size)) + int(start)
        out.append((min(max(lo, 0), size), min(max(hi, 0), size)))
    return out


class PartROIPooling(caffe.Layer):
    """Fast R-CNN max ROI pooling of part boxes, gated to the whole map (see the module docstring)."""

    tensor_path = "layers.tensor_impl.part_roi_pooling_t:forward"
    onnx_converter = "layers.tensor_impl.part_roi_pooling_onnx:convert"

    def setup(self, bottom, top):
        if len(bottom) not in (2, 3):
            raise Exception("PartROIPooling takes 2 or 3 bottoms (features, boxes[, gate]), got %d" % len(bottom))
        if len(top) != 1:
            raise Exception("PartROIPooling produces 1 top, got %d" % len(top))
        p = parse_param_str(self.param_str)
        unknown = set(p) - KEYS
        if unknown:
            raise ValueError("unknown param_str keys: %s (known: %s)" % (", ".join(sorted(unknown)),
                                                                         ", ".join(sorted(KEYS))))
        size = int(p.get("pooled_size", 6))
        self.pooled_h = int(p.get("pooled_h", size))
        self.pooled_w = int(p.get("pooled_w", size))
        if self.pooled_h < 1 or self.pooled_w < 1:
            raise ValueError("pooled sizes must be >= 1, got %d x %d" % (self.pooled_h, self.pooled_w))
        self.coords = str(p.get("coords", "normalized"))
        if self.coords not in ("normalized", "pixels"):
            raise ValueError("coords must be 'normalized' or 'pixels', got %r" % self.coords)
        self.spatial_scale = float(p.get("spatial_scale", 1.0))
        self.threshold = float(p.get("threshold", 0.5))
        self.parts = None if p.get("parts") is None else [int(k) for k in p["parts"]]
        if self.parts is not None and (not self.parts or min(self.parts) < 0):
            raise ValueError("parts must be a non-empty list of box indices >= 0, got %r" % (p["parts"],))

    # -- shape helpers shared with the tensor path and the ONNX export ----------------------------
    def num_boxes(self, n, box_count):
        per = box_count // max(n, 1)
        if per % 4 or per == 0:
            raise Exception("the boxes bottom needs 4 values (x1, y1, x2, y2) per part, got %d per image" % per)
        return per // 4

    def part_indices(self, k):
        parts = list(range(k)) if self.parts is None else self.parts
        if max(parts) >= k:
            raise Exception("parts %r asks for box %d but the boxes bottom has %d boxes per image"
                            % (parts, max(parts), k))
        return parts

    def scales(self, h, w):
        """(scale_x, scale_y) from box coordinates to feature cells."""
        if self.coords == "normalized":
            return np.float32(w - 1), np.float32(h - 1)
        return np.float32(self.spatial_scale), np.float32(self.spatial_scale)

    def reshape(self, bottom, top):
        n, c = bottom[0].shape[0], bottom[0].shape[1]
        if bottom[1].shape[0] != n:
            raise Exception("features and boxes disagree on the batch size (%d vs %d)" % (n, bottom[1].shape[0]))
        self.K = self.num_boxes(n, bottom[1].count)
        self.P = len(self.part_indices(self.K))
        if len(bottom) == 3 and bottom[2].count != n * self.K:
            raise Exception("the gate bottom needs %d values per image (one per box), got %d"
                            % (self.K, bottom[2].count // max(n, 1)))
        top[0].reshape(n, self.P * c, self.pooled_h, self.pooled_w)

    def cells(self, bottom, n, h, w):
        """(N, P, 4) int array of the ROIs in cells: ws, hs, we, he (inclusive)."""
        boxes = np.asarray(bottom[1].data, np.float32).reshape(n, self.K, 4)[:, self.part_indices(self.K)]
        sx, sy = self.scales(h, w)
        out = np.stack([round_half_away(boxes[..., 0] * sx), round_half_away(boxes[..., 1] * sy),
                        round_half_away(boxes[..., 2] * sx), round_half_away(boxes[..., 3] * sy)], -1)
        if len(bottom) == 3:
            g = np.asarray(bottom[2].data, np.float32).reshape(n, self.K)[:, self.part_indices(self.K)]
            whole = np.array([0, 0, w - 1, h - 1], np.float32)
            out = np.where((g > self.threshold)[..., None], out, whole)
        return out.astype(np.int64)

    def forward(self, bottom, top):
        x = np.asarray(bottom[0].data)
        n, c, h, w = x.shape
        ph, pw = self.pooled_h, self.pooled_w
        cells = self.cells(bottom, n, h, w)
        pooled = np.zeros((n, self.P, c, ph, pw), dtype=np.float64)
        argmax = -np.ones((n, self.P, c, ph, pw), dtype=np.int64)   # flat index h*W + w; -1: empty bin
        for i in range(n):
            for p in range(self.P):
                ws, hs, we, he = cells[i, p]
                rows = bin_edges(hs, he, ph, h)
                cols = bin_edges(ws, we, pw, w)
                for bi in range(ph):
                    ra, rb = rows[bi]
                    for bj in range(pw):
                        ca, cb = cols[bj]
                        if rb <= ra or cb <= ca:
                            continue
                        win = x[i, :, ra:rb, ca:cb].reshape(c, -1)
                        j = win.argmax(axis=1)                   # first maximum in raster order
                        pooled[i, p, :, bi, bj] = win[np.arange(c), j]
                        argmax[i, p, :, bi, bj] = (ra + j // (cb - ca)) * w + (ca + j % (cb - ca))
        self._argmax = argmax
        top[0].data[...] = pooled.reshape(n, self.P * c, ph, pw)

    def backward(self, top, propagate_down, bottom):
        n, c, h, w = bottom[0].shape
        ph, pw = self.pooled_h, self.pooled_w
        if propagate_down[0]:
            dy = np.asarray(top[0].diff, dtype=np.float64).reshape(n, self.P, c, ph * pw)
            dx = np.zeros((n, c, h * w), dtype=np.float64)
            am = self._argmax.reshape(n, self.P, c, ph * pw)
            for i in range(n):
                for p in range(self.P):
                    for ch in range(c):
                        ok = am[i, p, ch] >= 0
                        np.add.at(dx[i, ch], am[i, p, ch][ok], dy[i, p, ch][ok])
            bottom[0].diff[...] = dx.reshape(n, c, h, w)
        for i in range(1, len(bottom)):
            if i < len(propagate_down) and propagate_down[i]:
                bottom[i].diff[...] = 0
