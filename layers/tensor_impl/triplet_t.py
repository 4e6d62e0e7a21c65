"""Tensor paths of :class:`layers.triplet_loss.TripletRankingLoss` (``triplet_loss``) and
:class:`layers.triplet_sampler.TripletSampler` (``sample``): the same formulas as the numpy paths,
on the device with autograd (the sampler's index selection runs on the device too, detached)."""
import torch
import torch.nn.functional as F


def _l2n(x):
    return x / torch.clamp(x.norm(dim=1, keepdim=True), min=1e-12)


def triplet_loss(layer, bottoms):
    a, p, n = bottoms[:3]
    t = a.shape[0]
    if a.device.type == "meta":
        out = [a.sum()]
        return out + [a.sum()] if getattr(layer, "_two_tops", False) else out
    a, p, n = a.reshape(t, -1), p.reshape(t, -1), n.reshape(t, -1)
    if layer.normalize:
        a, p, n = _l2n(a), _l2n(p), _l2n(n)
    w = bottoms[3].detach().reshape(t).to(a.dtype) if len(bottoms) == 4 else torch.ones(t, dtype=a.dtype,
                                                                                          device=a.device)
    dp = ((a - p) ** 2).sum(dim=1)
    dn = ((a - n) ** 2).sum(dim=1)
    l = F.relu(layer.margin + dp - dn)
    if layer.normalization == "VALID":
        denom = torch.clamp(w.sum(), min=1.0)
    else:
        denom = layer.normalizer(t, 0.0)
    loss = (w * l).sum() / denom
    outs = [loss]
    if getattr(layer, "_two_tops", False):
        with torch.no_grad():
            ok = (w > 0).to(a.dtype)
            acc = ((dn > dp).to(a.dtype) * ok).sum() / torch.clamp(ok.sum(), min=1.0)
        outs.append(acc)
    return outs


def select(x, items, mode, normalize):
    """(pos_idx, neg_idx, valid) on the device; mirrors layers.triplet_sampler.select."""
    n = x.shape[0]
    ids = items.detach().reshape(n)
    same = ids[:, None] == ids[None, :]
    eye = torch.eye(n, dtype=torch.bool, device=x.device)
    pos_ok = same & ~eye
    neg_ok = ~same
    if mode == "hard":
        f = x.detach().reshape(n, -1)
        if normalize:
            f = _l2n(f)
        sq = (f * f).sum(dim=1)
        d = sq[:, None] + sq[None, :] - 2.0 * f @ f.T
        inf = torch.tensor(float("inf"), dtype=d.dtype, device=d.device)
        pos = _first_argmax(torch.where(pos_ok, d, -inf))
        neg = _first_argmax(-torch.where(neg_ok, d, inf))
    else:
        ar = torch.arange(n, device=x.device)
        off = (ar[None, :] - ar[:, None]) % n
        big = torch.full_like(off, n + 1)
        pos = _first_argmax(-torch.where(pos_ok, off, big))
        neg = _first_argmax(-torch.where(neg_ok, off, big))
    has_pos, has_neg = pos_ok.any(dim=1), neg_ok.any(dim=1)
    idx = torch.arange(n, device=x.device)
    pos = torch.where(has_pos, pos, idx)
    neg = torch.where(has_neg, neg, idx)
    return pos, neg, (has_pos & has_neg)


def _first_argmax(m):
    """Row-wise argmax that returns the lowest index among ties (numpy's rule) on every device."""
    mx = m.max(dim=1, keepdim=True).values
    n = m.shape[1]
    ar = torch.arange(n, device=m.device).expand_as(m)
    return torch.where(m == mx, ar, torch.full_like(ar, n)).min(dim=1).values


def sample(layer, bottoms):
    x, items = bottoms
    n = x.shape[0]
    flat = x.reshape(n, -1)
    if x.device.type == "meta":
        return [flat, flat, flat, torch.empty(n, device="meta")]
    pos, neg, valid = select(flat, items, layer.mode, layer.normalize)
    return [flat.clone(), flat[pos], flat[neg], valid.to(x.dtype)]
