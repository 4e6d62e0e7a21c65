"""Every custom layer in ``layers/`` runs as BVLC Caffe runs it, with the engine's numbers.

* the stand-ins behave as BVLC's pycaffe objects (vectors not iterable, float32 blobs, IntVec shape);
* every ``caffe.Layer`` class in ``layers/`` has a case in ``bvlc_layer_cases.py``;
* each case, run through the BVLC stand-in harness (BVLC's life cycle: setup on zero bottoms,
  reshape before forward, stale bottom diffs), gives the engine's tops and bottom diffs, on the
  engine's tensor path and on its numpy path (whose adapter hands the same non-iterable vectors);
* a third-party layer that iterates its bottoms fails in the engine as in BVLC (TypeError), noted with its name;
* with BVLC's pycaffe importable (``BVLC_PYTHON``), every case runs inside real BVLC Caffe and gives
  the engine's numbers -- otherwise that test is skipped, and says so.
"""
import glob
import importlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fashioncaffe as caffe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bvlc_harness import assert_same_numbers, run_engine, run_standin  # noqa: E402
from bvlc_layer_cases import CASES, DATA_LAYERS_COVERED_ELSEWHERE  # noqa: E402
from layer_testing import BlobVector, BoolVector, FBlob, IntVec  # noqa: E402

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bvlc_real_runner.py")


# ---------------------------------------------------------------------------------------------
# the stand-ins
def test_blob_vector_is_indexable_not_iterable():
    blobs = [FBlob(np.zeros(2)), FBlob(np.ones(3)), FBlob(np.zeros(1))]
    v = BlobVector(blobs)
    assert len(v) == 3 and v[1] is blobs[1] and v[-1] is blobs[2]
    assert isinstance(v[1:], BlobVector) and len(v[1:]) == 2 and v[1:][0] is blobs[1]
    for bad in (lambda: list(v), lambda: [b for b in v], lambda: zip([1, 2, 3], v), lambda: any(v),
                lambda: blobs[0] in v, lambda: list(v[:2])):
        with pytest.raises(TypeError, match="not"):
            bad()
    with pytest.raises(TypeError):
        v[np.int64(0)]          # boost extracts a C long: a numpy integer is refused
    with pytest.raises(IndexError):
        v[3]
    with pytest.raises(IndexError):
        v[::2]                  # boost: "slice step size not supported."


def test_bool_vector_indexes_to_bool_and_does_not_iterate():
    pd = BoolVector([1, 0])
    assert pd[0] is True and pd[1] is False and pd[-1] is False and len(pd) == 2
    assert True in pd and isinstance(pd[:1], BoolVector)
    with pytest.raises(TypeError, match="std::_Bit_reference"):
        any(pd)
    with pytest.raises(TypeError):
        a, b = pd


def test_fblob_is_pycaffe_blob_float32_with_caffe_reshape():
    b = FBlob(np.arange(6.0).reshape(2, 3))
    assert b.data.dtype == np.float32 and b.diff.dtype == np.float32 and b.count == 6
    assert isinstance(b.shape, IntVec) and tuple(b.shape) == (2, 3) and b.shape != (2, 3)
    n, c = b.shape
    assert (n, c) == (2, 3) and np.zeros(b.shape).shape == (2, 3) and b.num == 2 and b.height == 1
    b.reshape(3)                                  # fits the capacity: memory kept, reinterpreted
    np.testing.assert_array_equal(b.data, [0, 1, 2])
    b.reshape(2, 4)                               # grows: fresh zeroed memory
    assert not b.data.any()
    with pytest.raises(TypeError):
        b.reshape(np.int64(2))                    # bp::extract<int> refuses numpy integers
    with pytest.raises(TypeError):
        b.reshape((2, 4))                         # and a tuple
    with pytest.raises(AttributeError):
        b.data = np.zeros((2, 4))                 # pycaffe's data has no setter
    top = FBlob()
    assert top.count == 0
    with pytest.raises(RuntimeError, match="never reshaped"):
        top.data
    top.reshape()
    assert top.data.shape == () and top.count == 1


# ---------------------------------------------------------------------------------------------
# every layer has a case
def _custom_layer_classes():
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "layers", "*.py"))):
        name = "layers." + os.path.splitext(os.path.basename(path))[0]
        mod = importlib.import_module(name)
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, caffe.Layer) and obj.__module__ == name:
                found.append((name, obj.__name__))
    return found


def test_every_custom_layer_has_a_bvlc_case():
    classes = _custom_layer_classes()
    assert ("layers.gamma_task", "GammaTaskWeighting") in classes   # the discovery itself works
    covered = {(c.module, c.layer) for c in CASES} | set(DATA_LAYERS_COVERED_ELSEWHERE)
    missing = [f"{m}.{c}" for m, c in classes if (m, c) not in covered]
    assert not missing, (f"custom layers without a BVLC case: {', '.join(missing)} -- add a LayerCase for each "
                         "to tests/bvlc_layer_cases.py (see its docstring)")
    assert len({c.id for c in CASES}) == len(CASES)
    for (module, layer), test in DATA_LAYERS_COVERED_ELSEWHERE.items():
        path, _, name = test.partition("::")
        assert f"def {name}(" in open(os.path.join(ROOT, path)).read(), f"{module}.{layer}: {test} does not exist"


# ---------------------------------------------------------------------------------------------
# stand-in vs engine
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_layer_in_bvlc_standin_gives_engine_numbers(case):
    inputs = case.inputs()
    standin = run_standin(case, inputs)
    tops, diffs = standin
    for i, d in enumerate(diffs):
        assert d is None or np.all(np.isfinite(d)), \
            f"{case.id}: backward left bottom {i}'s diff unwritten (BVLC leaves stale values there)"
    assert any(d is not None and np.abs(d).sum() > 0 for d in diffs), f"{case.id}: no gradient reaches a bottom"
    assert_same_numbers(case, run_engine(case, inputs, case.top_diffs([t.shape for t in tops]), "numpy"),
                        standin, "engine numpy path vs stand-in")
    engine_tensor = run_engine(case, inputs, case.top_diffs([t.shape for t in tops]), "tensor")
    assert_same_numbers(case, engine_tensor, standin, "engine tensor path vs stand-in")


def test_engine_names_a_layer_that_iterates_its_bottoms(tmp_path):
    (tmp_path / "iterating_layer.py").write_text(textwrap.dedent("""
        import caffe
        class SumAll(caffe.Layer):
            def setup(self, bottom, top):
                pass
            def reshape(self, bottom, top):
                top[0].reshape(*bottom[0].data.shape)
            def forward(self, bottom, top):
                top[0].data[...] = sum(b.data for b in bottom)
    """))
    net_path = tmp_path / "net.prototxt"
    net_path.write_text('layer { name: "in" type: "Input" top: "a" top: "b" '
                        'input_param { shape { dim: 2 } shape { dim: 2 } } }\n'
                        'layer { name: "adder" type: "Python" bottom: "a" bottom: "b" top: "s" '
                        'python_param { module: "iterating_layer" layer: "SumAll" } }\n')
    sys.path.insert(0, str(tmp_path))
    try:
        net = caffe.Net(str(net_path), caffe.TEST)
        with pytest.raises(TypeError) as err:      # what BVLC raises, reaching the caller as itself
            net.forward()
    finally:
        sys.path.remove(str(tmp_path))
    msg = str(err.value)
    note = " ".join(getattr(err.value, "__notes__", []))
    assert "'adder'" in note and "iterating_layer.SumAll" in note and "forward()" in note
    assert "not" in msg and "iterat" in msg and "bottom of layer 'adder'" in msg


# ---------------------------------------------------------------------------------------------
# real BVLC Caffe
def _bvlc_python():
    return os.environ.get("BVLC_PYTHON", sys.executable)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _bvlc_unavailable_reason():
    py = _bvlc_python()
    probe = subprocess.run([py, "-c", "import caffe, caffe._caffe; print(caffe.__file__)"], env=_env(),
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return (f"BVLC Caffe's pycaffe is not importable by {py} ({last}); set BVLC_PYTHON to an interpreter "
                "with BVLC's `caffe` to run every layer case inside real BVLC Caffe")
    return None


def _write_spec(tmp_path):
    spec, arrays, want = {"cases": []}, {}, {}
    for case in CASES:
        inputs = case.inputs()
        standin_tops, _ = run_standin(case, inputs)
        diffs = case.top_diffs([t.shape for t in standin_tops])
        spec["cases"].append({"id": case.id, "module": case.module, "layer": case.layer,
                              "param_str": case.param_str, "phase": case.phase, "n_top": case.n_top,
                              "n_bottom": len(inputs)})
        arrays.update({f"{case.id}/in{i}": a for i, a in enumerate(inputs)})
        arrays.update({f"{case.id}/topdiff{i}": d for i, d in enumerate(diffs)})
        # under force_backward BVLC asks every bottom of a Python layer for its gradient
        want[case.id] = run_engine(case, inputs, diffs, "tensor", need=[True] * len(inputs))
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    np.savez(tmp_path / "in.npz", **arrays)
    return want


def _run_runner(tmp_path, python, extra=()):
    done = subprocess.run([python, RUNNER, *extra, str(tmp_path / "spec.json"), str(tmp_path / "in.npz"),
                           str(tmp_path / "out.npz")], env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(tmp_path / "out.npz"))


def _compare_runner_output(got, want):
    for case in CASES:
        tops, diffs = want[case.id]
        g_tops = [got[f"{case.id}/top{i}"] for i in range(len(tops))]
        g_diffs = [got[f"{case.id}/diff{i}"] for i in range(len(diffs))]
        assert_same_numbers(case, (g_tops, g_diffs), (tops, diffs), "BVLC run vs engine")


def test_every_layer_case_in_real_bvlc_caffe(tmp_path):
    reason = _bvlc_unavailable_reason()
    if reason:
        pytest.skip(reason)
    want = _write_spec(tmp_path)
    _compare_runner_output(_run_runner(tmp_path, _bvlc_python()), want)


def test_real_bvlc_runner_itself_with_the_engine_standing_in(tmp_path):
    """The runner's own code path (prototxt, pycaffe calls) checked with the engine as `caffe`: a test of
    the runner, not a BVLC result."""
    want = _write_spec(tmp_path)
    _compare_runner_output(_run_runner(tmp_path, sys.executable, ["--engine"]), want)
