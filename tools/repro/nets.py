"""The papers' generated nets: the generator is the single source, the committed files its output.

A paper's ``netgen.generate(scale) -> {path: text}`` renders every net and solver of a scale
(synthetic-data paths, seed 1) as repository-relative paths ``prototxt/paperNNN/<scale>/...`` and
``solvers/paperNNN/<scale>/...``.  The committed scales (:data:`layout.COMMITTED_SCALES`: the
paper's own ``full`` and the CI-sized ``tiny``) are in the repository; the others are written under
``runs/paperNNN/nets/<scale>/`` on demand.  :func:`check` finds committed files that differ from the
generator, are missing, or that the generator does not produce (strays, e.g. a dropped scale).
"""
from __future__ import annotations

import difflib
import os
import sys

from .layout import COMMITTED_SCALES


def committed_dirs(paper):
    return [f"prototxt/{paper.name}", f"solvers/{paper.name}"]


def generated(paper, scales=COMMITTED_SCALES) -> dict:
    """{repository-relative path: text} of the scales' nets and solvers."""
    out = {}
    for scale in scales:
        files = paper.netgen.generate(scale)
        bad = [p for p in files if not any(p.startswith(f"{d}/{scale}/") for d in committed_dirs(paper))]
        if bad:
            raise ValueError(f"{paper.package}.netgen.generate({scale!r}) returned paths outside "
                             f"prototxt|solvers/{paper.name}/{scale}/: {bad[:3]}")
        out.update(files)
    return out


def check(paper, root=".") -> dict:
    """{"differ": [...], "missing": [...], "strays": [...]} of the committed files against the generator."""
    files = generated(paper)
    out = {"differ": [], "missing": [], "strays": []}
    for rel, text in sorted(files.items()):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            out["missing"].append(rel)
        elif open(path).read() != text:
            out["differ"].append(rel)
    for top in committed_dirs(paper):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in names:
                rel = os.path.relpath(os.path.join(dirpath, n), root)
                if rel not in files:
                    out["strays"].append(rel)
    return out


def relocated(files: dict, root: str) -> dict:
    """``files`` as written under ``root``: their keys, and every quoted mention of one of them in the
    texts (a solver's ``net:``), prefixed with ``root``, so the copies refer to each other."""
    if root in ("", "."):
        return dict(files)
    out = {}
    for rel, text in files.items():
        for other in files:
            text = text.replace(f'"{other}"', f'"{root}/{other}"')
        out[f"{root}/{rel}"] = text
    return out


def write(files: dict, root=".") -> int:
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return len(files)


def check_main(paper, root=".") -> int:
    """``nets --check``: print the differences; exit status 1 when the committed files are not the generator's."""
    files = generated(paper)
    found = check(paper, root)
    for rel in found["differ"]:
        old = open(os.path.join(root, rel)).read()
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), files[rel].splitlines(True), rel, "generated"))
    for what in ("missing", "strays"):
        for rel in found[what]:
            print(f"{what[:-1] if what == 'strays' else what}: {rel}")
    bad = sum(len(v) for v in found.values())
    print(f"{paper.name}: {len(files) - len(found['differ']) - len(found['missing'])} of {len(files)} committed files "
          f"match the generator; {len(found['strays'])} stray file(s)")
    if bad:
        print(f"regenerate with `python -m {paper.package} nets` (or `make {paper.name}-nets`)")
    return 1 if bad else 0


def step_solver_text(net_path, prefix, base_lr, max_iter, display, momentum, weight_decay, seed=1, gpu=False,
                     clip_gradients=10.0, snapshot=0):
    """The SGD solver text papers 001 and 004 train their stages with: lr × 0.1 after 3/4 of
    ``max_iter``, loss averaged over half a display period, gradients clipped, a snapshot at the end
    (and every ``snapshot`` iterations when > 0: model-selection candidates)."""
    from google.protobuf import text_format
    from fashioncaffe.proto import caffe_pb2

    s = caffe_pb2.SolverParameter()
    s.net = net_path
    s.base_lr = base_lr
    s.lr_policy = "step"
    s.gamma = 0.1
    s.stepsize = max(1, int(round(max_iter * 0.75)))
    s.display = display
    s.average_loss = max(1, display // 2)
    s.max_iter = max_iter
    s.momentum = momentum
    s.weight_decay = weight_decay
    s.clip_gradients = clip_gradients
    if snapshot:
        s.snapshot = int(snapshot)
    s.snapshot_prefix = prefix
    s.snapshot_after_train = True
    s.solver_mode = caffe_pb2.SolverParameter.GPU if gpu else caffe_pb2.SolverParameter.CPU
    s.random_seed = int(seed)
    return text_format.MessageToString(s)
