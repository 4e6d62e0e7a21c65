"""Tensor path of :class:`layers.part_roi_pooling.PartROIPooling` (device, autograd, no host round trip).

The ROI cells and Fast R-CNN's bin edges are computed on the device in float32 exactly as the numpy
path computes them (C's round as floor(|v|) + (fraction >= 1/2); bin edges floor(i · bin) and
ceil((i + 1) · bin) with bin = float32(roi) / float32(pooled)).  Each bin's maximum is taken
separably over masked cells: first along the columns of every row (``torch.max`` keeps the first,
lowest-column maximum), then along the rows (the first, lowest-row one) -- together the first maximum
in raster order, so autograd routes every gradient to the same cell as the numpy path.  Empty bins
give 0 and no gradient.  Boxes and gates are detached.
"""
import torch

NEG = -3.4028234663852886e38  # −FLT_MAX: what a cell outside a bin is masked with


def round_half_away(v):
    a = v.abs()
    r = torch.floor(a)
    r = r + ((a - r) >= 0.5).to(v.dtype)
    return torch.where(v < 0, -r, r)


def cells(layer, boxes, gate, n, h, w):
    """(N, P, 4) float32 integer-valued cells ws, hs, we, he (as ``PartROIPooling.cells``)."""
    parts = layer.part_indices(layer.K)
    b = boxes.detach().reshape(n, layer.K, 4).to(torch.float32)[:, parts]
    sx, sy = layer.scales(h, w)
    sx = torch.tensor(float(sx), dtype=torch.float32, device=b.device)
    sy = torch.tensor(float(sy), dtype=torch.float32, device=b.device)
    out = torch.stack([round_half_away(b[..., 0] * sx), round_half_away(b[..., 1] * sy),
                       round_half_away(b[..., 2] * sx), round_half_away(b[..., 3] * sy)], -1)
    if gate is not None:
        g = gate.detach().reshape(n, layer.K).to(torch.float32)[:, parts]
        whole = torch.tensor([0.0, 0.0, w - 1.0, h - 1.0], dtype=torch.float32, device=b.device)
        out = torch.where((g > layer.threshold)[..., None], out, whole)
    return out


def bins(start, end, pooled, size):
    """(lo, hi) of every bin: (..., pooled) float32, Fast R-CNN's rule clipped to [0, size]."""
    roi = torch.clamp(end - start + 1, min=1.0)
    bin_size = roi / float(pooled)
    i = torch.arange(pooled, dtype=torch.float32, device=start.device)
    lo = torch.floor(i * bin_size[..., None]) + start[..., None]
    hi = torch.ceil((i + 1) * bin_size[..., None]) + start[..., None]
    return lo.clamp(0, size), hi.clamp(0, size)


def forward(layer, bottoms):
    x, boxes = bottoms[0], bottoms[1]
    n, c, h, w = x.shape
    layer.K = layer.num_boxes(n, boxes.numel())
    parts = layer.part_indices(layer.K)
    layer.P = P = len(parts)
    ph, pw = layer.pooled_h, layer.pooled_w
    if x.device.type == "meta":
        return [torch.empty((n, P * c, ph, pw), device="meta", dtype=x.dtype)]
    cl = cells(layer, boxes, bottoms[2] if len(bottoms) > 2 else None, n, h, w)
    wlo, whi = bins(cl[..., 0], cl[..., 2], pw, w)                       # N × P × pw
    hlo, hhi = bins(cl[..., 1], cl[..., 3], ph, h)                       # N × P × ph
    col = torch.arange(w, dtype=torch.float32, device=x.device)
    row = torch.arange(h, dtype=torch.float32, device=x.device)
    wmask = (col >= wlo[..., None]) & (col < whi[..., None])             # N × P × pw × W
    hmask = (row >= hlo[..., None]) & (row < hhi[..., None])             # N × P × ph × H
    neg = torch.tensor(NEG, dtype=x.dtype, device=x.device)
    # along the columns of every row: N × P × pw × C × H
    along_w = torch.where(wmask[:, :, :, None, None, :], x[:, None, None], neg).max(dim=-1).values
    # then along the rows: N × P × ph × pw × C
    along_h = torch.where(hmask[:, :, :, None, None, :], along_w[:, :, None], neg).max(dim=-1).values
    pooled = along_h.permute(0, 1, 4, 2, 3)                              # N × P × C × ph × pw
    empty = (hhi <= hlo)[:, :, :, None] | (whi <= wlo)[:, :, None, :]    # N × P × ph × pw
    pooled = torch.where(empty[:, :, None], torch.zeros((), dtype=x.dtype, device=x.device), pooled)
    return [pooled.reshape(n, P * c, ph, pw)]
