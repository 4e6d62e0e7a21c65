"""Evaluating one trained paper-004 variant: signatures of the query / gallery (/ training) images, the
search protocols of tools/paper004/metrics.py, and the raw predictions every number is recomputed from.

    from tools.paper004.evaluate import evaluate_variant
    res, pred = evaluate_variant(droot, "tiny", info["deploy"], info["weights"], "proposed", seed=1)

``res``: {protocol: {"tasks": T, "topk": [acc@1 … acc@50], "top20": …, "random_top20": …}} for
``direct``, ``manip1``, ``manip2``, ``table2_<attribute>`` and ``enumerated`` (with ``top30`` and
``ndcg30``) -- :func:`metrics.score`; ``random_top20`` is the expected accuracy of a random ranking
(hypergeometric, from the number of matching gallery images).  ``pred``: flat arrays -- per protocol
``<protocol>_{ids,labels,query_labels,ranked}`` (targets, ranked gallery indices, top 50), plus the
gallery ids and attribute table.  In the framework (``python -m tools.paper004``), :func:`predict`
returns the same per protocol as predictions.npz tasks.
``queries="query"`` evaluates the paper's query split against the ``gallery`` split; model selection
(tools/paper004/selection.py) searches the validation images among themselves.
"""
from __future__ import annotations

import itertools
import json
import os

import numpy as np

from . import amnet, config, metrics
from .features import EngineFeatures
from .search import ClassicTargets, GalleryIndex, Prototypes, represent_queries


def split_labels(d):
    """(names, N × groups labels (−1 missing)) of an adapted split."""
    from fashioncaffe.formats.lmdb_datum import DatumReader

    r = DatumReader(os.path.join(d, "attributes_lmdb"))
    names = [k.decode("utf-8").split("_", 1)[1] for k in r.keys]
    return names, np.stack([np.asarray(dat.float_data, np.float32) for _, dat in r]).astype(np.int64)


def iter_images(d, batch=256, limit=None):
    """Batches of an adapted split's images (uint8 BGR HWC), in key order, without holding them all;
    ``limit``: only the first that many."""
    from fashioncaffe.formats.lmdb_datum import DatumReader, datum_to_array

    buf = []
    for _, dat in itertools.islice(DatumReader(os.path.join(d, "images_lmdb")), limit):
        buf.append(datum_to_array(dat, color=True, hwc=True))
        if len(buf) == batch:
            yield np.stack(buf)
            buf = []
    if buf:
        yield np.stack(buf)


def load_split(d):
    """{"images": N × S × S × 3 uint8 BGR, "labels": N × groups (−1 missing), "names": [...]} (small splits)."""
    names, labels = split_labels(d)
    return {"images": np.concatenate(list(iter_images(d))), "labels": labels, "names": names}


def split_features(source, d, manipulation_width=None, limit=None):
    """Extracted signatures / probabilities of a split (its first ``limit`` images), streamed (zero
    manipulation for amnet)."""
    from .features import Extracted

    parts = []
    for imgs in iter_images(d, limit=limit):
        m = None if manipulation_width is None else np.zeros((len(imgs), manipulation_width), np.float32)
        parts.append(source.extract(imgs, m))
    return Extracted({k: np.concatenate([p.signatures[k] for p in parts]) for k in parts[0].signatures},
                     {g: np.concatenate([p.probs[g] for p in parts]) for g in parts[0].probs})


def source_for(droot, scale, variant, deploy, weights, spec):
    cfg = config.SCALES[scale]
    return EngineFeatures.from_files(deploy, weights, os.path.join(droot, "p004", "mean.binaryproto"), cfg["size"],
                                     cfg["input_scale"], variant, spec.groups, spec.special)


class Evaluator:
    """Signatures once, then any protocol's tasks → ranked gallery indices."""

    def __init__(self, droot, scale, deploy, weights, variant, spec, queries="query", gallery="gallery",
                 train_limit=None):
        self.variant, self.spec = variant, spec
        p = os.path.join(droot, "p004")
        self.src = source_for(droot, scale, variant, deploy, weights, spec)
        self.cols = [spec.groups.index(v) for v in spec.special]
        width = amnet.indicator_size(spec) if variant == "amnet" else None
        self.q = load_split(os.path.join(p, queries))          # kept: AMNet re-reads them per manipulation
        self.q_special = self.q["labels"][:, self.cols]
        self.q_out = self.src.extract(self.q["images"], None if width is None else
                                      np.zeros((len(self.q["images"]), width), np.float32))
        if gallery == queries:      # model selection: the queries' own signatures are the gallery's
            self.g_names, self.g_special = self.q["names"], self.q_special
            g_signatures = self.q_out.signatures
        else:
            self.g_names, g_labels = split_labels(os.path.join(p, gallery))
            self.g_special = g_labels[:, self.cols]
            g_signatures = split_features(self.src, os.path.join(p, gallery), width).signatures
        self.index = GalleryIndex(g_signatures, self.g_names)
        self.prototypes = self.classic = None
        if variant != "amnet":
            _, t_labels = split_labels(os.path.join(p, "train"))
            tq = split_features(self.src, os.path.join(p, "train"), limit=train_limit)
            t_labels = t_labels[:train_limit]
            if variant == "classic":
                self.classic = ClassicTargets(tq.signatures["all"], t_labels[:, self.cols])
            else:
                self.prototypes = Prototypes.fit(tq.signatures, {v: t_labels[:, c] for v, c in zip(spec.special, self.cols)},
                                                 spec.sizes)

    def rank(self, tasks, k=metrics.KMAX):
        """Ranked gallery indices (T × k) of the tasks."""
        if not tasks:
            return np.zeros((0, k), int)
        rows = np.array([t.query for t in tasks])
        names = self.spec.special
        if self.variant == "amnet":
            ind = np.stack([amnet.indicator(self.spec, [(names[a], int(self.q_special[t.query, a]), v)
                                                         for a, v in t.changes.items()]) for t in tasks])
            sigs = self.src.extract(self.q["images"][rows], ind).signatures
            query = represent_queries("amnet", sigs, None)
        elif self.variant == "classic":
            pred = np.stack([self.q_out.probs[v][rows].argmax(1) for v in names], 1)
            for j, t in enumerate(tasks):
                for a, v in t.changes.items():
                    pred[j, a] = v
            query = represent_queries("classic", None, None, classic=self.classic, targets=pred)
        else:
            sigs = {v: s[rows] for v, s in self.q_out.signatures.items()}
            query = represent_queries(self.variant, sigs, [{names[a]: v for a, v in t.changes.items()} for t in tasks],
                                      self.prototypes)
        return self.index.search(query, k)[0]


def draw_protocols(q_special, g_special, spec, seed, repeats=1):
    """{protocol: [Task]} of the paper's searches (tools/paper004/metrics.py), drawn with the run's seed
    from the labels alone -- every variant of a seed gets the same tasks (paired comparisons).
    ``repeats``: random manipulations drawn per query (the paper: 1)."""
    rng = np.random.default_rng(seed)
    sizes = [spec.sizes[v] for v in spec.special]
    out = {"direct": metrics.direct_tasks(q_special),
           "manip1": metrics.manipulation_tasks(q_special, sizes, g_special, rng, 1, repeats=repeats),
           "manip2": metrics.manipulation_tasks(q_special, sizes, g_special, rng, 2, repeats=repeats)}
    for a, v in enumerate(spec.special):
        out[f"table2_{v}"] = metrics.manipulation_tasks(q_special, sizes, g_special, rng, attribute=a,
                                                        repeats=repeats)
    out["enumerated"] = metrics.enumerated_tasks(q_special, sizes, g_special)
    return out


def prediction_tasks(ev, protocols):
    """The predictions.npz tasks (tools/repro/results.py schema) of ranked protocols: per task ``ids``
    (query id | changes), ``labels`` (the target special attributes), ``query_labels``, ``ranked`` (top
    50 gallery indices), ``gallery_ids`` / ``gallery_labels`` (the gallery's special-attribute table)."""
    names = ev.spec.special
    out = {}
    for name, tasks in protocols.items():
        ranked = ev.rank(tasks)
        ids = [ev.q["names"][t.query] + "".join(f"|{names[a]}={v}" for a, v in sorted(t.changes.items()))
               for t in tasks]
        out[name] = {"ids": np.array(ids, dtype=str), "labels": metrics.targets_of(tasks, len(names)),
                     "query_labels": ev.q_special[[t.query for t in tasks]].reshape(len(tasks), len(names)),
                     # a protocol without tasks (a small gallery) keeps its (0, 50) shape
                     "ranked": np.asarray(ranked, np.int64).reshape(len(tasks), metrics.KMAX if not tasks else -1),
                     "gallery_ids": np.array(ev.g_names, dtype=str), "gallery_labels": ev.g_special}
    return out


def predict(exp, run):
    """The framework's hook: the snapshot selected on the validation split (tools/paper004/selection.py),
    then its deploy net over the query / gallery / training splits of ``exp.data_dir``, every protocol
    ranked; returns (tasks, info)."""
    from ..repro import forward
    from .netgen import AttrSpec
    from .selection import select_weights

    forward.use_device(exp)
    stats = json.load(open(os.path.join(exp.data_dir, "p004", "stats.json")))
    spec = AttrSpec(stats["groups"], stats["sizes"], stats["special"])
    weights, selection = select_weights(exp, run, spec)
    ev = Evaluator(exp.data_dir, exp.scale, run.training["info"]["deploy"], weights, run.variant, spec)
    protocols = draw_protocols(ev.q_special, ev.g_special, spec, run.seed, exp.cfg.get("manip_repeats", 1))
    tasks = prediction_tasks(ev, protocols)
    info = {"special": spec.special, "special_set": stats.get("special_set", "paper"),
            "queries": len(ev.q_special), "valid_queries": int(metrics.valid_rows(ev.q_special).sum()),
            "gallery": len(ev.g_special), "tasks": {k: len(v) for k, v in protocols.items()},
            "part_extraction_vs_truth": stats.get("part_extraction_vs_truth"), **selection}
    return tasks, info


def evaluate_variant(droot, scale, deploy, weights, variant, spec, seed=1, queries="query", repeats=1):
    """(results, predictions) of one trained variant on the query (or val) split, outside the framework
    (the web app, model selection on ``val``); results = :func:`metrics.score` of the predictions."""
    ev = Evaluator(droot, scale, deploy, weights, variant, spec, queries)
    tasks = prediction_tasks(ev, draw_protocols(ev.q_special, ev.g_special, spec, seed, repeats))
    res = metrics.score(tasks)
    pred = {f"{name}_{field}": a for name, t in tasks.items() for field, a in t.items()
            if field not in ("gallery_ids", "gallery_labels")}
    pred.update(gallery_ids=np.array(ev.g_names), gallery_labels=ev.g_special, query_ids=np.array(ev.q["names"]),
                special=np.array(spec.special))
    return res, pred


def save(path_prefix, res, pred):
    with open(path_prefix + "results.json", "w") as f:
        json.dump(res, f, indent=1)
    np.savez_compressed(path_prefix + "predictions.npz", **pred)
