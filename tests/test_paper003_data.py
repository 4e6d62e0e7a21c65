"""Paper 003's data path: per-style resampling (layers/style_sampler.py), augmentation
(layers/augment.py) and the Python data layer (layers/style_data.py) — counts, hand-checked
augmentation, determinism per seed whatever the worker count, the same batches as BVLC Caffe would make
(serial forward with non-iterable blob vectors), TEST order, resumption, param_str errors."""
import json
import os
import sys
import types

import cv2
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe import layers as L
from fashioncaffe.data_pipeline import set_num_workers
from fashioncaffe.formats.lmdb_datum import DatumWriter, encoded_datum, float_datum, make_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from layer_testing import BlobVector, FBlob, top_level_imports  # noqa: E402
from layers import augment, style_data  # noqa: E402
from layers.style_sampler import StyleSampler  # noqa: E402

N_REC, SIZE = 40, 24
# style 1: 3 positives (rare), style 2: 16 of 40 (frequent), style 3: none
LABELS = np.zeros((N_REC, 3), np.float32)
LABELS[[4, 17, 33], 0] = 1
LABELS[::5, 1] = 1
LABELS[1::4, 1] = 1


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    d = tmp_path_factory.mktemp("p003data") / "train"
    rng = np.random.default_rng(1)
    with DatumWriter(str(d / "images_lmdb")) as wi, DatumWriter(str(d / "styles_lmdb")) as wl:
        for i in range(N_REC):
            img = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            img[0, 0] = (i, i, i)  # record id in the corner, for the TEST-order check
            ok, buf = cv2.imencode(".png", img)
            key = make_key(i, f"im{i}.png")
            wi.put(key, encoded_datum(buf.tobytes()))
            wl.put(key, float_datum(LABELS[i]))
    return str(d)


# ------------------------------------------------------------------------------------- sampler
def test_undersampling_counts():
    lab = np.zeros(100)
    lab[:10] = 1                                 # P = 10, N = 90, ratio 3 → f = 1/4, q = 2.5 of 10
    s = StyleSampler(lab, 10, ratio=3, seed=1)
    assert s.fraction == 0.25 and s.q == 2.5 and s.batches_per_epoch == 4
    assert [s.positives_in(b) for b in range(4)] == [2, 3, 2, 3]
    batches = [s.indices(b) for b in range(8)]   # two epochs of the positives
    for b, idx in enumerate(batches):
        assert len(idx) == 10 and (lab[idx] == 1).sum() == s.positives_in(b)
    pos = np.concatenate(batches)[lab[np.concatenate(batches)] == 1]
    assert sorted(pos[:10]) == list(range(10)) and sorted(pos[10:]) == list(range(10))  # once per epoch
    neg = np.concatenate(batches)[lab[np.concatenate(batches)] == 0]
    assert len(neg) == 60 and len(set(neg.tolist())) == 60    # negatives: a fresh part of the pass


def test_original_proportion_and_every_batch_has_positives():
    lab = np.zeros(64)
    lab[:16] = 1                                 # 25 %: kept as is (the paper's classes 3, 5, 6, 9)
    s = StyleSampler(lab, 8, ratio=None, seed=2)
    assert s.q == 2.0 and s.batches_per_epoch == 8
    seen = np.concatenate([s.indices(b) for b in range(8)])
    assert sorted(seen.tolist()) == list(range(64))   # one pass: every record exactly once
    rare = np.zeros(200)
    rare[[7, 99]] = 1                            # 1 %: below 1 per batch of 16 → oversampled to 1
    r = StyleSampler(rare, 16, ratio=None, seed=2)
    assert all((rare[r.indices(b)] == 1).sum() == 1 for b in range(30))


def test_ratio_never_adds_negatives():
    lab = np.zeros(20)
    lab[:15] = 1                                 # 3 negatives per 1 positive would be more than the data has
    s = StyleSampler(lab, 10, ratio=3)
    assert s.fraction == 0.75


def test_sampler_determinism_and_errors():
    lab = (np.arange(50) % 7 == 0).astype(float)
    a = [StyleSampler(lab, 6, 2, seed=9, stream=4).indices(b) for b in range(12)]
    b = [StyleSampler(lab, 6, 2, seed=9, stream=4).indices(b) for b in reversed(range(12))][::-1]
    np.testing.assert_array_equal(np.stack(a), np.stack(b))   # order of requests does not matter
    c = [StyleSampler(lab, 6, 2, seed=10, stream=4).indices(b) for b in range(12)]
    assert not np.array_equal(np.stack(a), np.stack(c))
    with pytest.raises(ValueError, match="no positive"):
        StyleSampler(np.zeros(5), 2)
    with pytest.raises(ValueError, match="needs negatives"):
        StyleSampler(np.ones(5), 2)


# ------------------------------------------------------------------------------------ augment
def test_random_erasing_follows_zhong():
    rng = np.random.default_rng(0)
    erased, areas, ratios = 0, [], []
    for _ in range(400):
        img = np.zeros((40, 60, 3), np.uint8)
        rect = augment.random_erase(img, rng, **augment.ERASE_DEFAULTS)
        if rect is None:
            assert not img.any()
            continue
        erased += 1
        y, x, h, w = rect
        assert y + h <= 40 and x + w <= 60
        outside = img.copy()
        outside[y:y + h, x:x + w] = 0
        assert not outside.any()                      # only the rectangle changes
        areas.append(h * w / (40 * 60))
        ratios.append(h / w)
        assert len(np.unique(img[y:y + h, x:x + w])) > 1   # random values, not one colour
    assert 0.4 < erased / 400 < 0.6                   # p = 0.5
    assert min(areas) > 0.015 and max(areas) < 0.43   # s_l = 0.02 .. s_h = 0.4 (rounding aside)
    assert min(ratios) > 0.25 and max(ratios) < 1 / 0.25   # r_1 = 0.3 .. 1 / 0.3


def test_rotation_and_crop():
    img = np.zeros((21, 21, 3), np.uint8)
    img[10, 15] = 255                                 # 5 px right of the centre (10.5, 10.5)-ish
    out, theta = augment.rotate(img, np.random.default_rng(3), 15)
    assert -15 <= theta <= 15 and theta != 0
    m = cv2.getRotationMatrix2D((10.5, 10.5), theta, 1.0)
    np.testing.assert_array_equal(out, cv2.warpAffine(img, m, (21, 21), flags=cv2.INTER_LINEAR,
                                                      borderMode=cv2.BORDER_REPLICATE))
    thetas = [augment.rotate(img, np.random.default_rng(s), 15)[1] for s in range(300)]
    assert min(thetas) < -13 and max(thetas) > 13 and max(abs(t) for t in thetas) <= 15
    assert augment.crop_offsets(30, 20, 10) == (10, 5)          # TEST: centre
    offs = {augment.crop_offsets(30, 20, 10, np.random.default_rng(s)) for s in range(300)}
    assert {o[0] for o in offs} == set(range(21)) and {o[1] for o in offs} == set(range(11))
    test_view = augment.augment(img, np.random.default_rng(0), 11, 15, True, dict(augment.ERASE_DEFAULTS),
                                train=False)
    np.testing.assert_array_equal(test_view, img[5:16, 5:16])  # TEST: centre crop only
    fixed = augment.augment(img, np.random.default_rng(0), 11, 0, False, None, train=True, random_crop=False)
    np.testing.assert_array_equal(fixed, img[5:16, 5:16])       # TRAIN without the random crop


# --------------------------------------------------------------------------------- the layer
def _param(split, **kw):
    p = dict(source=split, style=2, batch_size=8, crop_size=20, mean=[10, 20, 30], scale=0.5, rotate=15,
             erase=True, ratio=None, seed=7)
    p.update(kw)
    return json.dumps(p)


def _bvlc_batches(split, param_str, n, phase=caffe.TRAIN, monkeypatch=None):
    """The layer driven as BVLC Caffe drives it: no engine hook, serial forward, blob vectors that
    cannot be iterated."""
    monkeypatch.setattr(style_data, "caffe", types.SimpleNamespace(Layer=caffe.Layer, TRAIN=0, TEST=1))
    layer = style_data.StyleData()
    layer.param_str, layer.phase = param_str, phase
    top = BlobVector([FBlob(0.0), FBlob(0.0)])
    layer.setup(BlobVector([]), top)
    out = []
    for _ in range(n):
        layer.reshape(BlobVector([]), top)
        layer.forward(BlobVector([]), top)
        out.append((top[0].data.astype(np.float32), top[1].data.copy()))
    monkeypatch.undo()
    style_data.close_lmdbs()  # BVLC runs in its own process; here the engine opens the same LMDBs next
    return out


def _engine_batches(split, param_str, n, workers, phase=caffe.TRAIN):
    n_ = caffe.NetSpec()
    n_.data, n_.label = L.Python(ntop=2, python_param=dict(module="layers.style_data", layer="StyleData",
                                                           param_str=param_str))
    set_num_workers(workers)
    try:
        net = caffe.Net(n_.to_proto(), phase)
        out = []
        for _ in range(n):
            net.forward()
            out.append((net.blobs["data"].data.copy(), net.blobs["label"].data.copy()))
        assert net.layers[0].batches.num_workers == workers
        net.layers[0].batches.close()
    finally:
        set_num_workers(None)
    return out


def _same(a, b):
    assert len(a) == len(b)
    for (da, la), (db, lb) in zip(a, b):
        np.testing.assert_allclose(da, db, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(la.reshape(-1), lb.reshape(-1))


def test_same_batches_in_bvlc_and_in_the_engine_whatever_the_workers(split, monkeypatch):
    ps = _param(split)
    bvlc = _bvlc_batches(split, ps, 5, monkeypatch=monkeypatch)
    _same(bvlc, _engine_batches(split, ps, 5, workers=0))
    _same(bvlc, _engine_batches(split, ps, 5, workers=2))
    for data, label in bvlc:
        assert data.shape == (8, 3, 20, 20) and label.shape == (8, 1)
        assert label.sum() >= 1                          # every batch holds positives
    other = _engine_batches(split, _param(split, seed=8), 5, workers=0)
    assert not np.allclose(other[0][0], bvlc[0][0])      # another seed, other batches


def test_rare_style_undersampled_and_multilabel_mode(split):
    got = _engine_batches(split, _param(split, style=1, ratio=3, rotate=0, erase=None), 6, workers=0)
    pos = [int(lab.sum()) for _, lab in got]
    assert pos == [2, 2, 2, 2, 2, 2]                    # 1 positive per 3 negatives of 8
    multi = _engine_batches(split, _param(split, style=None), 5, workers=0)
    assert multi[0][1].shape == (8, 3)
    assert set(np.unique(np.concatenate([m[1] for m in multi]))) <= {0.0, 1.0}


def test_without_resampling_and_augmentation(split):
    """The ablation's "none": plain shuffled passes over all records, no random crop, rotation or
    erasing — TRAIN batches are then the TEST pixels in another order."""
    plain = _param(split, crop_size=0, rotate=0, erase=None, random_crop=False, resample=False)
    got = _engine_batches(split, plain, 5, workers=0)
    ids = np.concatenate([np.rint(d[:, 0, 0, 0] / 0.5 + 10) for d, _ in got]).astype(int)
    assert ids.tolist() != list(range(40)) and sorted(ids.tolist()) == list(range(40))   # one shuffled pass
    test = _engine_batches(split, plain, 5, workers=0, phase=caffe.TEST)
    by_id = {int(np.rint(d[0, 0, 0] / 0.5 + 10)): d for batch, _ in test for d in batch}
    for batch, lab in got:
        for d, y in zip(batch, lab.reshape(-1)):
            i = int(np.rint(d[0, 0, 0] / 0.5 + 10))
            np.testing.assert_allclose(d, by_id[i])
            assert y == LABELS[i, 1]


def test_test_phase_is_ordered_centre_crop_without_augmentation(split):
    got = _engine_batches(split, _param(split, crop_size=0), 6, workers=0, phase=caffe.TEST)
    ids = np.concatenate([np.rint(d[:, 0, 0, 0] / 0.5 + 10) for d, _ in got]).astype(int)
    assert ids.tolist() == [i % N_REC for i in range(48)]     # key order, wrapping at the end
    labels = np.concatenate([lab.reshape(-1) for _, lab in got])
    np.testing.assert_array_equal(labels, LABELS[np.arange(48) % N_REC, 1])


def test_solver_restore_continues_the_stream(split, tmp_path):
    ps = _param(split)
    n = caffe.NetSpec()
    n.data, n.label = L.Python(ntop=2, python_param=dict(module="layers.style_data", layer="StyleData", param_str=ps))
    n.score = L.InnerProduct(n.data, num_output=1, weight_filler=dict(type="gaussian", std=0.01))
    n.loss = L.SigmoidCrossEntropyLoss(n.score, n.label)
    (tmp_path / "net.prototxt").write_text(str(n.to_proto()))
    (tmp_path / "solver.prototxt").write_text(
        f'net: "{tmp_path}/net.prototxt"\nbase_lr: 0.01\nlr_policy: "fixed"\nmax_iter: 2\n'
        f'snapshot: 2\nsnapshot_prefix: "{tmp_path}/s"\nsolver_mode: CPU\nrandom_seed: 3\ndisplay: 0\n')
    set_num_workers(0)
    try:
        s = caffe.get_solver(str(tmp_path / "solver.prototxt"))
        s.solve()
        r = caffe.get_solver(str(tmp_path / "solver.prototxt"))
        r.restore(str(tmp_path / "s_iter_2.solverstate"))
        r.step(1)
        resumed = r.net.blobs["data"].data.copy()
    finally:
        set_num_workers(None)
    fresh = _engine_batches(split, ps, 3, workers=0)
    np.testing.assert_allclose(resumed, fresh[2][0], atol=1e-5)   # batch 2, as an unbroken run


@pytest.mark.parametrize("kw,msg", [
    (dict(colour=True), "unknown param_str keys: colour"),
    (dict(style=4), "style 4 is not among the 3 label columns"),
    (dict(output="tanh"), "output must be"),
    (dict(erase={"p": 0.5, "sigma": 1}), "unknown erase keys: sigma"),
    (dict(crop_size=30), "crop_size 30 is larger than the images"),
    (dict(style=3), "no positive record"),
])
def test_param_str_errors_name_the_problem(split, kw, msg):
    with pytest.raises(ValueError, match=msg):   # what the layer raises reaches the caller as itself
        _engine_batches(split, _param(split, **kw), 1, workers=0)


@pytest.mark.parametrize("fname", ["style_data.py", "style_sampler.py", "augment.py"])
def test_layer_files_import_what_a_bvlc_caffe_install_has(fname):
    tops = top_level_imports(os.path.join(ROOT, "layers", fname))
    assert tops <= {"numpy", "caffe", "cv2", "lmdb"} | set(sys.stdlib_module_names), tops
