"""Tensor path of :class:`layers.weighted_sigmoid_ce.WeightedSigmoidCrossEntropyLoss`.

Same formula as the numpy path: l = w⁺ t softplus(−x) + w⁻ (1 − t) softplus(x), ignored labels
masked out, divided by the Caffe normaliser.  Autograd's gradient of this is the layer's
documented gradient; targets are detached (no gradient to labels, as in Caffe).
"""
import torch
import torch.nn.functional as F


def _weights(layer, device, dtype):
    cache = getattr(layer, "_tensor_weights", None)
    if cache is None or cache[0].device != device or cache[0].dtype != dtype:
        cache = (torch.as_tensor(layer.pos_weight, dtype=dtype, device=device),
                 torch.as_tensor(layer.neg_weight, dtype=dtype, device=device))
        layer._tensor_weights = cache
    return cache


def forward(layer, bottoms):
    x, t = bottoms
    n = x.shape[0]
    x = x.reshape(n, -1)
    t = t.detach().reshape(n, -1).to(x.dtype)
    if x.device.type == "meta":
        return [x.sum()]
    if x.shape[1] != layer.num_labels:
        raise ValueError(f"the number of labels per image changed from {layer.num_labels} to {x.shape[1]}")
    w_pos, w_neg = _weights(layer, x.device, x.dtype)
    if layer.ignore_label is None:
        valid = None
        tv = t
    else:
        valid = t != layer.ignore_label
        tv = torch.where(valid, t, torch.zeros((), dtype=t.dtype, device=t.device))
    loss = w_pos * tv * F.softplus(-x) + w_neg * (1.0 - tv) * F.softplus(x)
    if valid is not None:
        loss = loss * valid.to(loss.dtype)
    norm = layer.normalization
    if norm == "VALID":
        count = valid.sum().to(x.dtype) if valid is not None else torch.tensor(float(t.numel()), device=x.device)
        denom = torch.clamp(count, min=1.0)
        return [loss.sum() / denom]
    denom = layer.normalizer(n, x.shape[1], 0)  # FULL / BATCH_SIZE / NONE need no data
    return [loss.sum() / denom]
