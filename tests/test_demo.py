"""`make demo`'s chain (tools/demo.py) at scale ci, in the folder where paper 000's ci run already made
the data and trained the net (tests/conftest.py's ``paper_ci``), so the demo reuses them: what it
prints and writes is checked, and it fails when onnxruntime and the engine disagree or nothing was
compared."""
import os
import re

import numpy as np
import pytest

from tools import demo


@pytest.fixture
def in_paper000_ci(paper_ci, monkeypatch):
    folder = paper_ci("000")
    monkeypatch.chdir(folder)
    return folder


def test_demo_outputs_say_what_ran(in_paper000_ci, capfd):
    experiment_table = os.path.join("runs", "paper000", "synthetic-ci", "table2.md")
    before = open(experiment_table).read()

    from fashioncaffe import logging_caffe

    level = logging_caffe.min_level()
    assert demo.main(["--scale", "ci", "--out", "runs/demo"]) == 0
    out = capfd.readouterr().out
    assert logging_caffe.min_level() == level  # the demo quiets the engine's check, then restores the level

    # the summary's paths exist; meta.json where the summary says
    listed = dict(re.findall(r"^  (meta\.json \(labels, preprocessing\)|LMDBs|mAP@50 table|ONNX model|predictions drawn)"
                             r"\s+(\S+)$", out, re.M))
    assert len(listed) == 5, out[-2000:]
    for path in listed.values():
        assert os.path.exists(path), path
    assert listed["meta.json (labels, preprocessing)"].endswith("meta.json")
    assert len([f for f in os.listdir(listed["predictions drawn"]) if f.endswith(".png")]) == 6

    # the table: only the net that ran, its iterations, the command that made it, degenerate groups marked
    table = open(listed["mAP@50 table"]).read()
    assert "by `python -m tools.demo --scale ci --seed 1`" in table
    assert "Multi-weight ours (18 it)" in table and "Multi-task" not in table.split("### ")[1]
    assert "Not run at this scale / selection: Multi-label, Multi-task (left out of the table)." in table
    assert "**" not in "".join(ln for ln in table.splitlines() if ln.startswith("|") and "Mean" not in ln)
    assert "training seed 1" in out and "18 iterations" in out
    assert "- **This table (`make demo`)**: paper 000's Table II for the one net the demo trains" in table
    # the experiment's own table (both ci nets) is left alone
    assert open(experiment_table).read() == before

    # predictions: a few lines per image with the ground truth beside them
    assert re.search(r"images/\S+\.jpg +top-1 right in \d+ of \d+ labelled group", out)
    assert "truth: " in out
    m = re.search(r"onnxruntime vs the engine on these images: (\d+) outputs compared, largest relative difference "
                  r"(\S+) ", out)
    assert m and int(m.group(1)) == 24 and float(m.group(2)) <= 1e-4

    # the demo converts only the data set it trains on
    assert os.listdir(os.path.join("runs", "paper000", "data", "synthetic-tiny", "conv")) == ["all"]


@pytest.mark.parametrize("engine", [{"elsewhere": np.ones(3)}, {"fc8_color_prob": None}])
def test_demo_fails_when_onnx_and_engine_disagree_or_nothing_is_compared(in_paper000_ci, monkeypatch, capfd, engine):
    def outputs(onnx_path, net_path, weights, images):
        onnx = {"fc8_color_prob": np.ones(3)}
        return onnx, {k: (np.ones(3) * 1.001 if v is None else v) for k, v in engine.items()}

    monkeypatch.setattr(demo, "_outputs_of_both", outputs)
    assert demo.main(["--scale", "ci", "--out", "runs/demo_disagree"]) == 1
    out = capfd.readouterr().out
    assert "FAILED: onnxruntime vs the engine" in out
    assert ("nothing compared" in out) if "elsewhere" in engine else ("differ by more than 0.0001" in out)
