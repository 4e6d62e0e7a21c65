"""Run BVLC Caffe's own pycaffe tests and pycaffe examples, unmodified, on the engine.

    python -m tools.bvlc_upstream --caffe-root /path/to/BVLC/caffe [--work DIR] [--only tests|examples]

``--caffe-root`` is a checkout of BVLC/caffe (not built: its ``python/caffe`` package must not be
importable as ``caffe``, or it would be imported instead of the engine).  Nothing is downloaded and
the checkout is not written to (BVLC's test files run in place; pytest's caches are off).

* **tests**: every ``python/caffe/test/test_*.py`` in a fresh interpreter (``python -m pytest``
  from that folder, so ``import caffe`` goes through the installed shim to the engine); the
  summary line per file.
* **examples** (in a scratch copy of the checkout's ``examples/`` and the files they read, with the
  synthetic stand-ins of :mod:`tools.bvlc_standins` for MNIST, CaffeNet weights and synset words):
  ``examples/pycaffe`` (``linreg.prototxt`` with ``layers/pyloss.py``, checked against Caffe's
  Euclidean loss formula; ``caffenet.py``, whose nets are built and run forward), the ``examples/mnist`` nets (run forward
  in TRAIN and TEST, once per stage their layers name) and solvers (``fashioncaffe train`` for a few iterations), and the notebooks
  01-learning-lenet, net_surgery and 00-classification, their code cells run in order as Python 3
  (:mod:`tools.notebook_script`; what had to change is printed).  Without CUDA the notebooks'
  ``caffe.set_mode_gpu()`` runs as ``set_mode_cpu()`` (those cells need a GPU).

Exit status 0 when everything passed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import torch

from tools.bvlc_standins import make_caffenet_weights, make_mnist_lmdb, make_synset_words
from tools.notebook_script import notebook_cells, to_python3

TEST_FILES = ["test_net", "test_solver", "test_python_layer", "test_python_layer_with_param_str", "test_net_spec",
              "test_io", "test_layer_type_list", "test_coord_map", "test_draw", "test_nccl"]
NOTEBOOKS = ["01-learning-lenet", "net_surgery", "00-classification"]
CAFFENET = "models/bvlc_reference_caffenet"


def _env():
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    return env


def _run(cmd, cwd, timeout=3600, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def run_upstream_tests(caffe_root) -> list[dict]:
    """[{file, counts: {passed, failed, ...}, ok, summary}] for BVLC's pycaffe test files."""
    folder = os.path.join(caffe_root, "python", "caffe", "test")
    results = []
    for name in TEST_FILES:
        rc, out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{name}.py"], folder)
        summary = out.strip().splitlines()[-1] if out.strip() else ""
        counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}
        results.append({"name": name, "ok": rc == 0, "counts": counts, "summary": summary,
                        "output": out if rc else ""})
    return results


def prepare_work(caffe_root, work) -> None:
    """A scratch copy of what the examples read, with the stand-ins in place."""
    shutil.copytree(os.path.join(caffe_root, "examples"), os.path.join(work, "examples"))
    shutil.copytree(os.path.join(caffe_root, CAFFENET), os.path.join(work, CAFFENET))
    mean = os.path.join("python", "caffe", "imagenet", "ilsvrc_2012_mean.npy")
    os.makedirs(os.path.dirname(os.path.join(work, mean)))
    shutil.copy(os.path.join(caffe_root, mean), os.path.join(work, mean))
    mnist = os.path.join(work, "examples", "mnist")
    make_mnist_lmdb(os.path.join(mnist, "mnist_train_lmdb"), 1280, seed=1)
    make_mnist_lmdb(os.path.join(mnist, "mnist_test_lmdb"), 1000, seed=2)
    make_mnist_lmdb(os.path.join(work, "examples", "pycaffe", "standin_rgb_lmdb"), 4, seed=3, channels=3,
                    size=256)
    make_caffenet_weights(os.path.join(work, CAFFENET, "deploy.prototxt"),
                          os.path.join(work, CAFFENET, "bvlc_reference_caffenet.caffemodel"))
    make_synset_words(os.path.join(work, "data", "ilsvrc12", "synset_words.txt"))


_PYLOSS_CHECK = r"""
import numpy as np, caffe
net = caffe.Net('linreg.prototxt', caffe.TRAIN)
out = net.forward()
a, b = net.blobs['ipx'].data.copy(), net.blobs['ipy'].data.copy()
n = a.shape[0]
want = ((a - b) ** 2).sum() / n / 2.0
assert np.allclose(out['loss'], want, rtol=1e-5), (out['loss'], want)
net.backward()
assert np.allclose(net.blobs['ipx'].diff, (a - b) / n, rtol=1e-5, atol=1e-7)
assert np.allclose(net.blobs['ipy'].diff, -(a - b) / n, rtol=1e-5, atol=1e-7)
x = net.blobs['x'].data.reshape(n, -1)
assert np.allclose(net.params['ipx'][0].diff, ((a - b) / n).T @ x, rtol=1e-4, atol=1e-6)
print('pyloss: loss', np.asarray(out['loss']).item(), 'and gradients equal Caffe EuclideanLoss formulas')
"""

_CAFFENET_CHECK = r"""
import caffe
from caffe.proto import caffe_pb2
from google.protobuf import text_format
for name, phase in (('train.prototxt', caffe.TRAIN), ('test.prototxt', caffe.TEST)):
    p = caffe_pb2.NetParameter(); text_format.Merge(open(name).read(), p)
    p.layer[0].data_param.source = 'standin_rgb_lmdb'   # the script names a placeholder path
    p.layer[0].data_param.batch_size = 2
    net = caffe.Net(p, phase)
    out = net.forward()
    print(name, 'runs:', len(net.layers), 'layers, outputs', {k: float(v) for k, v in out.items()})
"""


_NET_CHECK = r"""
import caffe
from caffe.proto import caffe_pb2
from google.protobuf import text_format
path = 'examples/mnist/%s'
p = caffe_pb2.NetParameter(); text_format.Merge(open(path).read(), p)
stages = sorted({s for l in p.layer for r in l.include for s in r.stage}) or [None]
for phase in (caffe.TRAIN, caffe.TEST):
    for stage in stages:
        n = caffe.Net(path, phase, stages=[stage] if stage else [])
        out = n.forward()
        print(path, phase, stage, {k: v.shape for k, v in out.items()})
"""


def _python(code, cwd, extra_path=None):
    env = _env()
    if extra_path:
        env["PYTHONPATH"] = extra_path
    return _run([sys.executable, "-c", code], cwd, env=env)


def _result(name, rc, out):
    return {"name": name, "ok": rc == 0, "summary": (out.strip().splitlines() or [""])[-1], "output": out if rc else ""}


def run_examples(work, parts=("pycaffe", "mnist", "notebooks")) -> list[dict]:
    """The examples (``parts`` of them) in a prepared scratch copy ``work``."""
    results = []

    def record(name, rc, out):
        results.append(_result(name, rc, out))

    if "pycaffe" in parts:
        _pycaffe_examples(work, record)
    if "mnist" in parts:
        _mnist_examples(work, record)
    if "notebooks" in parts:
        for nb in NOTEBOOKS:
            record(f"examples/{nb}.ipynb", *run_notebook(work, nb))
    return results


def _pycaffe_examples(work, record):
    pycaffe = os.path.join(work, "examples", "pycaffe")
    record("examples/pycaffe: linreg.prototxt + layers/pyloss.py",
           *_python(_PYLOSS_CHECK, pycaffe, extra_path=os.path.join(pycaffe, "layers")))
    rc, out = _run([sys.executable, "caffenet.py"], pycaffe)
    if rc == 0:
        rc, out = _python(_CAFFENET_CHECK, pycaffe)
    record("examples/pycaffe: caffenet.py", rc, out)


def _mnist_examples(work, record):
    mnist = os.path.join(work, "examples", "mnist")
    for f in sorted(os.listdir(mnist)):
        # (the *_auto_train/test nets are what 01-learning-lenet writes, relative to examples/)
        if f.endswith(".prototxt") and "solver" not in f and not re.search(r"_auto_(train|test)\.", f):
            record(f"examples/mnist/{f} (TRAIN, and TEST per stage)", *_python(_NET_CHECK % f, work))
    for f in sorted(os.listdir(mnist)):
        if f.endswith(".prototxt") and "solver" in f and "auto_solver" not in f:
            record(f"examples/mnist/{f} (train 10 iterations)",
                   *_run([sys.executable, "-m", "fashioncaffe", "train", "--solver", f"examples/mnist/{f}",
                          "--iterations", "10"], work))


def _shell_standin(command):
    if command.startswith("cat "):
        return f"print(open({command[4:].strip()!r}).read())"
    if command.startswith("wget") and "image.jpg" in command:
        return "import shutil; shutil.copy('images/cat.jpg', 'image.jpg')  # stand-in: no download"
    return None  # downloads and data preparation: the stand-ins are already in place


def notebook_script(path, gpu: bool):
    """(python3 cells, changes) of one notebook."""
    replacements = [("test_interval = niter / 10", "test_interval = niter // 10")]  # Python 2's int division
    if not gpu:
        replacements.append(("caffe.set_mode_gpu()", "caffe.set_mode_cpu()"))
    changes = []
    cells = [to_python3(c, _shell_standin, replacements, changes) for c in notebook_cells(path)]
    return cells, changes


_CELL_RUNNER = r"""
import json, sys, traceback
cells = json.load(open(sys.argv[1]))
ns = {'__name__': '__main__'}
for i, src in enumerate(cells):
    try:
        exec(compile(src, '<cell %d>' % i, 'exec'), ns)
    except Exception:
        traceback.print_exc()
        print('cell %d of %d failed' % (i, len(cells)))
        sys.exit(1)
print('all %d cells ran' % len(cells))
"""


def run_notebook(work, name):
    examples = os.path.join(work, "examples")
    cells, changes = notebook_script(os.path.join(examples, f"{name}.ipynb"), torch.cuda.is_available())
    script = os.path.join(work, f"{name}.cells.json")
    with open(script, "w") as f:
        json.dump(cells, f)
    rc, out = _run([sys.executable, "-c", _CELL_RUNNER, script], examples)
    verdict = [line for line in out.splitlines() if re.match(r"(all \d+ cells ran|cell \d+ of \d+ failed)", line)]
    notes = "".join(f"\n  not as written: {c}" for c in sorted(set(changes)))
    return rc, out + notes + "\n" + (verdict[-1] if verdict else "no verdict")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--caffe-root", required=True, help="a checkout of BVLC/caffe")
    ap.add_argument("--work", default=None, help="scratch folder for the examples (default: a temporary one)")
    ap.add_argument("--only", choices=["tests", "examples", "pycaffe", "mnist", "notebooks"], default=None,
                    help="one part (examples = pycaffe + mnist + notebooks)")
    ap.add_argument("--reuse-work", action="store_true", help="--work is already prepared: skip the stand-ins")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the output of what failed")
    a = ap.parse_args(argv)
    results = []
    if a.only in (None, "tests"):
        results += run_upstream_tests(a.caffe_root)
    parts = ("pycaffe", "mnist", "notebooks") if a.only in (None, "examples") else (a.only,)
    if a.only != "tests":
        work = a.work or tempfile.mkdtemp(prefix="bvlc_examples_")
        if not a.reuse_work:
            prepare_work(a.caffe_root, work)
        results += run_examples(work, parts)
    for r in results:
        print(f"{'PASS' if r['ok'] else 'FAIL'}  {r['name']}: {r['summary']}")
        if a.verbose and not r["ok"]:
            print(r["output"])
    failed = [r for r in results if not r["ok"]]
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
