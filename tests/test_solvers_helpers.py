"""Shared fixtures for the solver / CLI / weights / distributed tests (no tests here).

``make_case(tmp, ...)`` writes a tiny classification problem into a folder: ``fcdata.py`` (a
deterministic pycaffe Python data layer that shards by fashioncaffe.distributed rank), ``net.prototxt``
and ``solver.prototxt``.  Batch ``t`` of process ``r`` in a run of ``W`` processes holds rows
``[(t·W + r)·B, (t·W + r + 1)·B)`` of a fixed pool, so W processes with batch B see exactly the
rows one process with ``iter_size = W`` sees.
"""
from __future__ import annotations

import os
import textwrap

DATA_LAYER = textwrap.dedent('''
    import json

    import numpy as np

    import caffe
    import fashioncaffe.distributed as fcd

    _POOL = {}


    def pool(dim, classes, seed=5, n=4096):
        key = (dim, classes, seed)
        if key not in _POOL:
            rs = np.random.RandomState(seed)
            labels = rs.randint(0, classes, size=n)
            x = rs.standard_normal((n, dim)).astype(np.float32)
            x[np.arange(n), labels % dim] += 2.0
            _POOL[key] = (x, labels.astype(np.float32))
        return _POOL[key]


    class SeqData(caffe.Layer):
        def setup(self, bottom, top):
            p = json.loads(self.param_str)
            self.batch, self.dim, self.classes = int(p["batch"]), int(p["dim"]), int(p["classes"])
            self.nan_at = int(p.get("nan_at", -1))
            self.t = 0

        def reshape(self, bottom, top):
            top[0].reshape(self.batch, self.dim)
            top[1].reshape(self.batch)

        def forward(self, bottom, top):
            x, y = pool(self.dim, self.classes)
            b = (self.t * fcd.world_size() + fcd.rank()) * self.batch
            idx = np.arange(b, b + self.batch) % len(x)
            top[0].data[...] = x[idx]
            top[1].data[...] = y[idx]
            if self.t == self.nan_at:
                top[0].data[...] = np.nan
            self.t += 1

        def backward(self, top, propagate_down, bottom):
            pass
''')

NET = textwrap.dedent('''
    name: "tiny"
    layer {{ name: "data" type: "Python" top: "data" top: "label"
            python_param {{ module: "fcdata" layer: "SeqData" param_str: '{param_str}' }} }}
    layer {{ name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
            param {{ lr_mult: 1 decay_mult: 1 }} param {{ lr_mult: 2 decay_mult: 0 }}
            inner_product_param {{ num_output: 6 weight_filler {{ type: "gaussian" std: 0.3 }}
                                  bias_filler {{ type: "constant" value: 0.1 }} }} }}
    layer {{ name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }}
    layer {{ name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
            inner_product_param {{ num_output: {classes} weight_filler {{ type: "gaussian" std: 0.3 }} }} }}
    layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }}
    layer {{ name: "acc" type: "Accuracy" bottom: "ip2" bottom: "label" top: "acc" include {{ phase: TEST }} }}
''')


def make_case(folder, solver="", batch=4, dim=5, classes=3, nan_at=-1, seed=3):
    """Write fcdata.py, net.prototxt, solver.prototxt into ``folder``; return the solver path."""
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "fcdata.py"), "w") as f:
        f.write(DATA_LAYER)
    ps = '{"batch": %d, "dim": %d, "classes": %d, "nan_at": %d}' % (batch, dim, classes, nan_at)
    with open(os.path.join(folder, "net.prototxt"), "w") as f:
        f.write(NET.format(param_str=ps, classes=classes))
    text = f'net: "{os.path.join(folder, "net.prototxt")}"\nrandom_seed: {seed}\n' + textwrap.dedent(solver)
    path = os.path.join(folder, "solver.prototxt")
    with open(path, "w") as f:
        f.write(text)
    return path


def params_of(net):
    import numpy as np

    return {f"{name}/{i}": np.array(b.data) for name, blobs in net.params.items() for i, b in enumerate(blobs)}
