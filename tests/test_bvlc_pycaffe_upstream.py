"""BVLC Caffe's own pycaffe tests and examples, unmodified, on the engine (:mod:`tools.bvlc_upstream`).

They need a checkout of BVLC/caffe, which this repository does not ship (its files are BVLC's):
point ``BVLC_CAFFE_ROOT`` at one to run them.  Without it these tests are skipped -- never counted
as passes.  Our own tests of every point they exercise are in ``tests/test_pycaffe_semantics.py``.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tools import bvlc_upstream  # noqa: E402

CAFFE_ROOT = os.environ.get("BVLC_CAFFE_ROOT", "")
needs_checkout = pytest.mark.skipif(
    not os.path.isdir(os.path.join(CAFFE_ROOT, "python", "caffe", "test")),
    reason="BVLC_CAFFE_ROOT does not name a BVLC/caffe checkout (its tests are BVLC's files, not shipped here)")


@pytest.mark.slow
@needs_checkout
@pytest.mark.parametrize("name", bvlc_upstream.TEST_FILES)
def test_bvlc_pycaffe_test_file_passes(name, monkeypatch):
    monkeypatch.setattr(bvlc_upstream, "TEST_FILES", [name])
    (result,) = bvlc_upstream.run_upstream_tests(CAFFE_ROOT)
    assert result["ok"] and result["counts"].get("passed", 0) > 0, result["output"] or result["summary"]


@pytest.mark.slow
@needs_checkout
def test_bvlc_pycaffe_examples_run(tmp_path):
    bvlc_upstream.prepare_work(CAFFE_ROOT, str(tmp_path))
    results = bvlc_upstream.run_examples(str(tmp_path))
    failed = [f"{r['name']}:\n{r['output'][-3000:]}" for r in results if not r["ok"]]
    assert not failed, "\n\n".join(failed)
