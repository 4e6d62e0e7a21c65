"""Paper 001's FashionNet on paper 002's test split, where that run exists: Table 1's FashionNet row.

Paper 001 converts the same C&A benchmark of the same data source and data scale (without the
bounding-box crop), so its test images carry the same keys and labels; its ``category`` task
(predictions.npz of ``runs/paper001/<data>-<scale>/fn/seed<N>/``) is re-scored here on our test
items.  Any difference in the set of keys or in their labels means a different split: no row.
"""
from __future__ import annotations

import glob
import os

import numpy as np

from . import metrics
from ..repro import results
from ..repro.layout import Experiment


def lookup(exp, our_ids, our_labels):
    """({"top3": [...], "top5": [...], "source": folder, "arch": str, "seeds": [...]}, None) or (None, reason)."""
    from ..repro.registry import PAPERS

    if "001" not in PAPERS:
        return None, "paper 001 is not on the framework"
    p1 = Experiment("001", "tiny").config
    scales = [s for s, c in p1.SCALES.items() if not c.get("smoke") and c.get("data_scale", s) == exp.data_scale]
    reasons = []
    for scale in scales:
        other = Experiment("001", scale, data=exp.data)
        files = sorted(glob.glob(os.path.join(other.out_dir, "fn", "seed*", results.PREDICTIONS)))
        if not files:
            reasons.append(f"no FashionNet run in {other.out_dir}/fn")
            continue
        order = {k: i for i, k in enumerate(our_ids)}
        out = {"top3": [], "top5": [], "seeds": [], "source": other.out_dir,
               "arch": f"paper 001 scale {scale}: {other.cfg.get('arch', '')}"}
        for path in files:
            cat = results.load_predictions(path)["category"]
            if sorted(cat["ids"]) != sorted(our_ids):
                reasons.append(f"{path}: a different test split ({len(cat['ids'])} vs {len(our_ids)} images)")
                break
            idx = np.array([order[k] for k in cat["ids"]])
            if not np.array_equal(np.asarray(cat["labels"]).reshape(-1), np.asarray(our_labels)[idx]):
                reasons.append(f"{path}: the same images with other category labels")
                break
            for k in (3, 5):
                out[f"top{k}"].append(metrics.topk_accuracy(cat["scores"], cat["labels"], k))
            out["seeds"].append(os.path.basename(os.path.dirname(path)))
        else:
            return out, None
    return None, "; ".join(reasons) or f"paper 001 has no scale on the {exp.data_scale} data"
