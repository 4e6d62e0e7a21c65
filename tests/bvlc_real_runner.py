"""Run layer cases inside a real BVLC Caffe: ``python bvlc_real_runner.py SPEC.json IN.npz OUT.npz``.

Started by ``tests/test_layers_bvlc.py`` in a separate interpreter (``BVLC_PYTHON``, default the
test's own) whose ``import caffe`` must be BVLC's pycaffe (``caffe._caffe``), with the repository
root on PYTHONPATH so ``python_param { module: "layers.…" }`` imports our layer files unchanged.

Each case becomes a net: one Input layer holding the bottoms, the Python layer, ``force_backward:
true`` (so BVLC hands the layer ``propagate_down`` True for every bottom).  The runner fills the
inputs, runs ``net.forward()``, puts the given diffs on the tops, runs ``net.backward()`` and saves
``<id>/top<i>`` and ``<id>/diff<i>``.  It imports only numpy, json and caffe; ``--engine`` imports
fashioncaffe as ``caffe`` instead (a self-test of this runner, never a BVLC result).
"""
import json
import os
import sys
import tempfile

import numpy as np


def _shape_text(shape):
    return "shape { " + " ".join("dim: %d" % d for d in shape) + " }"


def net_text(case, shapes):
    """The prototxt of one case (string formatting only: BVLC's text format is the contract)."""
    n = len(shapes)
    lines = ['name: "%s"' % case["id"], "force_backward: true",
             'layer { name: "input" type: "Input" %s input_param { %s } }' % (
                 " ".join('top: "b%d"' % i for i in range(n)), " ".join(_shape_text(s) for s in shapes)),
             'layer { name: "%s" type: "Python" %s %s python_param { module: "%s" layer: "%s" param_str: %s } }' % (
                 case["id"], " ".join('bottom: "b%d"' % i for i in range(n)),
                 " ".join('top: "t%d"' % i for i in range(case["n_top"])),
                 case["module"], case["layer"], json.dumps(case["param_str"]))]
    return "\n".join(lines) + "\n"


def run(spec, arrays, caffe):
    out = {}
    caffe.set_mode_cpu()
    for case in spec["cases"]:
        cid = case["id"]
        inputs = [arrays["%s/in%d" % (cid, i)] for i in range(case["n_bottom"])]
        with tempfile.NamedTemporaryFile("w", suffix=".prototxt", delete=False) as f:
            f.write(net_text(case, [a.shape for a in inputs]))
            path = f.name
        try:
            net = caffe.Net(path, caffe.TRAIN if case["phase"] == 0 else caffe.TEST)
        finally:
            os.unlink(path)
        for i, a in enumerate(inputs):
            net.blobs["b%d" % i].data[...] = a
        net.forward()
        for i in range(case["n_top"]):
            out["%s/top%d" % (cid, i)] = np.array(net.blobs["t%d" % i].data, dtype=np.float32)
            net.blobs["t%d" % i].diff[...] = arrays["%s/topdiff%d" % (cid, i)]
        net.backward()
        for i in range(len(inputs)):
            out["%s/diff%d" % (cid, i)] = np.array(net.blobs["b%d" % i].diff, dtype=np.float32)
    return out


def main(argv):
    engine = "--engine" in argv
    spec_path, in_path, out_path = [a for a in argv if a != "--engine"]
    if engine:
        import fashioncaffe as caffe
    else:
        import caffe
        if not hasattr(caffe, "_caffe"):
            sys.exit("import caffe gave %s, not BVLC's pycaffe" % getattr(caffe, "__file__", caffe))
    with open(spec_path) as f:
        spec = json.load(f)
    arrays = dict(np.load(in_path))
    np.savez(out_path, **run(spec, arrays, caffe))


if __name__ == "__main__":
    main(sys.argv[1:])
