"""mAP@R exactly as paper 000's eq. 10, with exact k-NN on the device in chunks.

For one attribute group t:

* the evaluated set S_t = the images annotated in group t (at least one of its labels given); S_t is
  both the query set and the candidate set, the query itself excluded;
* the retrieved list of a query q = its R nearest candidates in S_t \\ {q} under the squared Euclidean
  distance ||f_q − f_c||² of the representation f (the paper says only "the learned representation";
  L2 is the usual reading for CNN features -- ``distance="cosine"`` is available);
  ties in distance are broken by the lower image index (deterministic, exact);
* rel(r) = 1 when the r-th retrieved image shares at least one positive label of group t with the
  query ("if a query and a retrieved result has common labels, then the relevance is set to one");
* AP(q) = (1/M) Σ_{r=1..R} p(r)·rel(r), M = number of relevant images among the R retrieved,
  p(r) = precision at r; AP = 0 when M = 0 (eq. 10 divides by M, the relevant *retrieved* data);
* mAP@R(t) = mean of AP over the queries in S_t.  R = 50 (the paper's mAP@50); when S_t has at most
  R other images every candidate is retrieved.  A group with fewer than 2 evaluated images has no
  mAP (None).

k-NN: distances by matrix multiply (||q||² + ||c||² − 2 q·c, float32 with TF32 disabled, or float64
with ``exact=True``) over chunks of queries, then ``topk``; rows whose R-th distance is tied with
further candidates are resolved by a stable sort so the result does not depend on topk's order.
Runs on the CPU or a CUDA device (``device="cuda"``).
"""
from __future__ import annotations

import numpy as np
import torch


def _pairwise(q, c, c_sq, distance):
    if distance == "cosine":
        return 1.0 - q @ c.T  # inputs already L2-normalised
    q_sq = (q * q).sum(1, keepdim=True)
    d = q_sq + c_sq[None, :] - 2.0 * (q @ c.T)
    return d.clamp_min_(0.0)


def knn(feats, k, chunk=4096, device="cpu", distance="euclidean", exact=False):
    """Indices (N × k) of each row's k nearest other rows (self excluded), ties → lower index."""
    dtype = torch.float64 if exact else torch.float32
    x = torch.as_tensor(np.asarray(feats), dtype=dtype, device=device)
    n = x.shape[0]
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, 0), np.int64)
    if distance == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    elif distance != "euclidean":
        raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")
    c_sq = (x * x).sum(1)
    out = torch.empty((n, k), dtype=torch.int64)
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            d = _pairwise(x[s:e], x, c_sq, distance)
            rows = torch.arange(e - s, device=x.device)
            d[rows, rows + s] = float("inf")  # the query itself is not a candidate
            vals, idx = torch.topk(d, k, dim=1, largest=False, sorted=True)
            # rows with a tie at the k-th distance, or equal distances inside the top k, take the
            # exact path: a stable sort of the whole row (equal distances keep index order)
            boundary = (d <= vals[:, -1:]).sum(1) > k
            inner = (vals[:, 1:] == vals[:, :-1]).any(1) if k > 1 else torch.zeros_like(boundary)
            tied = torch.nonzero(boundary | inner).flatten()
            if tied.numel():
                idx[tied] = torch.sort(d[tied], dim=1, stable=True).indices[:, :k]
            out[s:e] = idx.cpu()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    return out.numpy()


def average_precision(rel):
    """Eq. 10 for each row of a 0/1 relevance matrix (queries × R retrieved, in rank order)."""
    rel = np.asarray(rel, dtype=np.float64)
    if rel.shape[1] == 0:
        return np.zeros(rel.shape[0])
    hits = np.cumsum(rel, axis=1)
    prec = hits / np.arange(1, rel.shape[1] + 1)
    m = rel.sum(1)
    s = (prec * rel).sum(1)
    return np.where(m > 0, s / np.maximum(m, 1), 0.0)


def map_at_r(feats, labels, r=50, device="cpu", distance="euclidean", chunk=4096, exact=False,
             return_ap=False):
    """mAP@R of one group: ``feats`` (N × D) and ``labels`` (N × M_t, 1 positive, 0 negative, −1 or
    any negative value = not annotated).  Only rows annotated in the group are evaluated."""
    labels = np.asarray(labels)
    annotated = (labels >= 0).all(1)
    idx = np.flatnonzero(annotated)
    if idx.size < 2:
        return (None, None) if return_ap else None
    f = np.asarray(feats)[idx]
    y = (labels[idx] > 0).astype(np.float32)
    nn = knn(f, r, chunk=chunk, device=device, distance=distance, exact=exact)
    rel = (y[:, None, :] * y[nn]).sum(2) > 0  # shares at least one positive label
    ap = average_precision(rel)
    return (float(ap.mean()), ap) if return_ap else float(ap.mean())


def map_per_group(feats_of, labels, group_sizes, group_names, r=50, device="cpu", distance="euclidean"):
    """{group: mAP@R or None}; ``feats_of(group_index)`` gives the representation searched for that
    group (the same fc7 for every group, or the group's own output)."""
    out, a = {}, 0
    for gi, (name, m) in enumerate(zip(group_names, group_sizes)):
        out[name] = map_at_r(feats_of(gi), labels[:, a:a + m], r=r, device=device, distance=distance)
        a += m
    return out


def brute_force_map(feats, labels, r=50):
    """Reference implementation (float64, full sort; small inputs only) used by the tests."""
    labels = np.asarray(labels)
    idx = np.flatnonzero((labels >= 0).all(1))
    if idx.size < 2:
        return None
    f = np.asarray(feats, dtype=np.float64)[idx]
    y = labels[idx] > 0
    aps = []
    for q in range(len(idx)):
        d = ((f - f[q]) ** 2).sum(1)
        cand = [c for c in range(len(idx)) if c != q]
        cand.sort(key=lambda c: (d[c], c))
        top = cand[:r]
        rel = [bool((y[q] & y[c]).any()) for c in top]
        hits, s = 0, 0.0
        for i, v in enumerate(rel, 1):
            if v:
                hits += 1
                s += hits / i
        aps.append(s / hits if hits else 0.0)
    return float(np.mean(aps))
