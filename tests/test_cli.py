"""The fashioncaffe command line: train / test / time / device_query smoke tests, Caffe-format logs,
error exit status, the subcommand registry, and tools/parse_log.py + tools/plot_training.py."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe import cli, logging_caffe

sys.path.insert(0, os.path.dirname(__file__))
from test_solvers_helpers import make_case  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

GLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ [\w.]+:\d+\] ")


@pytest.fixture(autouse=True)
def _cpu():
    caffe.set_mode_cpu()
    yield
    caffe.set_mode_cpu()


SOLVER = ('base_lr: 0.1 lr_policy: "step" gamma: 0.5 stepsize: 4 momentum: 0.9 max_iter: 8 display: 2\n'
          'test_iter: 2 test_interval: 4 snapshot: 4 snapshot_prefix: "{d}/snap"\n')


def test_train_writes_caffe_log_and_snapshots(tmp_path):
    path = make_case(tmp_path, SOLVER.format(d=tmp_path))
    logf = tmp_path / "train.log"
    os.chdir(tmp_path)
    assert cli.main(["train", "--solver", path, "--log_file", str(logf)]) == 0
    text = logf.read_text()
    lines = text.splitlines()
    assert all(GLOG.match(l) for l in lines if l and not l.startswith((" ", "}")) and "] " in l[:60])
    for pat in (r"Iteration 0, loss = [\d.]+", r"Iteration 2, lr = 0\.1\b", r"Train net output #0: loss = [\d.]+ \(\* 1 = [\d.]+ loss\)",
                r"Iteration 4, Testing net \(#0\)", r"Test net output #0: acc = [\d.]+",
                r"Snapshotting to binary proto file .*snap_iter_4\.caffemodel", r"Optimization Done\."):
        assert re.search(pat, text), pat
    assert os.path.exists(tmp_path / "snap_iter_8.solverstate")

    # resume with Caffe's one-dash flags, and fine-tune from weights with --iterations
    assert cli.main(["train", "-solver", path, "-snapshot", str(tmp_path / "snap_iter_4.solverstate")]) == 0
    assert cli.main(["train", "--solver", path, "--weights", str(tmp_path / "snap_iter_8.caffemodel"),
                     "--iterations", "2"]) == 0
    # --snapshot_prefix replaces the solver file's prefix (the drivers pass each stage's own)
    os.makedirs(tmp_path / "stage")
    assert cli.main(["train", "--solver", path, "--iterations", "4", "--snapshot_prefix",
                     str(tmp_path / "stage" / "b")]) == 0
    assert os.path.exists(tmp_path / "stage" / "b_iter_4.caffemodel")

    # parse_log on the generated log: Caffe's table layout
    import parse_log

    train, test = parse_log.parse_log(str(logf))
    assert [r["NumIters"] for r in train] == [0, 2, 4, 6]
    assert list(train[0].keys()) == ["NumIters", "Seconds", "LearningRate", "loss"]
    assert [r["NumIters"] for r in test] == [0, 4, 8]
    assert {"acc", "loss"} <= set(test[0])
    assert train[-1]["LearningRate"] == pytest.approx(0.05)
    parse_log.main([str(logf), str(tmp_path)])
    assert (tmp_path / "train.log.train").read_text().startswith("NumIters,Seconds,LearningRate,loss")
    assert (tmp_path / "train.log.test").exists()

    import plot_training

    png = plot_training.plot(str(logf), str(tmp_path / "curve.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_test_and_time_commands(tmp_path, capsys):
    path = make_case(tmp_path, 'base_lr: 0.1 lr_policy: "fixed" max_iter: 2\n' + f'snapshot_prefix: "{tmp_path}/s"\n')
    os.chdir(tmp_path)
    assert cli.main(["train", "--solver", path]) == 0
    logf = tmp_path / "test.log"
    assert cli.main(["test", "--model", str(tmp_path / "net.prototxt"), "--weights", str(tmp_path / "s_iter_2.caffemodel"),
                     "--iterations", "3", "--log_file", str(logf)]) == 0
    text = logf.read_text()
    assert re.search(r"Batch 2, acc = [\d.]+", text)
    assert re.search(r"\] acc = [\d.]+\n", text)
    assert re.search(r"\] loss = [\d.]+ \(\* 1 = [\d.]+ loss\)", text)
    logf2 = tmp_path / "time.log"
    assert cli.main(["time", "-model", str(tmp_path / "net.prototxt"), "-iterations", "2", "--log_file", str(logf2)]) == 0
    t = logf2.read_text()
    for pat in (r"ip1\tforward: [\d.e-]+ ms\.", r"ip1\tbackward: [\d.e-]+ ms\.", r"Average Forward pass: ",
                r"Average Backward pass: ", r"Average Forward-Backward: ", r"Total Time: "):
        assert re.search(pat, t), pat
    assert cli.main(["device_query"]) == 0


def test_errors_print_message_and_exit_2(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "fashioncaffe", "train", "--solver", str(tmp_path / "missing.prototxt")],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 2
    assert "missing.prototxt" in r.stderr and "Traceback" not in r.stderr
    assert cli.main(["train", "--solver", "x", "--weights", "a", "--snapshot", "b"]) == 2


def test_register_command():
    seen = {}

    def add_args(p):
        p.add_argument("--value", type=int, default=1)

    def run(a):
        seen["value"] = a.value
        return 0

    cli.register_command("echo_for_test", add_args, run, help="test command")
    try:
        assert cli.main(["echo_for_test", "--value", "7"]) == 0
        assert seen["value"] == 7
    finally:
        cli._COMMANDS.pop("echo_for_test")


def test_log_line_format():
    line = logging_caffe.format_line("I", "Iteration 100, loss = 0.5", "solver.cpp:243")
    assert GLOG.match(line) and line.endswith("solver.cpp:243] Iteration 100, loss = 0.5")
    assert logging_caffe.fmt(np.float32(0.1)) == "0.1" and logging_caffe.fmt(1e-5) == "1e-05"


def test_a_command_plugin_that_fails_to_import_is_a_clear_error(monkeypatch, capsys):
    """Command discovery swallows nothing: a broken plugin names itself and its distribution, exit 2."""

    class BrokenEntryPoint:
        name, value = "broken", "broken_pkg.cli:register"
        dist = type("Dist", (), {"name": "broken-pkg"})()

        def load(self):
            raise ImportError("No module named 'broken_pkg'")

    monkeypatch.setattr(cli, "_DISCOVERED", False)
    monkeypatch.setattr(cli, "entry_points", lambda group: [BrokenEntryPoint()] if group == "fashioncaffe.commands"
                        else [])
    assert cli.main(["device_query"]) == 2
    err = capsys.readouterr().err
    assert "'broken'" in err and "broken-pkg" in err and "No module named 'broken_pkg'" in err
    assert "Traceback" not in err
