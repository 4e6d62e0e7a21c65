"""Paper 004's retrieval metrics and search protocols (Sec. 7), computed from ranked gallery indices and
the labels of the special attributes (value indices, −1 missing).

Top-k retrieval accuracy (Fig. 6, Table 2): a query is a hit at k when one of its k nearest gallery
images has **every** special attribute equal to the target (the query's own labels, or the
manipulated ones); the accuracy is the share of queries with a hit, for k = 1 … 50.  Only queries
with a valid label for every special attribute take part ("as attribute labels may be missing some
special attributes, we only include results which have a valid attribute label for all special
attributes"); a gallery image with a missing label never matches.

Protocols (each a list of :class:`Task`: query row, changes {attribute index: new value}, target):

* :func:`direct_tasks` -- search by the query (Fig. 6a): target = the query's labels;
* :func:`manipulation_tasks` -- Fig. 6b / Table 2: per valid query, ``n_changes`` random special
  attributes (one or two; or one given attribute for a Table 2 row) each set to a random other
  value; a task is kept only when the gallery holds a target image ("target images in the retrieval
  gallery are found (if there is any)") -- the number kept is reported;
* :func:`enumerated_tasks` -- the protocol later work uses on Shopping100k (FashionSearchNet, AMNet's
  successors): every valid query × special attribute × other value whose target the gallery holds;
  scored with top-30 accuracy and NDCG@30, the relevance of a retrieved image being the share of
  special attributes it has equal to the target (AMNet's graded relevance), the ideal DCG that of
  the gallery sorted by relevance.  Our reading: those papers' exact query lists are not public.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KMAX = 50


@dataclass
class Task:
    query: int           # row of the query in the query arrays
    changes: dict        # {special attribute index: new value index}; {} for direct retrieval
    target: np.ndarray   # S target value indices


def valid_rows(labels):
    """Boolean mask of rows with a valid label for every special attribute."""
    return (np.asarray(labels) >= 0).all(axis=1)


def match_matrix(targets, gallery_labels):
    """T × N: gallery image r equals target t on every special attribute."""
    t = np.asarray(targets)[:, None, :]
    g = np.asarray(gallery_labels)[None, :, :]
    return ((g == t) & (g >= 0)).all(axis=2)


def hits(ranked, gallery_labels, targets):
    """T × K booleans: the k-th ranked gallery image (indices ``ranked``) matches the task's target."""
    g = np.asarray(gallery_labels)[np.asarray(ranked)]                    # T × K × S
    t = np.asarray(targets)[:, None, :]
    return ((g == t) & (g >= 0)).all(axis=2)


def first_hit(hit_matrix):
    """Per task the 0-based rank of the first hit, −1 when none in the ranked list (the raw outcome a
    table's every top-k number is recomputed from)."""
    h = np.asarray(hit_matrix, bool)
    return np.where(h.any(axis=1), h.argmax(axis=1), -1)


def topk_accuracy(first, kmax=KMAX):
    """[acc@1, …, acc@kmax] from first-hit ranks: share of tasks with a hit within the top k."""
    first = np.asarray(first)
    if first.size == 0:
        return [float("nan")] * kmax
    return [float(((first >= 0) & (first < k)).mean()) for k in range(1, kmax + 1)]


def direct_tasks(query_labels):
    q = np.asarray(query_labels)
    return [Task(int(i), {}, q[i].copy()) for i in np.flatnonzero(valid_rows(q))]


def manipulation_tasks(query_labels, sizes, gallery_labels, rng, n_changes=1, attribute=None, repeats=1):
    """Random manipulations of the valid queries (see the module docstring); ``sizes`` the number of
    values per special attribute, ``attribute`` an index to manipulate only that attribute; ``repeats``
    draws per query (the paper: 1; more give small test sets more tasks)."""
    q = np.asarray(query_labels)
    g = np.asarray(gallery_labels)
    s = q.shape[1]
    out = []
    for i in np.repeat(np.flatnonzero(valid_rows(q)), int(repeats)):
        attrs = [attribute] if attribute is not None else \
            sorted(int(a) for a in rng.choice(s, size=min(n_changes, s), replace=False))
        changes = {}
        for a in attrs:
            others = [v for v in range(sizes[a]) if v != q[i, a]]
            changes[a] = int(others[int(rng.integers(len(others)))])
        target = q[i].copy()
        for a, v in changes.items():
            target[a] = v
        if match_matrix(target[None], g).any():
            out.append(Task(int(i), changes, target))
    return out


def enumerated_tasks(query_labels, sizes, gallery_labels):
    """Every valid query × special attribute × other value whose target the gallery holds."""
    q = np.asarray(query_labels)
    g = np.asarray(gallery_labels)
    present = {tuple(r) for r in g[valid_rows(g)]}
    out = []
    for i in np.flatnonzero(valid_rows(q)):
        for a in range(q.shape[1]):
            for v in range(sizes[a]):
                if v == q[i, a]:
                    continue
                target = q[i].copy()
                target[a] = v
                if tuple(target) in present:
                    out.append(Task(int(i), {a: v}, target))
    return out


def targets_of(tasks, s):
    return np.stack([t.target for t in tasks]) if tasks else np.zeros((0, s), int)


def ndcg_at_k(ranked, gallery_labels, targets, k=30):
    """Per task NDCG@k with graded relevance rel = (special attributes equal to the target) / S:
    Σ_i (2^rel_i − 1) / log2(i + 1) over the top k, divided by the same sum for the gallery's best
    possible order."""
    g = np.asarray(gallery_labels)
    t = np.asarray(targets)
    s = g.shape[1]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    out = np.zeros(len(t))
    for j, row in enumerate(t):
        rel_all = ((g == row[None]) & (g >= 0)).sum(1) / float(s)
        ideal = np.sort(rel_all)[::-1][:k]
        idcg = float(((2.0 ** ideal - 1) * disc[:len(ideal)]).sum())
        got = rel_all[np.asarray(ranked[j])[:k]]
        dcg = float(((2.0 ** got - 1) * disc[:len(got)]).sum())
        out[j] = dcg / idcg if idcg > 0 else 0.0
    return out


def per_attribute(tasks, names):
    """{attribute name: [task positions]} of single-attribute tasks (Table 2's rows)."""
    out = {n: [] for n in names}
    for pos, t in enumerate(tasks):
        if len(t.changes) == 1:
            out[names[next(iter(t.changes))]].append(pos)
    return out


def random_topk(match_counts, n, k):
    """Expected top-k accuracy of a random ranking of n gallery images with m_t matches per task."""
    from math import comb

    return float(np.mean([1.0 - comb(n - m, k) / comb(n, k) if m else 0.0 for m in match_counts])) \
        if len(match_counts) else None


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def first_hits(task):
    """Per task of a predictions.npz protocol: the 0-based rank of the first gallery image matching the
    target, −1 when none is in the ranked top 50."""
    if len(task["ranked"]) == 0:
        return np.zeros(0, int)
    return first_hit(hits(task["ranked"], task["gallery_labels"], task["labels"]))


def score(tasks):
    """Every number of the report, from the predictions alone: per protocol ``tasks`` (count),
    ``topk`` [acc@1 … acc@50], ``top20``, ``random_top20`` (a random ranking's expected top-20),
    ``ceiling`` (share of tasks the gallery has a match for); ``enumerated`` adds ``top30`` and
    ``ndcg30``.  Undefined values (no task) are None."""
    out = {}
    for name, t in tasks.items():
        n_tasks, gallery = len(t["ranked"]), np.asarray(t["gallery_labels"])
        topk = [_finite(v) for v in topk_accuracy(first_hits(t))]
        matches = match_matrix(t["labels"], gallery).sum(1) if n_tasks else np.zeros(0, int)
        r = {"tasks": n_tasks, "topk": topk, "top20": topk[19],
             "random_top20": random_topk(matches, len(gallery), min(20, len(gallery))),
             "ceiling": float(np.mean(matches > 0)) if n_tasks else None}
        if name == "enumerated":
            r["top30"] = topk[29]
            r["ndcg30"] = float(ndcg_at_k(t["ranked"], gallery, t["labels"], 30).mean()) if n_tasks else None
        out[name] = r
    return out


def outcome(tasks, name):
    """Per-task outcomes of ``<protocol>.top<k>`` (1 when a match is within the top k) or
    ``enumerated.ndcg30`` (the task's NDCG@30); (ids, values, None): the number is their mean."""
    protocol, _, what = name.partition(".")
    t = tasks[protocol]
    if what == "ndcg30":
        return t["ids"], ndcg_at_k(t["ranked"], t["gallery_labels"], t["labels"], 30), None
    if not what.startswith("top"):
        raise ValueError(f"outcome {name!r}: expected <protocol>.top<k> or enumerated.ndcg30")
    k = int(what[3:])
    first = first_hits(t)
    return t["ids"], ((first >= 0) & (first < k)).astype(np.float64), None
