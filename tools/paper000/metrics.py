"""Paper 000's metric: mAP@R exactly as its eq. 10, with exact k-NN on the device in chunks.

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

Split along the framework's predictions / metrics line: :func:`ranked` (the k-NN, run by
``evaluate.predict``, whose ranked lists are saved in predictions.npz) and :func:`map_from_ranked`
(eq. 10 from a ranked list and the labels), which :func:`score` applies to the saved predictions.
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


def knn(feats, k, chunk=4096, device="cpu", distance="euclidean", exact=False, n_queries=None):
    """Indices (N × k) of each row's k nearest other rows (self excluded), ties → lower index.
    ``n_queries``: only the first that many rows are queries (all rows stay candidates)."""
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
    n_q = n if n_queries is None else min(n, int(n_queries))
    out = torch.empty((n_q, k), dtype=torch.int64)
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for s in range(0, n_q, chunk):
            e = min(n_q, s + chunk)
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


def annotated(labels):
    """Indices of the rows annotated in a group (every label of the group given: 1 or 0)."""
    return np.flatnonzero((np.asarray(labels) >= 0).all(1))


def ranked(feats, labels, r=50, device="cpu", distance="euclidean", chunk=4096, exact=False):
    """(query indices, ranked neighbours) of one group: the rows annotated in the group are both the
    queries and the candidates; ``ranked[i]`` = positions (into the query indices) of query i's R
    nearest others.  None when fewer than 2 rows are annotated."""
    idx = annotated(labels)
    if idx.size < 2:
        return None
    return idx, knn(np.asarray(feats)[idx], r, chunk=chunk, device=device, distance=distance, exact=exact)


def relevance(query_labels, gallery_labels, nn):
    """rel[q, r] = the r-th retrieved item shares at least one positive label with query q."""
    yq = (np.asarray(query_labels) > 0).astype(np.float32)
    yg = (np.asarray(gallery_labels) > 0).astype(np.float32)
    return (yq[:, None, :] * yg[nn]).sum(2) > 0


def map_from_ranked(query_labels, gallery_labels, nn, return_ap=False):
    """Eq. 10's mAP of ranked lists ``nn`` (queries × R gallery indices)."""
    ap = average_precision(relevance(query_labels, gallery_labels, nn))
    return (float(ap.mean()), ap) if return_ap else float(ap.mean())


def map_at_r(feats, labels, r=50, device="cpu", distance="euclidean", chunk=4096, exact=False,
             return_ap=False):
    """mAP@R of one group: ``feats`` (N × D) and ``labels`` (N × M_t, 1 positive, 0 negative, −1 or
    any negative value = not annotated).  Only rows annotated in the group are evaluated."""
    got = ranked(feats, labels, r=r, device=device, distance=distance, chunk=chunk, exact=exact)
    if got is None:
        return (None, None) if return_ap else None
    idx, nn = got
    y = np.asarray(labels)[idx]
    return map_from_ranked(y, y, nn, return_ap=return_ap)


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


# ----------------------------------------------------------------------------------------------
# the framework's side: metrics from predictions.npz
REPRESENTATIONS = ("fc7", "output")  # searched for mAP: fc7 (after ReLU) or the group's sigmoid outputs


def task_name(rep, group):
    """The predictions.npz task of one group's retrieval with one representation."""
    from ..repro.layout import slug

    return f"map_{rep}_{slug(group)}"


def groups_of(tasks):
    a = tasks["attributes"]
    return [str(g) for g in a["group_names"]], [int(m) for m in a["group_sizes"]]


def score(tasks):
    """results.json metrics from the predictions: mAP@R per group for each representation (None where
    fewer than 2 test images are annotated), their means over the groups that have one, and the
    evaluated images per group."""
    names, sizes = groups_of(tasks)
    y = tasks["attributes"]["labels"]
    offs = np.cumsum([0] + sizes)
    out = {"n_test": int(len(y))}
    for rep in REPRESENTATIONS:
        per = {}
        for g in names:
            t = tasks.get(task_name(rep, g))
            per[g] = None if t is None else map_from_ranked(t["labels"], t["gallery_labels"], t["ranked"])
        out[f"map_{rep}"] = per
        vals = [v for v in per.values() if v is not None]
        out[f"mean_map_{rep}"] = float(np.mean(vals)) if vals else None
    out["n_eval"] = {g: int((y[:, offs[i]:offs[i + 1]] >= 0).all(1).sum()) for i, g in enumerate(names)}
    return out


def outcome(tasks, name):
    """Per-item outcomes for a paired claim: ``"ap_<rep>"`` -- the AP of every (group, query), weighted
    1/n_t so that Σ num / Σ den is the mean over groups of the group's mAP; ``"ap_<rep>@<group>"`` --
    one group's APs.  Returns (item ids, num, den or None)."""
    what, _, only = name.partition("@")
    rep = what[len("ap_"):]
    names, _ = groups_of(tasks)
    ids, num, den = [], [], []
    for g in ([only] if only else names):
        t = tasks.get(task_name(rep, g))
        if t is None:
            continue
        _, ap = map_from_ranked(t["labels"], t["gallery_labels"], t["ranked"], return_ap=True)
        ids += [f"{g}:{i}" for i in t["ids"]]
        num.append(ap / (1 if only else len(ap)))
        den.append(np.full(len(ap), 1.0 / (1 if only else len(ap))))
    if not num:
        raise SystemExit(f"paper 000 outcome {name!r}: no group with evaluated test images")
    return np.asarray(ids), np.concatenate(num), (None if only else np.concatenate(den))
