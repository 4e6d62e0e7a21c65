"""Tensor path of :class:`layers.amnet_sampler.AMNetTripletSampler`: the same vectorised selection on the
device (int64 hash priorities, first-index tie breaking), detached; positive / negative rows gathered
with autograd so their gradients scatter back as in the numpy path."""
import torch

from layers.amnet_sampler import SALT_ATTR, SALT_NEG, SALT_POS, SALT_SOURCE
from layers.attribute_triplet_sampler import MASK32, mix32

from .attribute_triplet_t import first_argmax


def priorities(seed, count, rows, cols, salt, device):
    i = torch.arange(rows, dtype=torch.int64, device=device)[:, None]
    j = torch.arange(cols, dtype=torch.int64, device=device)[None, :]
    start = torch.tensor([(int(seed) * 4 + salt) & MASK32], dtype=torch.int64, device=device)
    base = mix32(torch.tensor([int(count) & MASK32], dtype=torch.int64, device=device) + mix32(start))
    return mix32(j + mix32(i + base))


def select(labels, layer, count):
    lab = labels.detach().reshape(labels.shape[0], -1).to(torch.int64)
    n, s = lab.shape
    dev = lab.device
    minus = torch.tensor(-1, dtype=torch.int64, device=dev)
    ok = lab != int(layer.ignore_label)
    differ = ok[:, None, :] & ok[None, :, :] & (lab[:, None, :] != lab[None, :, :])
    has_attr = differ.any(dim=1)
    attr = first_argmax(torch.where(has_attr, priorities(layer.seed, count, n, s, SALT_ATTR, dev), minus))
    rows = torch.arange(n, device=dev)
    src_ok = differ[rows, :, attr]
    src = first_argmax(torch.where(src_ok, priorities(layer.seed, count, n, n, SALT_SOURCE, dev), minus))
    value = lab[src, attr]
    target = lab.clone()
    target[rows, attr] = value
    shows = ok[:, attr].T & (lab[:, attr].T == value[:, None])
    agree = (ok[None, :, :] & (lab[None, :, :] == target[:, None, :])).sum(dim=2)
    pos_ok = shows & ~torch.eye(n, dtype=torch.bool, device=dev)
    pos = first_argmax(torch.where(pos_ok, agree * (1 << 32) + priorities(layer.seed, count, n, n, SALT_POS, dev),
                                    minus))
    neg_ok = ok[:, attr].T & (lab[:, attr].T != value[:, None])
    neg = first_argmax(torch.where(neg_ok, priorities(layer.seed, count, n, n, SALT_NEG, dev), minus))
    valid = has_attr.any(dim=1) & pos_ok.any(dim=1) & neg_ok.any(dim=1)
    return attr, value, torch.where(valid, pos, rows), torch.where(valid, neg, rows), valid


def sample(layer, bottoms):
    x, labels = bottoms
    n = x.shape[0]
    flat = x.reshape(n, -1)
    v_total = int(sum(layer.sizes))
    s = len(layer.sizes)
    if x.device.type == "meta":
        return [torch.empty((n, v_total), device="meta"), torch.empty((n, s), device="meta"), flat, flat,
                torch.empty(n, device="meta")]
    attr, value, pos, neg, valid = select(labels, layer, layer.count)
    layer.count += 1
    lab = labels.detach().reshape(n, -1)
    offsets = torch.as_tensor(layer.offsets, device=x.device)
    off = offsets[attr]
    rows = torch.arange(n, device=x.device)
    vf = valid.to(x.dtype)
    ind = torch.zeros((n, v_total), dtype=x.dtype, device=x.device)
    ind[rows, off + value] += vf
    ind[rows, off + lab[rows, attr].to(torch.int64).clamp(min=0)] -= vf
    target = lab.to(x.dtype).clone()
    target[rows, attr] = torch.where(valid, value.to(x.dtype), target[rows, attr])
    return [ind, target, flat[pos], flat[neg], vf]
