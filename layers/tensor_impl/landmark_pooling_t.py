"""Tensor path of :class:`layers.landmark_pooling.LandmarkPooling` (device, autograd).

The feature map is padded by k cells of −FLT_MAX on every side, each landmark's k × k window is
gathered (one advanced-indexing gather, no loop over landmarks), and every bin is reduced with
``torch.max`` over its flattened cells, whose gradient goes to the single (first, raster-order)
argmax exactly as the numpy path / RoI pooling.  A bin whose cells all lie in the padding pools
nothing and outputs 0.  Landmark coordinates are detached (no gradient, as in the numpy path).
"""
import torch

NEG = -3.4028234663852886e38  # −FLT_MAX: the padding value (also used by the ONNX export)


def window_starts(layer, lm, h, w):
    """Top-left cell (r0, c0) of every landmark's window; lm is N × L × 2 (x, y)."""
    sx, sy = layer.scales(h, w)
    k = layer.window
    c0 = torch.floor(lm[..., 0] * sx - k / 2.0 + 0.5)
    r0 = torch.floor(lm[..., 1] * sy - k / 2.0 + 0.5)
    return r0, c0


def forward(layer, bottoms):
    x, lm = bottoms[0], bottoms[1]
    n, c, h, w = x.shape
    nl = layer.num_landmarks(n, lm.numel())
    layer.L = nl
    k, p = layer.window, layer.pooled
    if x.device.type == "meta":
        return [torch.empty((n, nl * c, p, p), device="meta", dtype=x.dtype)]
    lm = lm.detach().reshape(n, nl, 2).to(torch.float64)
    r0, c0 = window_starts(layer, lm, h, w)
    # windows entirely off the map are moved to the padding border (they pool nothing either way)
    r0 = r0.clamp(-k, h).long() + k
    c0 = c0.clamp(-k, w).long() + k
    xp = torch.nn.functional.pad(x, (k, k, k, k), value=NEG)            # N × C × (H+2k) × (W+2k)
    ar = torch.arange(k, device=x.device)
    rows = (r0[..., None] + ar)[:, :, :, None]                           # N × L × k × 1
    cols = (c0[..., None] + ar)[:, :, None, :]                           # N × L × 1 × k
    nidx = torch.arange(n, device=x.device)[:, None, None, None]
    patch = xp.permute(0, 2, 3, 1)[nidx, rows, cols]                     # N × L × k × k × C
    outs = []
    for (rlo, rhi) in layer.edges:
        row = []
        for (clo, chi) in layer.edges:
            cell = patch[:, :, rlo:rhi, clo:chi, :].reshape(n, nl, -1, c)
            row.append(cell.max(dim=2).values)                           # N × L × C
        outs.append(torch.stack(row, dim=-1))
    pooled = torch.stack(outs, dim=-2)                                   # N × L × C × p × p
    pooled = torch.where(pooled <= NEG * 0.5, torch.zeros((), dtype=pooled.dtype, device=pooled.device), pooled)
    if len(bottoms) > 2:
        g = bottoms[2].reshape(n, nl).to(pooled.dtype)
        if layer.gate == "hard":
            g = (g.detach() > layer.threshold).to(pooled.dtype)
        pooled = pooled * g[:, :, None, None, None]
    return [pooled.reshape(n, nl * c, p, p)]
