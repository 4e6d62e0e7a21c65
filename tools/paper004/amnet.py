"""AMNet (Zhao, Feng, Wu, Yan: "Memory-augmented attribute manipulation networks for interactive
fashion search", CVPR 2017) as paper 004's fourth baseline, built from that paper's description (no
code of it is public).

What AMNet's paper fixes, and how it is built here:

* an image representation from a CNN -- the same AlexNet trunk as the other variants, pool5 → fc6 →
  fc7 (``classic``'s path, trained with its attribute losses in the ``attr`` stage);
* a **memory block of attribute prototypes** read by a **manipulation indicator** t (−1 at the
  attribute value to remove, +1 at the one to add): ``amnet_mem`` = M t, an InnerProduct without
  bias whose weight M (D × V, one column per value of every special attribute) is initialised with
  the prototypes -- the mean fc7 of the training images showing each value (:func:`memory_prototypes`,
  :func:`init_memory`, after the ``attr`` stage) -- and then learned;
* a **fusion** of the representation with the memory read-out into the manipulated representation;
* training with a **triplet ranking loss** (the manipulated query closer to an image with the target
  attributes than to one without) and **attribute classification losses** (the manipulated
  representation predicts the target attributes).

Choices its paper leaves open (ours):

* fusion: embedding = ReLU(W_f fc7 + b + W_m M t), D = the general fc width; a gallery image is the
  same with t = 0 (so every image and every manipulated query live in one space); retrieval by
  Euclidean distance between L2-normalised embeddings (as the triplet loss measures it);
* triplets in the batch (layers.amnet_sampler): a random attribute and a value another image of the
  batch shows; positive = the image with that value agreeing with the target on the most attributes;
  negative = an image with another value of that attribute (the query itself included); margin and
  normalisation as our other triplet losses;
* classification of the manipulated embedding: fc8am_<g> per attribute, targets for the special
  attributes, the image's own labels for the general ones; the fc7 attribute losses stay on;
* the indicator's "from" value at test time is the query's value the manipulation protocol names
  (its label); the web app passes the value it shows (the predicted one).
"""
from __future__ import annotations

import json

import numpy as np

from . import config
from .netparts import CLASSIFIER_FILLER, SHARED, L_P, fc, wf


def indicator_size(spec):
    """V: the number of values of all special attributes (the indicator's and the memory's width)."""
    return int(sum(spec.sizes[v] for v in spec.special))


def offsets(spec):
    """{special attribute: its first index in the indicator}."""
    out, k = {}, 0
    for v in spec.special:
        out[v] = k
        k += spec.sizes[v]
    return out


def indicator(spec, changes):
    """The manipulation indicator (V,) of ``changes`` = [(attribute, from value index, to value index)]."""
    t = np.zeros(indicator_size(spec), np.float32)
    off = offsets(spec)
    for attr, old, new in changes:
        if attr not in off:
            raise ValueError(f"{attr!r} is not a special attribute ({', '.join(spec.special)})")
        if old == new:
            continue
        t[off[attr] + int(new)] += 1.0
        if old is not None and old >= 0:
            t[off[attr] + int(old)] -= 1.0
    return t


def _image_projection(n, feat, cfg):
    """amnet_img = W_f fc7 + b (shared by the gallery embedding and the manipulated query)."""
    L, _ = L_P()
    n.amnet_img = L.InnerProduct(feat, num_output=cfg["fc_general"], weight_filler=wf(cfg, 0.005),
                                 bias_filler=dict(type="constant", value=0.1), param=SHARED)
    return n.amnet_img


def _query(n, manipulation, cfg):
    """amnet_query = ReLU(amnet_img + W_m M t): the memory read-out fused with the image."""
    L, P = L_P()
    n.amnet_mem = L.InnerProduct(manipulation, num_output=cfg["fc_general"], bias_term=False,
                                 weight_filler=dict(type="gaussian", std=0.01), param=[SHARED[0]])
    n.amnet_mem_proj = L.InnerProduct(n.amnet_mem, num_output=cfg["fc_general"], bias_term=False,
                                      weight_filler=wf(cfg, 0.005), param=[SHARED[0]])
    n.amnet_query_pre = L.Eltwise(n.amnet_img, n.amnet_mem_proj, operation=P.Eltwise.SUM)
    n.amnet_query = L.ReLU(n.amnet_query_pre)
    return n.amnet_query


def train_head(n, feat, cfg, spec):
    """The ``joint`` stage's AMNet part of a train net; returns the blobs nothing reads (none)."""
    L, _ = L_P()
    img = _image_projection(n, feat, cfg)
    n.amnet_gallery = L.ReLU(img)            # the gallery embedding (t = 0): positives and negatives
    n.special_labels = L.Concat(*[n[f"attr_{v}"] for v in spec.special], concat_param=dict(axis=1))
    (n.manipulation, n.target_labels, n.amnet_positive, n.amnet_negative, n.amnet_valid) = L.Python(
        n.amnet_gallery, n.special_labels, module="layers.amnet_sampler", layer="AMNetTripletSampler", ntop=5,
        param_str=json.dumps({"sizes": [spec.sizes[v] for v in spec.special]}))
    query = _query(n, n.manipulation, cfg)
    n.loss_triplet_amnet, n.triplet_accuracy_amnet = L.Python(
        query, n.amnet_positive, n.amnet_negative, n.amnet_valid, module="layers.triplet_loss",
        layer="TripletRankingLoss", ntop=2, param_str=json.dumps({"margin": config.TRIPLET_MARGIN, "normalize": True}),
        loss_weight=[1, 0])
    if len(spec.special) == 1:
        n[f"target_{spec.special[0]}"] = n.target_labels
    else:
        for v, t in zip(spec.special, L.Slice(n.target_labels, ntop=len(spec.special),
                                               slice_param=dict(axis=1, slice_point=list(range(1, len(spec.special)))))):
            n[f"target_{v}"] = t
    for g in spec.groups:
        head = fc(n, f"fc8am_{g}", query, spec.sizes[g], cfg, relu=False, filler=CLASSIFIER_FILLER)
        label = n[f"target_{g}"] if g in spec.special else n[f"attr_{g}"]
        n[f"loss_am_{g}"] = L.SoftmaxWithLoss(head, label, loss_param=dict(ignore_label=-1))
    return []


def deploy_head(n, feat, manipulation, cfg, spec):
    """amnet_query of a deploy net: the embedding of an image under a manipulation (t = 0: none)."""
    _image_projection(n, feat, cfg)
    return _query(n, manipulation, cfg)


# ------------------------------------------------------------------------------------------------
def memory_prototypes(features, labels, spec):
    """M's initial value (D × V): per special attribute value, the mean of ``features`` (N × D, fc7 of
    the training images) over the images labelled with it (zeros for a value no image shows);
    ``labels`` is N × len(spec.special) (−1 missing)."""
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels).reshape(len(features), -1)
    out = np.zeros((features.shape[1], indicator_size(spec)), np.float32)
    for j, (v, off) in enumerate(offsets(spec).items()):
        for k in range(spec.sizes[v]):
            rows = labels[:, j] == k
            if rows.any():
                out[:, off + k] = features[rows].mean(axis=0)
    return out


def init_memory(net, prototypes):
    """Write the prototypes into the memory layer ``amnet_mem`` of a net (train or deploy)."""
    w = net.params["amnet_mem"][0]
    if tuple(w.data.shape) != tuple(prototypes.shape):
        raise ValueError(f"amnet_mem's weight is {tuple(w.data.shape)}, the prototypes are {prototypes.shape}")
    w.data[...] = prototypes
