"""Landmark pooling (FashionNet's ``pool5_local``, Liu et al., DeepFashion, CVPR 2016, Sec. 3 / Fig. 6),
as a pycaffe Python layer.

For every image n and landmark l with (predicted or given) location (x, y) and visibility gate g:

    u = x · s_x,  v = y · s_y                       landmark on the feature map (continuous, cell j = [j, j+1))
    s = s_x = W, s_y = H                            coords "normalized": x, y in [0, 1] of the input image
    s = spatial_scale                               coords "pixels": x, y in input-image pixels
                                                    (spatial_scale = 1 / feature stride, as RoI pooling)
    c0 = floor(u − k/2 + 1/2),  r0 = floor(v − k/2 + 1/2)   the k × k window [r0, r0 + k) × [c0, c0 + k)
    bin (i, j) of the p × p grid covers rows r0 + [floor(i·k/p), ceil((i+1)·k/p)) and the same for
    columns (Fast R-CNN's RoI-pooling bin rule), clipped to the feature map
    top[n, l·C + c, i, j] = gate(g_nl) · max over the bin of bottom[n, c, ·, ·]   (0 for an empty bin:
                                                     a window that lies off the map pools nothing)
    gate(g) = 1[g > threshold]  ("hard", the default: invisible landmarks gated to zero)
            = g                 ("soft": the visibility probability scales the responses)

The per-landmark maps are stacked along channels, landmark-major: channels [l·C, (l+1)·C) belong to
landmark l, so the top is N × (L·C) × p × p and an InnerProduct on it sees the landmarks jointly.

Backward, as RoI max pooling: each top gradient (times the gate) goes to the bin's argmax (the first
maximum in raster order); nothing flows to the landmark coordinates (a window position is
discrete); the visibility bottom gets the pooled value × top gradient in "soft" mode and zero in
"hard" mode.

Bottoms:
    0  feature map    N × C × H × W (e.g. conv4_3)
    1  landmarks      N × 2L (any trailing shape with count 2L per image): x0, y0, x1, y1, …
    2  visibility     optional, count L per image: the gate input (1 visible / 0 invisible, or the
                      softmax probability of "visible"); without it every landmark is visible
Tops:
    0  pooled         N × (L·C) × p × p

``param_str`` (JSON; every key optional)::

    {"window": 3,                 # k: window side on the feature map, in cells
     "pooled_size": 1,            # p: bins per side (p ≤ k)
     "coords": "normalized",      # or "pixels" (then spatial_scale maps pixels to cells)
     "spatial_scale": 0.125,      # used with coords "pixels" (VGG conv4_3: stride 8)
     "gate": "hard",              # or "soft"
     "threshold": 0.5}            # hard gate: visible iff g > threshold

Prototxt::

    layer { name: "pool5_local" type: "Python" bottom: "conv4_3" bottom: "lm_pred" bottom: "vis_prob"
            top: "pool5_local"
            python_param { module: "layers.landmark_pooling" layer: "LandmarkPooling"
                           param_str: '{"window": 3, "pooled_size": 1, "coords": "normalized"}' } }

This file imports only numpy, the standard library and ``caffe`` (BVLC Caffe runs it unchanged);
fashioncaffe runs :mod:`layers.tensor_impl.landmark_pooling_t` on the device through ``tensor_path``
and exports it to ONNX through ``onnx_converter``.
"""
import math

import numpy as np

import caffe

from .param_str import parse_param_str



def bin_edges(k, p):
    """[(lo, hi)] offsets inside the k-wide window of the p bins (RoI pooling's floor/ceil rule)."""
    return [(int(math.floor(i * k / float(p))), int(math.ceil((i + 1) * k / float(p)))) for i in range(p)]


class LandmarkPooling(caffe.Layer):
    """Max pooling around landmarks with visibility gating (see the module docstring)."""

    tensor_path = "layers.tensor_impl.landmark_pooling_t:forward"
    onnx_converter = "layers.tensor_impl.landmark_pooling_onnx:convert"

    def setup(self, bottom, top):
        if len(bottom) not in (2, 3):
            raise Exception("LandmarkPooling takes 2 or 3 bottoms (features, landmarks[, visibility]), got %d"
                            % len(bottom))
        if len(top) != 1:
            raise Exception("LandmarkPooling produces 1 top, got %d" % len(top))
        p = parse_param_str(self.param_str)
        unknown = set(p) - {"window", "pooled_size", "coords", "spatial_scale", "gate", "threshold"}
        if unknown:
            raise ValueError("unknown param_str keys: %s" % ", ".join(sorted(unknown)))
        self.window = int(p.get("window", 3))
        self.pooled = int(p.get("pooled_size", 1))
        if self.window < 1 or not 1 <= self.pooled <= self.window:
            raise ValueError("need window >= 1 and 1 <= pooled_size <= window, got %d, %d"
                             % (self.window, self.pooled))
        self.coords = str(p.get("coords", "normalized"))
        if self.coords not in ("normalized", "pixels"):
            raise ValueError("coords must be 'normalized' or 'pixels', got %r" % self.coords)
        self.spatial_scale = float(p.get("spatial_scale", 1.0))
        self.gate = str(p.get("gate", "hard"))
        if self.gate not in ("hard", "soft"):
            raise ValueError("gate must be 'hard' or 'soft', got %r" % self.gate)
        self.threshold = float(p.get("threshold", 0.5))
        self.edges = bin_edges(self.window, self.pooled)

    # -- shape helpers shared with the tensor path -----------------------------------------------
    def num_landmarks(self, n, lm_count):
        per = lm_count // max(n, 1)
        if per % 2:
            raise Exception("the landmark bottom needs 2 values (x, y) per landmark, got %d per image" % per)
        return per // 2

    def scales(self, h, w):
        if self.coords == "normalized":
            return float(w), float(h)
        return self.spatial_scale, self.spatial_scale

    def reshape(self, bottom, top):
        n, c = bottom[0].shape[0], bottom[0].shape[1]
        nl = self.num_landmarks(n, bottom[1].count)
        if bottom[1].shape[0] != n:
            raise Exception("features and landmarks disagree on the batch size")
        if len(bottom) == 3 and bottom[2].count != n * nl:
            raise Exception("the visibility bottom needs %d values per image (one per landmark), got %d"
                            % (nl, bottom[2].count // max(n, 1)))
        self.L = nl
        top[0].reshape(n, nl * c, self.pooled, self.pooled)

    def _gates(self, bottom, n):
        if len(bottom) < 3:
            return np.ones((n, self.L))
        g = np.asarray(bottom[2].data, dtype=np.float64).reshape(n, self.L)
        return (g > self.threshold).astype(np.float64) if self.gate == "hard" else g

    def forward(self, bottom, top):
        x = np.asarray(bottom[0].data)
        n, c, h, w = x.shape
        lm = np.asarray(bottom[1].data, dtype=np.float64).reshape(n, self.L, 2)
        sx, sy = self.scales(h, w)
        k, p = self.window, self.pooled
        pooled = np.zeros((n, self.L, c, p, p), dtype=np.float64)
        argmax = -np.ones((n, self.L, c, p, p), dtype=np.int64)  # flat index h*W + w, -1: empty bin
        for i in range(n):
            for l in range(self.L):
                c0 = int(math.floor(lm[i, l, 0] * sx - k / 2.0 + 0.5))
                r0 = int(math.floor(lm[i, l, 1] * sy - k / 2.0 + 0.5))
                for bi, (rlo, rhi) in enumerate(self.edges):
                    ra, rb = max(r0 + rlo, 0), min(r0 + rhi, h)
                    for bj, (clo, chi) in enumerate(self.edges):
                        ca, cb = max(c0 + clo, 0), min(c0 + chi, w)
                        if ra >= rb or ca >= cb:
                            continue
                        win = x[i, :, ra:rb, ca:cb].reshape(c, -1)
                        j = win.argmax(axis=1)  # first maximum in raster order
                        pooled[i, l, :, bi, bj] = win[np.arange(c), j]
                        ww = cb - ca
                        argmax[i, l, :, bi, bj] = (ra + j // ww) * w + (ca + j % ww)
        self._argmax = argmax
        self._pooled = pooled
        gates = self._gates(bottom, n)
        top[0].data[...] = (pooled * gates[:, :, None, None, None]).reshape(n, self.L * c, p, p)

    def backward(self, top, propagate_down, bottom):
        n, c, h, w = bottom[0].shape
        p = self.pooled
        dy = np.asarray(top[0].diff, dtype=np.float64).reshape(n, self.L, c, p, p)
        gates = self._gates(bottom, n)
        if propagate_down[0]:
            dx = np.zeros((n, c, h * w), dtype=np.float64)
            g = dy * gates[:, :, None, None, None]
            am = self._argmax
            for i in range(n):
                for l in range(self.L):
                    for ch in range(c):
                        idx = am[i, l, ch].reshape(-1)
                        ok = idx >= 0
                        np.add.at(dx[i, ch], idx[ok], g[i, l, ch].reshape(-1)[ok])
            bottom[0].diff[...] = dx.reshape(n, c, h, w)
        if len(propagate_down) > 1 and propagate_down[1]:
            bottom[1].diff[...] = 0
        if len(bottom) > 2 and len(propagate_down) > 2 and propagate_down[2]:
            if self.gate == "soft":
                bottom[2].diff[...] = (dy * self._pooled).sum(axis=(2, 3, 4)).reshape(bottom[2].diff.shape)
            else:
                bottom[2].diff[...] = 0
