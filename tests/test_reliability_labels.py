"""A class label outside the scores' range (issue 20): every layer that indexes scores by a label stops
with a message naming itself, its label bottom, the value and the range (BVLC's DCHECK_GE / DCHECK_LT
on label_value), ignore_label is respected, and on a GPU the check is read at the solver's checks
instead of synchronising every forward (exercised here on the CPU with the solver's lazy mode)."""
import os

import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats.blobproto import write_binaryproto

TYPES = {
    "SoftmaxWithLoss": "",
    "Accuracy": "",
    "MultinomialLogisticLoss": "",
    "HingeLoss": "",
    "InfogainLoss": 'infogain_loss_param { source: "%(H)s" }',
}


def _net(tmp_path, typ, extra):
    H = tmp_path / "H.binaryproto"
    write_binaryproto(str(H), np.eye(3, dtype=np.float32)[None, None])
    text = f'''
layer {{ name: "x" type: "Input" top: "x" input_param {{ shape {{ dim: 4 dim: 3 }} }} }}
layer {{ name: "lab" type: "Input" top: "label" input_param {{ shape {{ dim: 4 }} }} }}
layer {{ name: "judge" type: "{typ}" bottom: "x" bottom: "label" top: "out" {extra % {"H": H}} }}
'''
    path = tmp_path / f"{typ}.prototxt"
    path.write_text(text)
    net = caffe.Net(str(path), caffe.TRAIN)
    net.blobs["x"].data[...] = np.random.RandomState(0).rand(4, 3)
    return net


@pytest.mark.parametrize("typ", sorted(TYPES))
@pytest.mark.parametrize("bad", [3, -1, 7.0])
def test_label_out_of_range_is_named(tmp_path, typ, bad):
    net = _net(tmp_path, typ, TYPES[typ])
    net.blobs["label"].data[...] = [0, 1, bad, 2]
    with pytest.raises(FashionCaffeError) as e:
        net.forward()
    msg = str(e.value)
    assert f"{typ} layer 'judge'" in msg and "bottom 'label'" in msg
    assert f"label {int(bad)}" in msg and "[0, 2]" in msg and "3-class" in msg


@pytest.mark.parametrize("typ", ["SoftmaxWithLoss", "Accuracy", "InfogainLoss"])
def test_ignore_label_outside_the_range_is_not_an_error(tmp_path, typ):
    field = "accuracy_param" if typ == "Accuracy" else "loss_param"
    net = _net(tmp_path, typ, TYPES[typ] + f" {field} {{ ignore_label: 255 }}")
    net.blobs["label"].data[...] = [0, 255, 1, 2]
    out = float(net.forward()["out"])
    assert np.isfinite(out)
    net.blobs["label"].data[...] = [0, 254, 1, 2]      # anything else out of range still is
    with pytest.raises(FashionCaffeError, match="label 254 .* is not ignore_label 255"):
        net.forward()


def _train_files(tmp_path, bad_at, snapshot=0):
    (tmp_path / "net.prototxt").write_text('''
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 4 dim: 5 } } }
layer { name: "lab" type: "Input" top: "label" input_param { shape { dim: 4 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 3
  weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
''')
    (tmp_path / "solver.prototxt").write_text(
        f'net: "{tmp_path}/net.prototxt" base_lr: 0.1 lr_policy: "fixed" max_iter: 8 display: 0 '
        f'snapshot: {snapshot} snapshot_prefix: "{tmp_path}/snap" snapshot_after_train: false random_seed: 1\n')
    solver = caffe.get_solver(str(tmp_path / "solver.prototxt"))
    rs = np.random.RandomState(0)

    def on_start():
        solver.net.blobs["x"].data[...] = rs.rand(4, 5)
        solver.net.blobs["label"].data[...] = [0, 1, 9 if solver.iter == bad_at else 2, 1]

    solver.add_callback(on_start, lambda: None)
    return solver


def test_bad_label_in_training_names_the_iteration(tmp_path):
    solver = _train_files(tmp_path, bad_at=2)
    with pytest.raises(FashionCaffeError) as e:
        solver.solve()
    msg = str(e.value)
    assert msg.startswith("Iteration 2, train net: SoftmaxWithLoss layer 'loss': label 9"), msg
    assert solver.iter == 2


def test_deferred_check_reads_the_device_flag_at_the_solvers_checks(tmp_path):
    """lazy_sync: what a GPU does -- no read-back per forward; the flag is read before a snapshot, so
    no snapshot holds weights trained on a bad label."""
    solver = _train_files(tmp_path, bad_at=1, snapshot=3)
    solver.lazy_sync = True
    with pytest.raises(FashionCaffeError) as e:
        solver.solve()
    msg = str(e.value)
    assert msg.startswith("Iterations 0..2, train net: SoftmaxWithLoss layer 'loss': label 9"), msg
    assert "1 such label(s)" in msg and "no snapshot was written" in msg
    assert solver.iter == 3     # it went on to the snapshot point, where the flag was read
    assert not [f for f in os.listdir(tmp_path) if f.startswith("snap_iter")]


def test_deferred_flag_keeps_the_first_bad_value_and_counts_all(tmp_path):
    net = _net(tmp_path, "SoftmaxWithLoss", "")
    layer = net.layer_dict["judge"]
    layer.defer_checks = True
    for labels in ([0, 5, 1, 2], [0, 1, 2, 2], [-4, 1, 8, 2]):
        net.blobs["label"].data[...] = labels
        net.forward()                    # no exception: the check is deferred
    msg = layer.take_deferred_error()
    assert "label 5" in msg and "3 such label(s)" in msg
    assert layer.take_deferred_error() is None
