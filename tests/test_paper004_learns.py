"""Paper 004 learns (slow: ~30-60 min on 2 busy CPU cores): the tiny proposed net, trained on the tiny
wardrobe's Shopping100k catalogue (attr 200 + joint 100 iterations), retrieves the validation images'
exact attribute matches well above a random ranking, directly and after manipulations."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.paper004 import config, data, evaluate, train  # noqa: E402

pytestmark = pytest.mark.slow


def test_proposed_beats_random_ranking(tmp_path, monkeypatch):
    monkeypatch.setitem(config.SCALES, "tiny", dict(config.SCALES["tiny"], iters=dict(attr=200, joint=100)))
    droot = data.prepare("synthetic", "tiny", seed=0, root=str(tmp_path), progress=False)
    info = train.train_variant(droot, "tiny", 1, "proposed", str(tmp_path / "run"), log=lambda m: None)
    spec, _ = train.attr_spec(droot)
    res, pred = evaluate.evaluate_variant(droot, "tiny", info["deploy"], info["weights"], "proposed", spec,
                                          queries="val", repeats=5)
    assert res["direct"]["tasks"] > 50 and res["enumerated"]["tasks"] > 100
    assert res["direct"]["top20"] > 2 * res["direct"]["random_top20"]
    assert res["enumerated"]["top20"] > 2 * res["enumerated"]["random_top20"]
    assert res["manip1"]["top20"] > res["manip1"]["random_top20"]
    assert len(pred["direct_ranked"]) == res["direct"]["tasks"] and pred["direct_ranked"].shape[1] == 50
