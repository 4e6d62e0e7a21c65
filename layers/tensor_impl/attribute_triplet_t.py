"""Tensor path of :class:`layers.attribute_triplet_sampler.AttributeTripletSampler`: the same random
selection on the device (masks, the counter-based hash in int64, first-index tie breaking), detached;
the rows are gathered with autograd so the gradients scatter back as in the numpy path."""
import torch

from layers.attribute_triplet_sampler import MASK32, SALT_NEG, SALT_POS, mix32


def draw(seed, count, n, salt, device):
    i = torch.arange(n, dtype=torch.int64, device=device)[:, None]
    j = torch.arange(n, dtype=torch.int64, device=device)[None, :]
    base = mix32(torch.tensor(int(count) & MASK32, dtype=torch.int64, device=device)
                 + mix32(torch.tensor((int(seed) * 4 + salt) & MASK32, dtype=torch.int64, device=device)))
    return mix32(j + mix32(i + base))


def first_argmax(m):
    """Row-wise argmax returning the lowest index among ties (numpy's rule) on every device."""
    mx = m.max(dim=1, keepdim=True).values
    ar = torch.arange(m.shape[1], device=m.device).expand_as(m)
    return torch.where(m == mx, ar, torch.full_like(ar, m.shape[1])).min(dim=1).values


def select(labels, layer, count):
    """(pos_idx, neg_idx, valid) on the device; mirrors layers.attribute_triplet_sampler.select."""
    n = labels.shape[0]
    lab = labels.detach().reshape(n, -1)
    ok = ~(lab == layer.ignore_label).any(dim=1)
    same = (lab[:, None, :] == lab[None, :, :]).all(dim=2)
    both = ok[:, None] & ok[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=lab.device)
    pos_ok, neg_ok = same & both & ~eye, ~same & both
    minus = torch.tensor(-1, dtype=torch.int64, device=lab.device)
    pos = first_argmax(torch.where(pos_ok, draw(layer.seed, count, n, SALT_POS, lab.device), minus))
    neg = first_argmax(torch.where(neg_ok, draw(layer.seed, count, n, SALT_NEG, lab.device), minus))
    has = pos_ok.any(dim=1) & neg_ok.any(dim=1)
    idx = torch.arange(n, device=lab.device)
    return torch.where(has, pos, idx), torch.where(has, neg, idx), has


def sample(layer, bottoms):
    x, labels = bottoms
    n = x.shape[0]
    flat = x.reshape(n, -1)
    if x.device.type == "meta":
        return [flat, flat, flat, torch.empty(n, device="meta")]
    pos, neg, valid = select(labels, layer, layer.count)
    layer.count += 1
    return [flat.clone(), flat[pos], flat[neg], valid.to(x.dtype)]
