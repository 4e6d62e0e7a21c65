"""Tensor path of :class:`layers.uncertainty_weighting.UncertaintyWeighting`:
top = Σ_t c_t exp(−s_t) Σ(L_t) + s_t/2, with s the layer's learnable blob (an autograd leaf), and
the optional second top s itself (detached: it carries no gradient, as in the numpy path)."""
import torch


def forward(layer, bottoms):
    s = layer.blobs[0].tensor.reshape(-1)
    x0 = bottoms[0]
    if x0.device.type == "meta" or s.device.type == "meta":
        tops = [x0.new_empty(())]
    else:
        factor = getattr(layer, "_tensor_factor", None)
        if factor is None or factor.device != s.device or factor.dtype != s.dtype:
            factor = torch.as_tensor(layer.factor, dtype=s.dtype, device=s.device)
            layer._tensor_factor = factor
        losses = torch.stack([b.sum().to(s.dtype) for b in bottoms])
        tops = [(factor * torch.exp(-s) * losses + 0.5 * s).sum()]
    if layer.num_tops > 1:
        tops.append(s.detach().clone() if s.device.type != "meta" else x0.new_empty((layer.num_tasks,)))
    return tops
