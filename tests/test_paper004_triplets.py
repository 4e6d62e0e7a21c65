"""Paper 004's per-attribute triplet sampler (layers/attribute_triplet_sampler.py): hand-checked
candidate rules (missing labels take no part, multi-column keys), the counter-based random draw,
numpy path = tensor path, gradient scatter, BVLC's RawBlobVec stand-in, and a net that trains with it."""
import json
import os
import sys

import numpy as np
import pytest
import torch

import fashioncaffe as caffe  # noqa: F401  (makes `import caffe` resolve in the layer files)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from layer_testing import BlobVector, FBlob  # noqa: E402
from layers.attribute_triplet_sampler import AttributeTripletSampler, candidates, select  # noqa: E402
from layers.tensor_impl import attribute_triplet_t as at_t  # noqa: E402

LABELS = np.array([[0, 1], [0, 1], [0, 2], [1, 1], [-1, 1], [0, 1], [1, 1], [2, 0]], dtype=np.float64)


def test_candidates_by_hand():
    pos, neg = candidates(LABELS, -1)
    # image 0's key (0, 1) is shared by 1 and 5; image 4 has a missing label: in no triplet
    assert np.flatnonzero(pos[0]).tolist() == [1, 5]
    assert np.flatnonzero(neg[0]).tolist() == [2, 3, 6, 7]
    assert not pos[4].any() and not neg[4].any() and not pos[:, 4].any() and not neg[:, 4].any()
    assert np.flatnonzero(pos[3]).tolist() == [6]
    assert not pos[7].any()                                       # key (2, 0) is alone
    # one column: the first attribute only
    pos1, _ = candidates(LABELS[:, :1], -1)
    assert np.flatnonzero(pos1[0]).tolist() == [1, 2, 5]


def test_selection_rules_and_tensor_path():
    for count in range(10):
        pos, neg, valid = select(LABELS, -1, seed=3, count=count)
        assert valid.tolist() == [1, 1, 0, 1, 0, 1, 1, 0]            # 2, 7: no positive; 4: missing label
        pos_ok, neg_ok = candidates(LABELS, -1)
        for i in np.flatnonzero(valid):
            assert pos_ok[i, pos[i]] and neg_ok[i, neg[i]]
        for i in np.flatnonzero(valid == 0):
            assert pos[i] == i and neg[i] == i
        layer = AttributeTripletSampler()
        layer.param_str = json.dumps({"seed": 3})
        layer.setup(BlobVector([FBlob(np.zeros((8, 2))), FBlob(LABELS)]), BlobVector([FBlob(0.0) for _ in range(4)]))
        tp, tn, tv = at_t.select(torch.tensor(LABELS), layer, count)
        assert tp.tolist() == pos.tolist() and tn.tolist() == neg.tolist()
        assert tv.tolist() == [bool(v) for v in valid]


def test_random_draw_is_uniform_and_changes_with_the_forward_count():
    lab = np.zeros((6, 1))
    lab[3:] = 1
    picks = [tuple(select(lab, -1, seed=0, count=c)[0]) for c in range(400)]
    assert len(set(picks)) > 50                                   # new triplets at every forward pass
    first = np.array([p[0] for p in picks])                      # anchor 0 picks 1 or 2, evenly
    assert set(first) == {1, 2} and 0.4 < (first == 1).mean() < 0.6
    assert picks == [tuple(select(lab, -1, seed=0, count=c)[0]) for c in range(400)]
    assert picks != [tuple(select(lab, -1, seed=1, count=c)[0]) for c in range(400)]


def test_layer_forward_backward_through_raw_blob_vectors():
    rng = np.random.RandomState(1)
    x = rng.randn(8, 4).astype(np.float32)   # FBlob stores float32, as BVLC's blobs
    bottoms = BlobVector([FBlob(x), FBlob(LABELS)])
    tops = BlobVector([FBlob(0.0) for _ in range(4)])
    layer = AttributeTripletSampler()
    layer.param_str = json.dumps({"seed": 2})
    layer.setup(bottoms, tops)
    layer.reshape(bottoms, tops)
    layer.forward(bottoms, tops)
    assert layer.count == 1
    pos, neg, valid = select(LABELS, -1, 2, 0)
    np.testing.assert_array_equal(tops[1].data, x[pos])
    np.testing.assert_array_equal(tops[3].data, valid)
    ws = [rng.randn(8, 4).astype(np.float32) for _ in range(3)]
    for i in range(3):
        tops[i].diff[...] = ws[i]
    layer.backward(tops, [True, False], bottoms)
    want = ws[0].copy()
    for i in range(8):
        want[pos[i]] += ws[1][i]
        want[neg[i]] += ws[2][i]
    np.testing.assert_allclose(bottoms[0].diff, want, rtol=1e-6)
    # the tensor path gives the same rows and gradient (its own forward count starts at 0 too)
    layer2 = AttributeTripletSampler()
    layer2.param_str = layer.param_str
    layer2.setup(bottoms, tops)
    xt = torch.tensor(x, requires_grad=True)
    outs = at_t.sample(layer2, [xt, torch.tensor(LABELS)])
    assert layer2.count == 1
    np.testing.assert_array_equal(outs[1].detach().numpy(), x[pos])
    sum((o * torch.tensor(w)).sum() for o, w in zip(outs[:3], ws)).backward()
    np.testing.assert_allclose(xt.grad.numpy(), want, rtol=1e-6)


def test_param_errors():
    for bad in ({"mode": "hard"}, {"bogus": 1}):
        layer = AttributeTripletSampler()
        layer.param_str = json.dumps(bad)
        with pytest.raises(ValueError):
            layer.setup(BlobVector([FBlob(np.zeros((2, 2))), FBlob(np.zeros(2))]), BlobVector([FBlob(0.0)] * 4))
    layer = AttributeTripletSampler()
    layer.param_str = "{}"
    b = BlobVector([FBlob(np.zeros((4, 2))), FBlob(np.zeros((3, 1)))])
    t = BlobVector([FBlob(0.0) for _ in range(4)])
    layer.setup(b, t)
    with pytest.raises(Exception, match="same number of rows"):
        layer.reshape(b, t)


NET = """
name: "p004_triplets"
force_backward: true
layer { name: "in" type: "Input" top: "x" top: "labels"
        input_param { shape { dim: 16 dim: 6 } shape { dim: 16 dim: 1 } } }
layer { name: "emb" type: "InnerProduct" bottom: "x" top: "emb"
        inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "samp" type: "Python" bottom: "emb" bottom: "labels" top: "a" top: "p" top: "n" top: "valid"
        python_param { module: "layers.attribute_triplet_sampler" layer: "AttributeTripletSampler"
                       param_str: '{"seed": 1}' } }
layer { name: "loss" type: "Python" bottom: "a" bottom: "p" bottom: "n" bottom: "valid" top: "loss"
        python_param { module: "layers.triplet_loss" layer: "TripletRankingLoss" param_str: '{"margin": 0.5}' }
        loss_weight: 1 }
"""


def test_a_net_learns_an_attribute_embedding(tmp_path):
    """SGD on the triplet loss with attribute triplets separates the classes (the loss falls)."""
    path = tmp_path / "net.prototxt"
    path.write_text(NET)
    torch.manual_seed(0)
    net = caffe.Net(str(path), caffe.TRAIN)
    rng = np.random.RandomState(0)
    centres = rng.randn(3, 6) * 1.0
    losses = []
    for it in range(150):
        lab = rng.randint(0, 3, 16)
        lab[:2] = -1                                              # missing labels ride along
        net.blobs["x"].data[...] = centres[np.maximum(lab, 0)] + 0.5 * rng.randn(16, 6)
        net.blobs["labels"].data[...] = lab[:, None]
        out = net.forward()
        losses.append(float(out["loss"]))
        net.backward()
        for blobs in net.params.values():
            for b in blobs:
                b.data[...] -= 1.0 * b.diff
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
