"""Paper 004's fashion search (Sec. 4.6 and 5): search by query image, attribute manipulation, relevance
feedback -- the API the evaluation and the web app call.

    from tools.paper004.search import FashionSearch
    fs = FashionSearch.build(source, gallery_images, gallery_ids, train_features, train_labels, attrs, variant)
    s = fs.session(query_image)            # one shopper's query: all state lives in the session
    s.attributes()                         # {group: (value, probability)} predicted from the query
    s.manipulate({"color": "red"})         # replace colour's signature by red's prototype
    hits = s.search(k=20)                  # [Hit(rank, index, id, distance)], nearest first
    s.feedback([hits[0].id, hits[3].id])   # eq. 5: per-signature weights from the picked images
    hits = s.search(k=20)                  # eq. 6: the weighted distance

Distance (eq. 4 / eq. 6): D(i, r) = Σ_v w_v d(f_v(i), f_v(r)) over the signatures v (each special
attribute and the general one), with **every signature L2-normalised** (the paper's "normalization ...
to give same importance for each embedding") and d the squared Euclidean distance -- the distance
the triplet loss trains (eq. 3).  Then d = 2 − 2 f_v(i)·f_v(r) and

    D(i, r) = 2 Σ_v w_v − 2 ⟨concat_v(w_v f_v(i)), concat_v(f_v(r))⟩,

so the weighted sum of distances is one inner product: the gallery is indexed once (faiss
``IndexFlatIP``: exact, no training) and weights only rescale the query.  ``distance="euclidean"``
(d = ‖·‖, not decomposable) ranks with an exact chunked numpy scan instead.

Manipulation: the signature of a changed special attribute is replaced by that value's prototype --
the mean (then L2-normalised) signature of the training images labelled with it ("passing images
with same attribute label to the fc7v layer and averaging").  Relevance feedback (eq. 5):
w_v = 1 / Σ_{k<j} d(f_v(k), f_v(j)) over the picked images (rescaled to mean 1; a signature on which
the picks agree most weighs most); one picked image replaces the query ("when only a single image
is chosen, the query image is replaced with the chosen image").

Baselines' query representations (:func:`represent_queries`): classic -- the mean fc7 of the
training images whose labels agree with the (predicted, manipulated) target on the most special
attributes ("attributes of the query image are recognized with classification network; using the
training set, the representation is changed to match query image"); amnet -- the net's embedding
of the query under the manipulation indicator (tools/paper004/amnet.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import amnet

EPS = 1e-12


def l2n(x):
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), EPS)


@dataclass
class Hit:
    rank: int
    index: int
    id: str
    distance: float


class GalleryIndex:
    """The gallery's normalised signatures, indexed once; :meth:`search` ranks by eq. 4 / eq. 6."""

    def __init__(self, signatures, ids, names=None, distance="squared"):
        import faiss

        self.names = list(names or signatures)
        self.ids = [str(i) for i in ids]
        self.sigs = {v: l2n(signatures[v]) for v in self.names}
        self.dims = [self.sigs[v].shape[1] for v in self.names]
        if any(len(self.sigs[v]) != len(self.ids) for v in self.names):
            raise ValueError("every signature needs one row per gallery id")
        if distance not in ("squared", "euclidean"):
            raise ValueError(f"distance must be 'squared' or 'euclidean', got {distance!r}")
        self.distance = distance
        self.index = faiss.IndexFlatIP(int(sum(self.dims)))
        self.index.add(np.ascontiguousarray(np.concatenate([self.sigs[v] for v in self.names], 1)))

    def __len__(self):
        return len(self.ids)

    def _weights(self, weights, q):
        if weights is None:
            return np.ones((q, len(self.names)), np.float32)
        w = np.asarray(weights, np.float32)
        return np.broadcast_to(w.reshape(-1, len(self.names)), (q, len(self.names)))

    def search(self, query, k=50, weights=None):
        """(indices Q × k, distances Q × k) of the nearest gallery images, nearest first; ``query`` is
        {name: Q × D} (normalised here), ``weights`` (V,) or (Q × V) per signature in ``names`` order."""
        q = len(query[self.names[0]])
        w = self._weights(weights, q)
        k = min(int(k), len(self))
        if self.distance == "squared":
            x = np.concatenate([l2n(query[v]) * w[:, [i]] for i, v in enumerate(self.names)], 1)
            scores, idx = self.index.search(np.ascontiguousarray(x, np.float32), k)
            return idx, 2.0 * w.sum(1, keepdims=True) - 2.0 * scores
        dist = self.distances(query, w)
        idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return idx, np.take_along_axis(dist, idx, 1)

    def distances(self, query, weights=None, chunk=4096):
        """Q × N exact distances D(i, r) (numpy; both distance kinds)."""
        q = len(query[self.names[0]])
        w = self._weights(weights, q)
        out = np.zeros((q, len(self)), np.float32)
        for s in range(0, len(self), chunk):
            for i, v in enumerate(self.names):
                d = np.maximum(2.0 - 2.0 * l2n(query[v]) @ self.sigs[v][s:s + chunk].T, 0.0)
                out[:, s:s + chunk] += w[:, [i]] * (np.sqrt(d) if self.distance == "euclidean" else d)
        return out


class Prototypes:
    """Per special attribute and value, the normalised mean signature of the training images showing it."""

    def __init__(self, table):
        self.table = table                     # {attribute: K × D, NaN rows for unseen values}

    @classmethod
    def fit(cls, signatures, labels, sizes):
        """``signatures`` {attribute: N × D}, ``labels`` {attribute: N value indices, −1 missing}."""
        table = {}
        for v, lab in labels.items():
            f = l2n(signatures[v])
            lab = np.asarray(lab).reshape(-1)
            t = np.full((sizes[v], f.shape[1]), np.nan, np.float32)
            for k in range(sizes[v]):
                rows = lab == k
                if rows.any():
                    t[k] = l2n(f[rows].mean(0))
            table[v] = t
        return cls(table)

    def has(self, attr, value):
        return attr in self.table and 0 <= value < len(self.table[attr]) and not np.isnan(self.table[attr][value, 0])

    def apply(self, signatures, changes):
        """Copy of ``signatures`` (Q rows) with, per query q, every (attribute, value) of ``changes[q]``
        replaced by the prototype."""
        out = {v: l2n(s).copy() for v, s in signatures.items()}
        for q, ch in enumerate(changes):
            for attr, value in ch.items():
                if not self.has(attr, value):
                    raise ValueError(f"no training image shows {attr} = value #{value}: no prototype to search with")
                out[attr][q] = self.table[attr][value]
        return out


class ClassicTargets:
    """Classic's query representation: mean fc7 of the training images agreeing most with a target."""

    def __init__(self, features, labels):
        self.features = l2n(features)
        self.labels = np.asarray(labels)       # N × S special-attribute labels (−1 missing)

    def represent(self, targets):
        t = np.asarray(targets).reshape(-1, self.labels.shape[1])
        out = np.zeros((len(t), self.features.shape[1]), np.float32)
        for q, row in enumerate(t):
            agree = ((self.labels == row[None]) & (self.labels >= 0)).sum(1)
            out[q] = l2n(self.features[agree == agree.max()].mean(0))
        return out


def relevance_weights(picked):
    """Eq. 5 on the picked images' signatures ({name: P × D}, P >= 2): w_v = 1 / Σ_{k<j} d_v(k, j),
    rescaled to mean 1."""
    w = []
    for f in picked.values():
        f = l2n(f)
        if len(f) < 2:
            raise ValueError("relevance weights need at least two picked images")
        d = np.maximum(2.0 - 2.0 * f @ f.T, 0.0)
        w.append(1.0 / max(float(np.triu(d, 1).sum()), 1e-6))
    w = np.asarray(w, np.float32)
    return w * (len(w) / w.sum())


def represent_queries(variant, signatures, changes, prototypes=None, classic=None, targets=None):
    """The signatures to search with for Q queries.

    two-path variants: ``signatures`` (the queries' own) with ``changes`` [{attribute: value}]
    applied through ``prototypes``; classic: ``classic.represent(targets)`` ({"all": ...}); amnet:
    ``signatures`` as given (already computed under the manipulation indicator)."""
    if variant == "classic":
        return {"all": classic.represent(targets)}
    if variant == "amnet":
        return {k: l2n(v) for k, v in signatures.items()}
    return prototypes.apply(signatures, changes)


@dataclass
class SearchSession:
    """One query's state: its image, signatures, predicted attributes, manipulations and weights."""
    engine: "FashionSearch"
    image: np.ndarray
    signatures: dict
    probs: dict
    changes: dict = field(default_factory=dict)
    weights: np.ndarray = None
    history: list = field(default_factory=list)

    def attributes(self):
        """{group: (value name, probability)} predicted from the query image."""
        out = {}
        for g, p in self.probs.items():
            k = int(np.argmax(p))
            out[g] = (self.engine.values[g][k], float(p[k]))
        return out

    def predicted_index(self, attr):
        return int(np.argmax(self.probs[attr]))

    def manipulate(self, changes):
        """Set target values {special attribute: value name} (a value equal to the predicted one undoes
        the change); returns the active changes."""
        for attr, name in changes.items():
            if attr not in self.engine.special:
                raise ValueError(f"{attr!r} is not a special attribute; manipulable: {', '.join(self.engine.special)}")
            if name not in self.engine.values[attr]:
                raise ValueError(f"{name!r} is not a value of {attr}; known: {', '.join(self.engine.values[attr])}")
            k = self.engine.values[attr].index(name)
            if k == self.predicted_index(attr):
                self.changes.pop(attr, None)
            else:
                self.changes[attr] = k
        return {a: self.engine.values[a][k] for a, k in self.changes.items()}

    def search(self, k=20):
        return self.engine.search_session(self, k)

    def feedback(self, picked_ids):
        """Relevance feedback with the picked gallery ids: one image replaces the query, several set the
        weights (eq. 5); returns the weights {signature: w}."""
        return self.engine.feedback(self, picked_ids)


class FashionSearch:
    """A trained model's search over a gallery: a feature source (tools/paper004/features.py), the
    gallery index, the prototypes (or classic's targets) and the attribute vocabulary."""

    def __init__(self, source, index, values, special, variant, prototypes=None, classic=None, amnet_spec=None,
                 gallery_images=None, gallery_probs=None):
        self.source, self.index, self.values = source, index, values
        self.special, self.variant = list(special), variant
        self.prototypes, self.classic, self.amnet_spec = prototypes, classic, amnet_spec
        self.gallery_images, self.gallery_probs = gallery_images, gallery_probs

    @classmethod
    def build(cls, source, gallery_images, gallery_ids, train_images, train_labels, values, special, variant,
              amnet_spec=None, distance="squared"):
        """Extract the gallery's and the training images' signatures once; ``train_labels`` is
        {special attribute: N value indices}."""
        zero = None
        if variant == "amnet":
            zero = np.zeros((len(gallery_images), amnet.indicator_size(amnet_spec)), np.float32)
        gallery = source.extract(gallery_images, zero)
        train = None if variant == "amnet" else source.extract(train_images)
        return cls.from_features(source, gallery, gallery_ids, train, train_labels, values, special, variant,
                                 amnet_spec, distance, gallery_images=list(gallery_images))

    @classmethod
    def from_features(cls, source, gallery, gallery_ids, train, train_labels, values, special, variant,
                      amnet_spec=None, distance="squared", gallery_images=None):
        """The same from extracted features (``Extracted`` of the gallery and of the training images;
        ``train`` unused by amnet): for galleries too large to hold as images."""
        index = GalleryIndex(gallery.signatures, gallery_ids, distance=distance)
        prototypes = classic = None
        if variant == "classic":
            classic = ClassicTargets(train.signatures["all"], np.stack([train_labels[v] for v in special], 1))
        elif variant != "amnet":
            prototypes = Prototypes.fit(train.signatures, train_labels, {v: len(values[v]) for v in special})
        return cls(source, index, values, special, variant, prototypes, classic, amnet_spec,
                   gallery_images=gallery_images, gallery_probs=gallery.probs)

    def session(self, image):
        manip = None
        if self.variant == "amnet":
            manip = np.zeros((1, amnet.indicator_size(self.amnet_spec)), np.float32)
        out = self.source.extract([image], manip)
        return SearchSession(self, image, out.signatures, {g: p[0] for g, p in out.probs.items()})

    def _query(self, s):
        if self.variant == "amnet":
            t = amnet.indicator(self.amnet_spec, [(a, s.predicted_index(a), k) for a, k in s.changes.items()])
            return {k: v for k, v in self.source.extract([s.image], t[None]).signatures.items()}
        if self.variant == "classic":
            target = np.array([[s.changes.get(a, s.predicted_index(a)) for a in self.special]])
            return represent_queries("classic", None, None, classic=self.classic, targets=target)
        return represent_queries(self.variant, s.signatures, [dict(s.changes)], self.prototypes)

    def search_session(self, s, k):
        idx, dist = self.index.search(self._query(s), k, s.weights)
        s.history.append({"changes": dict(s.changes), "weights": None if s.weights is None else s.weights.tolist()})
        return [Hit(r + 1, int(i), self.index.ids[int(i)], float(d)) for r, (i, d) in enumerate(zip(idx[0], dist[0]))]

    def feedback(self, s, picked_ids):
        pos = {gid: i for i, gid in enumerate(self.index.ids)}
        unknown = [p for p in picked_ids if str(p) not in pos]
        if unknown or not picked_ids:
            raise ValueError(f"pick one or more gallery images (unknown ids: {', '.join(map(str, unknown)) or 'none given'})")
        rows = [pos[str(p)] for p in picked_ids]
        picked = {v: self.index.sigs[v][rows] for v in self.index.names}
        if len(rows) == 1:  # the picked image becomes the query (its own attributes, no manipulation)
            s.signatures = {v: f.copy() for v, f in picked.items()}
            if self.gallery_images is not None:
                s.image = self.gallery_images[rows[0]]
            if self.gallery_probs is not None:
                s.probs = {g: p[rows[0]] for g, p in self.gallery_probs.items()}
            s.changes = {}
            return {v: (1.0 if s.weights is None else float(w)) for v, w in
                    zip(self.index.names, np.ones(len(self.index.names)) if s.weights is None else s.weights)}
        s.weights = relevance_weights(picked)
        return dict(zip(self.index.names, s.weights.tolist()))
