"""What every paper on the framework must satisfy, one parametrised test per requirement.

Adding a paper to ``tools/repro/registry.py`` PAPERS adds it to every test here:

* its package provides the modules and names the framework calls;
* its committed nets (tiny, full) are the generator's output, with no stray files;
* its custom layers load the way BVLC Caffe loads them (repository root on PYTHONPATH, BVLC's
  ``caffe`` module, nothing of fashioncaffe) and import nothing but numpy, the standard library and caffe;
* ``python -m tools.paperNNN all --scale ci`` runs end to end (in a temporary folder): every run has
  a results.json of the schema whose metrics are the ones recomputed from its predictions.npz, every
  table is written with the header that says what was measured;
* ``make help`` lists its targets.
"""
import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools.repro import layout, nets, results  # noqa: E402
from tools.repro.registry import MODULES, PAPERS, Paper  # noqa: E402
from tools.repro.report import Table  # noqa: E402

BVLC_CAFFE = '''"""Stand-in for BVLC's pycaffe as a Python layer module sees it: only caffe.Layer."""
class Layer(object):
    def __init__(self, *args, **kwargs):
        pass
'''


@pytest.fixture(params=PAPERS)
def paper(request):
    return Paper(request.param)


def test_paper_provides_the_framework_api(paper):
    for name in MODULES:
        paper.module(name)
    cfg = paper.config
    assert set(cfg.SCALES) == set(layout.SCALES)
    for scale, c in cfg.SCALES.items():
        assert c["seeds"] and c["arch"], scale
        assert set(c.get("variants", cfg.VARIANTS)) <= set(cfg.VARIANTS), scale
    assert cfg.SCALES["ci"].get("smoke") and not cfg.SCALES["tiny"].get("smoke")
    assert set(cfg.VARIANT_TITLES) >= set(cfg.VARIANTS)
    rep = paper.report
    assert rep.TITLE and rep.PAPER_SOURCE and rep.TABLES
    for name, t in rep.TABLES.items():
        assert isinstance(t, Table) and set(t.variants) <= set(cfg.VARIANTS), name
    for c in rep.CLAIMS:
        assert {c.better, c.worse} <= set(cfg.VARIANTS), c.statement
    for fn in (paper.netgen.generate, paper.netgen.run_plan, paper.data.prepare, paper.evaluate.predict,
               paper.metrics.score, paper.metrics.outcome):
        assert callable(fn)
    assert os.path.isfile(os.path.join(ROOT, "mk", f"{paper.name}.mk"))


def test_committed_nets_are_the_generator_output(paper):
    found = nets.check(paper, ROOT)
    assert found == {"differ": [], "missing": [], "strays": []}, \
        f"regenerate with `python -m {paper.package} nets`: {found}"
    for top in nets.committed_dirs(paper):
        assert sorted(os.listdir(os.path.join(ROOT, top))) == sorted(layout.COMMITTED_SCALES), top


def _python_layers(paper):
    """{(module, class)} of every Python layer in the paper's committed nets."""
    from fashioncaffe.prototxt import parse_net_text

    out = set()
    for rel, text in nets.generated(paper).items():
        if rel.startswith("prototxt/"):
            for lp in parse_net_text(text, rel).layer:
                if lp.type == "Python":
                    out.add((lp.python_param.module, lp.python_param.layer))
    return out


def test_custom_layers_load_the_bvlc_way(paper, tmp_path):
    layers = _python_layers(paper)
    if not layers:
        pytest.skip(f"{paper.name} has no Python layers in its nets")
    files = {m: os.path.join(ROOT, *m.split(".")) + ".py" for m, _ in layers}
    for module, path in files.items():
        assert os.path.isfile(path), f"{module}: no file {path}"
        tops = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                tops.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops.add((node.module or "").split(".")[0])
        allowed = {"numpy", "caffe"} | set(sys.stdlib_module_names)
        assert tops <= allowed, f"{path} imports {tops - allowed}: BVLC Caffe could not load it"
    standin = tmp_path / "bvlc"
    (standin / "caffe").mkdir(parents=True)
    (standin / "caffe" / "__init__.py").write_text(BVLC_CAFFE)
    check = ("import importlib, caffe, sys\n"
             f"for module, name in {sorted(layers)!r}:\n"
             "    cls = getattr(importlib.import_module(module), name)\n"
             "    assert issubclass(cls, caffe.Layer), (module, name)\n"
             "    assert all(callable(getattr(cls, m, None)) for m in ('setup', 'reshape', 'forward', 'backward'))\n"
             "assert 'fashioncaffe' not in sys.modules\n"
             "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(standin), ROOT]))
    r = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _snapshot(path):
    out = set()
    for d, _, names in os.walk(path):
        for n in names:
            p = os.path.join(d, n)
            out.add((os.path.relpath(p, path), os.stat(p).st_mtime_ns))
    return out


def test_ci_run_end_to_end(paper, paper_ci):
    exp = layout.Experiment(paper, scale="ci")
    before = _snapshot(os.path.join(ROOT, exp.out_dir))
    folder = paper_ci(paper.number)
    # (the repository's runs/ may be in use by a `make paperNNN` of its own meanwhile: only ci's folder counts)
    assert _snapshot(os.path.join(ROOT, exp.out_dir)) == before, "the pipeline wrote into the repository"
    assert not os.path.exists(os.path.join(ROOT, "prototxt", paper.name, "ci"))
    assert exp.variants
    for variant in exp.variants:
        for seed in exp.seeds:
            rd = folder / exp.run_dir(variant, seed)
            res = results.load_results(str(rd / results.RESULTS))
            assert (res["paper"], res["variant"], res["scale"], res["seed"]) == (paper.number, variant, "ci", seed)
            assert res["synthetic"] is True and res["data"] == "synthetic" and res["device"] == "cpu"
            assert res["precision"] == "fp32" and res["commit"] != "unknown"
            training = json.loads((rd / "training.json").read_text())
            assert list(res["iterations"]) == [s["name"] for s in training["stages"]]
            for s in training["stages"]:
                assert (folder / s["weights"]).is_file() and (folder / s["log"]).is_file()
                assert s["seconds"] > 0
            tasks = results.load_predictions(str(rd / results.PREDICTIONS))
            rescored = json.loads(json.dumps(paper.metrics.score(tasks)))
            assert rescored == res["metrics"], "results.json metrics are not those of its predictions.npz"
    out = folder / exp.out_dir
    for name in list(paper.report.TABLES) + ["report"]:
        text = (out / f"{name}.md").read_text()
        assert f"scale `ci`" in text and "SYNTHETIC" in text and "seeds: 1" in text, name
        assert "smoke test" in text and "**Paper** numbers" in text, name
    assert "## Claims" in (out / "report.md").read_text()


def test_make_help_lists_the_paper_targets(paper):
    r = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True)
    listed = {line.split()[0] for line in r.stdout.replace("\033[1m", "").replace("\033[0m", "").splitlines()[1:]
              if line.strip()}
    want = {paper.name} | {f"{paper.name}-{t}" for t in
                           list(paper.report.TABLES) + ["data", "nets", "check", "train", "evaluate"]}
    assert want <= listed, want - listed


def test_results_and_predictions_schema_refuses_bad_files(tmp_path):
    with pytest.raises(ValueError, match="neither 'scores' nor 'ranked'"):
        results.save_predictions(str(tmp_path / "p.npz"), {"t": {"ids": ["a"], "labels": [1]}})
    with pytest.raises(ValueError, match="labels has 1 rows, ids has 2"):
        results.save_predictions(str(tmp_path / "p.npz"), {"t": {"ids": ["a", "b"], "labels": [1], "scores": [1, 2]}})
    with pytest.raises(ValueError, match="ranked points past the gallery"):
        results.save_predictions(str(tmp_path / "p.npz"), {"t": {"ids": ["a"], "labels": [1], "ranked": [[3]],
                                                                 "gallery_ids": ["x"], "gallery_labels": [1]}})
    tasks = {"t": {"ids": np.array(["a", "b"]), "labels": np.array([0, 1]), "scores": np.eye(2, dtype=np.float32)}}
    results.save_predictions(str(tmp_path / "ok.npz"), tasks)
    back = results.load_predictions(str(tmp_path / "ok.npz"))
    assert list(back["t"]["ids"]) == ["a", "b"] and back["t"]["scores"].dtype == np.float32
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp_")]  # atomic: no leftovers
    results.write_json(str(tmp_path / "results.json"), {"schema": "other"})
    with pytest.raises(SystemExit, match="not a fashioncaffe-results/1 record"):
        results.load_results(str(tmp_path / "results.json"))
