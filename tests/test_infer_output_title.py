"""An exported output's optional metadata ``title`` (e.g. the levels of a category hierarchy) is
what ``fashioncaffe infer`` prints in place of the output's kind; without one, the kind."""
import numpy as np

from fashioncaffe.infer import format_result, interpret


def test_title_replaces_the_kind_in_the_printed_result():
    parent = {"name": "prob_local1", "kind": "category", "labels": ["tops", "bottoms"], "title": "parent"}
    category = {"name": "prob_final", "kind": "category", "labels": ["Tee", "Jeans", "Skirt"]}
    res = {"image": "x.jpg", "ok": True,
           "outputs": {"prob_local1": interpret(parent, np.array([0.2, 0.8]), top_k=1),
                       "prob_final": interpret(category, np.array([0.1, 0.7, 0.2]), top_k=2)}}
    assert res["outputs"]["prob_local1"]["title"] == "parent" and "title" not in res["outputs"]["prob_final"]
    text = format_result(res)
    assert "  prob_local1 (parent): bottoms 0.8000" in text
    assert "  prob_final (category): Jeans 0.7000, Skirt 0.2000" in text
