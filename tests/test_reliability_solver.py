"""Solver settings and command-line counts (issue 20): what BVLC Caffe accepts (a negative base_lr,
momentum >= 1, clip_gradients 0, a TRAIN net without a loss) is honoured with one warning naming the
file, line and field; what trains or measures nothing (max_iter 0, --iterations <= 0, time/test
--iterations < 1, infer --batch-size 0) exits with status 2 and a message naming the flag or field."""
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe import cli
from fashioncaffe.errors import FashionCaffeError

NET = '''
layer { name: "x" type: "DummyData" top: "x" top: "label" dummy_data_param { shape { dim: 4 dim: 5 }
  shape { dim: 4 } data_filler { type: "gaussian" std: 1 } data_filler { type: "constant" value: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 3
  weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
'''


@pytest.fixture(autouse=True)
def _cpu():
    caffe.set_mode_cpu()


def _solver_file(tmp_path, settings, net=NET):
    (tmp_path / "net.prototxt").write_text(net)
    path = tmp_path / "solver.prototxt"
    path.write_text(f'net: "{tmp_path}/net.prototxt"\nlr_policy: "fixed"\nmax_iter: 3\n'
                    f'snapshot_prefix: "{tmp_path}/s"\nrandom_seed: 1\n{settings}\n')
    return path


@pytest.mark.parametrize("settings,line,words", [
    ("base_lr: -0.01", 6, ["base_lr is -0.01", "negative", "BVLC Caffe accepts it"]),
    ("base_lr: 0.01\nmomentum: 1.0", 7, ["momentum is 1;", "never decays", "BVLC Caffe accepts it"]),
    ("base_lr: 0.01\nmomentum: -0.5", 7, ["momentum is -0.5;"]),
    ('type: "AdaDelta"\nbase_lr: 1\nmomentum: 1', 8, ["momentum is 1;"]),
    ("base_lr: 0.01\nclip_gradients: 0", 7, ["clip_gradients is 0", "norm 0", "-1"]),
], ids=["negative_base_lr", "momentum_1", "negative_momentum", "adadelta_momentum_1", "clip_0"])
def test_dubious_solver_setting_is_honoured_with_one_warning(tmp_path, capsys, settings, line, words):
    path = _solver_file(tmp_path, settings)
    solver = caffe.get_solver(str(path))
    w0 = solver.net.params["ip"][0].data.copy()
    solver.solve()
    caffe.get_solver(str(path))                              # a second solver: no second warning
    err = capsys.readouterr().err
    field = words[0].split()[0]
    assert err.count(f"{path}, line {line} ({field})") == 1, err
    for w in words:
        assert w in err
    assert solver.iter == 3
    if "clip" not in settings:
        assert not np.array_equal(solver.net.params["ip"][0].data, w0)   # it trained, as BVLC would


def test_train_net_without_loss_warns(tmp_path, capsys):
    net = NET.replace('type: "SoftmaxWithLoss"', 'type: "Softmax"').replace('bottom: "label" top: "loss"', 'top: "p"')
    net = net.replace('layer { name: "loss" type: "Softmax" bottom: "ip" top: "p" }',
                      'layer { name: "sm" type: "Softmax" bottom: "ip" top: "p" }\n'
                      'layer { name: "sil" type: "Silence" bottom: "label" }')
    path = _solver_file(tmp_path, "base_lr: 0.1", net)
    caffe.get_solver(str(path)).solve()
    err = capsys.readouterr().err
    assert f"{path}: the TRAIN net" in err and "has no loss" in err and "BVLC Caffe trains it anyway" in err


def test_max_iter_zero_trains_nothing_and_fails(tmp_path, capsys):
    path = _solver_file(tmp_path, "base_lr: 0.1").read_text().replace("max_iter: 3", "max_iter: 0")
    (tmp_path / "solver.prototxt").write_text(path)
    rc = cli.main(["train", "--solver", str(tmp_path / "solver.prototxt")])
    err = capsys.readouterr().err
    assert rc == 2 and f"{tmp_path}/solver.prototxt, line 3 (max_iter): max_iter is 0" in err
    assert "Optimization Done" not in err
    assert not list(tmp_path.glob("s_iter_*"))


@pytest.mark.parametrize("value", ["-5", "0"])
def test_train_iterations_must_be_positive(tmp_path, capsys, value):
    path = _solver_file(tmp_path, "base_lr: 0.1")
    rc = cli.main(["train", "--solver", str(path), "--iterations", value])
    err = capsys.readouterr().err
    assert rc == 2 and f"--iterations {value}: training needs a positive number" in err


def test_resuming_a_finished_run_says_there_is_nothing_left(tmp_path, capsys):
    path = _solver_file(tmp_path, "base_lr: 0.1")
    assert cli.main(["train", "--solver", str(path)]) == 0
    rc = cli.main(["train", "--solver", str(path), "--snapshot", str(tmp_path / "s_iter_3.solverstate")])
    err = capsys.readouterr().err
    assert rc == 2 and "s_iter_3.solverstate is at iteration 3 and max_iter is 3: there is nothing left" in err


@pytest.mark.parametrize("command", ["time", "test"])
@pytest.mark.parametrize("value", ["-2", "0"])
def test_time_and_test_iterations_must_be_positive(tmp_path, capsys, command, value):
    _solver_file(tmp_path, "base_lr: 0.1")
    args = [command, "--model", str(tmp_path / "net.prototxt"), "--iterations", value]
    if command == "test":
        args += ["--weights", str(tmp_path / "w.caffemodel")]
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--iterations" in err and f"{value}: must be at least 1" in err


def test_infer_batch_size_must_be_positive(tmp_path, capsys):
    rc = cli.main(["infer", "--onnx", str(tmp_path / "m.onnx"), str(tmp_path), "--batch-size", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "--batch-size 0: must be at least 1" in err
    from fashioncaffe.infer import Predictor

    with pytest.raises(FashionCaffeError, match="batch_size 0 must be at least 1"):
        Predictor.predict(object.__new__(Predictor), [], batch_size=0)
