"""Scores of a trained style (or pre-training) net on a whole split, through the net's own TEST-phase
data layer (StyleData: records in key order, centre crop), so evaluation sees exactly the pixels the
validation during training saw.

    scores, labels = predict(train_val, weights, source="lmdb/jd/test", count=n)

``source`` swaps the split the TEST data layer reads (its param_str ``source``); the last batch wraps
around the split, and only the first ``count`` rows are kept.
"""
from __future__ import annotations

import json
import math

import numpy as np
from scipy.special import expit


def with_test_source(net_param, source, batch_size=None):
    """Copy of a train_val NetParameter whose TEST-phase StyleData layer reads ``source``."""
    from fashioncaffe.proto import caffe_pb2

    out = caffe_pb2.NetParameter()
    out.CopyFrom(net_param)
    found = False
    for lp in out.layer:
        if lp.type == "Python" and lp.python_param.layer == "StyleData" and any(r.phase == 1 for r in lp.include):
            p = json.loads(lp.python_param.param_str)
            p["source"] = source
            if batch_size:
                p["batch_size"] = int(batch_size)
            lp.python_param.param_str = json.dumps(p, sort_keys=True)
            found = True
    if not found:
        raise ValueError("the net has no TEST-phase StyleData layer to point at another split")
    return out


def predict(train_val, weights, count, source=None, batch_size=None, score_blob=None, label_blob="label"):
    """(sigmoid scores N × K, labels N × K) of the first ``count`` records of the TEST split (or of
    ``source``); ``score_blob`` defaults to fc_style, else fc_attr."""
    import fashioncaffe as caffe
    from fashioncaffe.prototxt import read_net_param

    param = read_net_param(train_val) if isinstance(train_val, str) else train_val
    if source is not None or batch_size:
        src = source or json.loads(next(lp for lp in param.layer if lp.name == "data_val").python_param.param_str)["source"]
        param = with_test_source(param, src, batch_size)
    net = caffe.Net(param, weights, caffe.TEST)
    score_blob = score_blob or ("fc_style" if "fc_style" in net.blobs else "fc_attr")
    bs = net.blobs[label_blob].shape[0]
    scores, labels = [], []
    for _ in range(math.ceil(count / bs)):
        net.forward()
        scores.append(np.asarray(net.blobs[score_blob].data, np.float64).reshape(bs, -1))
        labels.append(np.array(net.blobs[label_blob].data, copy=True).reshape(bs, -1))   # the blob is reused by the next forward
    s = np.concatenate(scores)[:count]
    return expit(s), np.concatenate(labels)[:count]   # expit: no overflow for very negative scores
