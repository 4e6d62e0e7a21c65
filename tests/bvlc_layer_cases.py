"""The custom layers of ``layers/`` as BVLC Caffe runs them: one :class:`LayerCase` per configuration.

``tests/test_layers_bvlc.py`` runs every case through the BVLC stand-in harness
(``bvlc_harness.run_standin``), the engine's tensor path and its numpy path, and -- where BVLC's
pycaffe is installed -- real BVLC Caffe; it also fails while any ``caffe.Layer`` class in ``layers/``
has no case here.  A new layer joins with one entry::

    LayerCase("my_layer", "layers.my_file", "MyLayer",
              bottoms=lambda r: [r.randn(4, 6), r.randn(4, 6)],   # r: a seeded RandomState
              n_top=1, param={"key": 1.0},                       # param: the param_str (dict → JSON)
              propagate_down=(True, False))                      # optional: default every bottom

Bottoms are cast to float32 (BVLC's blobs).  Draw values that keep the layer away from ties and
kinks (an argmax or a hinge exactly at 0), where float32 and float64 paths may legitimately pick
different branches.
"""
import numpy as np

from bvlc_harness import LayerCase


def _sigmoid_ce_bottoms(r, n=4, k=6):
    x = r.randn(n, k) * 3
    t = (r.rand(n, k) > 0.6).astype(np.float64)
    t[r.rand(n, k) < 0.3] = -1          # ignored labels
    t[0, 0] = 0.3                       # a soft target
    return [x, t]


def _landmark_bottoms(r, n=2, c=3, h=8, w=8, nl=3, scale=1.0):
    x = r.randn(n, c, h, w)
    lm = r.uniform(-0.1, 1.1, size=(n, 2 * nl)) * scale
    vis = r.uniform(0, 1, size=(n, nl))
    return [x, lm, vis]


def _triplet_bottoms(r, t=6, d=4):
    a, p, n = r.randn(t, d), r.randn(t, d), r.randn(t, d)
    w = np.array([1, 1, 0, 1, 1, 1.0])
    return [a, p, n, w]


def _part_roi_bottoms(r, n=2, c=3, h=7, w=7, k=3):
    x = r.randn(n, c, h, w)
    lo = r.uniform(0.05, 0.45, size=(n, k, 2))
    hi = lo + r.uniform(0.2, 0.5, size=(n, k, 2))
    boxes = np.concatenate([lo, hi], axis=2).reshape(n, 4 * k)   # x1, y1, x2, y2 per part
    gate = np.array([[0.9, 0.1, 0.7], [0.2, 0.8, 0.95]])[:n, :k]   # some parts off: the whole map
    return [x, boxes, gate]


def _attribute_labels(r, n=8, m=1, values=3):
    lab = r.randint(0, values, size=(n, m)).astype(np.float64)
    lab[1, 0] = -1                                                   # a missing label
    return lab


CASES = [
    # paper 000 / 001: weighted sigmoid cross-entropy
    LayerCase("wsce_default", "layers.weighted_sigmoid_ce", "WeightedSigmoidCrossEntropyLoss",
              bottoms=_sigmoid_ce_bottoms, n_top=1, param={"ignore_label": -1}),
    LayerCase("wsce_weighted_valid_label_no_grad", "layers.weighted_sigmoid_ce", "WeightedSigmoidCrossEntropyLoss",
              bottoms=_sigmoid_ce_bottoms, n_top=1,
              param={"ignore_label": -1, "normalization": "VALID", "pos_weight": [1, 2, 3, 0.5, 1, 4],
                     "neg_weight": 0.7},
              propagate_down=(True, False)),
    # paper 000: gamma-task weighting of scalar task losses
    LayerCase("gamma_smoothed", "layers.gamma_task", "GammaTaskWeighting",
              bottoms=lambda r: [np.float64(v) for v in r.uniform(0.2, 3.0, size=3)], n_top=1,
              param={"mode": "smoothed", "counts": [100, 30, 1]}),
    LayerCase("gamma_explicit_vector_losses", "layers.gamma_task", "GammaTaskWeighting",
              bottoms=lambda r: [r.uniform(0, 2, size=(3,)), r.uniform(0, 2, size=())], n_top=1,
              param={"gamma": [1.0, 0.25]}, propagate_down=(True, False)),
    # paper 001: landmark pooling
    LayerCase("landmark_soft_2x2", "layers.landmark_pooling", "LandmarkPooling",
              bottoms=_landmark_bottoms, n_top=1, param={"window": 3, "pooled_size": 2, "gate": "soft"}),
    LayerCase("landmark_pixels_hard", "layers.landmark_pooling", "LandmarkPooling",
              bottoms=lambda r: _landmark_bottoms(r, scale=64.0), n_top=1,
              param={"window": 3, "pooled_size": 1, "coords": "pixels", "spatial_scale": 0.125},
              propagate_down=(True, False, False)),
    LayerCase("landmark_no_visibility", "layers.landmark_pooling", "LandmarkPooling",
              bottoms=lambda r: _landmark_bottoms(r)[:2], n_top=1, param={"window": 4, "pooled_size": 2}),
    # paper 001: triplet sampler and triplet ranking loss
    LayerCase("triplet_sampler_hard", "layers.triplet_sampler", "TripletSampler",
              bottoms=lambda r: [r.randn(8, 5), np.array([0, 0, 1, 1, 1, 2, 3, 3.0])], n_top=4,
              param={"mode": "hard"}, propagate_down=(True, False)),
    LayerCase("triplet_sampler_cyclic_all_grads", "layers.triplet_sampler", "TripletSampler",
              bottoms=lambda r: [r.randn(6, 2, 2), np.array([5, 5, 7, 7, 9, 9.0])], n_top=4,
              param={"mode": "cyclic", "normalize": False}),
    LayerCase("triplet_loss_valid_accuracy", "layers.triplet_loss", "TripletRankingLoss",
              bottoms=_triplet_bottoms, n_top=2, param={"margin": 0.5}),
    LayerCase("triplet_loss_unnormalized_batch", "layers.triplet_loss", "TripletRankingLoss",
              bottoms=lambda r: _triplet_bottoms(r)[:3], n_top=1,
              param={"margin": 1.0, "normalize": False, "normalization": "BATCH_SIZE"}),
    # paper 002: uncertainty weighting of task losses (learned log-variances, optional log_var top)
    LayerCase("uncertainty_two_tasks", "layers.uncertainty_weighting", "UncertaintyWeighting",
              bottoms=lambda r: [np.float64(v) for v in r.uniform(0.2, 3.0, size=2)], n_top=2,
              param={"init": [0.3, -0.5]}),
    LayerCase("uncertainty_kendall_regression_factor", "layers.uncertainty_weighting", "UncertaintyWeighting",
              bottoms=lambda r: [r.uniform(0, 2, size=(3,)), r.uniform(0, 2, size=())], n_top=1,
              param={"init": 0.2, "factor": [0.5, 1.0]}, propagate_down=(True, False)),
    # paper 004: part ROI pooling on conv5, per-attribute triplets, AMNet's in-batch manipulations
    LayerCase("part_roi_normalized_gated", "layers.part_roi_pooling", "PartROIPooling",
              bottoms=_part_roi_bottoms, n_top=1, param={"parts": [0, 2], "pooled_size": 2},
              propagate_down=(True, False, False)),
    LayerCase("part_roi_pixels_no_gate", "layers.part_roi_pooling", "PartROIPooling",
              bottoms=lambda r: [b * (16.0 if i == 1 else 1.0) for i, b in enumerate(_part_roi_bottoms(r)[:2])],
              n_top=1, param={"pooled_h": 3, "pooled_w": 2, "coords": "pixels", "spatial_scale": 0.375},
              propagate_down=(True, False)),
    LayerCase("attribute_triplets_one_key", "layers.attribute_triplet_sampler", "AttributeTripletSampler",
              bottoms=lambda r: [r.randn(8, 5), _attribute_labels(r)], n_top=4,
              param={"seed": 3}, propagate_down=(True, False)),
    LayerCase("attribute_triplets_general_key", "layers.attribute_triplet_sampler", "AttributeTripletSampler",
              bottoms=lambda r: [r.randn(8, 2, 2), _attribute_labels(r, m=2, values=2)], n_top=4,
              propagate_down=(True, False)),
    LayerCase("amnet_manipulation_triplets", "layers.amnet_sampler", "AMNetTripletSampler",
              bottoms=lambda r: [r.randn(8, 4), np.stack([_attribute_labels(r, values=3)[:, 0],
                                                          r.randint(0, 4, size=8).astype(np.float64)], 1)],
              n_top=5, param={"sizes": [3, 4], "seed": 1}, propagate_down=(True, False)),
]

# Data layers read an LMDB rather than bottoms, so the generic forward/backward comparison does not fit
# them; each is driven through BVLC's calling conventions (BlobVector tops, serial forward) against
# the engine in its own test, named here.
DATA_LAYERS_COVERED_ELSEWHERE = {
    ("layers.style_data", "StyleData"):
        "tests/test_paper003_data.py::test_same_batches_in_bvlc_and_in_the_engine_whatever_the_workers",
}

